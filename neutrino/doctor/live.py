"""``neutrino trace --live``: the model's answer checked with a real probe from the source's namespace, and
where the model says delivered but the probe gets no answer, the first hop where the packets stop.

The source must send from this host: an instance ``neutrino plug`` recorded for its port (the agent's
instances.json), or a router's or DHCP port's own namespace. A probe is ``ping`` (3 echo requests), a TCP
connect or a UDP datagram awaiting its echo, with a short timeout; a TCP reset or an ICMP port unreachable
is an answer too (the packet got there; nothing listens). Around it the counters are read twice
(evidence.py): OpenFlow packet counts of the plan's flows on the path (after a revalidator round, so they
are exact), the frames of the devices, router legs and uplinks, and the packet counts of the rules of the
host's FORWARD chain that are not neutrino's.

Where the counters point beyond neutrino, it says so: the packet left this host by its uplink and nothing
came back (the fabric, the upstream switch's VLANs, the other host); full-size pings with DF set fail
while small ones pass (an MTU on the path); a DROP rule in FORWARD that is not neutrino's counted them.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field

from neutrino.agent.cleanup import recorded_instances
from neutrino.config import AgentSettings
from neutrino.doctor.evidence import Counters, HopCheck, LinkCounter, localize, steps_for
from neutrino.doctor.explain import explanations_for
from neutrino.doctor.observation import bridges_of, read_flow_counters, read_link_counters
from neutrino.host.errors import HostError
from neutrino.host.runner import Host
from neutrino.model import names
from neutrino.model.state import ApiState
from neutrino.plan.dhcp import DHCP_OWNER
from neutrino.plan.host_plan import HostPlan
from neutrino.plan.l3 import ROUTER_GATEWAY, ROUTER_INTERFACE
from neutrino.realize.ovsdb import ObservedOvs
from neutrino.trace.packet import EndpointKind, Packet, Protocol
from neutrino.trace.result import Finding, Trace

PINGS = 3
TIMEOUT = 1.0  # seconds a probe waits for its answer: a reply on these paths takes milliseconds
IPV4_HEADERS = 28  # IPv4 + ICMP headers: a ping of MTU - 28 bytes fills the MTU
_RECEIVED = re.compile(r"(\d+) (?:packets )?received")
# Connect (tcp) or send and wait for the echo (udp); prints ok, refused or timeout. The standard library only.
PROBE = """
import socket, sys
kind, address, port, timeout = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
family = socket.AF_INET6 if ":" in address else socket.AF_INET
try:
    if kind == "tcp":
        socket.create_connection((address, port), timeout=timeout).close()
    else:
        s = socket.socket(family, socket.SOCK_DGRAM)
        s.settimeout(timeout)
        s.connect((address, port))
        s.send(b"neutrino-probe")
        s.recv(2048)
    print("ok")
except ConnectionRefusedError:
    print("refused")
except (TimeoutError, socket.timeout):
    print("timeout")
except OSError as error:
    print("unreachable", error.strerror)
"""


@dataclass(frozen=True)
class Outcome:
    """What the probe saw. ``answered``: something came back (an echo reply, a connection, a reset)."""

    protocol: str
    destination: str
    port: int | None
    sent: int
    answered: bool
    words: str


@dataclass(frozen=True)
class LiveResult:
    namespace: str = ""
    outcome: Outcome | None = None  # None: not probed (``not_probed`` says why)
    not_probed: str = ""
    agree: bool | None = None
    message: str = ""
    checks: tuple[HopCheck, ...] = ()
    stopped_at: HopCheck | None = None
    findings: tuple[Finding, ...] = field(default_factory=tuple)


def live_check(host: Host, settings: AgentSettings, state: ApiState, model: Trace, plan: HostPlan,
               ovs: ObservedOvs, related=None) -> LiveResult:
    """Probe ``model``'s packet for real from this host. ``plan``: this host's, built from ``ovs`` as the agent
    builds it; ``related(hop)``: the doctor's findings about a hop's element, asked when the packet stops."""
    namespace, why = source_namespace(host, settings, state, model)
    if namespace is None:
        return LiveResult(not_probed=why, message=f"not probed: {why}")
    steps = steps_for(model.hops, model.reply, plan, settings.host, _ofports(ovs))
    namespaces = sorted({s.counter.namespace for s in steps if isinstance(s.counter, LinkCounter)} - {""})
    before = _read(host, plan, namespaces)
    outcome = probe(host, namespace, model.packet)
    after = _read(host, plan, namespaces)
    agree = outcome.answered == model.verdict.delivered
    message = _agreement(model, outcome)
    if outcome.answered or not model.verdict.delivered:
        mtu, note = _mtu_check(host, namespace, state, model, outcome)
        found = mtu + explanations_for(model, outcome, [], None, before, after, plan.host)
        return LiveResult(namespace, outcome, agree=agree, message=message + note, findings=tuple(found))
    checks, stop = localize(steps, before, after, outcome.sent)
    extra = related(stop.step.hop) if stop is not None and related is not None else []
    findings = explanations_for(model, outcome, checks, stop, before, after, plan.host) + extra
    return LiveResult(namespace, outcome, agree=agree, message=message, checks=tuple(checks), stopped_at=stop,
                      findings=tuple(findings))


def source_namespace(host: Host, settings: AgentSettings, state: ApiState, model: Trace) -> tuple[str | None, str]:
    """(the namespace to probe from, or None; why not)."""
    source = model.probe.source
    if source.kind is EndpointKind.OUTSIDE or source.port_id not in state.ports:
        return None, f"the source {source.address} is outside neutrino: nothing on this host sends from it"
    port = state.ports[source.port_id]
    if source.address not in {f.ip_address for f in port.fixed_ips}:
        return None, f"port {port.name or port.id} does not hold {source.address}: a probe cannot send from it"
    if port.host_id != settings.host.host:
        return None, (f"port {port.name or port.id} is bound to host {port.host_id or '(none)'}, not this one "
                      f"({settings.host.host}): run trace --live there")
    namespace = _namespace_of(settings, port)
    if namespace is None:
        return None, (f"port {port.name or port.id} is bound here, but no instance was plugged into it by "
                      "`neutrino plug` (a VM's port cannot be probed from the host)")
    if namespace not in host.run(["ip", "netns", "list"]).stdout.split():
        return None, f"the namespace {namespace} of port {port.name or port.id} is not on this host"
    return namespace, ""


def _namespace_of(settings: AgentSettings, port) -> str | None:
    if port.device_owner in (ROUTER_INTERFACE, ROUTER_GATEWAY):
        return names.router_namespace(port.device_id)
    if port.device_owner == DHCP_OWNER:
        return names.dhcp_namespace(port.network_id)
    return next((namespace for namespace, instance in sorted(recorded_instances(settings.state_dir).items())
                 if instance.get("port_id") == port.id), None)


def probe(host: Host, namespace: str, packet: Packet) -> Outcome:
    if packet.protocol is Protocol.ICMP:
        done = host.run(["ping", "-n", "-q", f"-{packet.version}", "-c", str(PINGS), "-i", "0.2", "-W",
                         f"{TIMEOUT:g}", packet.destination], netns=namespace, check=False)
        found = _RECEIVED.search(done.stdout)
        received = int(found[1]) if found else 0
        return Outcome("icmp", packet.destination, None, PINGS, received > 0,
                       f"{received}/{PINGS} echo replies" + ("" if found else f" ({done.stderr.strip()[:80]})"))
    done = host.run([sys.executable, "-c", PROBE, str(packet.protocol), packet.destination, str(packet.port),
                     f"{TIMEOUT:g}"], netns=namespace, check=False)
    said = (done.stdout.strip() or done.stderr.strip() or "no output").splitlines()[-1]
    answered = said in ("ok", "refused")
    words = {"ok": "connected" if packet.protocol is Protocol.TCP else "the echo came back",
             "refused": f"refused: it got there and nothing listens on port {packet.port} (a reset or port "
                        "unreachable came back)",
             "timeout": "no answer within the timeout" + ("" if packet.protocol is Protocol.TCP else
                                                          " (UDP: a listener that does not reply looks the same)")}
    return Outcome(str(packet.protocol), packet.destination, packet.port, 1, answered, words.get(said, said))


def _read(host: Host, plan: HostPlan, namespaces: list[str]) -> Counters:
    return Counters(read_flow_counters(host, bridges_of(plan)), read_link_counters(host, namespaces),
                    read_forward_counters(host))


def read_forward_counters(host: Host) -> dict[str, int]:
    """Packet counts of the FORWARD chain's policy and of its rules that are not neutrino's (iptables-save -c
    of the host's own filter table; empty when iptables cannot be read)."""
    try:
        saved = host.run(["iptables-save", "-c", "-t", "filter"], check=False).stdout
    except HostError:
        return {}
    counts = {}
    for line in saved.splitlines():
        policy = re.match(r"^:FORWARD (\S+) \[(\d+):\d+\]", line)
        if policy and policy[1] != "ACCEPT":
            counts[f"policy {policy[1]}"] = int(policy[2])
        rule = re.match(r"^\[(\d+):\d+\] (-A FORWARD .* -j (DROP|REJECT).*)$", line)
        if rule and "neutron" not in rule[2] and "neutrino" not in rule[2]:
            counts[rule[2]] = int(rule[1])
    return counts


def _mtu_check(host: Host, namespace: str, state: ApiState, model: Trace, outcome: Outcome
               ) -> tuple[list[Finding], str]:
    """A delivered ICMP probe: does a full-size ping with DF set get through as well? (findings, a note)"""
    if not outcome.answered or outcome.protocol != "icmp" or model.packet.version != 4:
        return [], ""
    port = state.ports.get(model.probe.source.port_id or "")
    network = state.networks.get(port.network_id) if port else None
    if network is None:
        return [], ""
    size = network.mtu - IPV4_HEADERS
    done = host.run(["ping", "-n", "-q", "-c", "1", "-W", f"{TIMEOUT:g}", "-M", "do", "-s", str(size),
                     model.packet.destination], netns=namespace, check=False)
    found = _RECEIVED.search(done.stdout)
    if found and int(found[1]) > 0:
        return [], f"; a ping of the full MTU ({network.mtu} bytes) with DF set gets through too"
    message = f"small pings get through, but a ping of {network.mtu} bytes with DF set (the MTU of network " \
              f"{network.name or network.id}) does not: something on the path has a smaller MTU"
    cause = "a network, router leg, uplink or the fabric along the path has a smaller MTU: big packets are dropped " \
            "(with DF) or fragmented"
    return [Finding("live-path-mtu", message, (), "warning", "", f"the path to {model.packet.destination}",
                    f"{network.mtu} bytes end to end", f"no answer to {size + IPV4_HEADERS} bytes with DF set",
                    cause, "")], ""


def _agreement(model: Trace, outcome: Outcome) -> str:
    says = "delivered" if model.verdict.delivered else model.verdict.reason.value
    got = "answered" if outcome.answered else "no answer"
    verb = "agree" if outcome.answered == model.verdict.delivered else "disagree"
    return f"the model says {says}; the probe ({outcome.words}) says {got}: they {verb}"


def _ofports(ovs: ObservedOvs) -> dict[str, int]:
    return {name: port.ofport for name, port in ovs.ports.items() if port.ofport is not None}

