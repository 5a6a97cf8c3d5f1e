"""findings_for(plan, observed, context) -> [Finding]: every difference between what the plan says a host runs
and what the host runs, PURE (a table of literal plans and observations tests it).

Each Finding names the object behind the element (port, network, router, security group rule, agent), the
element on the host, what the plan says there against what is there, the likely cause and, where one
exists, the command that fixes it (``<agent.toml>`` stands for the agent's configuration file; the CLI
puts its path in). Without a ``context`` only the host is compared with the plan; with it, also the API
with the host: the host's agents, port statuses, and physnets without a bridge mapping.

Codes (stable; tools may branch on them):

    bridge-missing  port-missing  port-not-plugged  port-on-dead-vlan  port-tag-differs  no-bridge-mapping
    flows-missing  flows-differ  flows-extra  flows-foreign  flows-unreadable  iptables-rules-differ
    router-namespace-missing  router-leg-missing  router-leg-address-missing  router-leg-down
    router-route-missing  router-nat-differs  router-namespace-stale (namespaces.py)
    dhcp-namespace-missing  dhcp-leg-missing  dhcp-leg-address-missing  dhcp-leg-down  dnsmasq-not-running
    dnsmasq-command-line-differs  dhcp-files-stale  dhcp-server-stale
    agent-missing  agent-dead  agent-heartbeat-stale  port-status-stale
    tunnel-port-missing  tunnel-endpoint-unreachable  tunnel-mtu-too-small  port-mtu-above-network (tunnels.py)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from neutrino.doctor.namespaces import dhcp_findings_for, router_findings_for
from neutrino.doctor.objects import AGENT_FIX, DRIFT, Namer, examples, heartbeat_age
from neutrino.doctor.observation import CountedFlow, HostObservation
from neutrino.doctor.tunnels import tunnel_findings_for
from neutrino.model.host_config import HostConfig
from neutrino.model.resources import Agent
from neutrino.model.state import ApiState
from neutrino.plan.host_plan import Flow, HostPlan, OvsPort
from neutrino.plan.l2 import WIRED_TYPES
from neutrino.plan.tables import COOKIE, DEAD_VLAN
from neutrino.realize.iptables import filter_changes_for
from neutrino.realize.openflow import desired_flow
from neutrino.trace.explain import agent_ref, label
from neutrino.trace.result import SEVERITIES, Finding

ERROR, WARNING, INFO = SEVERITIES
AGENT_TYPES = ("Open vSwitch agent", "L3 agent", "DHCP agent")
STALE_HEARTBEATS = 3  # a heartbeat older than this many intervals is stale (Neutron: dead after 75 s)


@dataclass(frozen=True)
class Context:
    """What the doctor knows beyond the plan: the API state it was built from, the host's configuration,
    the time (heartbeats) and the agent's heartbeat interval."""

    state: ApiState
    config: HostConfig
    now: datetime
    heartbeat_seconds: float = 10.0


def findings_for(plan: HostPlan, observed: HostObservation, context: Context | None = None) -> list[Finding]:
    namer = Namer(context.state if context else None, plan.host)
    unmapped = _unmapped_networks(plan, context)
    found = [*_bridge_findings(plan, observed, namer), *_port_findings(plan, observed, namer, unmapped),
             *_flow_findings(plan, observed, namer), *_filter_findings(plan, observed, namer),
             *router_findings_for(plan, observed, namer),
             *dhcp_findings_for(plan, observed, namer),
             *tunnel_findings_for(plan, observed.ovs.ports, observed.ovs.bridges, observed.tunnels, namer,
                                  context.state if context else None)]
    if context is not None:
        found += [*_bridge_mapping_findings(plan, context, namer, unmapped), *_agent_findings(plan.host, context),
                  *_status_findings(plan, context, namer)]
    return sorted(found, key=lambda finding: SEVERITIES.index(finding.severity))


# --- OVSDB ---

def _bridge_findings(plan: HostPlan, observed: HostObservation, namer: Namer) -> list[Finding]:
    found = []
    for bridge in plan.bridges:
        if bridge.name not in observed.ovs.bridges:
            planned = f"bridge {bridge.name} ({bridge.datapath_type}, fail_mode {bridge.fail_mode})"
            found.append(namer.finding("bridge-missing", ERROR, f"bridge {bridge.name} is not in OVSDB: "
                                                                f"{bridge.reason}",
                                       f"bridge {bridge.name}", planned, "no such bridge", DRIFT, AGENT_FIX))
    return found


def _port_findings(plan: HostPlan, observed: HostObservation, namer: Namer, unmapped: dict[str, str]
                   ) -> list[Finding]:
    found, tunnels = [], {tunnel.name for tunnel in plan.tunnels}  # tunnels.py names a missing tunnel port
    for port in plan.ports:
        have = observed.ovs.ports.get(port.name)
        where = f"port {port.name} on {port.bridge}"
        if have is None:
            if port.owned and port.bridge in observed.ovs.bridges and port.name not in tunnels:
                found.append(namer.finding("port-missing", ERROR, f"port {port.name} is not on {port.bridge}: "
                                                                  f"{port.reason}",
                                           where, where, "no such port", DRIFT, AGENT_FIX,
                                           namer.sources([port.source])))
            continue
        if port.name in plan.parked and _iface_id(port) not in unmapped:
            found.append(_parked_finding(plan, port, namer))
        if have.tag != port.tag:
            found.append(_tag_finding(port, have.tag, namer))
    return found + [_unplugged_finding(plan, state.port_id, namer) for state in plan.port_states.values()
                    if state.device is None]


def _unplugged_finding(plan: HostPlan, port_id: str, namer: Namer) -> Finding:
    message = f"port {namer.port_label(port_id)} is bound to this host but not plugged: no OVS interface has " \
              f"external_ids:iface-id={port_id}"
    cause = "its instance is not running here, or was plugged on another host (its binding:host_id then names " \
            "the wrong host)"
    return namer.finding("port-not-plugged", WARNING, message, _integration_bridge(plan),
                         "plugged (an interface with its iface-id)", "none", cause,
                         f"neutrino plug --config <agent.toml> {namer.port_cli(port_id)}",
                         namer.sources([f"port:{port_id}"]))


def _parked_finding(plan: HostPlan, port: OvsPort, namer: Namer) -> Finding:
    reason = plan.parked[port.name]
    cause, fix = namer.parked_cause(_iface_id(port), port.name, port.bridge)
    return namer.finding("port-on-dead-vlan", ERROR, f"port {port.name} is parked on the dead VLAN 4095: {reason}",
                         f"port {port.name} on {port.bridge}", f"parked: {reason}", "tag 4095 (all its traffic "
                         "dropped)", cause, fix, namer.sources([port.source]))


def _tag_finding(port: OvsPort, tag: int | None, namer: Namer) -> Finding:
    where = f"port {port.name} on {port.bridge}"
    if tag == DEAD_VLAN:
        message = f"port {port.name} is on the dead VLAN 4095, but the plan puts it on VLAN {port.tag}: every " \
                  "frame it sends or should receive is dropped"
    elif port.tag == DEAD_VLAN:
        message = f"port {port.name} should be parked on the dead VLAN 4095 but is on VLAN {tag}: its traffic " \
                  "passes though the plan drops it"
    else:
        now = tag if tag is not None else "nothing (trunk)"
        message = f"port {port.name} is tagged {now}, but the plan puts it on VLAN {port.tag}: it is on the " \
                  "wrong network"
    fix = f"ovs-vsctl set Port {port.name} tag={port.tag}" if port.tag is not None else AGENT_FIX
    return namer.finding("port-tag-differs", ERROR, message, where, f"tag {port.tag} ({port.reason})",
                         f"tag {tag}", DRIFT, fix, namer.sources([port.source]))


def _iface_id(port: OvsPort) -> str:
    return port.source.removeprefix("port:")


def _integration_bridge(plan: HostPlan) -> str:
    return f"bridge {plan.bridges[0].name}" if plan.bridges else ""


# --- flows and iptables ---

def _flow_findings(plan: HostPlan, observed: HostObservation, namer: Namer) -> list[Finding]:
    found = []
    for bridge in plan.bridges:
        installed = observed.flows.get(bridge.name)
        if installed is None:
            if bridge.name in observed.ovs.bridges:
                found.append(namer.finding("flows-unreadable", WARNING, f"the flows of {bridge.name} could not be "
                                                                        "read (ovs-ofctl dump-flows failed)",
                                           f"bridge {bridge.name}", "", "", "ovs-vswitchd does not answer for it"))
            continue
        found += bridge_flow_findings(bridge.name, plan.flows_of(bridge.name), installed, namer)
    return found


def bridge_flow_findings(bridge: str, desired: Iterable[Flow], installed: list[CountedFlow], namer: Namer
                         ) -> list[Finding]:
    planned_flows = {want.key: (want, flow) for want, flow in ((desired_flow(flow), flow) for flow in desired)}
    wanted = {key: flow for key, (_, flow) in planned_flows.items()}
    have = {counted.flow.key: counted for counted in installed}
    missing = [flow for key, flow in wanted.items() if key not in have]
    differ = [flow for key, (want, flow) in planned_flows.items() if key in have and
              (have[key].flow.actions != want.actions or have[key].cookie != COOKIE)]
    extra = [c for key, c in have.items() if key not in wanted and c.cookie == COOKIE]
    foreign = [c for key, c in have.items() if key not in wanted and c.cookie != COOKIE]
    where, planned = f"bridge {bridge}", f"{len(wanted)} flows with cookie {COOKIE:#x}"
    found = []
    if missing:
        found.append(namer.finding(
            "flows-missing", ERROR, f"{len(missing)} of the {len(wanted)} flows the plan puts on {bridge} are not "
                                    f"installed: {examples(map(_flow_words, missing), len(missing))}",
            where, planned, f"{len(missing)} missing", DRIFT, AGENT_FIX, namer.sources(f.source for f in missing)))
    if differ:
        found.append(namer.finding(
            "flows-differ", ERROR, f"{len(differ)} flows on {bridge} match as planned but act otherwise (or carry "
                                   f"another cookie): {examples(map(_flow_words, differ), len(differ))}",
            where, planned, f"{len(differ)} with other actions or cookie", DRIFT, AGENT_FIX,
            namer.sources(f.source for f in differ)))
    if extra:
        found.append(namer.finding(
            "flows-extra", WARNING, f"{len(extra)} flows with neutrino's cookie on {bridge} are not in the plan: "
                                    f"{examples(map(_installed_words, extra), len(extra))}",
            where, planned, f"{len(extra)} more of ours", "left by an earlier plan the agent has not cleaned up "
                                                           "yet (it deletes them at its next pass)", AGENT_FIX))
    if foreign:
        found.append(namer.finding(
            "flows-foreign", WARNING, f"{len(foreign)} flows on {bridge} carry another cookie than neutrino's: "
                                      f"{examples(map(_installed_words, foreign), len(foreign))}",
            where, planned, f"{len(foreign)} foreign flows", "another controller or a person (ovs-ofctl add-flow) "
                                                             "installed them on a bridge the agent owns; they decide "
                                                             "traffic until the agent's next pass deletes them"))
    return found


def _flow_words(flow: Flow) -> str:
    match = f",{flow.match}" if flow.match else ""
    return f"table={flow.table},priority={flow.priority}{match} ({flow.reason or flow.source})"


def _installed_words(counted: CountedFlow) -> str:
    flow = counted.flow
    match = "," + ",".join(sorted(flow.match)) if flow.match else ""
    return f"cookie={counted.cookie:#x},table={flow.table},priority={flow.priority}{match} actions={flow.actions}"


def _filter_findings(plan: HostPlan, observed: HostObservation, namer: Namer) -> list[Finding]:
    if observed.filters is None or not plan.filter_rules:
        return []
    changes = filter_changes_for(plan.filter_rules, observed.filters)
    if not changes:
        return []
    words = [f"chain {c.name} missing" for c in changes.chains.add] + \
        [f"chain {c.name} differs" for _, c in changes.chains.modify] + \
        [f"chain {c.name} not in the plan" for c in changes.chains.remove] + \
        [f"jump {j.chain} -> {j.rule} missing" for j in changes.add_jumps] + \
        [f"jump {j.chain} -> {j.rule} not in the plan" for j in changes.remove_jumps]
    return [namer.finding("iptables-rules-differ", ERROR, f"iptables differs from the plan's firewall: "
                                                          f"{examples(words, len(words))}",
                          "iptables (filter, raw)", f"{len(plan.filter_rules)} rules", f"{len(words)} differences",
                          DRIFT, AGENT_FIX)]


# --- the API against the host (with a Context) ---

def _unmapped_networks(plan: HostPlan, context: Context | None) -> dict[str, str]:
    """Port id -> network id of the ports bound here whose network's physnet has no bridge mapping."""
    if context is None:
        return {}
    state, mappings = context.state, context.config.bridge_mappings
    return {port.id: port.network_id for port in state.ports_bound_to(plan.host)
            if port.network_id in state.networks and state.networks[port.network_id].network_type in WIRED_TYPES
            and state.networks[port.network_id].physical_network not in mappings}


def _bridge_mapping_findings(plan: HostPlan, context: Context, namer: Namer, unmapped: dict[str, str]
                             ) -> list[Finding]:
    found = []
    for network_id in sorted(set(unmapped.values())):
        network = context.state.networks[network_id]
        ports = [port_id for port_id, net in unmapped.items() if net == network_id]
        physnet = network.physical_network
        message = f"network {label(network)} is on physnet {physnet!r}, which has no bridge mapping on this " \
                  f"host: its {len(ports)} ports bound here are parked on the dead VLAN 4095 (and their binding fails)"
        fix = f'add {physnet} = "<bridge>" to bridge_mappings in [host] of <agent.toml>, then restart the agent'
        found.append(namer.finding("no-bridge-mapping", ERROR, message, "[host] bridge_mappings",
                                   f"{physnet} mapped to a physical bridge",
                                   f"bridge_mappings = {dict(context.config.bridge_mappings)}",
                                   "the agent's configuration lacks the physnet (or names it otherwise than the "
                                   "network does)", fix,
                                   namer.sources([f"network:{network_id}", *(f"port:{p}" for p in ports)])))
    return found


def _agent_findings(host: str, context: Context) -> list[Finding]:
    found = []
    for agent_type in AGENT_TYPES:
        agent = next((a for a in context.state.agents.values() if a.host == host and a.agent_type == agent_type),
                     None)
        finding = _agent_finding(host, agent_type, agent, context)
        if finding is not None:
            found.append(finding)
    return found


def _agent_finding(host: str, agent_type: str, agent: Agent | None, context: Context) -> Finding | None:
    where = f"{agent_type} of {host}"
    if agent is None:
        return Finding("agent-missing", f"no {agent_type} has ever reported from host {host}", (), ERROR, host,
                       where, f"an agent heartbeating as host {host}", "none",
                       "the agent never started here, or its [host] name is another", AGENT_FIX)
    if not agent.alive:
        return Finding("agent-dead", f"the {agent_type} of {host} is dead: its last heartbeat was "
                                     f"{agent.heartbeat_timestamp}", (agent_ref(agent),), ERROR, host, where,
                       "alive", "dead", "the agent is stopped or cannot reach the server", AGENT_FIX)
    age, every = heartbeat_age(agent, context.now), context.heartbeat_seconds
    if age is None or age <= STALE_HEARTBEATS * every:
        return None
    return Finding("agent-heartbeat-stale", f"the {agent_type} of {host} last reported {age:.0f} s ago (it reports "
                                            f"every {every:g} s)", (agent_ref(agent),), WARNING, host, where,
                   f"a heartbeat every {every:g} s", f"last {age:.0f} s ago",
                   "the agent stopped or hangs; the server counts it dead 75 s after its last heartbeat", AGENT_FIX)


def _status_findings(plan: HostPlan, context: Context, namer: Namer) -> list[Finding]:
    found = []
    for port_id, planned in sorted(plan.port_states.items()):
        port = context.state.ports.get(port_id)
        if port is None or port.status == planned.status:
            continue
        message = f"port {namer.port_label(port_id)} is {port.status} in the API but {planned.status} on this " \
                  f"host ({planned.reason})"
        found.append(namer.finding("port-status-stale", WARNING, message, f"port {planned.device or port_id}",
                                   f"status {planned.status}", f"API status {port.status}",
                                   "the agent reports a port's status at its pass: it has not yet, it is stopped, "
                                   "or the server refused the report", AGENT_FIX, namer.sources([f"port:{port_id}"])))
    return found
