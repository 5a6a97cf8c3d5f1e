"""Whether a port is wired, and where; if not, the Stop naming why, in the order the causes matter: admin
state, binding (none, failed: no live agent, no bridge mapping), what the plan does with it on its host
(``l2.why_unbindable``: the dead VLAN), and whether it is plugged (status ACTIVE)."""

from __future__ import annotations

from neutrino.model.resources import Agent, Network, Port
from neutrino.model.state import ApiState
from neutrino.plan import l2
from neutrino.plan.l3 import ROUTER_GATEWAY, ROUTER_INTERFACE
from neutrino.trace.explain import agent_ref, cli_name, label, network_ref, port_ref, router_ref, stop
from neutrino.trace.hosts import Attachment, Plans
from neutrino.trace.result import Reason

OVS_AGENT = "Open vSwitch agent"
ROUTER_OWNERS = (ROUTER_INTERFACE, ROUTER_GATEWAY)


def attachment_for(state: ApiState, plans: Plans, port: Port) -> Attachment:
    network = state.networks[port.network_id]
    _check_admin_state(state, port, network)
    _check_binding(state, plans, port, network)
    view = plans.view(port.host_id)
    reason = l2.why_unbindable(port, network, port.id, view.config)
    if reason is not None:
        raise stop(Reason.DEAD_VLAN, f"the agent on {port.host_id} parks port {label(port)} on the dead VLAN 4095: "
                                     f"{reason}", [port_ref(port), network_ref(network)])
    attachment = plans.attachment(port)
    if attachment is None:
        raise _not_wired(state, plans, port)
    return attachment


def live_agents_of(state: ApiState, host: str) -> list[Agent]:
    return [a for a in state.agents.values() if a.host == host and a.agent_type == OVS_AGENT and a.alive]


def ovs_agents_of(state: ApiState, host: str) -> list[Agent]:
    return [a for a in state.agents.values() if a.host == host and a.agent_type == OVS_AGENT]


def _check_admin_state(state: ApiState, port: Port, network: Network) -> None:
    router = state.routers.get(port.device_id) if port.device_owner in ROUTER_OWNERS else None
    if router is not None and not router.admin_state_up:
        raise stop(Reason.ROUTER_ADMIN_DOWN, f"router {label(router)} has admin_state_up false: its L3 agent "
                                             "removes its namespace", [router_ref(router)],
                   [f"openstack router set --enable {cli_name(state, router)}"])
    if not port.admin_state_up:
        raise stop(Reason.PORT_ADMIN_DOWN, f"port {label(port)} has admin_state_up false: its agent parks it on the "
                                           "dead VLAN 4095", [port_ref(port)],
                   [f"openstack port set --enable {cli_name(state, port)}"])
    if not network.admin_state_up:
        raise stop(Reason.NETWORK_ADMIN_DOWN, f"network {label(network)} has admin_state_up false: every port on it "
                                              "is parked on the dead VLAN 4095", [network_ref(network)],
                   [f"openstack network set --enable {cli_name(state, network)}"])


def _check_binding(state: ApiState, plans: Plans, port: Port, network: Network) -> None:
    if not port.host_id:
        router = state.routers.get(port.device_id) if port.device_owner in ROUTER_OWNERS else None
        if router is not None:
            raise stop(Reason.ROUTER_NOT_HOSTED, f"router {label(router)} is hosted by no L3 agent: its port "
                                                 f"{port.id} has no binding:host_id (is an L3 agent alive?)",
                       [router_ref(router), port_ref(port)])
        raise stop(Reason.UNBOUND_PORT, f"port {label(port)} has no binding:host_id: nothing plugged it (Nova, or "
                                        "`neutrino plug` on a host, binds a port)", [port_ref(port)],
                   [f"neutrino plug --config <agent.toml> {cli_name(state, port)}"])
    config = plans.hosts.get(port.host_id)
    failed = port.vif_type == "binding_failed" or config is None or not ovs_agents_of(state, port.host_id)
    if failed and not live_agents_of(state, port.host_id):
        agents = ovs_agents_of(state, port.host_id)
        seen = f" (its last heartbeat: {agents[0].heartbeat_timestamp})" if agents else ""
        raise stop(Reason.NO_LIVE_AGENT, f"port {label(port)} is bound to host {port.host_id!r}, where no Open "
                                         f"vSwitch agent is alive{seen}", [port_ref(port), *map(agent_ref, agents)])
    if config is not None and network.network_type in l2.WIRED_TYPES \
            and network.physical_network not in config.bridge_mappings:
        raise stop(Reason.NO_BRIDGE_MAPPING,
                   f"network {label(network)} is on physnet {network.physical_network!r}, which has no bridge mapping "
                   f"on host {port.host_id}: add one to bridge_mappings in its agent configuration",
                   [port_ref(port), network_ref(network)])
    if failed:
        raise stop(Reason.BINDING_FAILED, f"port {label(port)} could not be bound to host {port.host_id!r} "
                                          f"(binding:vif_type {port.vif_type}; network type "
                                          f"{network.network_type!r})", [port_ref(port), network_ref(network)])


def _not_wired(state: ApiState, plans: Plans, port: Port):
    view = plans.view(port.host_id)
    planned = view.port_states.get(port.id)
    why = planned.reason if planned is not None else "the plan does not wire it on this host"
    if port.device_owner.startswith("network:"):
        return stop(Reason.PORT_DOWN, f"port {label(port)} ({port.device_owner}) is not wired on {port.host_id}: "
                                      f"{why}", [port_ref(port)])
    return stop(Reason.PORT_DOWN, f"port {label(port)} is {port.status} on host {port.host_id}: not plugged there "
                                  f"(no device with its iface-id), or its agent has not wired it yet ({why})",
                [port_ref(port)])
