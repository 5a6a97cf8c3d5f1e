"""deployment_findings_for(state): what the API state alone says is wrong with the deployment, no host read
(PURE): agents that stopped reporting, ports bound to hosts where no Open vSwitch agent is alive, bindings
that failed on a live host, routers no live L3 agent hosts, and networks serving DHCP without a DHCP port
or with one no host runs.

Codes (stable): agent-dead, binding-host-without-agent, binding-failed, router-not-hosted,
router-agent-dead, dhcp-port-missing, dhcp-not-hosted.
"""

from __future__ import annotations

from collections import defaultdict

from neutrino.model.resources import Port
from neutrino.model.state import ApiState
from neutrino.plan.dhcp import DHCP_OWNER, NO_DHCPV6
from neutrino.plan.l3 import ROUTER_GATEWAY, ROUTER_INTERFACE
from neutrino.trace.explain import agent_ref, cli_name, label, network_ref, port_ref, router_ref
from neutrino.trace.result import SEVERITIES, Finding

ERROR, WARNING, INFO = SEVERITIES
OVS_AGENT, L3_AGENT, DHCP_AGENT = "Open vSwitch agent", "L3 agent", "DHCP agent"
EXAMPLES = 3
START_AGENT = "neutrino agent --config <agent.toml>   (on host {host})"
UNWIRED_OWNERS = ("network:floatingip",)  # bookkeeping ports: never bound, never wired


def deployment_findings_for(state: ApiState) -> list[Finding]:
    found = [*_dead_agent_findings(state), *_binding_findings(state), *_router_findings(state),
             *_dhcp_findings(state)]
    return sorted(found, key=lambda finding: SEVERITIES.index(finding.severity))


def _live_hosts(state: ApiState, agent_type: str) -> set[str]:
    return {a.host for a in state.agents.values() if a.agent_type == agent_type and a.alive}


def _dead_agent_findings(state: ApiState) -> list[Finding]:
    bound = {port.host_id for port in state.ports.values() if port.host_id}
    found = []
    for agent in sorted(state.agents.values(), key=lambda a: (a.host, a.agent_type)):
        if agent.alive:
            continue
        used = agent.host in bound
        cause = "the agent is stopped, its host is down, or it cannot reach the server" + \
            ("" if used else "; no port is bound to its host")
        fix = START_AGENT.format(host=agent.host) if used else f"openstack network agent delete {agent.id}"
        found.append(Finding("agent-dead", f"the {agent.agent_type} of host {agent.host} is dead: its last heartbeat "
                                           f"was {agent.heartbeat_timestamp}", (agent_ref(agent),),
                             ERROR if used else WARNING, agent.host, f"{agent.agent_type} of {agent.host}",
                             "alive (a heartbeat within 75 s)", f"last heartbeat {agent.heartbeat_timestamp}",
                             cause, fix))
    return found


def _binding_findings(state: ApiState) -> list[Finding]:
    live = _live_hosts(state, OVS_AGENT)
    known = {a.host for a in state.agents.values() if a.agent_type == OVS_AGENT}
    orphaned: dict[str, list[Port]] = defaultdict(list)
    failed: dict[str, list[Port]] = defaultdict(list)
    for port in sorted(state.ports.values(), key=lambda p: p.id):
        if not port.host_id or port.device_owner in UNWIRED_OWNERS:
            continue
        if port.host_id not in live:
            orphaned[port.host_id].append(port)
        elif port.vif_type == "binding_failed":
            failed[port.host_id].append(port)
    return [_orphaned_finding(state, host, ports, host in known) for host, ports in sorted(orphaned.items())] + \
        [_failed_finding(state, host, ports) for host, ports in sorted(failed.items())]


def _orphaned_finding(state: ApiState, host: str, ports: list[Port], known: bool) -> Finding:
    never = "" if known else " (no agent ever reported from it: is the host named otherwise in its agent's [host]?)"
    message = f"{len(ports)} ports are bound to host {host}, where no Open vSwitch agent is alive{never}: " \
              f"{_ports(ports)}"
    fix = f"{START_AGENT.format(host=host)}; or openstack port set --host <live host> {cli_name(state, ports[0])}"
    return Finding("binding-host-without-agent", message, tuple(port_ref(p) for p in ports[:EXAMPLES]), ERROR, host,
                   f"binding:host_id {host}", "a live Open vSwitch agent on the binding host", "none",
                   "the host or its agent is down, or the ports were bound to a host that is gone", fix)


def _failed_finding(state: ApiState, host: str, ports: list[Port]) -> Finding:
    why = _why_failed(state, ports[0])
    return Finding("binding-failed", f"{len(ports)} ports on host {host} have binding:vif_type binding_failed: "
                                     f"{_ports(ports)}; {why}", tuple(port_ref(p) for p in ports[:EXAMPLES]), ERROR,
                   host, f"binding:host_id {host}", "binding:vif_type ovs", "binding_failed", why,
                   f"map the physnet in bridge_mappings of the agent on {host}: the binding is retried when the "
                   "agent reports its new configuration")


def _why_failed(state: ApiState, port: Port) -> str:
    network = state.networks.get(port.network_id)
    if network is None:
        return "its network is gone"
    if network.network_type in ("vlan", "flat"):
        return f"the host's agent has no bridge mapping for physnet {network.physical_network!r}"
    return f"the host's agent does not wire {network.network_type} networks"


def _router_findings(state: ApiState) -> list[Finding]:
    live = _live_hosts(state, L3_AGENT)
    ports_of: dict[str, list[Port]] = defaultdict(list)
    for port in state.ports.values():
        if port.device_owner in (ROUTER_INTERFACE, ROUTER_GATEWAY):
            ports_of[port.device_id].append(port)
    found = []
    for router_id, ports in sorted(ports_of.items()):
        router = state.routers.get(router_id)
        if router is None or not router.admin_state_up:
            continue
        hosts, where = {port.host_id for port in ports}, f"router {router.name or router.id}"
        if "" in hosts:
            found.append(Finding("router-not-hosted", f"router {label(router)} is hosted by no L3 agent: its ports "
                                                      "have no binding:host_id", (router_ref(router),), ERROR, "",
                                 where, "hosted by a live L3 agent", "no host",
                                 "no L3 agent was alive when it got its first port (it is scheduled at the next "
                                 "L3 agent heartbeat)",
                                 f"openstack network agent add router --l3 <L3 agent> {cli_name(state, router)}"))
        for host in sorted(hosts - live - {""}):
            found.append(Finding("router-agent-dead", f"router {label(router)} runs on host {host}, where no L3 "
                                                      "agent is alive: it routes nothing new",
                                 (router_ref(router),), ERROR, host, where, "a live L3 agent on its host",
                                 "none alive", "the host or its agent is down", START_AGENT.format(host=host)))
    return found


def _dhcp_findings(state: ApiState) -> list[Finding]:
    dhcp_ports: dict[str, list[Port]] = defaultdict(list)
    for port in state.ports.values():
        if port.device_owner == DHCP_OWNER:
            dhcp_ports[port.network_id].append(port)
    served = {subnet.network_id for subnet in state.subnets.values()
              if subnet.enable_dhcp and subnet.ipv6_address_mode not in NO_DHCPV6}
    found = []
    for network_id in sorted(served):
        network = state.networks.get(network_id)
        if network is None or network.external:
            continue
        where, ports = f"network {network.name or network.id}", dhcp_ports.get(network_id, [])
        if not ports:
            found.append(Finding("dhcp-port-missing", f"network {label(network)} has DHCP enabled but no DHCP port: "
                                                      "its instances get no lease", (network_ref(network),), ERROR,
                                 "", where, "a DHCP port on a live DHCP agent's host", "no DHCP port",
                                 f"no live DHCP agent's host maps physnet {network.physical_network!r}: start an "
                                 "agent on a host mapping it (the network gets its DHCP port at that agent's "
                                 "heartbeat)"))
        for port in (p for p in ports if not p.host_id):
            found.append(Finding("dhcp-not-hosted", f"the DHCP port of network {label(network)} is bound to no "
                                                    "host", (network_ref(network), port_ref(port)), ERROR, "",
                                 f"port {port.id}", "bound to a live DHCP agent's host", "no binding:host_id",
                                 "no DHCP agent mapping its physnet is alive"))
    return found


def _ports(ports: list[Port]) -> str:
    shown = ", ".join(p.name or p.id for p in ports[:EXAMPLES])
    return shown + (f" (and {len(ports) - EXAMPLES} more)" if len(ports) > EXAMPLES else "")
