"""OpenFlow: the flows of each bridge neutrino manages.

Observes with ``ovs-ofctl dump-flows --no-stats --names`` and, when anything differs, installs the
bridge's whole desired set with one ``ovs-ofctl --bundle replace-flows``: OVS changes only the flows
that differ, atomically, so unchanged traffic is never interrupted (no flush, ever).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from neutrino.host.errors import CommandFailed
from neutrino.host.runner import Host
from neutrino.plan.host_plan import Flow, HostPlan
from neutrino.realize.diff import Report, keyed_diff

_META = ("cookie", "duration", "n_packets", "n_bytes", "idle_age", "hard_age", "idle_timeout", "hard_timeout",
         "reset_counts", "send_flow_rem", "importance")


@dataclass(frozen=True)
class InstalledFlow:
    table: int
    priority: int
    match: frozenset[str]
    actions: str

    @property
    def key(self) -> tuple[int, int, frozenset[str]]:
        return (self.table, self.priority, self.match)


def _tokens(text: str) -> list[str]:
    """Split a flow's comma list, keeping commas inside parentheses (resubmit(,60), ct(...))."""
    tokens, depth, current = [], 0, ""
    for char in text:
        if char == "," and depth == 0:
            tokens.append(current.strip())
            current = ""
            continue
        depth += char == "("
        depth -= char == ")"
        current += char
    if current.strip():
        tokens.append(current.strip())
    return [t for t in tokens if t]


def parse_flow_line(line: str) -> InstalledFlow | None:
    line = line.strip()
    if " actions=" not in line and not line.startswith("actions="):
        return None
    head, _, actions = line.partition("actions=")
    table, priority, match = 0, 32768, []
    for token in _tokens(head.replace(", ", ",")):
        key, _, value = token.partition("=")
        if key == "table":
            table = int(value)
        elif key == "priority":
            priority = int(value)
        elif key not in _META:
            match.append(f"{key}={value.strip(chr(34))}" if value else key)
    return InstalledFlow(table, priority, frozenset(match), actions.strip())


def desired_flow(flow: Flow) -> InstalledFlow:
    return InstalledFlow(flow.table, flow.priority, frozenset(_tokens(flow.match)), flow.actions)


def observe_flows(host: Host, bridge: str) -> list[InstalledFlow]:
    output = host.run(["ovs-ofctl", "dump-flows", bridge, "--no-stats", "--names"]).stdout
    return [flow for flow in map(parse_flow_line, output.splitlines()) if flow is not None]


def observe_flows_of(host: Host, bridges: list[str]) -> dict[str, list[InstalledFlow] | None]:
    """Each bridge's flows, read concurrently (one exec each); None for a bridge that does not exist yet."""

    def read(bridge: str) -> list[InstalledFlow] | None:
        try:
            return observe_flows(host, bridge)
        except CommandFailed:
            return None

    with ThreadPoolExecutor(max_workers=max(1, len(bridges))) as pool:
        return dict(zip(bridges, pool.map(read, bridges), strict=True))


def apply_flows(host: Host, plan: HostPlan, bridges: list[str] | None = None,
                observed: dict[str, list[InstalledFlow] | None] | None = None) -> Report:
    """Make each bridge's flows the plan's; ``observed`` (from observe_flows_of) saves the reads."""
    report = Report("openflow")
    observed = observed or {}
    for bridge in bridges or [b.name for b in plan.bridges]:
        desired = plan.flows_of(bridge)
        installed = observed.get(bridge)
        if installed is None:
            installed = observe_flows(host, bridge)
        changes = keyed_diff([desired_flow(f) for f in desired], installed,
                             key=lambda f: f.key, same=lambda a, b: a.actions == _rendered(b.actions))
        if not changes:
            continue
        report.added += [f"{bridge} {_describe(f)}" for f in changes.add]
        report.removed += [f"{bridge} {_describe(f)}" for f in changes.remove]
        report.changed += [f"{bridge} {_describe(new)}" for _, new in changes.modify]
        text = "".join(flow.text() + "\n" for flow in desired)
        host.run(["ovs-ofctl", "--bundle", "replace-flows", bridge, "-"], input=text)
    return report


def _rendered(actions: str) -> str:
    """How ovs-ofctl prints back the actions we write (identical for our vocabulary)."""
    return actions


def _describe(flow: InstalledFlow) -> str:
    match = ",".join(sorted(flow.match))
    return f"table={flow.table},priority={flow.priority}{',' + match if match else ''} actions={flow.actions}"
