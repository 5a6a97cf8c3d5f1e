"""Routers: the external gateway (a port on an external network, device_owner network:router_gateway,
with no project, as Neutron makes it) and its SNAT mode, extra routes, and what keeps a router from
being deleted. Interfaces are in router_interfaces.py; where a router runs, in l3_scheduler.py.
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from neutrino.services import l3_scheduler
from neutrino.services.common import new_standard_row, plain_rows, standard_view, tags_for, touch_row
from neutrino.services.context import ADMIN, Context
from neutrino.services.errors import (
    InvalidRoutes,
    PolicyNotAuthorized,
    RouterExternalGatewayInUseByFloatingIp,
    RouterInUse,
    RouterNotFound,
    RoutesExhausted,
)
from neutrino.services.l3_scheduler import ROUTER_GATEWAY
from neutrino.services.router_interfaces import (
    RouterInterfaces,
    bad_router_request,
    check_subnets_free,
    connected,
    interface_ports,
    visible_router,
)
from neutrino.store import tables as t
from neutrino.store.revisions import Transaction

if TYPE_CHECKING:
    from neutrino.services.networks import NetworkService
    from neutrino.services.ports import PortService
    from neutrino.services.quotas import QuotaBook
    from neutrino.services.subnets import SubnetService

MAX_ROUTES = 30  # neutron.conf max_routes
# external_gateway_info keys only an admin may give (Neutron's policy: rule:..._router:external_gateway_info:<key>).
ADMIN_GATEWAY_KEYS = ("enable_snat", "external_fixed_ips")


class RouterService:
    kind = "router"

    def __init__(self, networks: NetworkService, subnets: SubnetService, ports: PortService, quotas: QuotaBook):
        self.networks = networks
        self.ports = ports
        self.quotas = quotas
        self.interfaces = RouterInterfaces(subnets, ports)

    def not_found(self, resource_id: str) -> Exception:
        return RouterNotFound(id=resource_id)

    # --- reads ---

    def views(self, session: Session, context: Context, ids: list[str] | None = None) -> list[dict]:
        table = t.Router.__table__
        query = select(table)
        if not context.is_admin:
            query = query.where(table.c.project_id == context.project_id)
        if ids is not None:
            query = query.where(table.c.id.in_(ids))
        rows = list(plain_rows(session.execute(query)))
        gateways = _gateway_ports(session, [r.gw_port_id for r in rows if r.gw_port_id])
        routes = _routes(session, [r.id for r in rows])
        tags = tags_for(session, self.kind, ids)
        return [self._view(row, gateways.get(row.gw_port_id), routes.get(row.id, []), tags) for row in rows]

    @staticmethod
    def _view(row, gateway: tuple[str, list[dict]] | None, routes: list[dict], tags) -> dict:
        view = standard_view(row, tags)
        view.update({
            "admin_state_up": row.admin_state_up,
            "status": row.status,
            "external_gateway_info": None if gateway is None else {
                "network_id": gateway[0], "enable_snat": row.enable_snat, "external_fixed_ips": gateway[1]},
            "routes": routes,
        })
        return view

    def l3_agent_host(self, session: Session, router_id: str) -> str:
        """The host of the L3 agent running the router ("" while none does); for admins."""
        return visible_router(session, ADMIN, router_id).host

    # --- writes ---

    def create(self, tx: Transaction, context: Context, attrs: dict) -> str:
        session = tx.session
        gateway = attrs.get("external_gateway_info")
        _check_gateway_policy(context, gateway, "create")
        row = new_standard_row(t.Router, context, attrs, admin_state_up=attrs.get("admin_state_up", True),
                               status="ACTIVE", enable_snat=True, gw_port_id=None, host="")
        self.quotas.check(session, row.project_id, "router")
        session.add(row)
        session.flush()
        if gateway:
            self._set_gateway(tx, context, row, gateway)
        tx.touch(self.kind, row.id)
        return row.id

    def update(self, tx: Transaction, context: Context, router_id: str, attrs: dict) -> None:
        row = visible_router(tx.session, context, router_id, lock=True)
        if "external_gateway_info" in attrs:
            _check_gateway_policy(context, attrs["external_gateway_info"], "update")
        if "routes" in attrs:  # first, against the ports the router has now (as Neutron's extraroute)
            self._set_routes(tx.session, row, attrs["routes"])
        if "external_gateway_info" in attrs:
            self._set_gateway(tx, context, row, attrs["external_gateway_info"])
        for name in ("name", "description", "admin_state_up"):
            if name in attrs:
                setattr(row, name, attrs[name])
        touch_row(row)
        tx.touch(self.kind, row.id)

    def delete(self, tx: Transaction, context: Context, router_id: str) -> None:
        session = tx.session
        row = visible_router(session, context, router_id, lock=True)
        attached = interface_ports(session, row.id)
        if attached:
            raise RouterInUse(router_id=row.id, reason="has ports still attached: " +
                              ", ".join(p.id for p in attached))
        self._remove_gateway(tx, row)
        for port in l3_scheduler.router_ports(session, row.id):  # anything left behind
            self.ports.remove(tx, port)
        session.execute(delete(t.RouterRoute).where(t.RouterRoute.router_id == row.id))
        session.execute(delete(t.Tag).where(t.Tag.resource_id == row.id))
        session.delete(row)
        tx.touch_deleted(self.kind, row.id)

    # --- the external gateway ---

    def _set_gateway(self, tx: Transaction, context: Context, row: t.Router, info: dict | None) -> None:
        """Neutron's _update_router_gw_info: a new network replaces the gateway port, new external
        addresses on the same network change it, nothing ({} or null) removes it."""
        session = tx.session
        info = info or None
        requested_ips = (info or {}).get("external_fixed_ips") or []
        network_id = self._check_gateway(session, context, row, info, requested_ips)
        current = session.get(t.Port, row.gw_port_id) if row.gw_port_id else None
        row.enable_snat = info.get("enable_snat", True) if info else True
        if current is not None and current.network_id == network_id:
            if _addresses_change(session, current.id, requested_ips):
                self.ports.update(tx, ADMIN, current.id, {"fixed_ips": requested_ips})
            return
        self._remove_gateway(tx, row)
        if network_id:
            self._add_gateway(tx, row, network_id, requested_ips)

    def _check_gateway(self, session: Session, context: Context, row: t.Router, info: dict | None,
                       requested_ips: list[dict]) -> str | None:
        """The gateway's network, if any, checked as _validate_gw_info does."""
        if not info:
            return None
        network = self.networks.read_row(session, context, info["network_id"])
        if not network.external:
            raise bad_router_request(f"Network {network.id} is not an external network")
        subnets = session.execute(select(t.Subnet.id, t.Subnet.cidr, t.Subnet.gateway_ip)
                                  .where(t.Subnet.network_id == network.id)).all()
        gateway_ips = {g for _, _, g in subnets if g}
        for entry in requested_ips:
            if entry.get("ip_address") in gateway_ips:
                raise bad_router_request(f"External IP {entry['ip_address']} is the same as the gateway IP")
        routes = _routes(session, [row.id]).get(row.id)
        if routes:
            cidrs, addresses = connected(session, row.id, except_gateway=True)
            _check_routes(routes, cidrs + [cidr for _, cidr, _ in subnets], addresses)
        return network.id

    def _add_gateway(self, tx: Transaction, row: t.Router, network_id: str, requested_ips: list[dict]) -> None:
        session = tx.session
        subnets = list(session.execute(select(t.Subnet).where(t.Subnet.network_id == network_id)).scalars())
        check_subnets_free(session, row, subnets)
        row.gw_port_id = self.ports.create(tx, ADMIN, {
            "project_id": "", "network_id": network_id, "name": "", "admin_state_up": True,
            "fixed_ips": requested_ips or None, "device_id": row.id, "device_owner": ROUTER_GATEWAY,
            "binding:host_id": row.host}, check_quota=False)
        l3_scheduler.schedule(tx, row)

    def _remove_gateway(self, tx: Transaction, row: t.Router) -> None:
        session = tx.session
        port = session.get(t.Port, row.gw_port_id) if row.gw_port_id else None
        if port is None:
            return
        if session.execute(select(t.FloatingIp.id).where(t.FloatingIp.router_id == row.id)).first():
            raise RouterExternalGatewayInUseByFloatingIp(router_id=row.id, net_id=port.network_id)
        row.gw_port_id = None
        session.flush()
        self.ports.remove(tx, port)

    # --- extra routes ---

    def _set_routes(self, session: Session, row: t.Router, routes: list[dict]) -> None:
        cidrs, addresses = connected(session, row.id)
        _check_routes(routes, cidrs, addresses)
        if len(routes) > MAX_ROUTES:
            raise RoutesExhausted(router_id=row.id, quota=MAX_ROUTES)
        session.execute(delete(t.RouterRoute).where(t.RouterRoute.router_id == row.id))
        session.add_all(t.RouterRoute(router_id=row.id, destination=r["destination"], nexthop=r["nexthop"])
                        for r in routes)
        session.flush()

    def change_routes(self, tx: Transaction, context: Context, router_id: str, routes: list[dict],
                      adding: bool) -> None:
        """add_extraroutes / remove_extraroutes (extraroute-atomic): the router's routes plus or minus
        these, checked as a whole. Removing a route it does not have is no error."""
        row = visible_router(tx.session, context, router_id, lock=True)
        current = _routes(tx.session, [row.id]).get(row.id, [])
        pairs = [(r["destination"], r["nexthop"]) for r in current]
        changes = [(r["destination"], r["nexthop"]) for r in routes]
        kept = list(dict.fromkeys(pairs + changes)) if adding else [p for p in pairs if p not in changes]
        self.update(tx, context, router_id, {"routes": [{"destination": d, "nexthop": n} for d, n in kept]})

    # --- interfaces ---

    def add_interface(self, tx: Transaction, context: Context, router_id: str, info) -> dict:
        return self.interfaces.add(tx, context, router_id, info)

    def remove_interface(self, tx: Transaction, context: Context, router_id: str, info) -> dict:
        return self.interfaces.remove(tx, context, router_id, info)


def _check_gateway_policy(context: Context, info, verb: str) -> None:
    if context.is_admin or not isinstance(info, dict):
        return
    for key in ADMIN_GATEWAY_KEYS:
        if key in info:
            raise PolicyNotAuthorized(action=f"rule:{verb}_router:external_gateway_info:{key}")


def _check_routes(routes: list[dict], cidrs: list[str], addresses: list[str]) -> None:
    """Each next hop is on a subnet the router is on, and not one of its own addresses."""
    networks = [ipaddress.ip_network(c) for c in cidrs]
    for route in routes:
        nexthop = ipaddress.ip_address(route["nexthop"])
        if not any(nexthop in network for network in networks):
            raise InvalidRoutes(routes=routes, reason="the nexthop is not connected with router")
        if route["nexthop"] in addresses:
            raise InvalidRoutes(routes=routes, reason="the nexthop is used by router")


def _addresses_change(session: Session, port_id: str, requested: list[dict]) -> bool:
    """Whether ``requested`` external addresses differ from the gateway port's (subnets, or addresses)."""
    if not requested:
        return False
    held = session.execute(select(t.IpAllocation.subnet_id, t.IpAllocation.ip_address)
                           .where(t.IpAllocation.port_id == port_id)).all()
    if {e["subnet_id"] for e in requested if e.get("subnet_id")} != {s for s, _ in held}:
        return True
    return {e["ip_address"] for e in requested if e.get("ip_address")} != {a for _, a in held}


def _gateway_ports(session: Session, port_ids: list[str]) -> dict[str, tuple[str, list[dict]]]:
    """Gateway port id -> (external network id, its fixed IPs in wire form)."""
    if not port_ids:
        return {}
    out = {port_id: (network_id, []) for port_id, network_id in session.execute(
        select(t.Port.id, t.Port.network_id).where(t.Port.id.in_(port_ids)))}
    allocations = session.execute(select(t.IpAllocation.port_id, t.IpAllocation.subnet_id, t.IpAllocation.ip_address)
                                  .where(t.IpAllocation.port_id.in_(port_ids))).all()
    for port_id, subnet_id, address in sorted(allocations, key=lambda a: _address_order(a[2])):
        out[port_id][1].append({"subnet_id": subnet_id, "ip_address": address})
    return out


def _routes(session: Session, router_ids: list[str]) -> dict[str, list[dict]]:
    if not router_ids:
        return {}
    out: dict[str, list[dict]] = {}
    rows = session.execute(select(t.RouterRoute.router_id, t.RouterRoute.destination, t.RouterRoute.nexthop)
                           .where(t.RouterRoute.router_id.in_(router_ids))
                           .order_by(t.RouterRoute.destination, t.RouterRoute.nexthop)).all()
    for router_id, destination, nexthop in rows:
        out.setdefault(router_id, []).append({"destination": destination, "nexthop": nexthop})
    return out


def _address_order(address: str):
    value = ipaddress.ip_address(address)
    return value.version, int(value)
