"""OpenFlow: the flows of each bridge neutrino manages.

Observes with ``ovs-ofctl dump-flows --no-stats --names`` and, when anything differs, changes the
bridge in one atomic bundle: a few differences (a rule added, a port plugged) as ``ovs-ofctl --bundle
add-flows`` of just those flow mods (``add``, ``delete_strict``), many (a first install, a restarted
switch) as ``--bundle replace-flows`` of the bridge's whole desired set, which OVS diffs itself. Either
way only the flows that differ change, so unchanged traffic is never interrupted (no flush, ever);
the diff-only bundle spares ovs-ofctl parsing and re-reading thousands of firewall flows per pass.

``sync_flows`` also returns what each bridge holds once its bundle went through (the plan's flows), so
that the agent can diff its next pass against that instead of dumping every bridge again, as long as
nothing else may have touched the switch; ``vswitchd_pid`` tells it whether the switch is still the
same process (a restarted ovs-vswitchd has lost every flow).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property, lru_cache

from neutrino.host.errors import CommandFailed
from neutrino.host.runner import Host
from neutrino.plan.host_plan import Flow, HostPlan
from neutrino.plan.tables import LEARNED_COOKIE
from neutrino.realize.diff import Changes, Report, keyed_diff

# Where OVS's packaging (ovs-ctl) has ovs-vswitchd write its pid; simulated hosts bind-mount their own here.
VSWITCHD_PIDFILE = "/run/openvswitch/ovs-vswitchd.pid"


@dataclass(frozen=True)
class InstalledFlow:
    table: int
    priority: int
    match: frozenset[str]
    actions: str

    @cached_property  # read for every flow of every pass's diff
    def key(self) -> tuple[int, int, frozenset[str]]:
        return (self.table, self.priority, self.match)


def _tokens(text: str) -> list[str]:
    """Split a flow's comma list, keeping commas inside parentheses (resubmit(,60), ct(...))."""
    if "(" not in text:  # every match, and most of what is read: the quick way
        return [t for t in (part.strip() for part in text.split(",")) if t]
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


_LEARNED = f"cookie={LEARNED_COOKIE:#x},"

# A bridge's lines barely change between passes, so each is parsed once. ~0.9 kB per flow: the bound
# holds some 30 MB, enough for every flow of a host with ~400 firewalled ports.
@lru_cache(maxsize=1 << 15)
def parse_flow_line(line: str) -> InstalledFlow | None:
    """One line of dump-flows. Its metadata (``cookie=.., duration=.., table=.., n_packets=..``) is
    separated by ", ", then come ``priority`` and the match, separated by ",", e.g.
    `` cookie=0x6e657574, table=82, priority=77,tcp,reg5=0x7,tp_dst=22 actions=...``; a flow with
    nothing to match ends its metadata with ", " (`` table=2, actions=drop``)."""
    line = line.strip()
    if " actions=" not in line and not line.startswith("actions="):
        return None
    if line.startswith(_LEARNED):
        return None  # learnt by the switch (br-tun table 20): in no plan, and not ours to delete
    head, _, actions = line.partition("actions=")
    head = head.strip()
    if head.endswith(","):
        metadata, fields = head[:-1], ""
    else:
        metadata, _, fields = head.rpartition(", ")
    table = 0
    for item in metadata.split(", "):
        if item.startswith("table="):
            table = int(item[6:])
    tokens = fields.split(",") if fields else []
    priority = 32768
    if tokens and tokens[0].startswith("priority="):
        priority = int(tokens.pop(0)[9:])
    match = frozenset(token.replace('"', "") if '"' in token else token for token in tokens if token)
    return InstalledFlow(table, priority, match, actions.strip())


@lru_cache(maxsize=1 << 15)  # the plan's flows are equal values pass after pass (same bound as above)
def desired_flow(flow: Flow) -> InstalledFlow:
    return InstalledFlow(flow.table, flow.priority, frozenset(_tokens(flow.match)), flow.actions)


def observe_flows(host: Host, bridge: str) -> list[InstalledFlow]:
    output = host.run(["ovs-ofctl", "dump-flows", bridge, "--no-stats", "--names"]).stdout
    return [flow for flow in map(parse_flow_line, output.splitlines()) if flow is not None]


def vswitchd_pid(host: Host) -> str | None:
    """The pid of the ovs-vswitchd running now, or None if its pid file cannot be read. A new pid is a
    restarted switch, and a restarted switch has lost every flow."""
    read = host.run(["cat", VSWITCHD_PIDFILE], check=False)
    return (read.stdout.strip() or None) if read.rc == 0 else None


def observe_flows_of(host: Host, bridges: list[str]) -> dict[str, list[InstalledFlow] | None]:
    """Each bridge's flows, read concurrently (one exec each); None for a bridge that does not exist yet."""

    def read(bridge: str) -> list[InstalledFlow] | None:
        try:
            return observe_flows(host, bridge)
        except CommandFailed:
            return None

    with ThreadPoolExecutor(max_workers=max(1, len(bridges))) as pool:
        return dict(zip(bridges, pool.map(read, bridges), strict=True))


@dataclass(frozen=True)
class Synced:
    """What ``sync_flows`` did, and what each bridge holds afterwards: exactly the plan's flows."""

    report: Report
    installed: dict[str, list[InstalledFlow]]


def apply_flows(host: Host, plan: HostPlan, bridges: list[str] | None = None,
                observed: dict[str, list[InstalledFlow] | None] | None = None) -> Report:
    """Make each bridge's flows the plan's; ``observed`` (from observe_flows_of) saves the reads."""
    return sync_flows(host, plan, bridges, observed).report


def sync_flows(host: Host, plan: HostPlan, bridges: list[str] | None = None,
               observed: dict[str, list[InstalledFlow] | None] | None = None) -> Synced:
    """apply_flows, also returning each bridge's flows once its bundle went through (a failed bundle
    raises CommandFailed: then what the bridge holds is unknown)."""
    report = Report("openflow")
    holds: dict[str, list[InstalledFlow]] = {}
    observed = observed or {}
    for bridge in bridges or [b.name for b in plan.bridges]:
        desired = plan.flows_of(bridge)
        installed = observed.get(bridge)
        if installed is None:
            installed = observe_flows(host, bridge)
        wanted = [desired_flow(f) for f in desired]
        planned = {want.key: flow for want, flow in zip(wanted, desired, strict=True)}
        changes = keyed_diff(wanted, installed, key=lambda f: f.key, same=lambda a, b: a.actions == _rendered(b.actions))
        if changes:
            report.added += [f"{bridge} {_describe(f)}" for f in changes.add]
            report.removed += [f"{bridge} {_describe(f)}" for f in changes.remove]
            report.changed += [f"{bridge} {_describe(new)}" for _, new in changes.modify]
            if not _is_few(changes, len(planned)) or not _sent_flow_mods(host, bridge, changes, planned):
                text = "".join(flow.text() + "\n" for flow in desired)
                host.run(["ovs-ofctl", "--bundle", "replace-flows", bridge, "-"], input=text)
        holds[bridge] = wanted
    return Synced(report, holds)


def flow_mods_for(changes: Changes[InstalledFlow], planned: dict[tuple, Flow]) -> str:
    """``add-flows`` input for just the differences: ``add`` (a new flow, or new actions for a match,
    which replaces it), ``delete_strict`` (exactly that table, priority and match)."""
    lines = [f"add {planned[flow.key].text()}" for flow in changes.add]
    lines += [f"add {planned[new.key].text()}" for _, new in changes.modify]
    lines += [f"delete_strict {_match_text(flow)}" for flow in changes.remove]
    return "".join(line + "\n" for line in lines)


def _sent_flow_mods(host: Host, bridge: str, changes: Changes[InstalledFlow], planned: dict[tuple, Flow]) -> bool:
    """The differences as one bundle of flow mods; False when a flow to delete names a port that is gone
    (one of ours the OVSDB step has just removed: ovs-ofctl cannot resolve its name), for the caller to
    send the whole set instead, which names only ports that are there."""
    try:
        host.run(["ovs-ofctl", "--bundle", "add-flows", bridge, "-"], input=flow_mods_for(changes, planned))
    except CommandFailed as error:
        if "unknown port" not in error.stderr or not changes.remove:
            raise
        return False
    return True


def _is_few(changes: Changes, planned: int) -> bool:
    """Few enough to send as flow mods (otherwise the whole set, for OVS to diff)."""
    return len(changes.add) + len(changes.remove) + len(changes.modify) <= planned // 2


def _match_text(flow: InstalledFlow) -> str:
    """table, priority and match, in a stable order: protocol words (``tcp``) first, as ovs-ofctl
    prints them (it reads the fields in any order)."""
    fields = sorted(flow.match, key=lambda token: ("=" in token, token))
    return ",".join([f"table={flow.table}", f"priority={flow.priority}", *fields])


def _rendered(actions: str) -> str:
    """How ovs-ofctl prints back the actions we write (identical for our vocabulary)."""
    return actions


def _describe(flow: InstalledFlow) -> str:
    match = ",".join(sorted(flow.match))
    return f"table={flow.table},priority={flow.priority}{',' + match if match else ''} actions={flow.actions}"
