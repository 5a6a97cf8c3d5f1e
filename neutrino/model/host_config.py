"""What a host agent is told about its host: its name, bridges, physnet mappings and wiring.

Read from the ``[host]`` part of the agent's TOML file (see docs/configuration.md), e.g. the seed's node:

    [host]
    name = "compute1"
    bridge_mappings = { physnet1 = "br-bond0" }

    [host.bridges.br-bond0]
    uplinks = ["p1p1", "p1p2"]
    bond = "bond0"

    [[host.patch_links]]          # br-ex patched into br-bond0 as an access port on VLAN 201
    bridge = "br-ex"
    port = "patch-bond0"
    peer_bridge = "br-bond0"
    peer_port = "patch-ex"
    peer_tag = 201
"""

from __future__ import annotations

from dataclasses import dataclass, field

FIREWALL_DRIVERS = ("openvswitch", "iptables_hybrid", "noop")


class HostConfigError(ValueError):
    pass


@dataclass(frozen=True)
class PhysicalBridge:
    """An OVS bridge for a physnet, with its uplink NICs (several: an OVS bond)."""

    name: str
    uplinks: tuple[str, ...] = ()
    bond: str | None = None
    bond_mode: str = "balance-slb"


@dataclass(frozen=True)
class PatchLink:
    """A pair of OVS patch ports joining two bridges; either end may be an access port of a VLAN."""

    bridge: str
    port: str
    peer_bridge: str
    peer_port: str
    tag: int | None = None
    peer_tag: int | None = None


@dataclass(frozen=True)
class HostConfig:
    host: str
    integration_bridge: str = "br-int"
    bridge_mappings: dict[str, str] = field(default_factory=dict)  # physnet -> bridge
    physical_bridges: tuple[PhysicalBridge, ...] = ()
    extra_bridges: tuple[str, ...] = ()  # bridges we create without a physnet (the seed's br-ex)
    patch_links: tuple[PatchLink, ...] = ()
    datapath_type: str = "netdev"
    firewall_driver: str = "openvswitch"

    def __hash__(self) -> int:
        return hash((self.host, self.integration_bridge, tuple(sorted(self.bridge_mappings.items()))))

    def physical_bridge(self, name: str) -> PhysicalBridge:
        for bridge in self.physical_bridges:
            if bridge.name == name:
                return bridge
        return PhysicalBridge(name)

    @property
    def mapped_bridges(self) -> tuple[PhysicalBridge, ...]:
        """Every physical bridge: mapped ones first (in mapping order), then the rest declared."""
        names = list(dict.fromkeys(self.bridge_mappings.values()))
        names += [b.name for b in self.physical_bridges if b.name not in names]
        return tuple(self.physical_bridge(name) for name in names)


def host_config_from_dict(data: dict, default_host: str) -> HostConfig:
    """Build a HostConfig from the parsed ``[host]`` table; raises HostConfigError on bad input."""
    known = {"name", "integration_bridge", "bridge_mappings", "bridges", "extra_bridges", "patch_links",
             "datapath_type", "firewall_driver"}
    unknown = set(data) - known
    if unknown:
        raise HostConfigError(f"unknown [host] settings: {', '.join(sorted(unknown))}")
    mappings = dict(data.get("bridge_mappings", {}))
    bridges = tuple(
        PhysicalBridge(name, tuple(spec.get("uplinks", ())), spec.get("bond"), spec.get("bond_mode", "balance-slb"))
        for name, spec in data.get("bridges", {}).items()
    )
    for bridge in bridges:
        if len(bridge.uplinks) > 1 and not bridge.bond:
            raise HostConfigError(f"bridge {bridge.name} has {len(bridge.uplinks)} uplinks: name their bond")
    links = tuple(PatchLink(**link) for link in data.get("patch_links", ()))
    firewall = data.get("firewall_driver", "openvswitch")
    if firewall not in FIREWALL_DRIVERS:
        raise HostConfigError(f"firewall_driver must be one of {FIREWALL_DRIVERS}, not {firewall!r}")
    return HostConfig(
        host=data.get("name") or default_host,
        integration_bridge=data.get("integration_bridge", "br-int"),
        bridge_mappings=mappings,
        physical_bridges=bridges,
        extra_bridges=tuple(data.get("extra_bridges", ())),
        patch_links=links,
        datapath_type=data.get("datapath_type", "netdev"),
        firewall_driver=firewall,
    )
