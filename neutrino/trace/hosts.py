"""Each host's share of the plan, as the trace walks it: the first steps of ``build_plan`` (DHCP and router
legs, local VLANs, port states, routers), the translation flows of a network, and a port's PortFirewall,
all computed by the plan's own functions, each at most once per trace.

The server does not see the hosts, so what the plan needs from them is derived from the API
(``facts_from_api``): a port whose status is ACTIVE and whose binding host is this one is plugged under the
device name its host's driver gives it (``tap…``, or the hybrid plug's ``qvo…``); the router and DHCP legs
are the plan's own. Local VLAN numbers are therefore the plan's choice for a fresh host (the agent keeps the
numbers it remembers across restarts, so a host may number differently; ``facts`` lets a caller that read
the host pass its real facts instead).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field, replace

from neutrino.model import names
from neutrino.model.host_config import HostConfig
from neutrino.model.resources import Network, Port
from neutrino.model.state import ApiState
from neutrino.plan import dhcp, firewall, flows, l2, l3, tunnels
from neutrino.plan.facts import HostFacts, PluggedPort
from neutrino.plan.firewall import Members, PortFirewall
from neutrino.plan.host_plan import Flow, PortState, TunnelPort, TunnelSegment
from neutrino.plan.l3 import RouterLeg, RouterPlan


@dataclass(frozen=True)
class Attachment:
    """Where a port is on its host: its OVS port, the bridge, and its local VLAN (None: untagged on the
    external network bridge)."""

    host: str
    device: str
    bridge: str
    local_vlan: int | None


@dataclass(frozen=True)
class HostView:
    config: HostConfig
    local_vlans: dict[str, int]  # network id -> local VLAN
    port_states: dict[str, PortState]  # API port id -> what the host does with it
    plugged: dict[str, PluggedPort]  # API port id -> its device (instances, and our legs)
    routers: dict[str, RouterPlan]  # router id -> its plan, for the routers hosted here
    external_legs: dict[str, RouterLeg] = field(default_factory=dict)  # gateway legs on the external bridge


@dataclass(frozen=True)
class TunnelView:
    """A host's br-tun as its plan builds it (plan/tunnels.py): its tunnel ports, tunnelled networks and
    flows."""

    bridge: str
    tunnels: tuple[TunnelPort, ...]
    segments: dict[str, TunnelSegment]  # network id -> its segment
    flows: tuple[Flow, ...]

    def tunnel_to(self, host: str, network_type: str) -> TunnelPort | None:
        return next((t for t in self.tunnels if t.remote_host == host and t.network_type == network_type), None)

    def flows_in(self, table: int) -> list[Flow]:
        return [flow for flow in self.flows if flow.table == table]


def facts_from_api(state: ApiState, config: HostConfig) -> HostFacts:
    """The host as the API reports it: each ACTIVE port bound here is plugged on br-int (router and DHCP
    legs are left to the plan, which plugs them itself)."""
    hybrid = config.firewall_driver == "iptables_hybrid"
    plugged = [PluggedPort(device_name(port.id, hybrid), config.integration_bridge, port.id, port.mac_address)
               for port in state.ports_bound_to(config.host)
               if port.status == "ACTIVE" and not port.device_owner.startswith("network:")]
    return HostFacts(plugged=tuple(sorted(plugged, key=lambda p: p.name)))


def device_name(port_id: str, hybrid: bool) -> str:
    """An instance's port on br-int: its tap, or the hybrid plug's qvo (realize/instances.py plugs them)."""
    return names.hybrid_ovs_veth_name(port_id) if hybrid else names.tap_name(port_id)


def host_view_for(state: ApiState, config: HostConfig, facts: HostFacts) -> HostView:
    """build_plan's steps up to the port states (tests/unit/trace checks they agree with build_plan)."""
    dhcp_plans = dhcp.dhcp_for(state, config)
    router_plans = l3.routers_for(state, config)
    legs = [dhcp.leg_for(plan, config) for plan in dhcp_plans] + l3.integration_legs_for(router_plans, config)
    facts = l2.with_legs(facts, legs)
    _, local_vlans, port_states, _ = l2.ports_for(state, config, facts)
    port_states.update(l3.external_port_states_for(router_plans, config))
    external = {leg.port_id: leg for router in router_plans for leg in router.legs
                if leg.bridge != config.integration_bridge}
    return HostView(config, local_vlans, port_states, {p.iface_id: p for p in facts.plugged},
                    {router.router_id: router for router in router_plans}, external)


@dataclass(frozen=True)
class PortIndex:
    """The API's ports by binding host, network and security group: one pass, so that each host's plan is
    built from the ports that concern it, not from every port of the cloud."""

    by_host: dict[str, list[Port]]
    by_network: dict[str, list[Port]]
    by_group: dict[str, list[Port]]


def port_index_for(state: ApiState) -> PortIndex:
    by_host, by_network, by_group = defaultdict(list), defaultdict(list), defaultdict(list)
    for port in state.ports.values():
        by_host[port.host_id].append(port)
        by_network[port.network_id].append(port)
        for group_id in port.security_groups:
            by_group[group_id].append(port)
    return PortIndex(by_host, by_network, by_group)


class Plans:
    """The plans of the hosts one trace visits, each built when first needed.

    A host's plan is built from the API state narrowed to the ports it reads: those bound to the host (all
    that l2 and l3 consider) and every port of a network whose DHCP port is bound there (the hosts file).
    The result is the same as from the whole state (tests/unit/trace/test_hosts.py); only the cost differs.
    """

    def __init__(self, state: ApiState, hosts: dict[str, HostConfig], facts: dict[str, HostFacts] | None = None):
        self.state = state
        self.hosts = hosts
        self.facts = facts or {}
        self._views: dict[str, HostView] = {}
        self._members: dict[tuple[str, ...], Members] = {}
        self._index: PortIndex | None = None
        self._tunnels: dict[str, TunnelView] = {}

    @property
    def index(self) -> PortIndex:
        if self._index is None:
            self._index = port_index_for(self.state)
        return self._index

    def view(self, host: str) -> HostView | None:
        """The host's view, or None when no agent reported the host's configuration."""
        if host not in self.hosts:
            return None
        if host not in self._views:
            config, state = self.hosts[host], self.state_for(host)
            facts = self.facts.get(host) or facts_from_api(state, config)
            self._views[host] = host_view_for(state, config, facts)
        return self._views[host]

    def state_for(self, host: str) -> ApiState:
        """The API state as the host's plan reads it (class docstring)."""
        bound = self.index.by_host.get(host, [])
        served = {port.network_id for port in bound if port.device_owner == dhcp.DHCP_OWNER}
        ports = {port.id: port for port in bound}
        for network_id in served:
            ports.update((port.id, port) for port in self.index.by_network.get(network_id, ()))
        return replace(self.state, ports=ports)

    def attachment(self, port: Port) -> Attachment | None:
        """Where the port is wired on its binding host, or None when the plan does not wire it there."""
        view = self.view(port.host_id)
        state = view.port_states.get(port.id) if view else None
        if view is None or state is None or state.status != "ACTIVE" or state.device is None:
            return None
        leg = view.external_legs.get(port.id)
        if leg is not None:
            return Attachment(port.host_id, leg.device, leg.bridge, None)
        return Attachment(port.host_id, state.device, view.config.integration_bridge, state.local_vlan)

    def firewall(self, port: Port) -> PortFirewall | None:
        """The port's PortFirewall on its host; None with driver noop (nothing is filtered there)."""
        view = self.view(port.host_id)
        if view is None or view.config.firewall_driver == "noop" or port.id not in view.plugged:
            return None
        groups = self.state.security_groups
        allows_of = {group_id: firewall.allows_for_group(groups[group_id], groups)
                     for group_id in port.security_groups if group_id in groups}
        return firewall.port_firewall_for(port, view.plugged[port.id], view.local_vlans[port.network_id],
                                          groups, allows_of)

    def members(self, group_ids: tuple[str, ...]) -> Members:
        """The members of these remote groups (``firewall.members_for`` over their ports only)."""
        if group_ids not in self._members:
            ports = {port.id: port for group_id in group_ids for port in self.index.by_group.get(group_id, ())}
            members = firewall.members_for(replace(self.state, ports=ports))
            self._members[group_ids] = {key: cidrs for key, cidrs in members.items() if key[0] in group_ids}
        return self._members[group_ids]

    def tunnels(self, host: str) -> TunnelView:
        """The host's br-tun, from the whole state (a network's flooding and remote MACs are its ports on
        the other hosts)."""
        if host not in self._tunnels:
            view = self.view(host)
            config = view.config if view else None
            if config is None or not tunnels.is_enabled(config):
                self._tunnels[host] = TunnelView("", (), {}, ())
            else:
                endpoints = tunnels.endpoints_for(self.state, config)
                _, ports = tunnels.tunnel_ports_for(config, endpoints)
                segments = tunnels.segments_for(self.state, config, view.local_vlans, endpoints)
                found = tunnels.flows_for(self.state, config, segments, endpoints)
                self._tunnels[host] = TunnelView(config.tunnel_bridge, tuple(ports), {s.network_id: s for s in segments}, tuple(found))
        return self._tunnels[host]

    def translation_flows(self, host: str, network: Network) -> list[Flow]:
        """[in on br-int, out on the physical bridge] of the network on the host (empty: not wired there)."""
        view = self.view(host)
        if view is None or network.id not in view.local_vlans:
            return []
        return flows.translation_flows_for(network, view.local_vlans[network.id], view.config)
