"""The desired host configuration: bridges, OVS ports and their tags, flows, and port states.

Every element carries ``source`` (the API object or config key that caused it) and ``reason`` (why,
in words), so logs, ``neutrino show`` and the trace can cite the object behind a flow or a tag.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from neutrino.plan.tables import COOKIE

if TYPE_CHECKING:  # firewall.py builds on l2.py, which builds on this module
    from neutrino.plan.dhcp import DhcpPlan
    from neutrino.plan.firewall import PortFirewall
    from neutrino.plan.l3 import RouterPlan


@dataclass(frozen=True)
class Bridge:
    name: str
    datapath_type: str
    fail_mode: str = "secure"
    source: str = ""
    reason: str = ""


@dataclass(frozen=True)
class Interface:
    name: str
    type: str = ""  # "" (a NIC or veth), "internal", "patch", "vxlan", "gre"
    peer: str | None = None  # patch peer
    options: tuple[tuple[str, str], ...] = ()  # a tunnel's options (remote_ip, local_ip, in_key, ...), sorted


@dataclass(frozen=True)
class OvsPort:
    """A port neutrino creates (``owned``) or only configures (an instance's port plugged by others)."""

    bridge: str
    name: str
    interfaces: tuple[Interface, ...] = ()
    tag: int | None = None
    vlan_mode: str | None = None  # "trunk" for parked ports: untagged frames then carry 4095 too
    trunks: tuple[int, ...] = ()
    bond_mode: str | None = None
    owned: bool = True
    # Neutron's bookkeeping on the Port row, so a restarted agent finds each network's local VLAN.
    other_config: tuple[tuple[str, str], ...] = ()
    # An owned port that is an API port's leg (a DHCP tap, a router's qr-/qg-): its Interface's iface-id, ...
    iface_external_ids: tuple[tuple[str, str], ...] = ()
    source: str = ""
    reason: str = ""


@dataclass(frozen=True)
class Flow:
    bridge: str
    table: int
    priority: int
    match: str
    actions: str
    source: str = ""
    reason: str = ""

    @property
    def key(self) -> tuple[str, int, int, str]:
        return (self.bridge, self.table, self.priority, self.match)

    def text(self) -> str:
        """The flow as ``ovs-ofctl add-flows`` reads it (ports by name, resolved at install)."""
        match = f",{self.match}" if self.match else ""
        return f"cookie={COOKIE:#x},table={self.table},priority={self.priority}{match},actions={self.actions}"


@dataclass(frozen=True)
class FilterRule:
    """One iptables rule: ``-A <chain> <rule>`` in ``table`` of iptables (4) or ip6tables (6)."""

    family: int
    table: str  # "filter" or "raw"
    chain: str
    rule: str  # matches and target, as iptables-save prints them, with its -m comment
    source: str = ""
    reason: str = ""

    def text(self) -> str:
        return f"-A {self.chain} {self.rule}"


@dataclass(frozen=True)
class HybridPlug:
    """The iptables_hybrid plumbing of an instance port: tap in Linux bridge qbr with veth qvb, whose
    peer qvo is the port on br-int. Whoever plugs the instance builds it (binding:vif_details
    ovs_hybrid_plug); the plan names what is expected."""

    port_id: str
    tap: str
    bridge: str  # qbr...
    bridge_veth: str  # qvb..., in the Linux bridge
    ovs_veth: str  # qvo..., on br-int
    source: str = ""
    reason: str = ""


@dataclass(frozen=True)
class TunnelPort:
    """A tunnel port on the tunnel bridge: to the endpoint of another host's agent, for one tunnel type."""

    name: str  # vxlan-c6336402
    network_type: str  # vxlan or gre
    local_ip: str
    remote_ip: str
    remote_host: str
    source: str = ""
    reason: str = ""


@dataclass(frozen=True)
class TunnelSegment:
    """A tunnelled network on this host: its tunnel id (VNI or GRE key), its local VLAN, and the tunnel
    ports its broadcasts and unknown unicasts are flooded to (those to hosts with ports on it)."""

    network_id: str
    network_type: str
    tunnel_id: int
    local_vlan: int
    flood_to: tuple[str, ...] = ()
    source: str = ""
    reason: str = ""


@dataclass(frozen=True)
class TunnelAddress:
    """The tunnel endpoint's address, which the agent puts on a bridge's internal port (in the host's own
    namespace), so the switch's route table sends encapsulated packets out of that bridge's uplink."""

    bridge: str
    address: str
    prefix: int
    source: str = ""
    reason: str = ""


@dataclass(frozen=True)
class PortState:
    """What the host does with one API port bound here, and why."""

    port_id: str
    status: str  # ACTIVE or DOWN, as reported to the API
    device: str | None = None  # the OVS port name, when plugged
    local_vlan: int | None = None
    reason: str = ""


@dataclass(frozen=True)
class HostPlan:
    host: str
    bridges: tuple[Bridge, ...] = ()
    ports: tuple[OvsPort, ...] = ()
    flows: tuple[Flow, ...] = ()
    local_vlans: dict[str, int] = field(default_factory=dict)  # network id -> local VLAN
    port_states: dict[str, PortState] = field(default_factory=dict)  # API port id -> state
    parked: dict[str, str] = field(default_factory=dict)  # OVS port name -> why it is on the dead VLAN
    firewalls: tuple[PortFirewall, ...] = ()  # each bound port's filtering (none with driver noop)
    hybrid_plugs: tuple[HybridPlug, ...] = ()  # iptables_hybrid: the qbr/qvb/qvo each instance needs
    filter_rules: tuple[FilterRule, ...] = ()  # iptables_hybrid: the rules, in order
    dhcp: tuple[DhcpPlan, ...] = ()  # the networks served here: qdhcp- namespace, leg, dnsmasq
    routers: tuple[RouterPlan, ...] = ()  # the routers hosted here: qrouter- namespace, legs, routes, NAT
    tunnels: tuple[TunnelPort, ...] = ()  # tunnel ports on the tunnel bridge, one per remote endpoint and type
    tunnel_segments: tuple[TunnelSegment, ...] = ()  # each tunnelled network here: tunnel id <-> local VLAN
    tunnel_address: TunnelAddress | None = None  # the endpoint address the agent configures, if any

    def flows_of(self, bridge: str) -> tuple[Flow, ...]:
        return tuple(flow for flow in self.flows if flow.bridge == bridge)
