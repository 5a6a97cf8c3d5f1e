"""A router's interfaces: ports on internal subnets (device_owner network:router_interface, device_id
the router), added by subnet (a new port holding the subnet's gateway address) or by an existing port,
and removed by either; Neutron's checks and messages for each (l3_db add/remove_router_interface).
"""

from __future__ import annotations

import ipaddress
import uuid
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from neutrino.services import l3_scheduler
from neutrino.services.common import touch_row
from neutrino.services.context import ADMIN, Context
from neutrino.services.errors import (
    BadRequest,
    PortInUse,
    RouterInterfaceInUseByFloatingIP,
    RouterInterfaceInUseByRoute,
    RouterInterfaceNotFound,
    RouterInterfaceNotFoundForSubnet,
    RouterNotFound,
    SubnetMismatchForPort,
    SubnetNotFound,
)
from neutrino.services.l3_scheduler import ROUTER_GATEWAY, ROUTER_INTERFACE
from neutrino.store import tables as t
from neutrino.store.revisions import Transaction
from neutrino.store.session import lock_named

if TYPE_CHECKING:
    from neutrino.services.ports import PortService
    from neutrino.services.subnets import SubnetService


def bad_router_request(msg: str) -> BadRequest:
    return BadRequest(resource="router", msg=msg)


def visible_router(session: Session, context: Context, router_id: str, lock: bool = False) -> t.Router:
    """The router, if the caller may see it (its project's, or any for an admin). ``lock``: writers
    that change what the router is connected to take turns (PostgreSQL; SQLite has one writer)."""
    row = session.get(t.Router, router_id)
    if row is None or (not context.is_admin and row.project_id != context.project_id):
        raise RouterNotFound(id=router_id)
    if lock:
        lock_named(session, "router:" + row.id)
    return row


def interface_ports(session: Session, router_id: str) -> list[t.Port]:
    return list(session.execute(select(t.Port).where(t.Port.device_id == router_id,
                                                     t.Port.device_owner == ROUTER_INTERFACE)
                                .order_by(t.Port.created_at, t.Port.id)).scalars())


def allocations_of(session: Session, port_ids: list[str]) -> list[tuple[str, str, str]]:
    """(port id, subnet id, address) of each fixed IP of the ports."""
    return [tuple(r) for r in session.execute(
        select(t.IpAllocation.port_id, t.IpAllocation.subnet_id, t.IpAllocation.ip_address)
        .where(t.IpAllocation.port_id.in_(port_ids)))]


def _subnets(session: Session, subnet_ids) -> list[t.Subnet]:
    return list(session.execute(select(t.Subnet).where(t.Subnet.id.in_(list(subnet_ids)))
                                .order_by(t.Subnet.id)).scalars())


def check_subnets_free(session: Session, router: t.Router, new: list[t.Subnet]) -> None:
    """The router has no port on any of the ``new`` subnets, and none of them overlaps a subnet it is
    on (for its gateway: every subnet of the external network). Neutron's _check_for_dup_router_subnets."""
    new_ids = {s.id for s in new}
    ports = session.execute(select(t.Port.id, t.Port.network_id, t.Port.device_owner).where(
        t.Port.device_id == router.id, t.Port.device_owner.in_(l3_scheduler.ROUTER_PORT_OWNERS))).all()
    owner_of = {port_id: (network_id, owner) for port_id, network_id, owner in ports}
    attached: set[str] = set()
    for port_id, subnet_id, _ in allocations_of(session, list(owner_of)):
        if subnet_id in new_ids:
            raise bad_router_request(f"Router already has a port on subnet {subnet_id}")
        network_id, owner = owner_of[port_id]
        if owner == ROUTER_GATEWAY:
            attached.update(session.execute(select(t.Subnet.id).where(t.Subnet.network_id == network_id)).scalars())
        else:
            attached.add(subnet_id)
    for existing in _subnets(session, attached):
        for subnet in new:
            if ipaddress.ip_network(existing.cidr).overlaps(ipaddress.ip_network(subnet.cidr)):
                raise bad_router_request(f"Cidr {subnet.cidr} of subnet {subnet.id} overlaps with cidr "
                                         f"{existing.cidr} of subnet {existing.id}")


def _check_address_mode(subnet: t.Subnet) -> None:
    if subnet.ip_version == 6 and subnet.ipv6_ra_mode is None and subnet.ipv6_address_mode is not None:
        raise bad_router_request(f"IPv6 subnet {subnet.id} configured to receive RAs from an external router "
                                 "cannot be added to Neutron Router.")


def interface_request(info, removal: bool) -> tuple[str | None, str | None]:
    """(port_id, subnet_id) of an add/remove_router_interface body (_validate_interface_info)."""
    if not isinstance(info, dict) or not ("port_id" in info or "subnet_id" in info):
        raise bad_router_request("Either subnet_id or port_id must be specified")
    for key in ("port_id", "subnet_id"):
        if key in info and not _is_uuid(info[key]):
            raise bad_router_request(f"'{info[key]}' is not a valid UUID")
    if not removal and "port_id" in info and "subnet_id" in info:
        raise bad_router_request("Cannot specify both subnet-id and port-id")
    return info.get("port_id"), info.get("subnet_id")


def _is_uuid(value) -> bool:
    try:
        uuid.UUID(value)
    except (TypeError, ValueError, AttributeError):
        return False
    return isinstance(value, str)


def interface_info(router: t.Router, port: t.Port, subnet_id: str, subnet_ids: list[str]) -> dict:
    """The answer to add/remove_router_interface, as Neutron gives it."""
    return {"id": router.id, "tenant_id": port.project_id, "project_id": port.project_id, "port_id": port.id,
            "network_id": port.network_id, "subnet_id": subnet_id, "subnet_ids": subnet_ids}


class RouterInterfaces:
    def __init__(self, subnets: SubnetService, ports: PortService):
        self.subnets = subnets
        self.ports = ports

    def _subnet(self, session: Session, context: Context, subnet_id: str) -> t.Subnet:
        if not self.subnets.views(session, context, [subnet_id]):
            raise SubnetNotFound(id=subnet_id)
        return session.get(t.Subnet, subnet_id)

    # --- add ---

    def add(self, tx: Transaction, context: Context, router_id: str, info) -> dict:
        router = visible_router(tx.session, context, router_id, lock=True)
        port_id, subnet_id = interface_request(info, removal=False)
        if port_id:
            port, subnets = self._add_port(tx, context, router, port_id)
        else:
            port, subnets = self._add_subnet(tx, context, router, subnet_id)
        l3_scheduler.schedule(tx, router)
        touch_row(router)
        tx.touch("router", router.id)
        return interface_info(router, port, subnets[-1].id, [s.id for s in subnets])

    def _add_subnet(self, tx: Transaction, context: Context, router: t.Router,
                    subnet_id: str) -> tuple[t.Port, list[t.Subnet]]:
        session = tx.session
        subnet = self._subnet(session, context, subnet_id)
        if not subnet.gateway_ip:
            raise bad_router_request("Subnet for router interface must have a gateway IP")
        if subnet.project_id != context.project_id and not context.is_admin:
            raise bad_router_request(f"Cannot add interface to router because subnet {subnet.id} is not owned "
                                     "by project making the request")
        _check_address_mode(subnet)
        check_subnets_free(session, router, [subnet])
        port_id = self.ports.create(tx, ADMIN, {
            "project_id": router.project_id, "network_id": subnet.network_id, "name": "", "admin_state_up": True,
            "fixed_ips": [{"ip_address": subnet.gateway_ip, "subnet_id": subnet.id}],
            "device_id": router.id, "device_owner": ROUTER_INTERFACE, "binding:host_id": router.host,
        }, check_quota=False)
        return session.get(t.Port, port_id), [subnet]

    def _add_port(self, tx: Transaction, context: Context, router: t.Router,
                  port_id: str) -> tuple[t.Port, list[t.Subnet]]:
        session = tx.session
        port = self.ports.get_row(session, context, port_id)
        if port.device_id:
            raise PortInUse(port_id=port.id, net_id=port.network_id, device_id=port.device_id)
        subnets = _subnets(session, {s for _, s, _ in allocations_of(session, [port.id])})
        if not subnets:
            raise bad_router_request("Router port must have at least one fixed IP")
        for subnet in subnets:
            _check_address_mode(subnet)
        check_subnets_free(session, router, subnets)
        if len([s for s in subnets if s.ip_version == 4]) > 1:
            raise bad_router_request("Cannot have multiple IPv4 subnets on router port")
        self._check_in_pools(session, context, port, subnets)
        port.device_id, port.device_owner = router.id, ROUTER_INTERFACE
        touch_row(port)
        tx.touch("port", port.id)
        l3_scheduler.bind_router_port(tx, port, router.host)
        return port, subnets

    @staticmethod
    def _check_in_pools(session: Session, context: Context, port: t.Port, subnets: list[t.Subnet]) -> None:
        """A member may attach its port by an address outside the pools (the gateway, say) only on its
        own subnet (_validate_port_in_range_or_admin)."""
        if context.is_admin:
            return
        by_id = {s.id: s for s in subnets}
        for _, subnet_id, address in allocations_of(session, [port.id]):
            subnet = by_id[subnet_id]
            pools = session.execute(select(t.AllocationPool.first_ip, t.AllocationPool.last_ip)
                                    .where(t.AllocationPool.subnet_id == subnet_id)).all()
            value = ipaddress.ip_address(address)
            in_pool = any(ipaddress.ip_address(a) <= value <= ipaddress.ip_address(b) for a, b in pools)
            if not in_pool and subnet.project_id != context.project_id:
                raise bad_router_request(
                    f"Cannot add interface to router because specified port {port.id} has an IP address out "
                    f"of the allocation pool of subnet {subnet_id}, which is not owned by the project making "
                    "the request")

    # --- remove ---

    def remove(self, tx: Transaction, context: Context, router_id: str, info) -> dict:
        router = visible_router(tx.session, context, router_id, lock=True)
        port_id, subnet_id = interface_request(info, removal=True)
        if port_id:
            port, subnets = self._remove_port(tx, router, port_id, subnet_id)
        else:
            port, subnets = self._remove_subnet(tx, context, router, subnet_id)
        touch_row(router)
        tx.touch("router", router.id)
        return interface_info(router, port, subnets[0].id, [s.id for s in subnets])

    def _remove_port(self, tx: Transaction, router: t.Router, port_id: str,
                     subnet_id: str | None) -> tuple[t.Port, list[t.Subnet]]:
        session = tx.session
        port = next((p for p in interface_ports(session, router.id) if p.id == port_id), None)
        if port is None:
            raise RouterInterfaceNotFound(router_id=router.id, port_id=port_id)
        subnets = _subnets(session, {s for _, s, _ in allocations_of(session, [port.id])})
        if subnet_id and subnet_id not in {s.id for s in subnets}:
            raise SubnetMismatchForPort(port_id=port.id, subnet_id=subnet_id)
        for subnet in subnets:
            check_interface_unused(session, router, subnet)
        self.ports.remove(tx, port)
        return port, subnets

    def _remove_subnet(self, tx: Transaction, context: Context, router: t.Router,
                       subnet_id: str) -> tuple[t.Port, list[t.Subnet]]:
        session = tx.session
        subnet = self._subnet(session, context, subnet_id)
        ports = [p for p in interface_ports(session, router.id) if p.network_id == subnet.network_id]
        if ports:
            check_interface_unused(session, router, subnet)
        for port in ports:
            held = [(s, a) for _, s, a in allocations_of(session, [port.id])]
            if subnet.id not in {s for s, _ in held}:
                continue
            if len(held) > 1:  # a port on several subnets keeps the others
                self.ports.update(tx, ADMIN, port.id, {"fixed_ips": [
                    {"subnet_id": s, "ip_address": a} for s, a in held if s != subnet.id]})
            else:
                self.ports.remove(tx, port)
            return port, [subnet]
        raise RouterInterfaceNotFoundForSubnet(router_id=router.id, subnet_id=subnet.id)


def check_interface_unused(session: Session, router: t.Router, subnet: t.Subnet) -> None:
    """An interface stays while a floating IP reaches a fixed IP of its subnet through the router, or an
    extra route's next hop is on its subnet (_confirm_router_interface_not_in_use)."""
    cidr = ipaddress.ip_network(subnet.cidr)
    on_subnet = set(session.execute(select(t.IpAllocation.port_id).where(
        t.IpAllocation.subnet_id == subnet.id)).scalars())
    for port_id, address in session.execute(select(t.FloatingIp.fixed_port_id, t.FloatingIp.fixed_ip_address)
                                            .where(t.FloatingIp.router_id == router.id)):
        if address and ipaddress.ip_address(address) in cidr and port_id in on_subnet:
            raise RouterInterfaceInUseByFloatingIP(router_id=router.id, subnet_id=subnet.id)
    for nexthop in session.execute(select(t.RouterRoute.nexthop).where(t.RouterRoute.router_id == router.id)).scalars():
        if ipaddress.ip_address(nexthop) in cidr:
            raise RouterInterfaceInUseByRoute(router_id=router.id, subnet_id=subnet.id)


def connected(session: Session, router_id: str, except_gateway: bool = False) -> tuple[list[str], list[str]]:
    """(cidrs, addresses) of the router's ports: where an extra route's next hop may be."""
    owners = (ROUTER_INTERFACE,) if except_gateway else l3_scheduler.ROUTER_PORT_OWNERS
    port_ids = list(session.execute(select(t.Port.id).where(t.Port.device_id == router_id,
                                                            t.Port.device_owner.in_(owners))).scalars())
    held = allocations_of(session, port_ids)
    cidrs = {s.id: s.cidr for s in _subnets(session, {s for _, s, _ in held})}
    return [cidrs[s] for _, s, _ in held], [a for _, _, a in held]

