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
