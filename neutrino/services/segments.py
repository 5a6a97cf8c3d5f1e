"""Network segments: provider (flat/vlan/vxlan/gre) validation and tenant allocation from configured ranges.

A segment is unique by its key (``vlan:physnet1:101``, ``flat:physnet1``, ``vxlan:1000``, ``gre:1000``),
a unique column on the network row, so two concurrent creates can never share one VLAN or tunnel id.
Tenant allocation takes the lowest free id, which every concurrent create would pick alike; they take
turns (``lock_named``) instead of colliding and retrying until one of them runs out of retries.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from neutrino.model.ranges import MAX_TUNNEL_ID, TUNNEL_TYPES, TunnelRange, VlanRange
from neutrino.services.errors import (
    FlatNetworkInUse,
    InvalidInput,
    NoNetworkAvailable,
    TunnelIdInUse,
    VlanIdInUse,
)
from neutrino.store.session import lock_named
from neutrino.store.tables import Network

NETWORK_TYPES = ("flat", "vlan")  # on a physnet; the tunnel types are TUNNEL_TYPES
# What encapsulation costs over IPv4 (ML2's type drivers): outer IPv4 20 + UDP 8 + VXLAN 8 + inner Ethernet 14;
# outer IPv4 20 + GRE with key 8 + inner Ethernet 14.
ENCAPSULATION_OVERHEAD = {"vxlan": 50, "gre": 42}


@dataclass(frozen=True)
class Segment:
    network_type: str | None
    physical_network: str | None
    segmentation_id: int | None

    @property
    def key(self) -> str | None:
        if self.network_type == "vlan":
            return f"vlan:{self.physical_network}:{self.segmentation_id}"
        if self.network_type == "flat":
            return f"flat:{self.physical_network}"
        if self.network_type in TUNNEL_TYPES:
            return f"{self.network_type}:{self.segmentation_id}"
        return None


def mtu_for(network_type: str | None, underlay_mtu: int) -> int:
    """The largest MTU a network of this type carries over an underlay of ``underlay_mtu``."""
    return underlay_mtu - ENCAPSULATION_OVERHEAD.get(network_type or "", 0)


def _taken(session: Session, key: str) -> bool:
    return session.execute(select(Network.id).where(Network.segment_key == key)).first() is not None


def provider_segment(session: Session, ranges: tuple[VlanRange, ...], network_type: str,
                     physical_network: str | None, segmentation_id: int | None) -> Segment:
    """Validate an admin's provider:* request and check the segment is free."""
    physnets = {r.physical_network for r in ranges}
    if network_type not in NETWORK_TYPES:
        raise InvalidInput(error_message=f"network_type value '{network_type}' not supported")
    if network_type == "flat":
        if segmentation_id is not None:
            raise InvalidInput(error_message="segmentation_id specified for flat network")
        if not physical_network:
            raise InvalidInput(error_message="physical_network required for flat provider network")
        if physical_network not in physnets:
            raise InvalidInput(
                error_message=f"physical_network '{physical_network}' unknown for flat provider network")
        segment = Segment("flat", physical_network, None)
        if _taken(session, segment.key):
            raise FlatNetworkInUse(physical_network=physical_network)
        return segment
    if not physical_network:
        if segmentation_id is not None:
            raise InvalidInput(error_message="segmentation_id requires physical_network for VLAN provider network")
        return tenant_segment(session, ranges)
    if physical_network not in physnets:
        raise InvalidInput(
            error_message=f"physical_network '{physical_network}' unknown for VLAN provider network")
    if segmentation_id is None:
        own = tuple(r for r in ranges if r.physical_network == physical_network and r.first is not None)
        if not own:
            raise InvalidInput(error_message=f"Physical network {physical_network} does not have any VLAN ranges")
        return tenant_segment(session, own)
    if not 1 <= segmentation_id <= 4094:
        raise InvalidInput(error_message="segmentation_id out of range (1 through 4094)")
    segment = Segment("vlan", physical_network, segmentation_id)
    if _taken(session, segment.key):
        raise VlanIdInUse(vlan_id=segmentation_id, physical_network=physical_network)
    return segment


def tenant_segment(session: Session, ranges: tuple[VlanRange, ...]) -> Segment:
    """The lowest free VLAN across the configured ranges, in their order; 503 when all are taken."""
    lock_named(session, "tenant-vlan-allocation")
    used = set(session.execute(select(Network.segment_key).where(Network.network_type == "vlan")).scalars())
    for vlan_range in ranges:
        if vlan_range.first is None:
            continue
        for vlan_id in range(vlan_range.first, vlan_range.last + 1):
            segment = Segment("vlan", vlan_range.physical_network, vlan_id)
            if segment.key not in used:
                return segment
    raise NoNetworkAvailable()


def tunnel_segment(session: Session, ranges: tuple[TunnelRange, ...], network_type: str,
                   physical_network: str | None, segmentation_id: int | None) -> Segment:
    """Validate an admin's provider:* request for a VXLAN or GRE network (ML2's tunnel type drivers):
    no physnet; a given id need not lie in a tenant range, only be free; none given takes a free one."""
    if physical_network:
        raise InvalidInput(error_message=f"provider:physical_network specified for {network_type} network")
    if segmentation_id is None:
        return tenant_tunnel_segment(session, ranges, network_type)
    if not 1 <= segmentation_id <= MAX_TUNNEL_ID[network_type]:
        raise InvalidInput(error_message=f"segmentation_id out of range (1 through {MAX_TUNNEL_ID[network_type]})")
    segment = Segment(network_type, None, segmentation_id)
    if _taken(session, segment.key):
        raise TunnelIdInUse(tunnel_id=segmentation_id)
    return segment


def tenant_tunnel_segment(session: Session, ranges: tuple[TunnelRange, ...], network_type: str) -> Segment:
    """The lowest free id of ``network_type`` across its configured ranges; 503 when all are taken."""
    lock_named(session, f"tenant-{network_type}-allocation")
    used = set(session.execute(select(Network.segmentation_id).where(Network.network_type == network_type))
               .scalars())
    for tunnel_range in ranges:
        for tunnel_id in range(tunnel_range.first, tunnel_range.last + 1):
            if tunnel_id not in used:
                return Segment(network_type, None, tunnel_id)
    raise NoNetworkAvailable()


def tenant_segment_of_types(session: Session, network_types: tuple[str, ...], vlan_ranges: tuple[VlanRange, ...],
                            tunnel_ranges) -> Segment:
    """A tenant network's segment: the first of ``network_types`` (ML2's tenant_network_types, in order)
    with a free id. ``tunnel_ranges(network_type)`` gives a tunnel type's ranges."""
    for network_type in network_types:
        try:
            if network_type == "vlan":
                return tenant_segment(session, vlan_ranges)
            if network_type in TUNNEL_TYPES:
                return tenant_tunnel_segment(session, tunnel_ranges(network_type), network_type)
        except NoNetworkAvailable:
            continue
    raise NoNetworkAvailable()
