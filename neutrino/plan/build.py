"""build_plan(): the whole desired configuration of one host, as a list of named steps."""

from __future__ import annotations

from neutrino.model.host_config import HostConfig
from neutrino.model.state import ApiState
from neutrino.plan import flows, l2
from neutrino.plan.facts import HostFacts
from neutrino.plan.host_plan import HostPlan


def build_plan(state: ApiState, config: HostConfig, facts: HostFacts) -> HostPlan:
    bridges = l2.bridges_for(config)
    links = l2.links_for(config)
    instance_ports, local_vlans, port_states, parked = l2.ports_for(state, config, facts)
    plan_flows = flows.integration_defaults_for(config) + flows.physical_defaults_for(config)
    for network_id, vlan in sorted(local_vlans.items()):
        plan_flows += flows.translation_flows_for(state.networks[network_id], vlan, config)
    plan_flows += flows.parked_port_flows_for(config, parked)
    return HostPlan(
        host=config.host,
        bridges=tuple(bridges),
        ports=tuple(links + instance_ports),
        flows=tuple(plan_flows),
        local_vlans=local_vlans,
        port_states=port_states,
        parked=parked,
    )
