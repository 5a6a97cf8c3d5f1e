"""Floating IPs: an address of an external network, held by a port there (device_owner
network:floatingip, no project, as Neutron makes it), and its association with a fixed IP of a port
through the router that has a gateway on that network and an interface on the port's subnet.

Status is DOWN until the L3 agent hosting the router reports it ACTIVE; every change of association
makes it DOWN again until reported. A fixed IP has at most one floating IP per external network: a
database constraint, so two concurrent associations cannot both win.
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from neutrino.services import ipam
from neutrino.services.common import new_id, now, owner_of, plain_rows, tags_for, timestamp, touch_row
from neutrino.services.context import ADMIN, Context
from neutrino.services.errors import (
    BadRequest,
    ExternalGatewayForFloatingIPNotFound,
    ExternalIpAddressExhausted,
    FloatingIPNotFound,
    FloatingIPPortAlreadyAssociated,
    IpAddressGenerationFailure,
    PolicyNotAuthorized,
)
from neutrino.services.l3_scheduler import ROUTER_GATEWAY, ROUTER_INTERFACE
from neutrino.store import tables as t
from neutrino.store.revisions import Transaction
from neutrino.store.session import Retry, lock_named

if TYPE_CHECKING:
    from neutrino.services.networks import NetworkService
    from neutrino.services.ports import PortService
    from neutrino.services.quotas import QuotaBook

FLOATING_IP_OWNER = "network:floatingip"
# The ports the L3 service owns: they go with their router or floating IP, never through DELETE /ports.
L3_PORT_OWNERS = (ROUTER_INTERFACE, ROUTER_GATEWAY, FLOATING_IP_OWNER)
_DETAILS = ("name", "network_id", "mac_address", "admin_state_up", "status", "device_id", "device_owner")


def _bad(msg: str) -> BadRequest:
    return BadRequest(resource="floatingip", msg=msg)


class FloatingIpService:
    kind = "floatingip"

    def __init__(self, networks: NetworkService, ports: PortService, quotas: QuotaBook):
        self.networks = networks
        self.ports = ports
        self.quotas = quotas

    def not_found(self, resource_id: str) -> Exception:
        return FloatingIPNotFound(id=resource_id)

    # --- reads ---

    def views(self, session: Session, context: Context, ids: list[str] | None = None) -> list[dict]:
        table = t.FloatingIp.__table__
        query = select(table)
        if not context.is_admin:
            query = query.where(table.c.project_id == context.project_id)
        if ids is not None:
            query = query.where(table.c.id.in_(ids))
        rows = list(plain_rows(session.execute(query)))
        details = _port_details(session, {r.fixed_port_id for r in rows if r.fixed_port_id})
        tags = tags_for(session, self.kind, ids)
        return [self._view(row, details.get(row.fixed_port_id), tags) for row in rows]

    @staticmethod
    def _view(row, port_details: dict | None, tags) -> dict:
        return {  # a floating IP has the standard attributes but a name
            "id": row.id,
            "tenant_id": row.project_id,
            "project_id": row.project_id,
            "floating_ip_address": row.floating_ip_address,
            "floating_network_id": row.floating_network_id,
            "router_id": row.router_id,
            "port_id": row.fixed_port_id,
            "fixed_ip_address": row.fixed_ip_address,
            "status": row.status,
            "description": row.description,
            "port_details": port_details,
            "created_at": timestamp(row.created_at),
            "updated_at": timestamp(row.updated_at),
            "revision_number": row.revision_number,
            "tags": tags.get(row.id, []),
        }

    def get_row(self, session: Session, context: Context, floating_ip_id: str) -> t.FloatingIp:
        row = session.get(t.FloatingIp, floating_ip_id)
        if row is None or (not context.is_admin and row.project_id != context.project_id):
            raise FloatingIPNotFound(id=floating_ip_id)
        return row

    # --- writes ---

    def create(self, tx: Transaction, context: Context, attrs: dict) -> str:
        session = tx.session
        if attrs.get("floating_ip_address") and not (context.is_admin or "manager" in context.roles):
            raise PolicyNotAuthorized(action="rule:create_floatingip:floating_ip_address")
        network = self.networks.read_row(session, context, attrs["floating_network_id"])
        if not network.external:
            raise _bad(f"Network {network.id} is not a valid external network")
        spaces = ipam.subnet_spaces(session, network.id)
        if not any(s.version == 4 for s in spaces):
            raise _bad(f"Network {network.id} does not contain any IPv4 subnet")
        project_id = owner_of(context, attrs)
        self.quotas.check(session, project_id, "floatingip")
        floating_ip_id = attrs.get("id") or new_id()
        port_id = self.ports.create(tx, ADMIN, {
            "network_id": network.id, "project_id": "", "name": "", "admin_state_up": True,
            "device_id": floating_ip_id, "device_owner": FLOATING_IP_OWNER, "status": "N/A",
            "fixed_ips": _requested_address(session, network.id, spaces, attrs)}, check_quota=False)
        address = _ipv4_address_of(session, port_id)
        if address is None:
            raise ExternalIpAddressExhausted(net_id=network.id)
        moment = now()
        row = t.FloatingIp(id=floating_ip_id, project_id=project_id, description=attrs.get("description") or "",
                           created_at=moment, updated_at=moment, revision_number=0, floating_ip_address=address,
                           floating_network_id=network.id, floating_port_id=port_id, status="DOWN")
        self._associate(tx, context, row, attrs)
        session.add(row)
        session.flush()  # the constraint on (network, fixed port, fixed IP) is checked here
        tx.touch(self.kind, row.id)
        return row.id

    def update(self, tx: Transaction, context: Context, floating_ip_id: str, attrs: dict) -> None:
        row = self.get_row(tx.session, context, floating_ip_id)
        if "description" in attrs:
            row.description = attrs["description"] or ""
        self._associate(tx, context, row, attrs)
        touch_row(row)
        tx.session.flush()
        tx.touch(self.kind, row.id)

    def _associate(self, tx: Transaction, context: Context, row: t.FloatingIp, attrs: dict) -> None:
        """Neutron's _check_and_get_fip_assoc: ``port_id`` (and ``fixed_ip_address``) associate, a null
        port_id disassociates, no port_id leaves the association as it is."""
        session = tx.session
        port_id, fixed_ip = attrs.get("port_id"), attrs.get("fixed_ip_address")
        if fixed_ip and not port_id:
            raise _bad("fixed_ip_address cannot be specified without a port_id")
        if not port_id:
            if "port_id" in attrs and row.fixed_port_id is not None:
                _set_association(row, None, None, None)
            return
        port = self.ports.get_row(session, context, port_id)
        subnet_id, fixed_ip = _internal_address(session, context, row, port, fixed_ip)
        router_id = _router_between(session, port, subnet_id, row.floating_network_id)
        if (port.id, fixed_ip) != (row.fixed_port_id, row.fixed_ip_address):
            _check_free(session, row, port.id, fixed_ip)
        _set_association(row, port.id, fixed_ip, router_id)

    def delete(self, tx: Transaction, context: Context, floating_ip_id: str) -> None:
        session = tx.session
        row = self.get_row(session, context, floating_ip_id)
        port = session.get(t.Port, row.floating_port_id)
        session.execute(delete(t.Tag).where(t.Tag.resource_id == row.id))
        session.delete(row)
        session.flush()
        if port is not None:
            self.ports.remove(tx, port)
        tx.touch_deleted(self.kind, floating_ip_id)

    def set_statuses(self, tx: Transaction, host: str, statuses: dict[str, str]) -> list[str]:
        """The L3 agent of ``host`` reports its floating IPs; only those of routers it hosts change.
        Returns the ids it may not set (unknown, not associated, or on a router hosted elsewhere)."""
        ignored = []
        for floating_ip_id, status in statuses.items():
            row = tx.session.get(t.FloatingIp, floating_ip_id)
            router = tx.session.get(t.Router, row.router_id) if row is not None and row.router_id else None
            if router is None or router.host != host:
                ignored.append(floating_ip_id)
                continue
            if row.status != status:
                row.status = status
                touch_row(row)
                tx.touch(self.kind, row.id)
        return ignored


def _internal_address(session: Session, context: Context, row: t.FloatingIp, port: t.Port,
                      fixed_ip: str | None) -> tuple[str, str]:
    """(subnet id, address) of the port's fixed IP the floating IP goes to (_internal_fip_assoc_data)."""
    if port.project_id != row.project_id and not context.is_admin:
        raise _bad(f"Cannot process floating IP association with Port {port.id}, since that port is "
                   "owned by a different project")
    if port.device_owner == "network:dhcp":
        # sic: Neutron leaves the placeholder unformatted in this message
        raise _bad("Port %(id)s is unable to be assigned a floating IP")
    held = _fixed_ips_of(session, port.id)
    if fixed_ip:
        if ipaddress.ip_address(fixed_ip).version != 4:
            raise _bad(f"Cannot process floating IP association with {fixed_ip}, since that is not an "
                       "IPv4 address")
        subnet_id = next((s for s, a in held if a == fixed_ip), None)
        if subnet_id is None:
            raise _bad(f"Port {port.id} does not have fixed ip {fixed_ip}")
        return subnet_id, fixed_ip
    ipv4 = [(s, a) for s, a in held if ipaddress.ip_address(a).version == 4]
    if not ipv4:
        raise _bad(f"Cannot add floating IP to port {port.id} that has no fixed IPv4 addresses")
    if len(ipv4) > 1:
        raise _bad(f"Port {port.id} has multiple fixed IPv4 addresses.  Must provide a specific IPv4 "
                   "address when assigning a floating IP")
    return ipv4[0]


def _set_association(row: t.FloatingIp, port_id: str | None, fixed_ip: str | None, router_id: str | None) -> None:
    """Point the floating IP at a fixed IP (or at nothing); a change is DOWN until the agent reports it."""
    if (row.fixed_port_id, row.fixed_ip_address, row.router_id) != (port_id, fixed_ip, router_id):
        row.status = "DOWN"
    row.fixed_port_id, row.fixed_ip_address, row.router_id = port_id, fixed_ip, router_id


def _check_free(session: Session, row: t.FloatingIp, port_id: str, fixed_ip: str) -> None:
    """One floating IP per fixed IP and external network (FloatingIPPortAlreadyAssociated)."""
    taken = session.execute(select(t.FloatingIp.id).where(
        t.FloatingIp.fixed_port_id == port_id, t.FloatingIp.fixed_ip_address == fixed_ip,
        t.FloatingIp.floating_network_id == row.floating_network_id, t.FloatingIp.id != row.id)).first()
    if taken:
        raise FloatingIPPortAlreadyAssociated(
            floating_ip_address=row.floating_ip_address, fip_id=row.id, port_id=port_id, fixed_ip=fixed_ip,
            net_id=row.floating_network_id)


def _router_between(session: Session, port: t.Port, subnet_id: str, external_network_id: str) -> str:
    """The router with an interface on the port's subnet and a gateway on the external network; the one
    whose interface holds the subnet's gateway address when several do (Neutron's get_router_for_floatingip).
    The router is locked, so that its interface and gateway stay while the association commits."""
    found = _routers_between(session, port.network_id, subnet_id, external_network_id)
    if not found:
        raise ExternalGatewayForFloatingIPNotFound(subnet_id=subnet_id, external_network_id=external_network_id,
                                                   port_id=port.id)
    gateway = session.execute(select(t.Subnet.gateway_ip).where(t.Subnet.id == subnet_id)).scalar()
    router_id = next((r for r, address in found if address == gateway), found[0][0])
    lock_named(session, "router:" + router_id)
    if router_id not in {r for r, _ in _routers_between(session, port.network_id, subnet_id, external_network_id)}:
        raise Retry()  # its interface or gateway went while we waited for the lock: look again
    return router_id


def _routers_between(session: Session, network_id: str, subnet_id: str, external_network_id: str):
    ports, allocations = t.Port.__table__, t.IpAllocation.__table__
    gateways = t.Port.__table__.alias("gateways")
    query = (select(ports.c.device_id, allocations.c.ip_address)
             .join(allocations, allocations.c.port_id == ports.c.id)
             .join(gateways, gateways.c.device_id == ports.c.device_id)
             .where(ports.c.network_id == network_id, ports.c.device_owner == ROUTER_INTERFACE,
                    allocations.c.subnet_id == subnet_id, gateways.c.network_id == external_network_id,
                    gateways.c.device_owner == ROUTER_GATEWAY)
             .order_by(ports.c.created_at, ports.c.id))
    return list(dict.fromkeys(tuple(row) for row in session.execute(query)))


def _requested_address(session: Session, network_id: str, spaces: list[ipam.SubnetSpace],
                       attrs: dict) -> list[dict]:
    """The fixed IP the floating IP's port asks for: the address and/or subnet given, else a free IPv4
    address of the first IPv4 subnet with room."""
    requested = {key: attrs[key] for key in ("subnet_id",) if attrs.get(key)}
    if attrs.get("floating_ip_address"):
        requested["ip_address"] = attrs["floating_ip_address"]
    if requested:
        return [requested]
    ipam.lock_subnets(session, network_id)
    for space in (s for s in spaces if s.version == 4):
        address = ipam.pick_free_address(session, space)
        if address is not None:
            return [{"subnet_id": space.id, "ip_address": address}]
    raise IpAddressGenerationFailure(net_id=network_id)


def _ipv4_address_of(session: Session, port_id: str) -> str | None:
    for address in session.execute(select(t.IpAllocation.ip_address).where(t.IpAllocation.port_id == port_id)).scalars():
        if ipaddress.ip_address(address).version == 4:
            return address
    return None


def _fixed_ips_of(session: Session, port_id: str) -> list[tuple[str, str]]:
    """(subnet id, address) of each fixed IP of the port."""
    return [tuple(r) for r in session.execute(select(t.IpAllocation.subnet_id, t.IpAllocation.ip_address)
                                              .where(t.IpAllocation.port_id == port_id))]


def _port_details(session: Session, port_ids: set[str]) -> dict[str, dict]:
    """fip-port-details: a few attributes of each associated port."""
    if not port_ids:
        return {}
    rows = session.execute(select(*(getattr(t.Port, name) for name in _DETAILS), t.Port.id)
                           .where(t.Port.id.in_(port_ids))).all()
    return {row[-1]: dict(zip(_DETAILS, row[:-1], strict=True)) for row in rows}


# --- what other services call when ports and networks change ---

def disassociate_port(tx: Transaction, port_id: str) -> None:
    """The port is going: its floating IPs stay, associated with nothing (Neutron's disassociate_floatingips)."""
    rows = tx.session.execute(select(t.FloatingIp).where(t.FloatingIp.fixed_port_id == port_id)).scalars().all()
    for row in rows:
        _set_association(row, None, None, None)
        touch_row(row)
        tx.touch("floatingip", row.id)
    if rows:
        tx.session.flush()


def check_fixed_ips_change(session: Session, port_id: str, requested: list[dict]) -> None:
    """A fixed IP with a floating IP stays on its port (Neutron's prevent_internal_ip_change_for_fip)."""
    associated = session.execute(select(t.FloatingIp.fixed_ip_address).where(
        t.FloatingIp.fixed_port_id == port_id)).scalars().first()
    if associated and associated not in {entry.get("ip_address") for entry in requested}:
        raise BadRequest(resource="port", msg=f"Cannot update the fixed_ips of the port {port_id}, because its "
                                              "original fixed_ip has been associated to a floating ip")


def remove_unassociated(tx: Transaction, network_id: str) -> None:
    """The external network is being deleted: its floating IPs associated with nothing go, with their
    ports (Neutron's delete_disassociated_floatingips); associated ones keep it in use."""
    session = tx.session
    rows = session.execute(select(t.FloatingIp.id, t.FloatingIp.floating_port_id).where(
        t.FloatingIp.floating_network_id == network_id, t.FloatingIp.fixed_port_id.is_(None))).all()
    for floating_ip_id, port_id in rows:
        session.execute(delete(t.FloatingIp).where(t.FloatingIp.id == floating_ip_id))
        session.execute(delete(t.Tag).where(t.Tag.resource_id.in_((floating_ip_id, port_id))))
        session.execute(delete(t.Port).where(t.Port.id == port_id))
        tx.touch_deleted("floatingip", floating_ip_id)
        tx.touch_deleted("port", port_id)
