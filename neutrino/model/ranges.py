"""Segmentation ranges as configured, e.g. ``physnet1:100:199`` (Neutron's network_vlan_ranges)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class VlanRange:
    physical_network: str
    first: int | None = None  # None: the physnet allows flat/provider networks but no tenant VLANs
    last: int | None = None

    def __contains__(self, vlan_id: int) -> bool:
        return self.first is not None and self.first <= vlan_id <= self.last


def parse_vlan_ranges(text: str) -> list[VlanRange]:
    """``physnet1:100:199,physnet2`` -> ranges; raises ValueError with a readable reason."""
    ranges = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        parts = item.split(":")
        if len(parts) == 1:
            ranges.append(VlanRange(parts[0]))
            continue
        if len(parts) != 3:
            raise ValueError(f"bad VLAN range {item!r}: expected physnet or physnet:first:last")
        first, last = int(parts[1]), int(parts[2])
        if not (1 <= first <= last <= 4094):
            raise ValueError(f"bad VLAN range {item!r}: need 1 <= first <= last <= 4094")
        ranges.append(VlanRange(parts[0], first, last))
    return ranges


# Tunnel types and the largest id each carries: a VXLAN VNI is 24 bits; a GRE key is 32 bits, but the
# store keeps segmentation ids in a signed 32-bit column (as Neutron's gre_allocations does), so 2^31 - 1.
TUNNEL_TYPES = ("vxlan", "gre")
MAX_TUNNEL_ID = {"vxlan": 2**24 - 1, "gre": 2**31 - 1}


@dataclass(frozen=True)
class TunnelRange:
    """Tenant ids of one tunnel type, ``first..last`` (Neutron's vni_ranges / tunnel_id_ranges entries)."""

    network_type: str
    first: int
    last: int

    def __contains__(self, tunnel_id: int) -> bool:
        return self.first <= tunnel_id <= self.last


def parse_tunnel_ranges(text: str, network_type: str) -> list[TunnelRange]:
    """``1000:1999,3000:3099`` -> ranges of ``network_type``; raises ValueError with a readable reason."""
    ranges = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        parts = item.split(":")
        if len(parts) != 2:
            raise ValueError(f"bad {network_type} id range {item!r}: expected first:last")
        first, last = int(parts[0]), int(parts[1])
        if not (1 <= first <= last <= MAX_TUNNEL_ID[network_type]):
            raise ValueError(f"bad {network_type} id range {item!r}: need 1 <= first <= last <= "
                             f"{MAX_TUNNEL_ID[network_type]}")
        ranges.append(TunnelRange(network_type, first, last))
    return ranges
