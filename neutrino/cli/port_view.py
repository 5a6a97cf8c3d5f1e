"""What ``neutrino show port`` says about one port, as a value, and how it is printed (pure: no I/O).

``port_view_for`` takes the agent's own inputs and outputs (API state, host plan, and what the host
holds) and returns a ``PortView``: the port's binding, its security groups, each of their rules in
words with its resolved remote, the flows (driver openvswitch) or iptables rules (iptables_hybrid)
that realize the rule on this port, and the port's anti-spoofing pairs and fixed entries. Each entry
is marked installed, missing, different (same match, other actions) or unknown (not read). A remote
group rule of the OVS driver is a conjunction: its entries are the port's clause and the accept flows
(the rule's own, with its packet counts), and apart from them the members' clauses it shares with the
other rules naming the group on the port's local VLAN.
``render_port`` prints it for people (rich markup), ``port_json`` for machines.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from enum import StrEnum

from rich.text import Text

from neutrino.model.resources import Port, SecurityGroup, SecurityGroupRule
from neutrino.model.state import ApiState
from neutrino.plan import firewall as fw
from neutrino.plan import iptables_firewall, ovs_firewall
from neutrino.plan.host_plan import FilterRule, Flow, HostPlan
from neutrino.plan.tables import DEAD_VLAN
from neutrino.realize.openflow import desired_flow, parse_flow_line

FlowKey = tuple[int, int, frozenset]  # InstalledFlow.key


class Mark(StrEnum):
    INSTALLED = "installed"
    MISSING = "missing"
    DIFFERENT = "different"  # the switch holds this match with other actions
    UNKNOWN = "unknown"  # the host could not be read


@dataclass(frozen=True)
class Installed:
    """What the host holds. ``flows``: br-int's flows by key -> (actions, n_packets); ``filter_rules``:
    (family, table, chain, rule) of every iptables rule read back. None: could not be read."""

    flows: dict[FlowKey, tuple[str, int | None]] | None = None
    filter_rules: frozenset[tuple[int, str, str, str]] | None = None


@dataclass(frozen=True)
class Entry:
    """One flow or iptables rule of the plan, and whether the host holds it."""

    kind: str  # "flow" or "iptables"
    text: str
    mark: Mark
    packets: int | None = None
    installed_actions: str = ""  # Mark.DIFFERENT: what the switch holds instead
    note: str = ""


@dataclass(frozen=True)
class RuleView:
    rule_id: str
    group: str  # "web (sg-id)"
    words: str  # "ingress IPv4 tcp 22"
    remote: str  # "from 10.0.0.0/24", "from members of default (sg-id)", "to anywhere"
    cidrs: tuple[str, ...] = ()  # the resolved remote addresses (remote group members)
    note: str = ""  # why the rule admits nothing, if it does not
    entries: tuple[Entry, ...] = ()
    members: tuple[Entry, ...] = ()  # openvswitch, remote group: the members' clauses of its conjunction


@dataclass(frozen=True)
class Binding:
    host: str  # this host
    bound_to: str  # the port's binding:host_id
    status: str  # ACTIVE or DOWN as this host reports it; "" when the port is not this host's
    device: str | None = None
    ofport: int | None = None
    local_vlan: int | None = None  # DEAD_VLAN when parked
    reason: str = ""


@dataclass(frozen=True)
class PortView:
    port_id: str
    name: str
    network: str
    mac: str
    addresses: tuple[str, ...]
    binding: Binding
    driver: str
    filtering: str  # firewall.Filtering value, or "not here" / "off"
    filtering_reason: str
    groups: tuple[str, ...] = ()
    rules: tuple[RuleView, ...] = ()
    pairs: tuple[fw.MacIpPair, ...] = ()
    spoofing: tuple[Entry, ...] = ()  # the entries enforcing the pairs
    fixed: tuple[Entry, ...] = ()  # the port's other entries: dispatch, ARP/ND/DHCP, conntrack, fallback
    counts: dict[str, int] = field(default_factory=dict)  # Mark -> how many entries


# --- reading what the host printed -----------------------------------------------------------------------

_PACKETS = re.compile(r"\bn_packets=(\d+)")


def flows_from_dump(text: str) -> dict[FlowKey, tuple[str, int | None]]:
    """``ovs-ofctl dump-flows BR --names`` (with stats) -> flow key -> (actions, n_packets)."""
    flows = {}
    for line in text.splitlines():
        flow = parse_flow_line(line)
        if flow is not None:
            packets = _PACKETS.search(line)
            flows[flow.key] = (flow.actions, int(packets.group(1)) if packets else None)
    return flows


def filter_rules_from(chains: Iterable, jumps: Iterable) -> frozenset[tuple[int, str, str, str]]:
    """(family, table, chain, rule) of every rule iptables holds in our chains and every jump into them
    (``realize.iptables.ObservedFilter``'s chains and jumps)."""
    return frozenset([(c.family, c.table, c.name, rule) for c in chains for rule in c.rules]
                     + [(j.family, j.table, j.chain, j.rule) for j in jumps])


def find_port_id(state: ApiState, name_or_id: str) -> str:
    """A port by id, name or id prefix (each must be unique); LookupError says why not."""
    if name_or_id in state.ports:
        return name_or_id
    for found in ([p.id for p in state.ports.values() if p.name == name_or_id],
                  [p for p in state.ports if p.startswith(name_or_id)]):
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            raise LookupError(f"{len(found)} ports match {name_or_id!r}: {', '.join(sorted(found))}")
    raise LookupError(f"no port with id or name {name_or_id!r}")


# --- building ----------------------------------------------------------------------------------------

def port_view_for(state: ApiState, plan: HostPlan, driver: str, bridge: str, port_id: str,
                  installed: Installed) -> PortView:
    port = state.ports[port_id]
    firewall = next((f for f in plan.firewalls if f.port_id == port_id), None)
    filtering, filtering_reason = _filtering_of(driver, firewall)
    enforced = firewall is not None and firewall.is_filtered and firewall.ofport is not None
    groups = [state.security_groups[g] for g in sorted(set(port.security_groups)) if g in state.security_groups]
    members = fw.members_for(state)
    conj_ids = ovs_firewall.conjunction_ids_for(list(plan.firewalls)) if driver == "openvswitch" else {}
    rules = tuple(_rule_view(rule, group, state, members, plan, driver, bridge, firewall if enforced else None,
                             installed, conj_ids)
                  for group in groups for rule in sorted(group.rules, key=lambda r: r.id))
    spoofing = _entries_of(plan, f"anti-spoofing:{port_id}", installed)
    fixed = _entries_of(plan, f"port:{port_id}", installed)
    counts: dict[str, int] = {}
    for entry in [e for r in rules for e in (*r.entries, *r.members)] + list(spoofing) + list(fixed):
        counts[entry.mark.value] = counts.get(entry.mark.value, 0) + 1
    network = state.networks.get(port.network_id)
    return PortView(
        port_id=port.id, name=port.name, network=_label(network.name if network else "", port.network_id),
        mac=port.mac_address, addresses=tuple(f.ip_address for f in port.fixed_ips),
        binding=binding_for(port, plan), driver=driver, filtering=filtering, filtering_reason=filtering_reason,
        groups=tuple(_group_label(g) for g in groups)
        + tuple(f"{g} (not in the API)" for g in port.security_groups if g not in state.security_groups),
        rules=rules, pairs=firewall.pairs if firewall else (), spoofing=spoofing, fixed=fixed, counts=counts,
    )


def binding_for(port: Port, plan: HostPlan) -> Binding:
    """How this host holds the port: bound on a local VLAN, parked on the dead VLAN, or not at all."""
    found = plan.port_states.get(port.id)
    if found is not None and found.local_vlan is not None:
        return Binding(plan.host, port.host_id, found.status, found.device, _ofport(plan, port.id),
                       found.local_vlan, found.reason)
    device = (found.device if found is not None else None) or \
        next((p.name for p in plan.ports if p.source == f"port:{port.id}"), None)
    if device in plan.parked:
        return Binding(plan.host, port.host_id, found.status if found else "", device, None, DEAD_VLAN,
                       plan.parked[device])
    if found is not None:
        return Binding(plan.host, port.host_id, found.status, reason=found.reason)
    elsewhere = f"bound to host {port.host_id!r}" if port.host_id else "not bound to any host"
    return Binding(plan.host, port.host_id, "", reason=f"{elsewhere}, and not plugged here: "
                                                     "run neutrino show on the host it is bound to")


def _ofport(plan: HostPlan, port_id: str) -> int | None:
    return next((f.ofport for f in plan.firewalls if f.port_id == port_id), None)


def _filtering_of(driver: str, firewall: fw.PortFirewall | None) -> tuple[str, str]:
    if driver == "noop":
        return "off", "firewall_driver noop: nothing is filtered on this host"
    if firewall is None:
        return "not here", "the port is not bound and plugged on this host: nothing of it is installed here"
    if firewall.is_filtered and firewall.ofport is None:
        return firewall.filtering.value, f"{firewall.reason}; no ofport yet: everything to it is dropped"
    return firewall.filtering.value, firewall.reason


def _rule_view(rule: SecurityGroupRule, group: SecurityGroup, state: ApiState, members: fw.Members, plan: HostPlan,
               driver: str, bridge: str, firewall: fw.PortFirewall | None, installed: Installed,
               conj_ids: dict[str, int]) -> RuleView:
    template = fw.allow_template_for(rule)
    allows = fw.allows_for_rule(rule, group, state.security_groups)
    words = fw.describe(template) if template else f"{rule.direction} {rule.ethertype} {rule.protocol}"
    remote, cidrs, note = _remote_of(rule, template, allows, members, state)
    shared: tuple[Entry, ...] = ()
    if firewall is None:
        entries: tuple[Entry, ...] = ()
    elif driver == "openvswitch":
        entries = _rule_flow_entries(rule.id, firewall, allows, plan, bridge, installed, conj_ids.get(rule.id))
        shared = _member_clause_entries(firewall, allows, plan, bridge, installed, conj_ids.get(rule.id))
    else:
        chains = {iptables_firewall.chain_name(letter, firewall.port_id) for letter in "io"}
        entries = tuple(_filter_entry(r, installed) for r in plan.filter_rules
                        if r.source == rule.id and r.chain in chains)
    return RuleView(rule.id, _group_label(group), words, remote, cidrs, note, entries, shared)


def _remote_of(rule: SecurityGroupRule, template: fw.Allow | None, allows: list[fw.Allow], members: fw.Members,
               state: ApiState) -> tuple[str, tuple[str, ...], str]:
    where = "from" if rule.direction == "ingress" else "to"
    if template is None:
        return "", (), "the rule cannot be parsed: it admits nothing"
    if rule.remote_group_id:
        remote = state.security_groups.get(rule.remote_group_id)
        label = _group_label(remote) if remote else f"{rule.remote_group_id} (not in the API)"
        cidrs = tuple(one.remote_cidr for allow in allows for one in fw.resolved(allow, members) if one.remote_cidr)
        note = "" if cidrs else f"the group has no {template.ethertype.value} member: the rule admits nothing"
        return f"{where} members of {label}", cidrs, note
    if rule.remote_ip_prefix:
        note = "" if allows else f"{rule.remote_ip_prefix} is not an {template.ethertype.value} prefix: " \
                                 "the rule admits nothing"
        return f"{where} {allows[0].remote_cidr if allows else rule.remote_ip_prefix}", (), note
    return f"{where} anywhere", (), ""


def _rule_flow_entries(rule_id: str, firewall: fw.PortFirewall, allows: list[fw.Allow], plan: HostPlan,
                       bridge: str, installed: Installed, conj_id: int | None) -> tuple[Entry, ...]:
    """The rule's flows on this port, from the same function the plan uses; a flow that another rule
    also asks for is installed once, under the first rule (``ovs_firewall.unique``; a conjunction
    clause of two rules carries both conjunctions)."""
    planned = {flow.key: flow for flow in plan.flows_of(bridge)}
    entries = []
    for allow in allows:
        if allow.remote_group_id is not None and conj_id is None:
            continue  # not planned on this host (the port has no ofport yet)
        for flow in ovs_firewall.allow_flows_for(bridge, firewall, allow, conj_id):
            owner = planned.get(flow.key)
            note = f"the same flow as rule {owner.source}'s" if owner is not None and owner.source != rule_id else ""
            entries.append(_flow_entry(owner or flow, installed, note))
    return tuple(entries)


def _member_clause_entries(firewall: fw.PortFirewall, allows: list[fw.Allow], plan: HostPlan, bridge: str,
                           installed: Installed, conj_id: int | None) -> tuple[Entry, ...]:
    """The members' clauses of a remote group rule's conjunctions on the port's local VLAN (those naming
    one of its conjunction ids: a member of two remote groups has one flow for both)."""
    if conj_id is None or not allows or allows[0].remote_group_id is None:
        return ()
    wanted = {f"conjunction({conj_id + n},1/2)" for n in (0, 1)}
    vlan = f"reg6={firewall.local_vlan:#x}"
    return tuple(_flow_entry(flow, installed) for flow in plan.flows_of(bridge)
                 if flow.source.startswith("remote-group:") and vlan in flow.match.split(",")
                 and any(w in flow.actions for w in wanted))


def _entries_of(plan: HostPlan, source: str, installed: Installed) -> tuple[Entry, ...]:
    flows = tuple(_flow_entry(flow, installed) for flow in plan.flows if flow.source == source)
    return flows + tuple(_filter_entry(rule, installed) for rule in plan.filter_rules if rule.source == source)


def _flow_entry(flow: Flow, installed: Installed, note: str = "") -> Entry:
    text = flow_text(flow)
    if installed.flows is None:
        return Entry("flow", text, Mark.UNKNOWN, note=note)
    held = installed.flows.get(desired_flow(flow).key)
    if held is None:
        return Entry("flow", text, Mark.MISSING, note=note)
    actions, packets = held
    if actions != flow.actions:
        return Entry("flow", text, Mark.DIFFERENT, packets, actions, note)
    return Entry("flow", text, Mark.INSTALLED, packets, note=note)


def _filter_entry(rule: FilterRule, installed: Installed) -> Entry:
    text = f"{'ip6tables' if rule.family == 6 else 'iptables'} -t {rule.table} {rule.text()}"
    if installed.filter_rules is None:
        return Entry("iptables", text, Mark.UNKNOWN)
    held = (rule.family, rule.table, rule.chain, rule.rule) in installed.filter_rules
    return Entry("iptables", text, Mark.INSTALLED if held else Mark.MISSING)


def flow_text(flow: Flow) -> str:
    """As ``ovs-ofctl dump-flows --no-stats`` prints it, without the cookie."""
    match = f",{flow.match}" if flow.match else ""
    return f"table={flow.table}, priority={flow.priority}{match} actions={flow.actions}"


def _group_label(group: SecurityGroup) -> str:
    return _label(group.name, group.id)


def _label(name: str, identifier: str) -> str:
    return f"{name} ({identifier})" if name else identifier


# --- printing ------------------------------------------------------------------------------------------

MARKS = {Mark.INSTALLED: ("✓", "green"), Mark.MISSING: ("✗", "bold red"), Mark.DIFFERENT: ("≠", "yellow"),
         Mark.UNKNOWN: ("?", "dim")}


def render_port(view: PortView) -> Text:
    """The view for people: one section per part, every entry with its mark."""
    out = Text()
    out.append("port ", "bold").append(view.port_id, "bold cyan")
    out.append(f' "{view.name}"' if view.name else "").append(f"  network {view.network}\n")
    out.append(f"  mac {view.mac}  addresses {', '.join(view.addresses) or 'none'}\n")
    out.append("binding   ", "bold").append_text(_binding_text(view.binding)).append("\n")
    out.append("firewall  ", "bold").append(f"{view.driver}: ").append(
        view.filtering_reason or view.filtering, _filtering_style(view)).append("\n")
    out.append("groups    ", "bold").append(", ".join(view.groups) or "none").append("\n")
    if view.counts:
        out.append("entries   ", "bold").append(_counts_text(view)).append("\n")
    out.append("\nrules\n", "bold")
    if not view.rules:
        out.append("  none: the port's groups have no rules (everything but replies is dropped)\n", "dim")
    for rule in view.rules:
        out.append_text(_rule_text(rule))
    out.append("\nanti-spoofing", "bold").append(": the port may send from\n" if view.pairs else ": none\n")
    for pair in view.pairs:
        out.append(f"  {pair.mac} {pair.cidr}", "cyan").append(f"  ({pair.reason})\n", "dim")
    for entry in view.spoofing:
        out.append_text(_entry_text(entry))
    out.append_text(_fixed_text(view.fixed))
    return out


def _binding_text(binding: Binding) -> Text:
    text = Text()
    if binding.local_vlan == DEAD_VLAN:
        text.append(f"{binding.status or 'DOWN'} ", "bold red").append(
            f"{binding.device} parked on dead VLAN {DEAD_VLAN}: {binding.reason}")
    elif binding.local_vlan is not None:
        ofport = f" (ofport {binding.ofport})" if binding.ofport is not None else ""
        text.append(f"{binding.status} ", "bold green").append(
            f"on {binding.host}: {binding.device}{ofport}, local VLAN {binding.local_vlan}")
    else:
        text.append(f"{binding.status or 'not here'} ", "bold yellow").append(binding.reason)
    return text


def _filtering_style(view: PortView) -> str:
    return "green" if view.filtering == fw.Filtering.FILTERED.value else "yellow"


def _counts_text(view: PortView) -> str:
    """'54 installed, 1 missing': over every flow or iptables rule of the port."""
    return ", ".join(f"{view.counts[mark]} {mark}" for mark in Mark if mark in view.counts)


def _rule_text(rule: RuleView) -> Text:
    text = Text("  ")
    text.append(rule.words, "bold").append(f" {rule.remote}")
    if rule.cidrs:
        text.append(": " + ", ".join(rule.cidrs), "cyan")
    text.append(f"   rule {rule.rule_id} · {rule.group}\n", "dim")
    if rule.note:
        text.append(f"    {rule.note}\n", "yellow")
    for entry in rule.entries:
        text.append_text(_entry_text(entry))
    if rule.members:
        held = sum(e.mark is Mark.INSTALLED for e in rule.members)
        text.append(f"    members' clauses, shared on this local VLAN: {held} of {len(rule.members)} installed\n",
                    "dim")
        for entry in rule.members:
            if entry.mark is not Mark.INSTALLED:
                text.append_text(_entry_text(entry, "      "))
    return text


def _entry_text(entry: Entry, indent: str = "    ") -> Text:
    symbol, style = MARKS[entry.mark]
    text = Text(indent).append(f"{symbol} ", style)
    if entry.mark in (Mark.MISSING, Mark.DIFFERENT):
        text.append(f"{entry.mark.value}: ", style)
    text.append(entry.text)
    if entry.packets is not None:
        text.append(f"  n_packets={entry.packets}", "magenta")
    if entry.installed_actions:
        text.append(f"  (the switch holds actions={entry.installed_actions})", "yellow")
    if entry.note:
        text.append(f"  ({entry.note})", "dim")
    return text.append("\n")


def _fixed_text(entries: tuple[Entry, ...]) -> Text:
    """The port's fixed entries: a count, and each one that is not installed as planned."""
    text = Text("\nfixed entries", style="bold")
    if not entries:
        return text.append(": none\n")
    installed = sum(e.mark is Mark.INSTALLED for e in entries)
    text.append(f": {installed} of {len(entries)} installed (dispatch, ARP/ND/DHCP, conntrack, fallback)\n")
    for entry in entries:
        if entry.mark is not Mark.INSTALLED:
            text.append_text(_entry_text(entry, "  "))
    return text


def port_json(view: PortView) -> dict:
    """The view as JSON-ready data (every entry included)."""
    return asdict(view)
