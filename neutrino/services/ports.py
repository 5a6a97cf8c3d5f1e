"""Ports: MAC per network, fixed IPs through IPAM, security groups, port security and address
pairs, and the binding attributes an agent fills in."""

from __future__ import annotations

import ipaddress
import random
from functools import cache

from sqlalchemy import bindparam, delete, insert, or_, select
from sqlalchemy.orm import Session

from neutrino.services import floating_ips, ipam
from neutrino.services.common import new_standard_row, plain_rows, standard_view, tags_for, touch_row
from neutrino.services.context import Context
from neutrino.services.errors import (
    AddressPairAndPortSecurityRequired,
    HTTPForbidden,
    MacAddressInUse,
    PolicyNotAuthorized,
    PortBound,
    PortNotFound,
    PortSecurityAndIPRequiredForSecurityGroups,
    PortSecurityPortHasSecurityGroup,
    SecurityGroupNotFound,
    ServicePortInUse,
)
from neutrino.services.networks import NetworkService
from neutrino.services.quotas import QuotaBook
from neutrino.services.security_groups import SecurityGroupService
from neutrino.store import tables as t
from neutrino.store.revisions import Transaction

MAC_PREFIX = "fa:16:3e"  # Neutron's default base_mac
_rng = random.SystemRandom()


def random_mac() -> str:
    return MAC_PREFIX + "".join(f":{_rng.randrange(256):02x}" for _ in range(3))


def is_network_device(device_owner: str) -> bool:
    """Ports owned by the network service itself (DHCP, router interfaces) get no security groups."""
    return device_owner.startswith("network:")


class PortService:
    kind = "port"

    def __init__(self, networks: NetworkService, groups: SecurityGroupService, quotas: QuotaBook):
        self.networks = networks
        self.groups = groups
        self.quotas = quotas

    def not_found(self, resource_id: str) -> Exception:
        return PortNotFound(id=resource_id)

    # --- reads ---

    def views(self, session: Session, context: Context, ids: list[str] | None = None) -> list[dict]:
        # The child rows first, then each port row made into its view as it is read: a list of
        # thousands never holds all its rows and all its views at once.
        fixed_ips, pairs, groups = (self._grouped(session, name, ids) for name in _CHILDREN)
        tags = tags_for(session, self.kind, ids)
        rows = plain_rows(session.execute(_port_rows(not context.is_admin, ids is not None),
                                          {"project_id": context.project_id, "ids": ids}))
        return [self._view(row, fixed_ips.get(row.id, []), pairs.get(row.id, []), groups.get(row.id, []), tags)
                for row in rows]

    @staticmethod
    def _grouped(session: Session, name: str, ids: list[str] | None) -> dict[str, list]:
        out: dict[str, list] = {}
        for row in session.execute(_children_rows(name, ids is not None), {"ids": ids}):
            out.setdefault(row[0], []).append(row[1:])
        return out

    @staticmethod
    def _view(row: t.Port, fixed_ips, pairs, groups, tags) -> dict:
        view = standard_view(row, tags)
        view.update({
            "network_id": row.network_id,
            "mac_address": row.mac_address,
            "admin_state_up": row.admin_state_up,
            "status": row.status,
            "device_id": row.device_id,
            "device_owner": row.device_owner,
            "fixed_ips": [{"subnet_id": s, "ip_address": a}
                          for s, a in (sorted(fixed_ips, key=_ip_order) if len(fixed_ips) > 1 else fixed_ips)],
            "allowed_address_pairs": [{"ip_address": a, "mac_address": m} for a, m in sorted(pairs)],
            "extra_dhcp_opts": [],
            "security_groups": sorted(g for (g,) in groups),
            "port_security_enabled": row.port_security_enabled,
            "binding:host_id": row.host_id,
            "binding:vif_type": row.vif_type,
            "binding:vif_details": row.vif_details or {},
            "binding:vnic_type": row.vnic_type,
            "binding:profile": row.profile or {},
            "ip_allocation": "immediate",
        })
        return view

    def get_row(self, session: Session, context: Context, port_id: str) -> t.Port:
        if not self.views(session, context, [port_id]):
            raise PortNotFound(id=port_id)
        return session.get(t.Port, port_id)

    # --- writes ---

    def create(self, tx: Transaction, context: Context, attrs: dict, check_quota: bool = True) -> str:
        """A new port. ``check_quota`` False: a port the network service makes for itself (a router's
        interface or gateway, a floating IP's), which Neutron's plugin creates outside the quota."""
        session = tx.session
        network = self.networks.read_row(session, context, attrs["network_id"])
        if not context.is_admin and network.project_id != context.project_id and not network.shared:
            # Visible but not usable: another project's external network.
            raise HTTPForbidden(tenant_id=context.project_id, resource="port")
        row = new_standard_row(
            t.Port, context, attrs, network_id=network.id,
            admin_state_up=attrs.get("admin_state_up", True), status=attrs.get("status", "DOWN"),
            device_id=attrs.get("device_id", ""), device_owner=attrs.get("device_owner", ""),
            port_security_enabled=attrs.get("port_security_enabled", network.port_security_enabled),
            host_id=attrs.get("binding:host_id", "") or "", vnic_type=attrs.get("binding:vnic_type", "normal"),
            profile=attrs.get("binding:profile") or {}, vif_type="unbound", vif_details={},
        )
        if check_quota:
            self.quotas.check(session, row.project_id, "port")
        row.mac_address = self._mac_for(session, network.id, attrs.get("mac_address"))
        if row.host_id:
            self.bind(session, row)
        # A plain insert: the row object is only read from here on, so the session need not track it.
        _insert(session, t.Port, [{column.key: getattr(row, column.key) for column in t.Port.__table__.columns}])
        addresses = ipam.allocate(session, network.id, attrs.get("fixed_ips"))
        # Inserted now, not at the next flush: the next port of a bulk request must see them taken.
        _insert(session, t.IpAllocation, [{"subnet_id": s, "ip_address": a, "port_id": row.id,
                                           "network_id": network.id} for s, a in addresses])
        groups = self._set_groups(tx, context, row, attrs.get("security_groups"), creating=True)
        pairs = self._set_pairs(session, row, attrs.get("allowed_address_pairs")) or ()
        # Everything the port's view shows was just written here, so it goes to the feed as it is.
        tx.touch(self.kind, row.id, body=self._view(row, addresses, pairs, [(g,) for g in groups], {}))
        return row.id

    def _mac_for(self, session: Session, network_id: str, requested: str | None) -> str:
        """``requested`` unless another port of the network has it; else a random MAC, unchecked: the
        rare clash (one in 16 million per port) breaks the (network_id, mac_address) unique
        constraint, and Store.write runs the whole write again, with another."""
        if requested is None:
            return random_mac()
        if session.execute(select(t.Port.id).where(t.Port.network_id == network_id,
                                                   t.Port.mac_address == requested)).first():
            raise MacAddressInUse(net_id=network_id, mac=requested)
        return requested

    def _set_groups(self, tx: Transaction, context: Context, row: t.Port, requested: list[str] | None,
                    creating: bool) -> list[str] | None:
        """Give the port the ``requested`` groups (a new port: its project's default group unless told
        otherwise); returns them, or None when an update leaves them as they are."""
        session = tx.session
        if requested is None:
            if not creating:
                return None
            if not row.port_security_enabled or is_network_device(row.device_owner):
                requested = []
            else:  # the group ensure_default returns exists and is the port's project's: no check
                requested = [self.groups.ensure_default(tx, row.project_id)]
        else:
            if requested and not row.port_security_enabled:
                raise PortSecurityAndIPRequiredForSecurityGroups()
            for group_id in requested:
                group = session.get(t.SecurityGroup, group_id)
                if group is None or (group.project_id != row.project_id and not context.is_admin):
                    raise SecurityGroupNotFound(id=group_id)
        if not creating:
            session.execute(delete(t.PortSecurityGroup).where(t.PortSecurityGroup.port_id == row.id))
        _insert(session, t.PortSecurityGroup, [{"port_id": row.id, "security_group_id": g} for g in requested])
        return requested

    def _set_pairs(self, session: Session, row: t.Port, pairs: list[dict] | None) -> set[tuple[str, str]] | None:
        """Replace the port's allowed address pairs; returns them as (ip_address, mac_address), or
        None when ``pairs`` is None (left as they are)."""
        if pairs is None:
            return None
        if pairs and not row.port_security_enabled:
            raise AddressPairAndPortSecurityRequired()
        session.execute(delete(t.AllowedAddressPair).where(t.AllowedAddressPair.port_id == row.id))
        unique = {(p["ip_address"], p.get("mac_address") or row.mac_address) for p in pairs}
        _insert(session, t.AllowedAddressPair, [{"port_id": row.id, "ip_address": a, "mac_address": m}
                                                for a, m in unique])
        return unique

    def bind(self, session: Session, row: t.Port) -> None:
        """Bind to the OVS agent of ``row.host_id``: vif_type ovs when it is alive and maps the
        network's physnet, binding_failed otherwise (as ML2 reports)."""
        from neutrino.services.agents import binding_for

        row.vif_type, row.vif_details = binding_for(session, row)

    def update(self, tx: Transaction, context: Context, port_id: str, attrs: dict) -> None:
        session = tx.session
        row = self.get_row(session, context, port_id)
        if not context.is_admin and row.project_id != context.project_id:
            raise PolicyNotAuthorized(action="update_port")
        if "mac_address" in attrs and attrs["mac_address"] != row.mac_address:
            if row.vif_type not in ("unbound", "binding_failed"):
                raise PortBound(port_id=row.id, vif_type=row.vif_type, old_mac=row.mac_address,
                                new_mac=attrs["mac_address"])
            row.mac_address = self._mac_for(session, row.network_id, attrs["mac_address"])
        if "port_security_enabled" in attrs:
            self._change_port_security(session, row, attrs)
        if "fixed_ips" in attrs:
            floating_ips.check_fixed_ips_change(session, row.id, attrs["fixed_ips"])
            self._change_fixed_ips(session, row, attrs["fixed_ips"])
        simple = {"name": "name", "description": "description", "admin_state_up": "admin_state_up",
                  "device_id": "device_id", "device_owner": "device_owner", "binding:host_id": "host_id",
                  "binding:vnic_type": "vnic_type", "binding:profile": "profile"}
        for name, column in simple.items():
            if name in attrs:
                setattr(row, column, attrs[name] if attrs[name] is not None else "")
        self._set_groups(tx, context, row, attrs.get("security_groups"), creating=False)
        self._set_pairs(session, row, attrs.get("allowed_address_pairs"))
        if "binding:host_id" in attrs:
            self.bind(session, row)
        touch_row(row)
        tx.touch(self.kind, row.id)

    def _change_port_security(self, session: Session, row: t.Port, attrs: dict) -> None:
        enabled = attrs["port_security_enabled"]
        if not enabled:
            groups = attrs.get("security_groups")
            if groups is None:
                groups = session.execute(select(t.PortSecurityGroup.security_group_id)
                                         .where(t.PortSecurityGroup.port_id == row.id)).scalars().all()
            if groups:
                raise PortSecurityPortHasSecurityGroup()
            pairs = attrs.get("allowed_address_pairs")
            if pairs is None:
                pairs = session.execute(select(t.AllowedAddressPair.ip_address)
                                        .where(t.AllowedAddressPair.port_id == row.id)).scalars().all()
            if pairs:
                raise AddressPairAndPortSecurityRequired()
        row.port_security_enabled = enabled

    def _change_fixed_ips(self, session: Session, row: t.Port, requested: list[dict]) -> None:
        """Neutron's diff of a port's addresses (_get_changed_ips_for_port): an address the port holds
        is kept when asked for, an entry naming only a subnet keeps an address the port holds there,
        every other entry is allocated anew, and what no entry claims is released."""
        held = {a: (s, a) for s, a in session.execute(
            select(t.IpAllocation.subnet_id, t.IpAllocation.ip_address).where(t.IpAllocation.port_id == row.id))}
        keep = set()
        new = []
        for entry in (e for e in requested if "ip_address" in e):
            match = held.pop(entry["ip_address"], None)
            if match and entry.get("subnet_id", match[0]) == match[0]:
                keep.add(match)
            else:
                new.append(entry)
        for entry in (e for e in requested if "ip_address" not in e):
            match = next((c for c in held.values() if c[0] == entry["subnet_id"]), None)
            if match:
                keep.add(held.pop(match[1]))
            else:
                new.append(entry)
        session.execute(delete(t.IpAllocation).where(
            t.IpAllocation.port_id == row.id,
            t.IpAllocation.ip_address.not_in([a for _, a in keep] or [""])))
        session.flush()
        for subnet_id, address in ipam.allocate(session, row.network_id, new):
            session.add(t.IpAllocation(subnet_id=subnet_id, ip_address=address, port_id=row.id,
                                       network_id=row.network_id))

    def set_statuses(self, tx: Transaction, host: str, statuses: dict[str, str]) -> list[str]:
        """An agent reports its ports ACTIVE/DOWN; only ports bound to its host change.
        Returns the ids it may not set (unknown, or bound elsewhere)."""
        ignored = []
        for port_id, status in statuses.items():
            row = tx.session.get(t.Port, port_id)
            if row is None or row.host_id != host:
                ignored.append(port_id)
                continue
            if row.status != status:
                row.status = status
                touch_row(row)
                tx.touch(self.kind, row.id)
        return ignored

    def delete(self, tx: Transaction, context: Context, port_id: str) -> None:
        session = tx.session
        row = self.get_row(session, context, port_id)
        # delete_port is rule:admin_owner_or_network_owner: the network's owner may remove any port on it.
        if not context.is_admin and context.project_id not in (row.project_id, _network_owner_of(session, row)):
            raise PolicyNotAuthorized(action="delete_port")
        _check_not_l3_owned(session, row)
        self.remove(tx, row)

    def remove(self, tx: Transaction, row: t.Port) -> None:
        """Delete the port, whoever owns it (routers and floating IPs remove their own ports this way);
        the floating IPs on its addresses are let go, as Neutron disassociates them."""
        session = tx.session
        floating_ips.disassociate_port(tx, row.id)
        session.execute(delete(t.Tag).where(t.Tag.resource_id == row.id))
        session.delete(row)
        tx.touch_deleted(self.kind, row.id)


def _check_not_l3_owned(session: Session, row: t.Port) -> None:
    """A router's port or a floating IP's goes with its owner, never through DELETE /ports (Neutron's
    prevent_l3_port_deletion); once the owner is gone, the port may go."""
    if row.device_owner in floating_ips.L3_PORT_OWNERS:
        owner = t.FloatingIp if row.device_owner == floating_ips.FLOATING_IP_OWNER else t.Router
        if session.get(owner, row.device_id) is not None:
            raise ServicePortInUse(port_id=row.id, reason=f"has device owner {row.device_owner}")


def _network_owner_of(session: Session, row: t.Port) -> str | None:
    return session.execute(select(t.Network.project_id).where(t.Network.id == row.network_id)).scalar()


# Statements are built once and reused with bound values: building one costs more than running it.

@cache
def _port_rows(member: bool, by_ids: bool):
    """Every port, or a member's (its project's and those on its networks); all, or those of :ids."""
    ports, networks = t.Port.__table__, t.Network.__table__
    query = select(ports)
    if member:
        owned_networks = select(networks.c.id).where(networks.c.project_id == bindparam("project_id"))
        query = query.where(or_(ports.c.project_id == bindparam("project_id"),
                                ports.c.network_id.in_(owned_networks)))
    if by_ids:
        query = query.where(ports.c.id.in_(bindparam("ids", expanding=True)))
    return query


# A port's child rows in its view: table, then the port id column and the value columns.
_CHILDREN = {
    "fixed_ips": (t.IpAllocation, "port_id", "subnet_id", "ip_address"),
    "allowed_address_pairs": (t.AllowedAddressPair, "port_id", "ip_address", "mac_address"),
    "security_groups": (t.PortSecurityGroup, "port_id", "security_group_id"),
}


@cache
def _children_rows(name: str, by_ids: bool):
    """(port id, values...) of one kind of child row: of every port, or of the ports :ids."""
    table, key, *values = _CHILDREN[name]
    columns = table.__table__.c
    query = select(columns[key], *(columns[value] for value in values))
    return query.where(columns[key].in_(bindparam("ids", expanding=True))) if by_ids else query


def _insert(session: Session, table, rows: list[dict]) -> None:
    """Insert ``rows`` at once, as plain Core statements (no ORM objects to track and flush)."""
    if rows:
        session.execute(_insert_into(table), rows if len(rows) > 1 else rows[0])


@cache
def _insert_into(table):
    return insert(table.__table__)


def _ip_order(item):
    address = ipaddress.ip_address(item[1])
    return (address.version, int(address))
