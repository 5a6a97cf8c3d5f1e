"""Network segments: provider (flat/vlan) validation and tenant VLAN allocation from configured ranges.

A segment is unique by its key (``vlan:physnet1:101``, ``flat:physnet1``), a unique column on the
network row, so two concurrent creates can never share one VLAN. Tenant allocation takes the lowest
free VLAN, which every concurrent create would pick alike; they take turns (``lock_named``) instead
of colliding and retrying until one of them runs out of retries.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from neutrino.model.ranges import VlanRange
from neutrino.services.errors import (
    FlatNetworkInUse,
    InvalidInput,
    NoNetworkAvailable,
    VlanIdInUse,
)
from neutrino.store.session import lock_named
from neutrino.store.tables import Network

NETWORK_TYPES = ("flat", "vlan")


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
        return None


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
