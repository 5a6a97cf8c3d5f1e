"""What a host agent is told about its host: its name, bridges, physnet mappings and wiring.

Read from the ``[host]`` part of the agent's TOML file (see docs/configuration.md), e.g. the seed's node:

    [host]
    name = "compute1"
    bridge_mappings = { physnet1 = "br-bond0" }

    [host.bridges.br-bond0]
    uplinks = ["p1p1", "p1p2"]
    bond = "bond0"

    external_network_bridge = "br-ex"   # router gateway ports (qg-) on br-ex, untagged

    [[host.patch_links]]          # br-ex patched into br-bond0 as an access port on VLAN 201
    bridge = "br-ex"
    port = "patch-bond0"
    peer_bridge = "br-bond0"
    peer_port = "patch-ex"
    peer_tag = 201

and for tunnelled networks (VXLAN, GRE through br-tun):

    tunnel_types = ["vxlan", "gre"]
    tunnel_ip = "198.51.100.1/24"  # this host's endpoint (Neutron's local_ip), with its prefix ...
    tunnel_ip_bridge = "br-bond0"  # ... which the agent puts on this bridge's internal port (optional)
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

FIREWALL_DRIVERS = ("openvswitch", "iptables_hybrid", "noop")
TUNNEL_TYPES = ("vxlan", "gre")


class HostConfigError(ValueError):
    pass


@dataclass(frozen=True)
class PhysicalBridge:
    """An OVS bridge for a physnet, with its uplink NICs (several: an OVS bond)."""

    name: str
    uplinks: tuple[str, ...] = ()
    bond: str | None = None
    bond_mode: str = "balance-slb"
    # Take the uplinks over even if the host uses them (a global address, a default route): refused otherwise.
    force_uplinks: bool = False


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
    # Neutron's legacy option: router gateway (qg-) ports go untagged on this bridge instead of br-int on
    # the external network's local VLAN (the seed's br-ex, patched into br-bond0 as an access port).
    external_network_bridge: str | None = None
    # Tunnelled networks: the types this host carries through the tunnel bridge, its endpoint address
    # (Neutron's local_ip) and prefix, and the bridge whose internal port the agent gives that address
    # (None: the address is already on the host, the agent configures none).
    tunnel_types: tuple[str, ...] = ()
    tunnel_ip: str | None = None
    tunnel_prefix: int | None = None
    tunnel_ip_bridge: str | None = None
    tunnel_bridge: str = "br-tun"
    arp_responder: bool = False  # answer ARP for remote ports of tunnelled networks on br-tun (l2pop's)

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


HOST_KEYS = frozenset({"name", "integration_bridge", "bridge_mappings", "bridges", "extra_bridges", "patch_links",
                       "datapath_type", "firewall_driver", "external_network_bridge", "tunnel_types", "tunnel_ip",
                       "tunnel_ip_bridge", "tunnel_bridge", "arp_responder"})


def host_config_from_dict(data: dict, default_host: str) -> HostConfig:
    """Build a HostConfig from the parsed ``[host]`` table; raises HostConfigError on bad input."""
    unknown = set(data) - HOST_KEYS
    if unknown:
        raise HostConfigError(f"unknown [host] settings: {', '.join(sorted(unknown))}")
    mappings = dict(data.get("bridge_mappings", {}))
    bridges = tuple(
        PhysicalBridge(name, tuple(spec.get("uplinks", ())), spec.get("bond"), spec.get("bond_mode", "balance-slb"),
                       bool(spec.get("force_uplinks", False)))
        for name, spec in data.get("bridges", {}).items()
    )
    for bridge in bridges:
        if len(bridge.uplinks) > 1 and not bridge.bond:
            raise HostConfigError(f"bridge {bridge.name} has {len(bridge.uplinks)} uplinks: name their bond")
    links = tuple(PatchLink(**link) for link in data.get("patch_links", ()))
    firewall = data.get("firewall_driver", "openvswitch")
    if firewall not in FIREWALL_DRIVERS:
        raise HostConfigError(f"firewall_driver must be one of {FIREWALL_DRIVERS}, not {firewall!r}")
    external, extra = _external_and_extra_bridges(data, mappings)
    tunnels = _tunnel_settings(data, mappings, bridges, extra)
    return HostConfig(
        host=data.get("name") or default_host,
        integration_bridge=data.get("integration_bridge", "br-int"),
        bridge_mappings=mappings,
        physical_bridges=bridges,
        extra_bridges=extra,
        patch_links=links,
        datapath_type=data.get("datapath_type", "netdev"),
        firewall_driver=firewall,
        external_network_bridge=external,
        **tunnels,
    )


def host_config_from_configurations(host: str, configurations: dict) -> HostConfig:
    """A host's HostConfig as its L2 agent reports it: the ``configurations`` of its "Open vSwitch agent"
    heartbeat carry the ``[host]`` settings under the same keys (``configurations_for``), beside Neutron's
    own (tunnel_types, ...), which are left out. Raises HostConfigError on bad input."""
    data = {key: value for key, value in configurations.items()
            if key in HOST_KEYS and key != "name" and value not in (None, "")}
    return host_config_from_dict({**data, "name": host}, host)


def configurations_for(config: HostConfig) -> dict:
    """What the L2 agent's heartbeat reports of its HostConfig (JSON), read back by
    ``host_config_from_configurations``."""
    return {
        "bridge_mappings": dict(config.bridge_mappings),
        "integration_bridge": config.integration_bridge,
        "datapath_type": config.datapath_type,
        "firewall_driver": config.firewall_driver,
        "external_network_bridge": config.external_network_bridge or "",
        "bridges": {bridge.name: _bridge_settings(bridge) for bridge in config.physical_bridges},
        "extra_bridges": [name for name in config.extra_bridges if name != config.external_network_bridge],
        "patch_links": [{"bridge": link.bridge, "port": link.port, "peer_bridge": link.peer_bridge,
                         "peer_port": link.peer_port, "tag": link.tag, "peer_tag": link.peer_tag}
                        for link in config.patch_links],
        "tunnel_types": list(config.tunnel_types),
        "tunnel_ip": _tunnel_ip_text(config),
        "tunnel_ip_bridge": config.tunnel_ip_bridge or "",
        "tunnel_bridge": config.tunnel_bridge,
        "arp_responder": config.arp_responder,
    }


def _tunnel_ip_text(config: HostConfig) -> str:
    if config.tunnel_ip is None:
        return ""
    return config.tunnel_ip + (f"/{config.tunnel_prefix}" if config.tunnel_prefix is not None else "")


def _tunnel_settings(data: dict, mappings: dict[str, str], bridges: tuple[PhysicalBridge, ...],
                     extra: tuple[str, ...]) -> dict:
    """The tunnel keys of ``[host]``, checked: known types, an IPv4 endpoint when any type is on (Neutron's
    agent refuses to tunnel without local_ip), and an address bridge that the agent creates itself."""
    types = tuple(data.get("tunnel_types", ()))
    unknown = [t for t in types if t not in TUNNEL_TYPES]
    if unknown:
        raise HostConfigError(f"tunnel_types must be among {TUNNEL_TYPES}, not {unknown}")
    address, prefix = _endpoint_address(data.get("tunnel_ip") or None)
    if types and address is None:
        raise HostConfigError("tunnel_types needs tunnel_ip: the address of this host's tunnel endpoint")
    ours = {*mappings.values(), *(b.name for b in bridges), *extra}
    address_bridge = data.get("tunnel_ip_bridge") or None
    if address_bridge is not None and address_bridge not in ours:
        raise HostConfigError(f"tunnel_ip_bridge {address_bridge!r} must be a physical or extra bridge of this "
                              "host (the agent puts tunnel_ip on its internal port)")
    if address_bridge is not None and prefix is None:
        raise HostConfigError("tunnel_ip_bridge needs tunnel_ip with its prefix length, e.g. 198.51.100.1/24")
    tunnel_bridge = data.get("tunnel_bridge", "br-tun")
    if tunnel_bridge in ours or tunnel_bridge == data.get("integration_bridge", "br-int"):
        raise HostConfigError(f"tunnel_bridge {tunnel_bridge!r} must be a bridge of its own")
    return {"tunnel_types": types, "tunnel_ip": address, "tunnel_prefix": prefix,
            "tunnel_ip_bridge": address_bridge, "tunnel_bridge": tunnel_bridge,
            "arp_responder": bool(data.get("arp_responder", False))}


def _endpoint_address(text: str | None) -> tuple[str | None, int | None]:
    """``198.51.100.1`` or ``198.51.100.1/24`` -> (address, prefix or None); IPv4 only, as the tunnel ports'
    names are (Neutron hashes IPv6 endpoints instead)."""
    if text is None:
        return None, None
    try:
        interface = ipaddress.IPv4Interface(text)
    except ValueError as error:
        raise HostConfigError(f"tunnel_ip {text!r} is not an IPv4 address: {error}") from None
    return str(interface.ip), interface.network.prefixlen if "/" in text else None


def _bridge_settings(bridge: PhysicalBridge) -> dict:
    bond = {"bond": bridge.bond, "bond_mode": bridge.bond_mode} if bridge.bond else {}
    forced = {"force_uplinks": True} if bridge.force_uplinks else {}
    return {"uplinks": list(bridge.uplinks), **bond, **forced}


def _external_and_extra_bridges(data: dict, mappings: dict[str, str]) -> tuple[str | None, tuple[str, ...]]:
    """The external network bridge (if any) and the extra bridges, which include it unless it is mapped."""
    external = data.get("external_network_bridge") or None
    if external is not None and external == data.get("integration_bridge", "br-int"):
        raise HostConfigError("external_network_bridge must not be the integration bridge: leave it out to "
                              "put gateway ports on the integration bridge, on the external network's VLAN")
    extra = tuple(data.get("extra_bridges", ()))
    if external and external not in extra and external not in mappings.values():
        extra += (external,)  # created like any extra bridge
    return external, extra
