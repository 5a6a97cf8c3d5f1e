"""Networks: segments, MTU, sharing and the external flag, and what may be deleted."""

from __future__ import annotations

from functools import cache

from sqlalchemy import bindparam, delete, or_, select
from sqlalchemy.orm import Session

from neutrino.config import Settings
from neutrino.model.ranges import TUNNEL_TYPES
from neutrino.services import floating_ips, segments
from neutrino.services.common import new_standard_row, plain_rows, standard_view, tags_for, touch_row
from neutrino.services.context import Context
from neutrino.services.errors import (
    ExternalNetworkInUse,
    InvalidInput,
    InvalidSharedSetting,
    NetworkInUse,
    NetworkNotFound,
    PolicyNotAuthorized,
)
from neutrino.services.quotas import QuotaBook
from neutrino.store import tables as t
from neutrino.store.revisions import Transaction

# Ports the network itself owns; they do not keep a network from being deleted.
NETWORK_OWNED_PORTS = ("network:dhcp",)


def visible_networks(context: Context):
    """SQL condition: the networks a caller may see."""
    if context.is_admin:
        return True
    return visible_to(context.project_id)


def visible_to(project_id):
    """A member of ``project_id`` (a value, or a bindparam) sees its own, shared and external networks."""
    networks = t.Network.__table__
    return or_(networks.c.project_id == project_id, networks.c.shared, networks.c.external)


# Statements are built once and run with bound values: building one costs more than running it.

@cache
def _networks_query(rows: bool, member: bool, by_ids: bool):
    """Networks a member (or an admin) sees, all or those of :ids; as table rows, or else ORM objects."""
    query = select(t.Network.__table__ if rows else t.Network)
    if member:
        query = query.where(visible_to(bindparam("project_id")))
    if by_ids:
        query = query.where(t.Network.__table__.c.id.in_(bindparam("ids", expanding=True)))
    return query


@cache
def _subnet_ids_query(by_ids: bool):
    subnets = t.Subnet.__table__
    query = select(subnets.c.network_id, subnets.c.id)
    return query.where(subnets.c.network_id.in_(bindparam("ids", expanding=True))) if by_ids else query


class NetworkService:
    kind = "network"

    def __init__(self, settings: Settings, quotas: QuotaBook):
        self.settings = settings
        self.quotas = quotas

    def not_found(self, resource_id: str) -> Exception:
        return NetworkNotFound(id=resource_id)

    def views(self, session: Session, context: Context, ids: list[str] | None = None) -> list[dict]:
        params = {"project_id": context.project_id, "ids": ids}
        rows = list(plain_rows(session.execute(_networks_query(True, not context.is_admin, ids is not None),
                                               params)))
        subnets: dict[str, list[str]] = {}
        for network_id, subnet_id in session.execute(_subnet_ids_query(ids is not None), params):
            subnets.setdefault(network_id, []).append(subnet_id)
        tags = tags_for(session, self.kind, ids)
        return [self._view(row, subnets.get(row.id, []), tags) for row in rows]

    @staticmethod
    def _view(row: t.Network, subnets: list[str], tags) -> dict:
        view = standard_view(row, tags)
        view.update({
            "admin_state_up": row.admin_state_up,
            "status": row.status,
            "shared": row.shared,
            "router:external": row.external,
            "mtu": row.mtu,
            "subnets": sorted(subnets),
            "provider:network_type": row.network_type,
            "provider:physical_network": row.physical_network,
            "provider:segmentation_id": row.segmentation_id,
            "port_security_enabled": row.port_security_enabled,
            "availability_zone_hints": [],
            "availability_zones": [],
            "ipv4_address_scope": None,
            "ipv6_address_scope": None,
            "is_default": False,
            "l2_adjacency": True,
        })
        return view

    def get_row(self, session: Session, context: Context, network_id: str) -> t.Network:
        """The network as an ORM object, to change; NetworkNotFound unless the caller sees it."""
        row = session.execute(_networks_query(False, not context.is_admin, True),
                              {"project_id": context.project_id, "ids": [network_id]}).scalar_one_or_none()
        if row is None:
            raise NetworkNotFound(id=network_id)
        return row

    def read_row(self, session: Session, context: Context, network_id: str):
        """The network's columns, only to read (cheaper than an ORM object); NetworkNotFound unless
        the caller sees it."""
        rows = plain_rows(session.execute(_networks_query(True, not context.is_admin, True),
                                          {"project_id": context.project_id, "ids": [network_id]}))
        row = next(rows, None)
        if row is None:
            raise NetworkNotFound(id=network_id)
        return row

    def create(self, tx: Transaction, context: Context, attrs: dict) -> str:
        session = tx.session
        row = new_standard_row(
            t.Network, context, attrs,
            admin_state_up=attrs.get("admin_state_up", True),
            shared=attrs.get("shared", False),
            external=attrs.get("router:external", False),
            status="ACTIVE",
            port_security_enabled=attrs.get("port_security_enabled", True),
        )
        self.quotas.check(session, row.project_id, "network")
        segment = self._segment_for(session, attrs)
        row.network_type = segment.network_type
        row.physical_network = segment.physical_network
        row.segmentation_id = segment.segmentation_id
        row.segment_key = segment.key
        row.mtu = self._mtu(attrs.get("mtu"), segment.network_type)
        session.add(row)
        session.flush()  # the next create of a bulk request must see this segment taken
        tx.touch(self.kind, row.id)
        return row.id

    def _segment_for(self, session: Session, attrs: dict) -> segments.Segment:
        settings = self.settings
        network_type = attrs.get("provider:network_type")
        physical_network, segmentation_id = attrs.get("provider:physical_network"), attrs.get("provider:segmentation_id")
        if network_type is None:
            if physical_network or segmentation_id is not None:
                raise InvalidInput(error_message="provider:network_type required")
            return segments.tenant_segment_of_types(session, settings.tenant_network_types,
                                                    settings.network_vlan_ranges, settings.tunnel_ranges)
        if network_type in TUNNEL_TYPES:
            return segments.tunnel_segment(session, settings.tunnel_ranges(network_type), network_type,
                                           physical_network, segmentation_id)
        return segments.provider_segment(session, settings.network_vlan_ranges, network_type, physical_network,
                                         segmentation_id)

    def _mtu(self, requested: int | None, network_type: str | None) -> int:
        """The requested MTU, or the largest the segment carries (ML2: global_physnet_mtu less the
        encapsulation of a tunnel type), which no request may pass."""
        largest = segments.mtu_for(network_type, self.settings.global_mtu)
        if requested is None:
            return largest
        if not 68 <= requested <= largest:
            raise InvalidInput(
                error_message=f"Requested MTU is too big, maximum is {largest}"
                if requested > largest else f"MTU {requested} is too small, minimum is 68")
        return requested

    def update(self, tx: Transaction, context: Context, network_id: str, attrs: dict) -> None:
        session = tx.session
        row = self.get_row(session, context, network_id)
        self._require_owner(context, row, "update_network")
        if attrs.get("shared") is False and row.shared:
            self._check_unshare(session, row)
        if attrs.get("router:external") is False and row.external:
            self._check_no_gateways(session, row)
        mapping = {"router:external": "external"}
        for name, value in attrs.items():
            if name == "mtu":
                value = self._mtu(value, row.network_type)
            setattr(row, mapping.get(name, name), value)
        touch_row(row)
        tx.touch(self.kind, row.id)

    @staticmethod
    def _require_owner(context: Context, row: t.Network, action: str) -> None:
        """A shared or external network is visible to all, yet only its owner changes it: Neutron
        answers 403 for what the caller can see (404 is for what it cannot, from get_row)."""
        if not context.is_admin and row.project_id != context.project_id:
            raise PolicyNotAuthorized(action=action)

    @staticmethod
    def _check_no_gateways(session: Session, row: t.Network) -> None:
        """An external network with routers' gateways on it stays external (and so, its floating IPs)."""
        if session.execute(select(t.Port.id).where(t.Port.network_id == row.id,
                                                   t.Port.device_owner == "network:router_gateway")).first():
            raise ExternalNetworkInUse(net_id=row.id)

    @staticmethod
    def _check_unshare(session: Session, row: t.Network) -> None:
        foreign = session.execute(
            select(t.Port.id).where(t.Port.network_id == row.id, t.Port.project_id != row.project_id)
        ).first()
        if foreign:
            raise InvalidSharedSetting(network=row.id)

    def delete(self, tx: Transaction, context: Context, network_id: str) -> None:
        session = tx.session
        row = self.get_row(session, context, network_id)
        self._require_owner(context, row, "delete_network")
        floating_ips.remove_unassociated(tx, row.id)
        ports = session.execute(
            select(t.Port.id, t.Port.device_owner).where(t.Port.network_id == row.id)
        ).all()
        if any(owner not in NETWORK_OWNED_PORTS for _, owner in ports):
            raise NetworkInUse(net_id=row.id)
        for port_id, _ in ports:
            session.execute(delete(t.Port).where(t.Port.id == port_id))
            tx.touch_deleted("port", port_id)
        for subnet_id in session.execute(select(t.Subnet.id).where(t.Subnet.network_id == row.id)).scalars():
            session.execute(delete(t.IpAllocation).where(t.IpAllocation.subnet_id == subnet_id))
            session.execute(delete(t.Subnet).where(t.Subnet.id == subnet_id))
            session.execute(delete(t.Tag).where(t.Tag.resource_id == subnet_id))
            tx.touch_deleted("subnet", subnet_id)
        session.execute(delete(t.Tag).where(t.Tag.resource_id == row.id))
        session.delete(row)
        tx.touch_deleted(self.kind, row.id)
