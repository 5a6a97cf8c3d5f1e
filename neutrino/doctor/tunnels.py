"""The tunnels of a host against its plan (plan/tunnels.py) and its underlay, PURE but for ``observe_tunnels``.

Codes (stable; tools may branch on them):

    tunnel-port-missing          a tunnel port of the plan is not on the tunnel bridge
    tunnel-endpoint-unreachable  OVS's own route table (which sends the encapsulated packets) has no route to a
                                 remote endpoint: the endpoint address is not on an interface here, or no route
                                 covers the remote one
    tunnel-mtu-too-small         a tunnelled network's MTU plus the encapsulation (VXLAN 50, GRE 42 bytes over
                                 IPv4, the inner Ethernet header included) exceeds the MTU of the device its
                                 tunnels leave by: full-size frames are dropped (the outer header has DF set)
    port-mtu-above-network       an instance's port on a tunnelled network has a larger MTU than the network
                                 carries: its full-size frames are dropped on the way to another host

The underlay is observed cheaply, once per doctor run: ``ovs-appctl ovs/route/lookup <remote>`` per remote
endpoint (what ovs-vswitchd itself consults for a tunnel's outer packet) and one ``ip -j link`` for the MTUs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from neutrino.doctor.objects import AGENT_FIX, DRIFT, Namer
from neutrino.host.errors import HostError
from neutrino.host.runner import Host
from neutrino.model.state import ApiState
from neutrino.plan.host_plan import HostPlan, TunnelPort
from neutrino.trace.explain import agent_ref, network_ref
from neutrino.trace.result import SEVERITIES, Finding, ObjectRef

ERROR, WARNING, INFO = SEVERITIES
# The bytes a tunnel adds to an Ethernet frame over IPv4 (services/segments.py sizes a network's MTU alike).
ENCAPSULATION_OVERHEAD = {"vxlan": 50, "gre": 42}


@dataclass(frozen=True)
class TunnelObservation:
    """``routes``: remote endpoint address -> the device OVS routes it out of (None: no route);
    ``mtus``: device of the host's own namespace -> its MTU."""

    routes: dict[str, str | None]
    mtus: dict[str, int]


def observe_tunnels(host: Host, plan: HostPlan) -> TunnelObservation | None:
    """None when the plan has no tunnels (nothing to check)."""
    if not plan.tunnels and not plan.tunnel_segments:
        return None
    routes = {}
    for remote in sorted({tunnel.remote_ip for tunnel in plan.tunnels}):
        done = host.run(["ovs-appctl", "ovs/route/lookup", remote], check=False)
        routes[remote] = route_device(done.stdout) if done.returncode == 0 else None
    try:
        links = json.loads(host.run(["ip", "-j", "link"]).stdout or "[]")
    except (HostError, ValueError):
        links = []
    return TunnelObservation(routes, {link["ifname"]: link["mtu"] for link in links if "mtu" in link})


def route_device(lookup: str) -> str | None:
    """``ovs-appctl ovs/route/lookup`` prints ``src …``, ``gateway …``, ``dev …`` lines (or "Not found")."""
    for line in lookup.splitlines():
        key, _, value = line.strip().partition(" ")
        if key == "dev" and value:
            return value.strip()
    return None


def tunnel_findings_for(plan: HostPlan, ports: dict, bridges: dict, observed: TunnelObservation | None,
                        namer: Namer, state: ApiState | None) -> list[Finding]:
    """``ports``/``bridges``: OVSDB's, as observed; ``observed``: the underlay (None: not read, e.g. in a pure
    test: only the tunnel ports are checked); ``state``: the API (None: the MTUs are not checked)."""
    found = _missing_ports(plan, ports, bridges, namer)
    if observed is None:
        return found
    found += _unreachable(plan, observed, namer)
    if state is not None:
        found += _mtu_findings(plan, observed, namer, state)
    return found


def _missing_ports(plan: HostPlan, ports: dict, bridges: dict, namer: Namer) -> list[Finding]:
    bridge = _tunnel_bridge(plan)
    if bridge is None or bridge not in bridges:
        return []  # bridge-missing says it
    found = []
    for tunnel in plan.tunnels:
        have = ports.get(tunnel.name)
        if have is not None and have.bridge == bridge:
            continue
        where = f"port {tunnel.name} on {bridge}"
        there = "no such port" if have is None else f"on bridge {have.bridge}"
        found.append(namer.finding(
            "tunnel-port-missing", ERROR,
            f"tunnel port {tunnel.name} is not on {bridge}: host {plan.host} cannot send {tunnel.network_type} to "
            f"host {tunnel.remote_host} ({tunnel.local_ip} -> {tunnel.remote_ip}), nor take it from there",
            where, f"{tunnel.network_type} tunnel {tunnel.local_ip} -> {tunnel.remote_ip}", there,
            DRIFT + "; or ovs-vswitchd refused the port (ovs-vsctl list Interface " + tunnel.name + " shows why)",
            AGENT_FIX, _agent_objects(namer, tunnel)))
    return found


def _unreachable(plan: HostPlan, observed: TunnelObservation, namer: Namer) -> list[Finding]:
    found, seen = [], set()
    for tunnel in plan.tunnels:
        if tunnel.remote_ip in seen or observed.routes.get(tunnel.remote_ip, "") is not None:
            continue  # "": not looked up
        seen.add(tunnel.remote_ip)
        address = plan.tunnel_address
        named = ", ".join(t.name for t in plan.tunnels if t.remote_ip == tunnel.remote_ip)
        cause = (f"the endpoint address {tunnel.local_ip} is not on an interface of this host, or no route of the "
                 f"host's covers {tunnel.remote_ip} (ovs-vswitchd copies the host's routes)")
        fix = AGENT_FIX if address is not None else \
            f"ip address add {tunnel.local_ip}/<prefix> dev <the uplink bridge> (or set tunnel_ip_bridge in " \
            "<agent.toml>: the agent then puts it there)"
        found.append(namer.finding(
            "tunnel-endpoint-unreachable", ERROR,
            f"the tunnel endpoint {tunnel.remote_ip} of host {tunnel.remote_host} is unreachable in the underlay: "
            f"Open vSwitch has no route to it, so {named} send nothing",
            f"port {tunnel.name} on {_tunnel_bridge(plan)}", f"a route to {tunnel.remote_ip} from {tunnel.local_ip}"
            + (f" (on {address.bridge})" if address else ""), "ovs/route/lookup: no route", cause, fix,
            _agent_objects(namer, tunnel)))
    return found


def _mtu_findings(plan: HostPlan, observed: TunnelObservation, namer: Namer, state: ApiState) -> list[Finding]:
    found = []
    for segment in plan.tunnel_segments:
        network = state.networks.get(segment.network_id)
        if network is None:
            continue
        found += _underlay_mtu(plan, observed, namer, network, segment.network_type)
        found += _port_mtus(plan, observed, namer, network)
    return found


def _underlay_mtu(plan: HostPlan, observed: TunnelObservation, namer: Namer, network, kind: str) -> list[Finding]:
    devices = sorted({observed.routes[t.remote_ip] for t in plan.tunnels if t.network_type == kind
                      and observed.routes.get(t.remote_ip) and observed.routes[t.remote_ip] in observed.mtus})
    if not devices:
        return []
    device = min(devices, key=lambda d: observed.mtus[d])
    mtu, overhead = observed.mtus[device], ENCAPSULATION_OVERHEAD[kind]
    if network.mtu + overhead <= mtu:
        return []
    name = network.name or network.id
    return [namer.finding(
        "tunnel-mtu-too-small", ERROR,
        f"network {name} has MTU {network.mtu}: its full-size frames are {network.mtu + overhead} bytes as "
        f"{kind.upper()}, above the MTU {mtu} of {device} where its tunnels leave: they are dropped (DF)",
        f"device {device}", f"MTU >= {network.mtu + overhead} ({network.mtu} + {overhead} of {kind})", f"MTU {mtu}",
        "the underlay's MTU is smaller than the one the network's MTU was sized from (global_physnet_mtu)",
        f"ip link set dev {device} mtu {network.mtu + overhead} (and its uplinks), or openstack network set "
        f"--mtu {mtu - overhead} {name}", (network_ref(network),))]


def _port_mtus(plan: HostPlan, observed: TunnelObservation, namer: Namer, network) -> list[Finding]:
    found = []
    for port_state in sorted(plan.port_states.values(), key=lambda s: s.port_id):
        port = namer.state.ports.get(port_state.port_id) if namer.state else None
        if port is None or port.network_id != network.id or port_state.device is None:
            continue
        mtu = observed.mtus.get(port_state.device)
        if mtu is None or mtu <= network.mtu:
            continue
        found.append(namer.finding(
            "port-mtu-above-network", WARNING,
            f"port {namer.port_label(port.id)} has MTU {mtu} on {port_state.device}, above its network "
            f"{network.name or network.id}'s {network.mtu}: its full-size frames are dropped in the tunnel",
            f"device {port_state.device}", f"MTU <= {network.mtu}", f"MTU {mtu}",
            "the instance did not take the network's MTU from DHCP (or its device was made by hand)",
            f"ip link set dev {port_state.device} mtu {network.mtu}", namer.sources([f"port:{port.id}"])))
    return found


def _agent_objects(namer: Namer, tunnel: TunnelPort) -> tuple[ObjectRef, ...]:
    identifier = tunnel.source.partition(":")[2]
    agent = namer.state.agents.get(identifier) if namer.state else None
    return (agent_ref(agent),) if agent else ()


def _tunnel_bridge(plan: HostPlan) -> str | None:
    names = {b.name for b in plan.bridges if b.source == "config:tunnel_types"}
    return next(iter(names), None)
