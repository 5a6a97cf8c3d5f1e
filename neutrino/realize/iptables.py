"""iptables for the ``iptables_hybrid`` firewall: the plan's ``filter_rules`` in the raw and filter tables of
the host's own network namespace, IPv4 with ``iptables`` and IPv6 with ``ip6tables`` (the nf_tables
backend Debian ships, 1.8.9).

Observe: one ``iptables-save`` / ``ip6tables-save``, of which only neutrino's part is kept: the chains
the plan names (``neutron-openvswi-*``) and the rules of built-in chains that jump into them.
Apply: one ``iptables-restore --noflush`` per family that differs. A chain that differs is declared
(which empties it) and refilled, a chain no longer planned is emptied and deleted, a missing jump is
inserted at the top of its built-in chain (no rule of others decides our ports' traffic before ours),
and a stray or duplicate jump is deleted. Each table commits at once, so a packet meets a chain whole,
old or new. Nothing else in the tables is touched.

Around the rules: br_netfilter must hand bridged frames to iptables. ``net.bridge.bridge-nf-call-
iptables`` and ``-ip6tables`` are set to 1 (host-wide, per network namespace; only when this driver runs),
and a kernel without br_netfilter is refused with the reason (``Unsupported``) rather than left
unfiltered. When a port's chains go, the conntrack entries of its zone are deleted (Neutron does the
same), so the zone starts clean if it is handed out again. A removed rule needs no conntrack flush to
cut what it admitted: the port chains check every packet of a connection's original direction against
the rules again (plan/iptables_firewall.py), and flushing a zone would disturb connections that other
rules still admit.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from neutrino.host.errors import CommandFailed, Unsupported
from neutrino.host.runner import MISSING_PROGRAM, Host
from neutrino.plan.host_plan import FilterRule, HostPlan
from neutrino.plan.iptables_firewall import BINARY, WRAPPED
from neutrino.realize.diff import Changes, Report, keyed_diff

OURS = f"{BINARY}-"  # every chain the plan names starts so
TABLES = ("raw", "filter")  # the only tables read or written, in the order they are restored
BUILTIN_CHAINS = ("PREROUTING", "INPUT", "FORWARD", "OUTPUT")
FAMILY_NAMES = {4: "IPv4", 6: "IPv6"}
SAVE = {4: "iptables-save", 6: "ip6tables-save"}
RESTORE = {4: "iptables-restore", 6: "ip6tables-restore"}
CONNTRACK_FAMILIES = {4: "ipv4", 6: "ipv6"}
BRIDGE_NETFILTER = ("net.bridge.bridge-nf-call-iptables", "net.bridge.bridge-nf-call-ip6tables")
NOTHING_DELETED = 1  # conntrack -D: "0 flow entries have been deleted"
ZONE_RULE = re.compile(r'--comment "Set zone for (\S+)" -j CT --zone (\d+)$')


@dataclass(frozen=True)
class Chain:
    """One of our chains and its rules (as iptables-save prints them, without ``-A <chain>``)."""

    family: int
    table: str
    name: str
    rules: tuple[str, ...] = ()

    @property
    def key(self) -> tuple[int, str, str]:
        return (self.family, self.table, self.name)

    def label(self) -> str:
        return f"{FAMILY_NAMES[self.family]} {self.table} chain {self.name} ({len(self.rules)} rules)"


@dataclass(frozen=True)
class Jump:
    """A rule of a built-in chain (FORWARD, INPUT, raw PREROUTING) that enters one of our chains."""

    family: int
    table: str
    chain: str
    rule: str

    def label(self) -> str:
        return f"{FAMILY_NAMES[self.family]} {self.table} {self.chain} -> {target_of(self.rule)}"


@dataclass(frozen=True)
class ObservedFilter:
    chains: tuple[Chain, ...] = ()
    jumps: tuple[Jump, ...] = ()  # in table order, duplicates kept

    @property
    def conntrack_zones(self) -> dict[str, int]:
        """API port id -> the conntrack zone its raw rules set (Neutron reads its zones back the same way)."""
        return zones_of(self.chains)

    @property
    def is_marked(self) -> bool:
        """Whether a jump neutrino writes leads into the chains (Neutron's own agent writes none such)."""
        return any(WRAPPED in jump.rule for jump in self.jumps)


@dataclass(frozen=True)
class FilterChanges:
    chains: Changes[Chain]
    add_jumps: tuple[Jump, ...] = ()
    remove_jumps: tuple[Jump, ...] = ()
    stale_zones: tuple[tuple[str, int], ...] = ()  # (port id, zone) whose zone rules go

    def __bool__(self) -> bool:
        return bool(self.chains or self.add_jumps or self.remove_jumps)


# --- observe ---------------------------------------------------------------------------------------

def observe_filter(host: Host) -> ObservedFilter:
    return observed_from({family: host.run([SAVE[family]]).stdout for family in FAMILY_NAMES})


def observed_after(rules: Iterable[FilterRule]) -> ObservedFilter:
    """What is ours in the tables once apply_iptables went through for ``rules``: their chains and jumps
    (each jump once), as observe_filter would read them back."""
    chains, jumps = desired_for(rules)
    return ObservedFilter(tuple(chains), tuple(dict.fromkeys(jumps)))


def observed_from(saved: dict[int, str]) -> ObservedFilter:
    """family -> iptables-save's output, as what is ours in it."""
    chains: list[Chain] = []
    jumps: list[Jump] = []
    for family, text in saved.items():
        found_chains, found_jumps = parse_save(text, family)
        chains += found_chains
        jumps += found_jumps
    return ObservedFilter(tuple(chains), tuple(jumps))


def parse_save(text: str, family: int) -> tuple[list[Chain], list[Jump]]:
    """Our chains and the jumps into them, from iptables-save's output (every other line is ignored)."""
    rules: dict[tuple[str, str], list[str]] = {}
    jumps: list[Jump] = []
    table = None
    for line in text.splitlines():
        if line.startswith("*"):
            table = line[1:].strip()
        elif table not in TABLES:
            continue
        elif line.startswith(":" + OURS):
            rules.setdefault((table, line[1:].split()[0]), [])
        elif line.startswith("-A "):
            _, chain, rule = (line + " ").split(" ", 2)
            rule = rule.strip()
            if chain.startswith(OURS):
                rules.setdefault((table, chain), []).append(rule)
            elif chain in BUILTIN_CHAINS and target_of(rule).startswith(OURS):
                jumps.append(Jump(family, table, chain, rule))  # a user chain of others is theirs, jump or not
    return [Chain(family, table, name, tuple(chain_rules)) for (table, name), chain_rules in rules.items()], jumps


@lru_cache(maxsize=1 << 16)  # pure; asked for every rule of the plan on every pass
def target_of(rule: str) -> str:
    """The chain or target a rule jumps to (``-j X`` or ``-g X``), or ''."""
    _, jump, after = (" " + rule).rpartition(" -j ")
    if jump and '"' not in after:  # the common case, fast: the target comes last, after any comment
        return after.split()[0] if after.split() else ""
    try:
        words = shlex.split(rule)
    except ValueError:
        return ""
    for index in range(len(words) - 2, -1, -1):
        if words[index] in ("-j", "-g"):
            return words[index + 1]
    return ""


def zones_of(chains: Iterable[Chain]) -> dict[str, int]:
    zones: dict[str, int] = {}
    for chain in sorted(chains, key=lambda c: c.family):  # IPv4's first: both families carry the same
        if chain.table != "raw":
            continue
        for rule in chain.rules:
            found = ZONE_RULE.search(rule)
            if found:
                zones.setdefault(found[1], int(found[2]))
    return zones


# --- changes (pure) --------------------------------------------------------------------------------

def desired_for(rules: Iterable[FilterRule]) -> tuple[list[Chain], list[Jump]]:
    """The plan's rules as our chains (every chain a rule jumps to exists, even empty) and jumps."""
    chain_rules: dict[tuple[int, str, str], list[str]] = {}
    jumps: list[Jump] = []
    for rule in rules:
        if rule.chain.startswith(OURS):
            chain_rules.setdefault((rule.family, rule.table, rule.chain), []).append(rule.rule)
        else:
            jumps.append(Jump(rule.family, rule.table, rule.chain, rule.rule))
        target = target_of(rule.rule)
        if target.startswith(OURS):
            chain_rules.setdefault((rule.family, rule.table, target), [])
    return [Chain(*key, tuple(found)) for key, found in chain_rules.items()], jumps


def filter_changes_for(rules: Iterable[FilterRule], observed: ObservedFilter) -> FilterChanges:
    return changes_between(observed_after(rules), observed)


def changes_between(desired: ObservedFilter, observed: ObservedFilter) -> FilterChanges:
    """From what is ours now to ``desired`` (observed_after of the plan's rules)."""
    chain_changes = keyed_diff(desired.chains, observed.chains, key=lambda c: c.key)
    left = list(observed.jumps)
    add = []
    for jump in desired.jumps:
        if left.count(jump) == 1:
            left.remove(jump)
        else:  # missing, or there more than once: every copy goes (-D takes the first) and one goes on top
            add.append(jump)
    kept_zones = set(desired.conntrack_zones.values())
    stale = tuple(sorted((port_id, zone) for port_id, zone in observed.conntrack_zones.items()
                         if zone not in kept_zones))
    return FilterChanges(chain_changes, tuple(add), tuple(left), stale)


def restore_text_for(changes: FilterChanges, family: int) -> str:
    """``iptables-restore --noflush`` input for one family: per table, stray jumps deleted, changed chains
    declared (emptied) and refilled, stale chains emptied and deleted, missing jumps inserted on top."""
    out: list[str] = []
    refill = [*changes.chains.add, *(desired for _, desired in changes.chains.modify)]
    for table in TABLES:
        where = (family, table)
        stale, new_chains = _in(changes.chains.remove, where), _in(refill, where)
        lines = [f"-D {jump.chain} {jump.rule}" for jump in _in(changes.remove_jumps, where)]
        lines += [f":{chain.name} - [0:0]" for chain in new_chains + stale]
        lines += [f"-A {chain.name} {rule}" for chain in new_chains for rule in chain.rules]
        lines += [f"-X {chain.name}" for chain in stale]
        # Inserted at 1 in reverse, so they end up on top in the plan's order.
        lines += [f"-I {jump.chain} 1 {jump.rule}" for jump in reversed(_in(changes.add_jumps, where))]
        if lines:
            out += [f"*{table}", *lines, "COMMIT"]
    return "".join(f"{line}\n" for line in out)


def _in(items, where: tuple[int, str]) -> list:
    return [item for item in items if (item.family, item.table) == where]


# --- apply -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class FilterSynced:
    """What ``sync_iptables`` did, and what is ours in the tables afterwards (None after an error: unknown)."""

    report: Report
    installed: ObservedFilter | None


def apply_iptables(host: Host, plan: HostPlan, observed: ObservedFilter | None = None) -> Report:
    """Make our chains the plan's ``filter_rules``; ``observed`` (from observe_filter) saves the reads."""
    return sync_iptables(host, plan, observed).report


def sync_iptables(host: Host, plan: HostPlan, observed: ObservedFilter | None = None) -> FilterSynced:
    """apply_iptables, also returning what is ours once it went through: exactly the plan's rules."""
    report = Report("iptables")
    ensure_bridge_netfilter(host, report)
    observed = observed if observed is not None else observe_filter(host)
    desired = observed_after(plan.filter_rules)
    apply_filter_changes(host, changes_between(desired, observed), report)
    return FilterSynced(report, None if report.errors else desired)


def apply_filter_changes(host: Host, changes: FilterChanges, report: Report) -> None:
    """One restore per family; a family that fails is reported and left to the next pass."""
    failed = False
    for family in FAMILY_NAMES:
        text = restore_text_for(changes, family)
        if not text:
            continue
        try:
            host.run([RESTORE[family], "--noflush"], input=text)
        except CommandFailed as error:
            report.errors.append(str(error))
            failed = True
            continue
        report.added += [c.label() for c in changes.chains.add if c.family == family]
        report.changed += [d.label() for _, d in changes.chains.modify if d.family == family]
        report.removed += [c.label() for c in changes.chains.remove if c.family == family]
        report.added += [f"jump {j.label()}" for j in changes.add_jumps if j.family == family]
        report.removed += [f"jump {j.label()}" for j in changes.remove_jumps if j.family == family]
    if not failed:  # the zone rules are gone only if every restore went through
        delete_conntrack_zones(host, changes.stale_zones, report)


def delete_conntrack_zones(host: Host, zones: Iterable[tuple[str, int]], report: Report) -> None:
    """``conntrack -D -w <zone>`` for both families: the connections of ports whose rules are gone."""
    for port_id, zone in zones:
        for family in CONNTRACK_FAMILIES.values():
            done = host.run(["conntrack", "-D", "-w", str(zone), "-f", family], check=False)
            if done.rc not in (0, NOTHING_DELETED):
                report.errors.append(f"conntrack -D -w {zone} -f {family} exited {done.rc}: {done.stderr.strip()}")
        report.removed.append(f"conntrack zone {zone} (port {port_id})")


def remove_filter(host: Host) -> Report:
    """Cleanup: delete our chains and jumps, and their zones' connections, if neutrino's jump marks them
    as ours (a host without iptables has nothing of ours)."""
    report = Report("iptables")
    saved = {family: host.run([SAVE[family]], check=False) for family in FAMILY_NAMES}
    if any(result.rc == MISSING_PROGRAM for result in saved.values()):
        return report
    for result in saved.values():
        if result.rc != 0:
            report.errors.append(f"iptables-save exited {result.rc}: {result.stderr.strip()}")
            return report
    observed = observed_from({family: result.stdout for family, result in saved.items()})
    if observed.is_marked:
        apply_filter_changes(host, filter_changes_for((), observed), report)
    return report


# --- br_netfilter ----------------------------------------------------------------------------------

def read_bridge_netfilter(host: Host) -> dict[str, str]:
    """The bridge-nf-call sysctls; if they do not exist, br_netfilter is loaded first (``modprobe``).
    Raises Unsupported, with both reasons, when the kernel cannot give bridged frames to iptables."""
    read = host.run(["sysctl", "-n", *BRIDGE_NETFILTER], check=False)
    if read.rc != 0:
        loaded = host.run(["modprobe", "br_netfilter"], check=False)
        read = host.run(["sysctl", "-n", *BRIDGE_NETFILTER], check=False)
        if read.rc != 0:
            raise Unsupported(
                "firewall_driver iptables_hybrid needs br_netfilter (bridged frames through iptables), and this "
                f"kernel has none: sysctl: {read.stderr.strip()}; modprobe br_netfilter: "
                f"{loaded.stderr.strip() or f'exited {loaded.rc}'}")
    return dict(zip(BRIDGE_NETFILTER, read.stdout.split(), strict=True))


def ensure_bridge_netfilter(host: Host, report: Report) -> None:
    values = read_bridge_netfilter(host)
    wrong = [key for key, value in values.items() if value != "1"]
    if wrong:
        host.run(["sysctl", "-qw", *(f"{key}=1" for key in wrong)])
        report.changed += [f"sysctl {key} {values[key]} -> 1" for key in wrong]
