"""IP address management: subnet arithmetic (pools, gateway) and allocating fixed IPs to ports.

Uniqueness is the ``ip_allocations`` primary key (subnet, address): a racing second insert fails and
the whole transaction is retried by ``Store.write``, which then sees the address taken. Addresses
are picked at random within the pools (as Neutron does) so concurrent writers rarely collide, and on
PostgreSQL allocation first row-locks the network's subnets, so writers on one network take turns
instead of all chasing the last free addresses (SQLite already has one writer at a time).
"""

from __future__ import annotations

import ipaddress
import random
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from neutrino.services.errors import (
    GatewayConflictWithAllocationPools,
    InvalidAllocationPool,
    InvalidInput,
    InvalidIpForNetwork,
    InvalidIpForSubnet,
    IpAddressGenerationFailure,
    IpAddressInUse,
    OutOfBoundsAllocationPool,
    OverlappingAllocationPools,
    SubnetNotFound,
)
from neutrino.store import tables as t

RANDOM_TRIES = 8
_rng = random.SystemRandom()


@dataclass(frozen=True)
class Pool:
    start: ipaddress.IPv4Address | ipaddress.IPv6Address
    end: ipaddress.IPv4Address | ipaddress.IPv6Address

    @property
    def size(self) -> int:
        return int(self.end) - int(self.start) + 1

    def __contains__(self, address) -> bool:
        return self.start <= address <= self.end

    def as_dict(self) -> dict:
        return {"start": str(self.start), "end": str(self.end)}


def default_gateway(network: ipaddress.IPv4Network | ipaddress.IPv6Network):
    if network.num_addresses < 2:
        return None
    return network.network_address + 1


def usable_range(network) -> tuple[int, int]:
    """First and last assignable address as integers (no network/broadcast address in IPv4)."""
    first, last = int(network.network_address), int(network.broadcast_address)
    if network.version == 4 and network.prefixlen < 31:
        return first + 1, last - 1
    if network.version == 6:
        return first + 1, last  # the subnet-router anycast address is the network address
    return first, last


def default_pools(network, gateway) -> list[Pool]:
    """Every usable address except the gateway, as Neutron computes allocation_pools."""
    first, last = usable_range(network)
    if first > last:
        return []
    make = type(network.network_address)
    pools = []
    if gateway is not None and first <= int(gateway) <= last:
        if int(gateway) > first:
            pools.append(Pool(make(first), make(int(gateway) - 1)))
        if int(gateway) < last:
            pools.append(Pool(make(int(gateway) + 1), make(last)))
    else:
        pools.append(Pool(make(first), make(last)))
    return pools


def validate_pools(network, pools: list[dict], gateway) -> list[Pool]:
    result = []
    for item in pools:
        start, end = ipaddress.ip_address(item["start"]), ipaddress.ip_address(item["end"])
        pool_text = f"{item['start']}-{item['end']}"
        if start.version != network.version or end.version != network.version or start > end:
            raise InvalidAllocationPool(pool=pool_text)
        if start not in network or end not in network:
            raise OutOfBoundsAllocationPool(pool=pool_text, subnet_cidr=str(network))
        result.append(Pool(start, end))
    result.sort(key=lambda p: p.start)
    for before, after in zip(result, result[1:], strict=False):
        if after.start <= before.end:
            raise OverlappingAllocationPools(
                pool_1=f"{before.start}-{before.end}", pool_2=f"{after.start}-{after.end}",
                subnet_cidr=str(network))
    if gateway is not None:
        for pool in result:
            if gateway in pool:
                raise GatewayConflictWithAllocationPools(ip_address=str(gateway), pool=f"{pool.start}-{pool.end}")
    return result


def check_gateway(network, gateway) -> None:
    if gateway is None:
        return
    if gateway.version != network.version:
        raise InvalidInput(error_message="Gateway IP version inconsistent with subnet IP version")
    if network.version == 4 and network.prefixlen < 31 and gateway in (
            network.network_address, network.broadcast_address):
        raise InvalidInput(error_message=f"Gateway is not valid on subnet {network}")


@dataclass(frozen=True)
class SubnetSpace:
    """What allocation needs to know about one subnet."""

    id: str
    network: ipaddress.IPv4Network | ipaddress.IPv6Network
    gateway: ipaddress.IPv4Address | ipaddress.IPv6Address | None
    pools: tuple[Pool, ...]

    @property
    def version(self) -> int:
        return self.network.version


# Statements are built once and run with bound values: building one costs more than running it.
_SUBNETS, _POOLS, _ALLOCATIONS = t.Subnet.__table__, t.AllocationPool.__table__, t.IpAllocation.__table__
_SUBNETS_WITH_POOLS = (
    select(_SUBNETS.c.id, _SUBNETS.c.cidr, _SUBNETS.c.gateway_ip, _POOLS.c.first_ip, _POOLS.c.last_ip)
    .select_from(_SUBNETS.outerjoin(_POOLS, _POOLS.c.subnet_id == _SUBNETS.c.id))
    .where(_SUBNETS.c.network_id == bindparam("network_id"))
    .order_by(_SUBNETS.c.created_at, _SUBNETS.c.id)
)
_USED = select(_ALLOCATIONS.c.ip_address).where(
    _ALLOCATIONS.c.subnet_id == bindparam("subnet_id"),
    _ALLOCATIONS.c.ip_address.in_(bindparam("addresses", expanding=True)))
# Parsed once per distinct text: the values are immutable and every port create needs them.
_network = lru_cache(maxsize=4096)(ipaddress.ip_network)
_address = lru_cache(maxsize=4096)(ipaddress.ip_address)


def subnet_spaces(session: Session, network_id: str) -> list[SubnetSpace]:
    """The network's subnets, oldest first, with their pools."""
    found: dict[str, tuple[str, str | None, list[Pool]]] = {}
    for subnet_id, cidr, gateway, first, last in session.execute(_SUBNETS_WITH_POOLS, {"network_id": network_id}):
        pools = found.setdefault(subnet_id, (cidr, gateway, []))[2]
        if first is not None:
            pools.append(Pool(_address(first), _address(last)))
    return [
        SubnetSpace(subnet_id, _network(cidr), _address(gateway) if gateway else None,
                    tuple(sorted(pools, key=lambda p: p.start)))
        for subnet_id, (cidr, gateway, pools) in found.items()
    ]


def _is_used(session: Session, subnet_id: str, addresses: Iterable[str]) -> set[str]:
    return set(session.execute(_USED, {"subnet_id": subnet_id, "addresses": list(addresses)}).scalars())


def pick_free_address(session: Session, space: SubnetSpace) -> str | None:
    """A free address of the subnet's pools, or None when they are full."""
    total = sum(p.size for p in space.pools)
    if total == 0:
        return None
    make = type(space.network.network_address)
    candidates = []
    for _ in range(RANDOM_TRIES):
        offset = _rng.randrange(total)
        for pool in space.pools:
            if offset < pool.size:
                candidates.append(str(make(int(pool.start) + offset)))
                break
            offset -= pool.size
    used = _is_used(session, space.id, candidates)
    for candidate in candidates:
        if candidate not in used:
            return candidate
    return _scan_for_free(session, space)


def _scan_for_free(session: Session, space: SubnetSpace) -> str | None:
    used = set(session.execute(
        select(t.IpAllocation.ip_address).where(t.IpAllocation.subnet_id == space.id)).scalars())
    make = type(space.network.network_address)
    free = []
    for pool in space.pools:
        for value in range(int(pool.start), int(pool.end) + 1):
            text = str(make(value))
            if text not in used:
                free.append(text)
                if len(free) >= 64:
                    return _rng.choice(free)
    return _rng.choice(free) if free else None


def lock_subnets(session: Session, network_id: str) -> None:
    """Row-lock the network's subnets until commit, in id order (no deadlock between two allocators).
    NO KEY UPDATE: inserts referencing a subnet (ip_allocations) still proceed. SQLite has no row
    locks and needs none: Store.write admits one writer at a time."""
    if session.get_bind().dialect.name != "postgresql":
        return
    session.execute(select(t.Subnet.id).where(t.Subnet.network_id == network_id)
                    .order_by(t.Subnet.id).with_for_update(key_share=True)).all()


def allocate(session: Session, network_id: str, requested: list[dict] | None,
             spaces: list[SubnetSpace] | None = None) -> list[tuple[str, str]]:
    """Fixed IPs for a port: ``requested`` entries (subnet_id and/or ip_address), or None for one
    address from the first IPv4 subnet with room and one from the first such IPv6 subnet."""
    lock_subnets(session, network_id)
    spaces = spaces if spaces is not None else subnet_spaces(session, network_id)
    if requested is None:
        return _automatic(session, network_id, spaces)
    by_id = {s.id: s for s in spaces}
    result: list[tuple[str, str]] = []
    for entry in requested:
        space = _space_for(session, entry, by_id, spaces)
        if "ip_address" in entry:
            address = entry["ip_address"]
            if _is_used(session, space.id, [address]) or (space.id, address) in result:
                raise IpAddressInUse(net_id=network_id, ip_address=address)
        else:
            address = pick_free_address(session, space)
            if address is None:
                raise IpAddressGenerationFailure(net_id=network_id)
        result.append((space.id, address))
    return result


def _automatic(session: Session, network_id: str, spaces: list[SubnetSpace]) -> list[tuple[str, str]]:
    result = []
    for version in (4, 6):
        candidates = [s for s in spaces if s.version == version]
        if not candidates:
            continue
        for space in candidates:
            address = pick_free_address(session, space)
            if address is not None:
                result.append((space.id, address))
                break
        else:
            raise IpAddressGenerationFailure(net_id=network_id)
    return result


def _space_for(session: Session, entry: dict, by_id: dict[str, SubnetSpace],
               spaces: list[SubnetSpace]) -> SubnetSpace:
    address = ipaddress.ip_address(entry["ip_address"]) if "ip_address" in entry else None
    if "subnet_id" in entry:
        space = by_id.get(entry["subnet_id"])
        if space is None and session.get(t.Subnet, entry["subnet_id"]) is None:
            raise SubnetNotFound(id=entry["subnet_id"])
        if space is None:  # a subnet, but of another network
            raise InvalidInput(
                error_message=f"Failed to create port on network, because fixed_ips included invalid "
                              f"subnet {entry['subnet_id']}")
        if address is not None and not _assignable(space, address):
            raise InvalidIpForSubnet(ip_address=str(address))
        return space
    for space in spaces:
        if _assignable(space, address):
            return space
    raise InvalidIpForNetwork(ip_address=str(address))


def _assignable(space: SubnetSpace, address) -> bool:
    if address.version != space.version or address not in space.network:
        return False
    first, last = usable_range(space.network)
    return first <= int(address) <= last
