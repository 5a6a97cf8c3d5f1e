"""Subnets: CIDR, gateway, pools, DNS servers and host routes; no overlap within a network."""

from __future__ import annotations

import ipaddress
from functools import cache
from typing import TYPE_CHECKING

from sqlalchemy import bindparam, delete, select
from sqlalchemy.orm import Session

from neutrino.services import ipam
from neutrino.services.common import new_standard_row, plain_rows, standard_view, tags_for, touch_row
from neutrino.services.context import Context
from neutrino.services.errors import (
    BadRequest,
    DNSNameServersExhausted,
    HostRoutesExhausted,
    HTTPForbidden,
    InvalidInput,
    PolicyNotAuthorized,
    SubnetInUse,
    SubnetNotFound,
)
from neutrino.services.networks import NETWORK_OWNED_PORTS, NetworkService, visible_to
from neutrino.services.quotas import QuotaBook
from neutrino.store import tables as t
from neutrino.store.revisions import Transaction

if TYPE_CHECKING:
    from neutrino.services.dhcp import DhcpPorts

IPV6_MODES = ("slaac", "dhcpv6-stateful", "dhcpv6-stateless")
AUTO_ADDRESS_MODES = ("slaac", "dhcpv6-stateless")
# neutron.conf max_dns_nameservers and max_subnet_host_routes, at their defaults.
MAX_DNS_NAMESERVERS = 5
MAX_HOST_ROUTES = 20


# Statements are built once and run with bound values: building one costs more than running it.

@cache
def _subnets_query(member: bool, by_ids: bool):
    """Every subnet, or those a member sees (on networks it sees, or its own); all, or those of :ids."""
    subnets, networks = t.Subnet.__table__, t.Network.__table__
    query = select(subnets)
    if member:
        query = query.join(networks, networks.c.id == subnets.c.network_id).where(
            visible_to(bindparam("project_id")) | (subnets.c.project_id == bindparam("project_id")))
    if by_ids:
        query = query.where(subnets.c.id.in_(bindparam("ids", expanding=True)))
    return query


@cache
def _children_query(table, by_ids: bool):
    columns = table.__table__.c
    query = select(table.__table__)
    return query.where(columns.subnet_id.in_(bindparam("ids", expanding=True))) if by_ids else query


class SubnetService:
    kind = "subnet"

    def __init__(self, networks: NetworkService, quotas: QuotaBook, dhcp: DhcpPorts | None = None):
        self.networks = networks
        self.quotas = quotas
        self.dhcp = dhcp  # keeps each network's DHCP port in step with its subnets

    def _dhcp_changed(self, tx: Transaction, network_id: str) -> None:
        if self.dhcp is not None:
            self.dhcp.reconcile(tx, network_id)

    def not_found(self, resource_id: str) -> Exception:
        return SubnetNotFound(id=resource_id)

    def views(self, session: Session, context: Context, ids: list[str] | None = None) -> list[dict]:
        rows = list(plain_rows(session.execute(_subnets_query(not context.is_admin, ids is not None),
                                               {"project_id": context.project_id, "ids": ids})))
        wanted = [r.id for r in rows] if ids is not None else None
        pools = self._children(session, t.AllocationPool, wanted)
        servers = self._children(session, t.DnsNameserver, wanted)
        routes = self._children(session, t.HostRoute, wanted)
        tags = tags_for(session, self.kind, ids)
        return [self._view(row, pools, servers, routes, tags) for row in rows]

    @staticmethod
    def _children(session: Session, table, ids: list[str] | None) -> dict[str, list]:
        out: dict[str, list] = {}
        for row in plain_rows(session.execute(_children_query(table, ids is not None), {"ids": ids})):
            out.setdefault(row.subnet_id, []).append(row)
        return out

    @staticmethod
    def _view(row: t.Subnet, pools, servers, routes, tags) -> dict:
        view = standard_view(row, tags)
        ordered_pools = sorted(pools.get(row.id, []), key=lambda p: ipaddress.ip_address(p.first_ip))
        view.update({
            "network_id": row.network_id,
            "ip_version": row.ip_version,
            "cidr": row.cidr,
            "gateway_ip": row.gateway_ip,
            "allocation_pools": [{"start": p.first_ip, "end": p.last_ip} for p in ordered_pools],
            "dns_nameservers": [s.address for s in sorted(servers.get(row.id, []), key=lambda s: s.position)],
            "host_routes": [{"destination": r.destination, "nexthop": r.nexthop}
                            for r in sorted(routes.get(row.id, []), key=lambda r: (r.destination, r.nexthop))],
            "enable_dhcp": row.enable_dhcp,
            "ipv6_ra_mode": row.ipv6_ra_mode,
            "ipv6_address_mode": row.ipv6_address_mode,
            "subnetpool_id": None,
            "service_types": [],
            "segment_id": None,
        })
        return view

    def _get_row(self, session: Session, context: Context, subnet_id: str) -> t.Subnet:
        views = self.views(session, context, [subnet_id])
        if not views:
            raise SubnetNotFound(id=subnet_id)
        return session.get(t.Subnet, subnet_id)

    def create(self, tx: Transaction, context: Context, attrs: dict) -> str:
        session = tx.session
        network = self.networks.get_row(session, context, attrs["network_id"])
        if not context.is_admin and network.project_id != context.project_id:
            # Neutron's ownership check skips shared networks, whose policy then refuses non-owners.
            if network.shared:
                raise PolicyNotAuthorized(action="create_subnet")
            raise HTTPForbidden(tenant_id=context.project_id, resource="subnet")
        cidr_text = attrs.get("cidr")
        if not cidr_text:
            raise BadRequest(resource="subnets",
                             msg="a subnetpool must be specified in the absence of a cidr")
        cidr = ipaddress.ip_network(cidr_text)
        version = attrs["ip_version"]
        if cidr.version != version:
            raise InvalidInput(error_message="Cidr and IP version are inconsistent")
        if cidr.prefixlen == 0:  # a /0 subnet breaks dnsmasq (Neutron bug 1362651)
            raise InvalidInput(error_message="0 is not allowed as CIDR prefix length")
        enable_dhcp = attrs.get("enable_dhcp", True)
        if enable_dhcp:
            self._check_dhcp_prefix(cidr)
        self._check_ipv6_modes(cidr, attrs, enable_dhcp)
        self._check_limits(None, attrs.get("dns_nameservers"), attrs.get("host_routes"))
        self._check_overlap(session, network.id, cidr, None)
        gateway = self._gateway(cidr, attrs.get("gateway_ip", ipam.default_gateway(cidr) or None), explicit=
                                "gateway_ip" in attrs)
        pools = (ipam.validate_pools(cidr, attrs["allocation_pools"], gateway)
                 if attrs.get("allocation_pools") else ipam.default_pools(cidr, gateway))
        row = new_standard_row(
            t.Subnet, context, attrs, network_id=network.id, ip_version=version, cidr=str(cidr),
            gateway_ip=str(gateway) if gateway is not None else None,
            enable_dhcp=enable_dhcp,
            ipv6_ra_mode=attrs.get("ipv6_ra_mode"), ipv6_address_mode=attrs.get("ipv6_address_mode"),
        )
        self.quotas.check(session, row.project_id, "subnet")
        session.add(row)
        session.flush()
        self._replace_children(session, row.id, cidr, pools, attrs.get("dns_nameservers", []),
                               attrs.get("host_routes", []))
        tx.touch(self.kind, row.id)
        touch_row(network)  # the network's `subnets` changed: Neutron bumps its revision too
        tx.touch("network", network.id)
        self._dhcp_changed(tx, network.id)
        return row.id

    @staticmethod
    def _check_dhcp_prefix(cidr) -> None:
        """DHCP needs room for the server besides the clients (Neutron's _validate_subnet)."""
        if cidr.prefixlen > (30 if cidr.version == 4 else 126):
            raise InvalidInput(error_message="Subnet has a prefix length that is incompatible with DHCP "
                                             "service enabled")

    @staticmethod
    def _check_ipv6_modes(cidr, attrs: dict, enable_dhcp: bool) -> None:
        ra, address = attrs.get("ipv6_ra_mode"), attrs.get("ipv6_address_mode")
        for name, mode in (("ipv6_ra_mode", ra), ("ipv6_address_mode", address)):
            if mode is not None and cidr.version != 6:
                raise InvalidInput(error_message=f"{name} is not valid when ip_version is 4")
        if ra and address and ra != address:
            raise InvalidInput(error_message=f"ipv6_ra_mode set to '{ra}' with ipv6_address_mode set to "
                                             f"'{address}' is not valid. If both attributes are set, they must be the same value")
        if (ra or address) and not enable_dhcp:
            raise InvalidInput(error_message="ipv6_ra_mode or ipv6_address_mode cannot be set when enable_dhcp "
                                             "is set to False")
        # SLAAC and stateless DHCPv6 give EUI-64 addresses, which fill the 64 bits after a /64 prefix.
        if (address or ra) in AUTO_ADDRESS_MODES and cidr.prefixlen != 64:
            raise InvalidInput(error_message=f"Invalid CIDR {cidr} for IPv6 address mode. OpenStack uses the "
                                             "EUI-64 address format, which requires the prefix to be /64")

    @staticmethod
    def _check_limits(subnet_id: str | None, servers: list | None, routes: list | None) -> None:
        if servers and len(servers) > MAX_DNS_NAMESERVERS:
            raise DNSNameServersExhausted(subnet_id=subnet_id or "new subnet", quota=MAX_DNS_NAMESERVERS)
        if routes and len(routes) > MAX_HOST_ROUTES:
            raise HostRoutesExhausted(subnet_id=subnet_id or "new subnet", quota=MAX_HOST_ROUTES)

    @staticmethod
    def _gateway(cidr, gateway, explicit: bool):
        if gateway is None:
            return None
        gateway = ipaddress.ip_address(str(gateway))
        if explicit:
            ipam.check_gateway(cidr, gateway)
        return gateway

    @staticmethod
    def _check_overlap(session: Session, network_id: str, cidr, exclude: str | None) -> None:
        for subnet_id, other in session.execute(
            select(t.Subnet.id, t.Subnet.cidr).where(t.Subnet.network_id == network_id)
        ):
            if subnet_id != exclude and cidr.overlaps(ipaddress.ip_network(other)):
                raise InvalidInput(error_message=(
                    f"Requested subnet with cidr: {cidr} for network: {network_id} overlaps with another subnet"))

    @staticmethod
    def _replace_children(session: Session, subnet_id: str, cidr, pools, servers, routes) -> None:
        if pools is not None:
            session.execute(delete(t.AllocationPool).where(t.AllocationPool.subnet_id == subnet_id))
            session.add_all(t.AllocationPool(subnet_id=subnet_id, first_ip=str(p.start), last_ip=str(p.end))
                            for p in pools)
        if servers is not None:
            session.execute(delete(t.DnsNameserver).where(t.DnsNameserver.subnet_id == subnet_id))
            session.add_all(t.DnsNameserver(subnet_id=subnet_id, address=a, position=i)
                            for i, a in enumerate(servers))
        if routes is not None:
            for route in routes:
                nexthop = ipaddress.ip_address(route["nexthop"])
                if ipaddress.ip_network(route["destination"]).version != cidr.version or nexthop.version != cidr.version:
                    raise InvalidInput(error_message=f"Host route {route} has the wrong IP version")
            session.execute(delete(t.HostRoute).where(t.HostRoute.subnet_id == subnet_id))
            unique = {(r["destination"], r["nexthop"]) for r in routes}
            if len(unique) != len(routes):
                raise InvalidInput(error_message="Duplicate host route")
            session.add_all(t.HostRoute(subnet_id=subnet_id, destination=d, nexthop=n) for d, n in unique)

    def update(self, tx: Transaction, context: Context, subnet_id: str, attrs: dict) -> None:
        session = tx.session
        row = self._get_row(session, context, subnet_id)
        self._require_network_owner(session, context, row, "update_subnet")
        cidr = ipaddress.ip_network(row.cidr)
        if attrs.get("enable_dhcp") and not row.enable_dhcp:
            self._check_dhcp_prefix(cidr)
        if attrs.get("enable_dhcp") is False and (row.ipv6_ra_mode or row.ipv6_address_mode):
            raise InvalidInput(error_message="Cannot disable enable_dhcp with ipv6 attributes set")
        self._check_limits(row.id, attrs.get("dns_nameservers"), attrs.get("host_routes"))
        gateway = ipaddress.ip_address(row.gateway_ip) if row.gateway_ip else None
        if "gateway_ip" in attrs:
            gateway = self._gateway(cidr, attrs["gateway_ip"], explicit=True)
            row.gateway_ip = str(gateway) if gateway is not None else None
        pools = None
        if "allocation_pools" in attrs:
            pools = ipam.validate_pools(cidr, attrs["allocation_pools"] or [], gateway)
        elif "gateway_ip" in attrs:
            current = [{"start": p.first_ip, "end": p.last_ip} for p in session.execute(
                select(t.AllocationPool).where(t.AllocationPool.subnet_id == row.id)).scalars()]
            ipam.validate_pools(cidr, current, gateway)
        for name in ("name", "description", "enable_dhcp"):
            if name in attrs:
                setattr(row, name, attrs[name])
        self._replace_children(session, row.id, cidr, pools, attrs.get("dns_nameservers"),
                               attrs.get("host_routes"))
        touch_row(row)
        tx.touch(self.kind, row.id)
        if "enable_dhcp" in attrs:
            self._dhcp_changed(tx, row.network_id)

    @staticmethod
    def _require_network_owner(session: Session, context: Context, row: t.Subnet, action: str) -> None:
        """update_subnet and delete_subnet are rule:admin_or_network_owner in Neutron."""
        if context.is_admin:
            return
        owner = session.execute(select(t.Network.project_id).where(t.Network.id == row.network_id)).scalar()
        if owner != context.project_id:
            raise PolicyNotAuthorized(action=action)

    def delete(self, tx: Transaction, context: Context, subnet_id: str) -> None:
        session = tx.session
        row = self._get_row(session, context, subnet_id)
        self._require_network_owner(session, context, row, "delete_subnet")
        in_use = session.execute(
            select(t.IpAllocation.port_id).join(t.Port, t.Port.id == t.IpAllocation.port_id)
            .where(t.IpAllocation.subnet_id == row.id, t.Port.device_owner.not_in(NETWORK_OWNED_PORTS))
        ).first()
        if in_use:
            raise SubnetInUse(subnet_id=row.id, reason="One or more ports have an IP allocation from this subnet")
        for port_id in set(session.execute(
                select(t.IpAllocation.port_id).where(t.IpAllocation.subnet_id == row.id)).scalars()):
            tx.touch("port", port_id)
        session.execute(delete(t.IpAllocation).where(t.IpAllocation.subnet_id == row.id))
        session.execute(delete(t.Tag).where(t.Tag.resource_id == row.id))
        network_id = row.network_id
        session.delete(row)
        tx.touch_deleted(self.kind, subnet_id)
        network = session.get(t.Network, network_id)
        if network is not None:
            touch_row(network)
        tx.touch("network", network_id)
        self._dhcp_changed(tx, network_id)  # its address on the subnet is gone; with the last subnet, the port
