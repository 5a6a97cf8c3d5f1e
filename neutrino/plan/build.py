"""build_plan(): the whole desired configuration of one host, as a list of named steps."""

from __future__ import annotations

from neutrino.model.host_config import HostConfig
from neutrino.model.state import ApiState
from neutrino.plan import dhcp, firewall, flows, iptables_firewall, l2, l3, ovs_firewall, tunnels
from neutrino.plan.facts import HostFacts
from neutrino.plan.firewall import Members, PortFirewall
from neutrino.plan.host_plan import FilterRule, Flow, HostPlan, HybridPlug


def build_plan(state: ApiState, config: HostConfig, facts: HostFacts) -> HostPlan:
    bridges = l2.bridges_for(config) + tunnels.bridges_for(config)
    links = l2.links_for(config) + tunnels.links_for(config)
    dhcp_plans = dhcp.dhcp_for(state, config)
    router_plans = l3.routers_for(state, config)
    legs = [dhcp.leg_for(plan, config) for plan in dhcp_plans] + l3.integration_legs_for(router_plans, config)
    facts = l2.with_legs(facts, legs)  # the DHCP taps and router legs are plugged like instances, by us
    instance_ports, local_vlans, port_states, parked = l2.ports_for(state, config, facts)
    instance_ports = l2.owned_legs(instance_ports, legs) + l3.external_ports_for(router_plans, config)
    port_states.update(l3.external_port_states_for(router_plans, config))
    plan_flows = flows.integration_defaults_for(config) + flows.physical_defaults_for(config)
    for network_id, vlan in sorted(local_vlans.items()):
        plan_flows += flows.translation_flows_for(state.networks[network_id], vlan, config)
    plan_flows += flows.parked_port_flows_for(config, parked)
    endpoints = tunnels.endpoints_for(state, config)
    tunnel_ports, tunnel_values = tunnels.tunnel_ports_for(config, endpoints)
    segments = tunnels.segments_for(state, config, local_vlans, endpoints)
    plan_flows += tunnels.flows_for(state, config, segments, endpoints)
    port_firewalls = _firewalls_for(state, config, facts, local_vlans)
    members = firewall.members_for(state) if port_firewalls else {}
    plan_flows += _firewall_flows_for(config, port_firewalls, members)
    hybrid_plugs, filter_rules = _hybrid_layout_for(config, port_firewalls, members, facts)
    return HostPlan(
        host=config.host,
        bridges=tuple(bridges),
        ports=tuple(links + tunnel_ports + instance_ports),
        flows=tuple(plan_flows),
        local_vlans=local_vlans,
        port_states=port_states,
        parked=parked,
        firewalls=tuple(port_firewalls),
        hybrid_plugs=tuple(hybrid_plugs),
        filter_rules=tuple(filter_rules),
        dhcp=tuple(dhcp_plans),
        routers=tuple(router_plans),
        tunnels=tuple(tunnel_values),
        tunnel_segments=tuple(segments),
        tunnel_address=tunnels.address_for(config),
    )


def _firewalls_for(state: ApiState, config: HostConfig, facts: HostFacts,
                   local_vlans: dict[str, int]) -> list[PortFirewall]:
    if config.firewall_driver == "noop":
        return []  # no firewall: nothing is filtered, table 60 switches everything normally
    return firewall.firewalls_for(state, config, facts, local_vlans)


def _firewall_flows_for(config: HostConfig, port_firewalls: list[PortFirewall], members: Members) -> list[Flow]:
    if config.firewall_driver == "openvswitch":
        return ovs_firewall.flows_for(config.integration_bridge, port_firewalls, members)
    if config.firewall_driver == "iptables_hybrid":
        return iptables_firewall.spoofing_flows_for(config.integration_bridge, port_firewalls)
    return []


def _hybrid_layout_for(config: HostConfig, port_firewalls: list[PortFirewall], members: Members,
                       facts: HostFacts) -> tuple[list[HybridPlug], list[FilterRule]]:
    if config.firewall_driver != "iptables_hybrid":
        return [], []
    filtered = [f.port_id for f in port_firewalls if f.is_filtered]
    zones = iptables_firewall.conntrack_zones_for(filtered, dict(facts.conntrack_zones))
    resolved = [firewall.expanded(f, members) for f in port_firewalls]  # one rule per member address (no ipsets)
    return (iptables_firewall.hybrid_plugs_for(port_firewalls),
            iptables_firewall.filter_rules_for(resolved, zones))
