"""What ``neutrino status`` says, as a value, and how it is printed (pure: no I/O; cli/status.py reads).

``status_for`` takes what was read - the server's info, the API state at one revision (None when the server
could not be read), this host's Open vSwitch and namespaces, and the time - and returns a ``Status``: the
server, each agent with the age of its last heartbeat, OVS, each ``qrouter-``/``qdhcp-`` namespace that is
on this host or should be (a router or DHCP port bound here) with its router's or network's name, ports and
floating IPs counted by status, and the problems seen on the way (a dead agent, a namespace missing or left
over, a router no L3 agent hosts, a floating IP in ERROR). ``render_status`` prints it on one screen (rich
markup), ``status_json`` for machines.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import datetime

from rich.text import Text

from neutrino.model import names
from neutrino.model.state import ApiState

ROUTER_OWNERS = ("network:router_interface", "network:router_gateway")
DHCP_OWNER = "network:dhcp"
SCHEMA = "neutrino.status/1"


@dataclass(frozen=True)
class ServerStatus:
    url: str
    answers: bool
    version: str = ""
    revision: int | None = None
    store: str = ""
    auth: str = ""
    error: str = ""  # why the server or its state could not be read


@dataclass(frozen=True)
class AgentStatus:
    agent_type: str
    host: str
    alive: bool
    heartbeat_age: float | None  # seconds since its last heartbeat, as of the status


@dataclass(frozen=True)
class BridgeStatus:
    name: str
    datapath_type: str
    ports: int


@dataclass(frozen=True)
class OvsStatus:
    running: bool
    bridges: tuple[BridgeStatus, ...] = ()
    error: str = ""


@dataclass(frozen=True)
class LocalHost:
    """What was read on this host: its name (as its agents report it), OVS, and its ``ip netns`` names
    (None: could not be listed)."""

    host: str
    ovs: OvsStatus
    namespaces: tuple[str, ...] | None


@dataclass(frozen=True)
class NamespaceStatus:
    name: str
    kind: str  # "router" or "dhcp"
    object_id: str  # the router's or network's id
    object_name: str  # its name ("" unknown: the API has no such object)
    present: bool  # on this host
    expected: bool  # the API puts it here (a router or DHCP port of it bound to this host)


@dataclass(frozen=True)
class Status:
    server: ServerStatus
    host: str
    ovs: OvsStatus
    agents: tuple[AgentStatus, ...] = ()
    namespaces: tuple[NamespaceStatus, ...] = ()
    ports: dict[str, int] = field(default_factory=dict)  # status -> how many
    floating_ips: dict[str, int] = field(default_factory=dict)
    problems: tuple[str, ...] = ()

    @property
    def healthy(self) -> bool:
        return self.server.answers and not self.server.error and not self.problems


def status_for(server: ServerStatus, state: ApiState | None, local: LocalHost, now: datetime) -> Status:
    if state is None:  # the server's line says why; only the host's own problems are left to say
        problems = () if local.ovs.running else (_ovs_problem(local.ovs),)
        return Status(server, local.host, local.ovs, problems=problems)
    agents = agents_for(state, now)
    namespaces = namespaces_for(state, local)
    problems = [*_agent_problems(agents), *_namespace_problems(namespaces), *_router_problems(state),
                *(f"floating IP {f.floating_ip_address} is ERROR (its router's agent could not set it up)"
                  for f in sorted(state.floatingips.values(), key=lambda f: f.floating_ip_address)
                  if f.status == "ERROR")]
    if not local.ovs.running:
        problems.insert(0, _ovs_problem(local.ovs))
    return Status(server, local.host, local.ovs, agents, namespaces,
                  dict(sorted(Counter(p.status for p in state.ports.values()).items())),
                  dict(sorted(Counter(f.status for f in state.floatingips.values()).items())), tuple(problems))


def _ovs_problem(ovs: OvsStatus) -> str:
    return f"Open vSwitch does not answer here{': ' + ovs.error if ovs.error else ''}"


def agents_for(state: ApiState, now: datetime) -> tuple[AgentStatus, ...]:
    found = [AgentStatus(a.agent_type, a.host, a.alive, _age(a.heartbeat_timestamp, now))
             for a in state.agents.values()]
    return tuple(sorted(found, key=lambda a: (a.host, a.agent_type)))


def _age(timestamp: str | None, now: datetime) -> float | None:
    if not timestamp:
        return None
    return max(0.0, (now - datetime.fromisoformat(timestamp.replace("Z", "+00:00"))).total_seconds())


def namespaces_for(state: ApiState, local: LocalHost) -> tuple[NamespaceStatus, ...]:
    """Every qrouter-/qdhcp- namespace present on this host or expected there."""
    expected = _expected_namespaces(state, local.host)
    present = {n for n in local.namespaces or () if _parse_namespace(n) is not None}
    found = []
    for name in sorted(present | set(expected)):
        kind, object_id = _parse_namespace(name)
        named = state.routers.get(object_id) if kind == "router" else state.networks.get(object_id)
        found.append(NamespaceStatus(name, kind, object_id, named.name if named else "",
                                     name in present or local.namespaces is None, name in expected))
    return tuple(found)


def _expected_namespaces(state: ApiState, host: str) -> set[str]:
    expected = set()
    for port in state.ports_bound_to(host):
        router = state.routers.get(port.device_id)
        if port.device_owner in ROUTER_OWNERS and router is not None and router.admin_state_up:
            expected.add(names.router_namespace(router.id))
        elif port.device_owner == DHCP_OWNER and port.network_id in state.networks:
            expected.add(names.dhcp_namespace(port.network_id))
    return expected


def _parse_namespace(name: str) -> tuple[str, str] | None:
    for kind, prefix in (("router", names.router_namespace("")), ("dhcp", names.dhcp_namespace(""))):
        if name.startswith(prefix):
            return kind, name.removeprefix(prefix)
    return None


def _agent_problems(agents: tuple[AgentStatus, ...]) -> list[str]:
    return [f"{a.agent_type} on {a.host} is not alive (last heartbeat {_say_age(a.heartbeat_age)})"
            for a in agents if not a.alive]


def _namespace_problems(namespaces: tuple[NamespaceStatus, ...]) -> list[str]:
    problems = []
    for n in namespaces:
        what = f"{'router' if n.kind == 'router' else 'network'} {n.object_name or n.object_id}"
        if n.expected and not n.present:
            problems.append(f"{n.name} is missing: {what} is hosted here (is the agent running?)")
        elif n.present and not n.expected:
            problems.append(f"{n.name} is left over: no {what} is hosted here")
    return problems


def _router_problems(state: ApiState) -> list[str]:
    """Routers with ports but no host: no live L3 agent took them."""
    unhosted = {p.device_id for p in state.ports.values()
                if p.device_owner in ROUTER_OWNERS and not p.host_id and p.device_id in state.routers}
    return [f"router {state.routers[r].name or r} has no L3 agent (none alive?)" for r in sorted(unhosted)]


# --- for people ---

def _say_age(seconds: float | None) -> str:
    if seconds is None:
        return "never"
    if seconds < 120:
        return f"{seconds:.0f} s ago"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min ago"
    return f"{seconds / 3600:.0f} h ago"


def _mark(ok: bool) -> tuple[str, str]:
    return ("✓ ", "green") if ok else ("✗ ", "bold red")


def _counts(counts: dict[str, int]) -> Text:
    text = Text()
    colours = {"ACTIVE": "green", "DOWN": "yellow", "BUILD": "cyan", "ERROR": "bold red"}
    for i, (status, count) in enumerate(counts.items()):
        text.append(", " if i else "")
        text.append(f"{count} {status}", colours.get(status, ""))
    return text if counts else Text("none", "dim")


def render_status(status: Status) -> Text:
    out = Text()
    server = status.server
    out.append(*_mark(server.answers and not server.error))
    out.append("server ", "bold")
    out.append(server.url)
    if server.answers and not server.error:
        out.append(f"  neutrino {server.version}, revision {server.revision}, {server.store} store, "
                   f"auth {server.auth}\n")
    else:
        out.append(f"  {server.error or 'does not answer'}\n", "red")
    _render_agents(out, status.agents)
    _render_ovs(out, status)
    _render_namespaces(out, status)
    if server.revision is not None:
        out.append("  ports        ")
        out.append_text(_counts(status.ports))
        out.append("\n  floating IPs ")
        out.append_text(_counts(status.floating_ips))
        out.append("\n")
    if status.problems:
        out.append(f"! {len(status.problems)} problem{'s' if len(status.problems) > 1 else ''}:\n", "bold yellow")
        for problem in status.problems:
            out.append(f"  - {problem}\n", "yellow")
    else:
        out.append("✓ no problem seen\n", "green")
    return out


def _render_agents(out: Text, agents: tuple[AgentStatus, ...]) -> None:
    if not agents:
        return
    out.append("  agents\n", "bold")
    for agent in agents:
        out.append("    ")
        out.append(*_mark(agent.alive))
        out.append(f"{agent.agent_type:<20} {agent.host:<20} ")
        out.append(f"{'alive' if agent.alive else 'dead':<6} heartbeat {_say_age(agent.heartbeat_age)}\n",
                   "" if agent.alive else "red")


def _render_ovs(out: Text, status: Status) -> None:
    ovs = status.ovs
    out.append(*_mark(ovs.running))
    out.append("Open vSwitch ", "bold")
    out.append(f"on {status.host}: ")
    if not ovs.running:
        out.append(f"no answer{': ' + ovs.error if ovs.error else ''}\n", "red")
        return
    datapaths = sorted({b.datapath_type or "system" for b in ovs.bridges})
    out.append(f"running, datapath {', '.join(datapaths) or '-'}, {len(ovs.bridges)} bridges\n")
    for bridge in ovs.bridges:
        out.append(f"    {bridge.name:<14} {bridge.ports} ports\n")


def _render_namespaces(out: Text, status: Status) -> None:
    if not status.namespaces:
        out.append("  namespaces   no router or DHCP server here\n", "dim")
        return
    out.append("  namespaces\n", "bold")
    for n in status.namespaces:
        out.append("    ")
        out.append(*_mark(n.present and n.expected))
        out.append(n.name)
        label = f"{'router' if n.kind == 'router' else 'DHCP of network'} {n.object_name or '?'}"
        state = "" if n.present and n.expected else "  missing" if n.expected else "  left over"
        out.append(f"  {label}")
        out.append(f"{state}\n", "red" if state else "")


# --- for machines ---

def status_json(status: Status) -> dict:
    return {"schema": SCHEMA, "healthy": status.healthy, **asdict(status)}
