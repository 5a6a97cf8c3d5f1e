"""PortFirewall -> Neutron's native OVS firewall (``firewall_driver = "openvswitch"``) as br-int flows.

The layout, tables and registers are Neutron's (neutron agent/linux/openvswitch_firewall): reg5 holds
the port's ofport, reg6 its network's local VLAN, which is also the conntrack zone. Port 7 below is
``tapX`` on local VLAN 5:

    60 p100 in_port=tapX                       -> reg5=7, reg6=5, 71   (what the port sends)
    60 p90  dl_vlan=5,dl_dst=<mac>             -> reg5=7, reg6=5, strip_vlan, 81   (to it, from outside)
    71      anti-spoofing, ARP/ND/DHCP (BASE_RULES), then ct(table=72) for its own (MAC, IP) pairs
    72      egress rules (p70-77) -> 73; replies/related -> 94; else -> 93 (dropped)
    73 p100 reg6=5,dl_dst=<mac of a firewalled port here> -> reg5=<its ofport>, 81  (receiver's ingress)
    73 p90  new connection -> ct(commit), 91 -> 94 NORMAL
    81      ARP/ND/DHCP to the port, then ct(table=82)
    82      ingress rules (p70-77) -> output:tapX (new: ct(commit) too); replies/related -> output; else 93

Stateful: a new connection is committed to conntrack when a rule admits it; replies and related
packets pass on ``ct_state=+est-rel+rpl`` / ``-new-est+rel-inv`` with ``ct_mark=0``. Established
packets in the original direction are matched against the rules again on every packet
(``ct_state=+est-rel-rpl`` rule flows): when no rule admits them any more, table 72/82 priority 40
commits ``ct_mark=1`` and the priority-50 ``ct_mark=0x1`` flows drop both directions from then on. So
removing a rule cuts what it admitted without a conntrack flush, and adding one disturbs nothing.

Frames from ports on br-int that are not filtered. A local access port's frames carry no VLAN tag in
the OpenFlow pipeline (its tag is implicit until NORMAL outputs them), so ``60 p90 dl_vlan=5,...``
never sees them, and the ``60 p1 NORMAL`` default would deliver a qr- or DHCP port's frames straight
to the instance, around its ingress rules. Hence, as Neutron does for trusted and port-security-off
ports, every such port bound here gets its own dispatch into table 73, whose p100 flow hands frames for
a firewalled MAC to that port's ingress pipeline (ofport 9 = qr-Y, ofport 7 = tapX, MAC of tapX = M):

    60 p100 in_port=qr-Y                   -> load:0x9->NXM_NX_REG5[],load:0x5->NXM_NX_REG6[],resubmit(,73)
    73 p100 reg6=0x5,dl_dst=M              -> load:0x7->NXM_NX_REG5[],resubmit(,81)
    73 p80  reg5=0x9                       -> resubmit(,94)      (anything else: NORMAL)

And for a port the plan does not know at all (no iface-id, so no ofport or VLAN to load), unicast to a
firewalled MAC is dropped rather than switched around the firewall:

    60 p90  vlan_tci=0x0000/0x1fff,dl_dst=M -> drop

Broadcast and multicast are switched by NORMAL without the receivers' ingress pipeline, as in
Neutron. Driver ``noop`` produces no flows here: table 60 stays plain NORMAL.

Remote groups, as Neutron does them: with conjunctive matches, so that the flows grow with ports plus
members, not ports times members. A rule "ingress from members of G" of port 7 (rule R, conjunction
ids 2c and 2c+1: for established and for new connections) is two clauses and an accept:

    82 p70 ct_state=+new-est,ip,reg6=0x5,nw_src=<member of G>  -> conjunction(2c+1,1/2),...  (each member)
    82 p70 ct_state=+new-est,ip,reg5=0x7                       -> conjunction(2c+1,2/2)  (the port, the
                                                                  rule's protocol and ports)
    82 p70 conj_id=2c+1,ct_state=+new-est,ip,reg5=0x7          -> ct(commit),output:tapX  (what the rule
                                                                  admits; carries the rule id)

The member clauses are shared by every port on local VLAN 5 whose rules name G in that direction, with
that ethertype and priority (one ``conjunction`` action per such rule), so a membership change adds or
removes only those. Conjunction ids are a pure function of the rule ids on this host (``conjunction_ids_for``):
one pair per rule, so the accept flow and its counters belong to exactly one rule.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import replace
from functools import lru_cache
from hashlib import blake2b

from neutrino.plan.firewall import (
    ICMP,
    ICMP_PROTOCOLS,
    ICMPV6,
    SCTP,
    TCP,
    UDP,
    Allow,
    BaseRule,
    Direction,
    Ethertype,
    Members,
    Own,
    PortFirewall,
    Verdict,
    address_or_network,
)
from neutrino.plan.host_plan import Flow
from neutrino.plan.tables import Table

REG_PORT = "NXM_NX_REG5[]"
REG_NET = "NXM_NX_REG6[]"
ZONE = "zone=NXM_NX_REG6[0..15]"
CT_COMMIT = f"ct(commit,{ZONE})"
CT_MARK_NO_LONGER_ALLOWED = f"ct(commit,{ZONE},exec(load:0x1->NXM_NX_CT_MARK[]))"
# Connection states as Neutron matches them (and ovs-ofctl prints them).
NEW = "+new-est"
ESTABLISHED_NOT_REPLY = "+est-rel-rpl"
ESTABLISHED_REPLY = "+est-rel+rpl"
RELATED = "-new-est+rel-inv"
INVALID = "+inv+trk"
RULE_PRIORITY = 70  # + Neutron's offset: +4 unless a remote group, +1..3 for how much protocol it names
UNTAGGED = "vlan_tci=0x0000/0x1fff"
SHARED = "firewall"
PORT_FIELDS = {TCP: "tp_dst", UDP: "tp_dst", SCTP: "tp_dst"}  # OpenFlow matches no dccp/udplite ports
_PLAIN_NAME = re.compile(r"[A-Za-z][A-Za-z0-9]*")  # a port name ovs-ofctl prints without quotes
CONNECTION_STATES = (ESTABLISHED_NOT_REPLY, NEW)  # a rule's flows, in this order; conjunction id + 0, + 1
CONJUNCTION_SLOTS = 2**31 - 2  # id pairs 2..2**32-3: never 0, the conj_id of every packet outside a conjunction
_CONJUNCTION = re.compile(r"conjunction\((\d+),(\d)/2\)")


def flows_for(bridge: str, firewalls: list[PortFirewall], members: Members | None = None) -> list[Flow]:
    """Every firewall flow of br-int: the shared ones, each port's, then the remote groups' member
    clauses (``members``: ``firewall.members_for``; none: remote groups admit nothing), one flow per match."""
    conj_ids = conjunction_ids_for(firewalls)
    flows = shared_flows_for(bridge)
    for firewall in firewalls:
        flows += port_flows_for(bridge, firewall, conj_ids)
    flows += remote_group_flows_for(bridge, firewalls, members or {}, conj_ids)
    return unique(flows)


def conjunction_ids_for(firewalls: list[PortFirewall]) -> dict[str, int]:
    """Rule id -> the even conjunction id of each remote group rule of a port filtered here (the odd one
    after it is for new connections). A hash of the rule id, so that it stays as long as the rule does;
    two rules in one slot (rare: 2**31 slots) are told apart in rule id order."""
    rule_ids = sorted({allow.source for firewall in firewalls if firewall.is_filtered and firewall.ofport is not None
                       for allow in firewall.allows if allow.remote_group_id is not None})
    ids, taken = {}, set()
    for rule_id in rule_ids:
        slot = int.from_bytes(blake2b(rule_id.encode(), digest_size=4).digest(), "big") % CONJUNCTION_SLOTS
        while slot in taken:
            slot = (slot + 1) % CONJUNCTION_SLOTS
        taken.add(slot)
        ids[rule_id] = 2 * (slot + 1)
    return ids


def shared_flows_for(bridge: str) -> list[Flow]:
    def flow(table: Table, priority: int, match: str, actions: str, reason: str) -> Flow:
        return Flow(bridge, table, priority, match, actions, SHARED, reason)

    drops = [flow(table, 0, "", "drop", f"{table.name.lower()}: nothing matched, dropped")
             for table in (Table.BASE_EGRESS, Table.RULES_EGRESS, Table.ACCEPT_OR_INGRESS,
                           Table.BASE_INGRESS, Table.RULES_INGRESS, Table.ACCEPTED_INGRESS_TRAFFIC,
                           Table.DROPPED_TRAFFIC)]
    return drops + [
        flow(Table.BASE_EGRESS, 110, "ct_state=+trk", f"ct_clear,resubmit(,{Table.BASE_EGRESS})",
             "forget conntrack state from an earlier lookup before the sender's own"),
        flow(Table.RULES_EGRESS, 50, f"ct_state={INVALID}", _to(Table.DROPPED_TRAFFIC), "invalid per conntrack"),
        flow(Table.RULES_INGRESS, 50, f"ct_state={INVALID}", _to(Table.DROPPED_TRAFFIC), "invalid per conntrack"),
        flow(Table.ACCEPTED_EGRESS_TRAFFIC, 1, "", _to(Table.ACCEPTED_EGRESS_TRAFFIC_NORMAL),
             "accepted egress is switched normally"),
        flow(Table.ACCEPTED_EGRESS_TRAFFIC_NORMAL, 1, "", "NORMAL", "accepted traffic is switched normally"),
    ]


def port_flows_for(bridge: str, firewall: PortFirewall, conj_ids: dict[str, int] | None = None) -> list[Flow]:
    """The port's own flows; ``conj_ids`` (``conjunction_ids_for`` of every port here) number its remote
    group rules' conjunctions (by default: as if it were the only port)."""
    ids = conjunction_ids_for([firewall]) if conj_ids is None else conj_ids
    return list(_port_flows_for(bridge, firewall, tuple((allow.source, ids[allow.source])
                                                        for allow in firewall.allows if allow.remote_group_id
                                                        and firewall.is_filtered and firewall.ofport is not None)))


# A pure function of frozen values, remembered: each pass asks again for every port, and a port whose
# firewall did not change (nearly all, when one rule changes) gets its ~75 flows without rebuilding them.
# ~50 kB per port: the bound holds some 25 MB.
@lru_cache(maxsize=512)
def _port_flows_for(bridge: str, firewall: PortFirewall, conj_ids: tuple[tuple[str, int], ...]) -> tuple[Flow, ...]:
    if firewall.ofport is None:
        return tuple(_not_ready_flows_for(bridge, firewall))
    if not firewall.is_filtered:
        return tuple(_unfiltered_flows_for(bridge, firewall))
    ids = dict(conj_ids)
    rule_flows = [flow for allow in firewall.allows
                  for flow in allow_flows_for(bridge, firewall, allow, ids.get(allow.source))]
    return (*_dispatch_flows_for(bridge, firewall), *_egress_base_flows_for(bridge, firewall),
            *_connection_flows_for(bridge, firewall, Direction.EGRESS),
            *_accept_or_ingress_flows_for(bridge, firewall), *_ingress_base_flows_for(bridge, firewall),
            *_connection_flows_for(bridge, firewall, Direction.INGRESS), *merge_conjunctions(rule_flows))


def allow_flows_for(bridge: str, firewall: PortFirewall, allow: Allow, conj_id: int | None = None) -> list[Flow]:
    """The rule flows of one Allow: original-direction packets of new and established connections. A
    remote group's Allow needs its ``conj_id`` (``conjunction_ids_for``): its flows are the port's
    clause of the conjunction and the accept flows (``remote_group_flows_for`` has the members' clause)."""
    table = Table.RULES_INGRESS if allow.direction is Direction.INGRESS else Table.RULES_EGRESS
    priority = RULE_PRIORITY + priority_offset(allow)
    reason = allow.reason
    if allow.port_min is not None and allow.protocol not in PORT_FIELDS:
        reason += " (OpenFlow cannot match this protocol's ports: the whole protocol is admitted, as in Neutron)"
    if allow.remote_group_id is not None:
        if conj_id is None:
            raise ValueError(f"rule {allow.source} names a remote group: its flows need a conjunction id")
        return _conjunction_flows_for(bridge, firewall, allow, conj_id, reason)
    flows = []
    for match in _allow_matches(firewall, allow):
        for state in CONNECTION_STATES:
            flows.append(Flow(bridge, table, priority, f"ct_state={state},{match}",
                              _accept(firewall, allow.direction, state), allow.source, reason))
    return flows


def remote_group_flows_for(bridge: str, firewalls: list[PortFirewall], members: Members,
                           conj_ids: dict[str, int]) -> list[Flow]:
    """The members' clause of every remote group rule of the ports here: per local VLAN, direction,
    ethertype, remote group and priority, two flows per member address (established, new), each with
    one ``conjunction`` action per rule of those ports that names the group so. An address in two such
    groups is one flow with the conjunctions of both (as Neutron merges them)."""
    wanted: dict[tuple, set[int]] = defaultdict(set)
    for firewall in firewalls:
        if not firewall.is_filtered or firewall.ofport is None:
            continue
        for allow in firewall.allows:
            if allow.remote_group_id is not None:
                key = (firewall.local_vlan, allow.direction, allow.ethertype, allow.remote_group_id,
                       RULE_PRIORITY + priority_offset(allow))
                wanted[key].add(conj_ids[allow.source])
    flows: list[Flow] = []
    for key in sorted(wanted):
        vlan, direction, ethertype, group_id, priority = key
        flows += _member_flows_for(bridge, vlan, direction, ethertype, group_id, priority,
                                   members.get((group_id, ethertype), ()), tuple(sorted(wanted[key])))
    return merge_conjunctions(flows)


def merge_conjunctions(flows: list[Flow]) -> list[Flow]:
    """One flow per (table, priority, match), the first kept; two flows of conjunction clauses with the
    same match (two rules naming the same protocol and ports) become one with both actions."""
    merged: dict[tuple, Flow] = {}
    for flow in flows:
        held = merged.get(flow.key)
        if held is None:
            merged[flow.key] = flow
        elif _CONJUNCTION.match(held.actions) and _CONJUNCTION.match(flow.actions):
            merged[flow.key] = replace(held, actions=_conjunction_actions(held.actions, flow.actions),
                                       reason=f"{held.reason}; and for {flow.source}")
    return list(merged.values())


def priority_offset(allow: Allow) -> int:
    """Neutron's ``flow_priority_offset``: +4 unless a remote group; +1 ICMP with no type, +2 ICMP with
    a type, +3 anything else naming a protocol."""
    offset = 0 if allow.remote_group_id else 4
    if allow.protocol is None:
        return offset
    if allow.protocol in ICMP_PROTOCOLS and allow.icmp_type is None:
        return offset + 1
    if allow.protocol in ICMP_PROTOCOLS and allow.icmp_code is None:
        return offset + 2
    return offset + 3


def port_masks(low: int, high: int) -> list[str]:
    """A port range as the fewest value/mask matches: 1000-1999 -> 0x3e8/0xfff8, ... (Neutron's
    ``port_rule_masking``); a single port stays a number."""
    masks = []
    while low <= high:
        size = 1
        while low % (size * 2) == 0 and low + size * 2 - 1 <= high:
            size *= 2
        masks.append(str(low) if size == 1 else f"{low:#x}/{0xFFFF ^ (size - 1):#x}")
        low += size
    return masks


def unique(flows: list[Flow]) -> list[Flow]:
    """One flow per (table, priority, match): the first wins (two rules may admit the same packets)."""
    seen: dict[tuple, Flow] = {}
    for flow in flows:
        seen.setdefault(flow.key, flow)
    return list(seen.values())


def _dispatch_flows_for(bridge: str, firewall: PortFirewall) -> list[Flow]:
    source, port = f"port:{firewall.port_id}", _port_words(firewall)
    regs = _load_regs(firewall)
    flows = [Flow(bridge, Table.TRANSIENT, 100, f"in_port={firewall.device}",
                  f"{regs},resubmit(,{Table.BASE_EGRESS})", source, f"{port}: what it sends is filtered")]
    for mac in firewall.macs:
        flows += [
            Flow(bridge, Table.TRANSIENT, 90, f"dl_vlan={firewall.local_vlan},dl_dst={mac}",
                 f"{regs},strip_vlan,resubmit(,{Table.BASE_INGRESS})", source,
                 f"{port}: frames to {mac} from outside br-int's local ports go through its ingress rules"),
            Flow(bridge, Table.TRANSIENT, 90, f"{UNTAGGED},dl_dst={mac}", "drop", source,
                 f"{port}: {mac} from a br-int port the firewall does not know would bypass its ingress rules"),
            Flow(bridge, Table.ACCEPT_OR_INGRESS, 100, f"reg6={firewall.local_vlan:#x},dl_dst={mac}",
                 f"load:{firewall.ofport:#x}->{REG_PORT},resubmit(,{Table.BASE_INGRESS})", source,
                 f"{port}: accepted traffic from a port on this host to {mac} meets its ingress rules"),
        ]
    return flows


def _egress_base_flows_for(bridge: str, firewall: PortFirewall) -> list[Flow]:
    flows = [flow for rule in firewall.base_rules if rule.direction is Direction.EGRESS
             for flow in _egress_base_rule_flows_for(bridge, firewall, rule)]
    for pair in firewall.pairs:
        ip, address = ("ip", "nw_src") if pair.ethertype is Ethertype.IPV4 else ("ipv6", "ipv6_src")
        match = _join(ip, _port_match(firewall), f"dl_src={pair.mac}", _address_match(address, pair.cidr))
        flows.append(Flow(bridge, Table.BASE_EGRESS, 65, match, f"ct(table={Table.RULES_EGRESS},{ZONE})",
                          f"anti-spoofing:{firewall.port_id}",
                          f"{_port_words(firewall)} may send IP from {pair.mac} {pair.cidr} ({pair.reason})"))
    flows.append(Flow(bridge, Table.BASE_EGRESS, 10, _port_match(firewall),
                      f"ct_clear,resubmit(,{Table.DROPPED_TRAFFIC})", f"anti-spoofing:{firewall.port_id}",
                      f"{_port_words(firewall)}: any other source MAC/IP or protocol is spoofed or not allowed"))
    return flows


def _egress_base_rule_flows_for(bridge: str, firewall: PortFirewall, rule: BaseRule) -> list[Flow]:
    """Neutron's table-71 flows: drops at p70 -> 93; DHCP clients at p80 -> 73; ARP/RARP/ICMPv6 at p95 -> 94."""
    if rule.verdict is Verdict.DROP:
        priority, actions = 70, _to(Table.DROPPED_TRAFFIC)
    elif rule.protocol == UDP:
        priority, actions = 80, _to(Table.ACCEPT_OR_INGRESS)
    else:
        priority, actions = 95, _to(Table.ACCEPTED_EGRESS_TRAFFIC_NORMAL)
    source = f"port:{firewall.port_id}" if rule.own is Own.ANY else f"anti-spoofing:{firewall.port_id}"
    reason = f"{_port_words(firewall)}: {rule.reason}"
    return [Flow(bridge, Table.BASE_EGRESS, priority, _join(match, _port_match(firewall)), actions, source, reason)
            for match in _base_rule_matches(firewall, rule)]


def _ingress_base_flows_for(bridge: str, firewall: PortFirewall) -> list[Flow]:
    reg, source, port = f"reg5={firewall.ofport:#x}", f"port:{firewall.port_id}", _port_words(firewall)
    flows = [Flow(bridge, Table.BASE_INGRESS, 95 if rule.protocol == UDP else 100, _join(match, reg),
                  _output(firewall), source, f"{port}: {rule.reason}")
             for rule in firewall.base_rules if rule.direction is Direction.INGRESS
             for match in _base_rule_matches(firewall, rule)]
    for ip in ("ip", "ipv6"):
        flows.append(Flow(bridge, Table.BASE_INGRESS, 90, f"ct_state=-trk,{ip},{reg}",
                          f"ct(table={Table.RULES_INGRESS},{ZONE})", source,
                          f"{port}: look up the connection of what it receives"))
    flows.append(Flow(bridge, Table.BASE_INGRESS, 80, f"ct_state=+trk,{reg}", _to(Table.RULES_INGRESS),
                      source, f"{port}: already looked up (handed over from a sender on this host)"))
    return flows


def _connection_flows_for(bridge: str, firewall: PortFirewall, direction: Direction) -> list[Flow]:
    """Tables 72/82 apart from the rules: replies and related pass, connections that no rule admits any
    longer are marked and dropped, anything else is dropped."""
    table = Table.RULES_INGRESS if direction is Direction.INGRESS else Table.RULES_EGRESS
    passed = _output(firewall) if direction is Direction.INGRESS else _to(Table.ACCEPTED_EGRESS_TRAFFIC_NORMAL)
    reg, zone = f"reg5={firewall.ofport:#x}", f"ct_zone={firewall.local_vlan}"
    source, port = f"port:{firewall.port_id}", f"{_port_words(firewall)} {direction.value}"
    return [
        Flow(bridge, table, 50, f"ct_mark=0x1,{reg}", _to(Table.DROPPED_TRAFFIC), source,
             f"{port}: a connection no rule admits any more is cut, both ways"),
        Flow(bridge, table, 50, f"ct_state={ESTABLISHED_REPLY},{zone},ct_mark=0,{reg}", passed, source,
             f"{port}: replies of an allowed connection pass"),
        Flow(bridge, table, 50, f"ct_state={RELATED},{zone},ct_mark=0,{reg}", passed, source,
             f"{port}: packets related to an allowed connection pass"),
        Flow(bridge, table, 40, f"ct_state=-est,{reg}", _to(Table.DROPPED_TRAFFIC), source,
             f"{port}: no rule admits this new connection"),
        *(Flow(bridge, table, 40, f"ct_state=+est,{ip},{reg}", CT_MARK_NO_LONGER_ALLOWED, source,
               f"{port}: no rule admits this established connection any more: mark it for dropping")
          for ip in ("ip", "ipv6")),
    ]


def _accept_or_ingress_flows_for(bridge: str, firewall: PortFirewall) -> list[Flow]:
    reg, source, port = f"reg5={firewall.ofport:#x}", f"port:{firewall.port_id}", _port_words(firewall)
    return [
        *(Flow(bridge, Table.ACCEPT_OR_INGRESS, 90, f"ct_state={NEW},{ip},{reg}",
               f"{CT_COMMIT},resubmit(,{Table.ACCEPTED_EGRESS_TRAFFIC})", source,
               f"{port}: commit the new connection its rules allowed") for ip in ("ip", "ipv6")),
        Flow(bridge, Table.ACCEPT_OR_INGRESS, 80, reg, _to(Table.ACCEPTED_EGRESS_TRAFFIC_NORMAL), source,
             f"{port}: allowed egress is switched normally"),
    ]


def _unfiltered_flows_for(bridge: str, firewall: PortFirewall) -> list[Flow]:
    source, port = f"port:{firewall.port_id}", _port_words(firewall)
    return [
        Flow(bridge, Table.TRANSIENT, 100, f"in_port={firewall.device}",
             f"{_load_regs(firewall)},resubmit(,{Table.ACCEPT_OR_INGRESS})", source,
             f"{port}: {firewall.reason}; what it sends still meets a firewalled receiver's ingress rules"),
        Flow(bridge, Table.ACCEPT_OR_INGRESS, 80, f"reg5={firewall.ofport:#x}",
             _to(Table.ACCEPTED_EGRESS_TRAFFIC_NORMAL), source, f"{port}: {firewall.reason}"),
    ]


def _not_ready_flows_for(bridge: str, firewall: PortFirewall) -> list[Flow]:
    """No ofport yet (or OVS could not open the device): nothing can be loaded into reg5, so frames to
    a filtered port are dropped until it has one."""
    if not firewall.is_filtered:
        return []
    reason = f"{_port_words(firewall)} has no ofport yet: dropped until its firewall can be installed"
    return [Flow(bridge, Table.TRANSIENT, 90, match, "drop", f"port:{firewall.port_id}", reason)
            for mac in firewall.macs
            for match in (f"dl_vlan={firewall.local_vlan},dl_dst={mac}", f"{UNTAGGED},dl_dst={mac}")]


def _base_rule_matches(firewall: PortFirewall, rule: BaseRule) -> list[str]:
    """One match per address the rule insists on (none: one match)."""
    if rule.ethertype is Ethertype.ARP:
        if rule.own is Own.ANY:
            return ["arp"]
        return [_join("arp", f"dl_src={pair.mac}", _address_match("arp_spa", pair.cidr))
                for pair in firewall.pairs_of(Ethertype.IPV4)]
    if rule.ethertype is Ethertype.RARP:
        return [f"rarp,dl_src={mac}" for mac in firewall.macs]
    head = _protocol_match(rule.ethertype, rule.protocol)
    if rule.icmp_types:
        kinds = [f"icmp_type={icmp_type}" for icmp_type in rule.icmp_types]
    else:
        kinds = [f"tp_src={rule.source_port},tp_dst={rule.dest_port}"]
    return [_join(head, address, kind) for address in _own_addresses(firewall, rule) for kind in kinds]


def _own_addresses(firewall: PortFirewall, rule: BaseRule) -> list[str]:
    if rule.own is Own.ANY:
        return [""]
    field = "nw_src" if rule.ethertype is Ethertype.IPV4 else "ipv6_src"
    pairs = [(pair.mac, pair.cidr) for pair in firewall.pairs_of(rule.ethertype)]
    if rule.own is Own.TARGET:
        return [_address_match("nd_target", cidr) for _, cidr in pairs]
    if rule.own is Own.SOURCE_OR_UNSPECIFIED:
        pairs.append((firewall.mac, "0.0.0.0/32"))
    return [_join(f"dl_src={mac}", _address_match(field, cidr)) for mac, cidr in pairs]


def _conjunction_flows_for(bridge: str, firewall: PortFirewall, allow: Allow, conj_id: int,
                           reason: str) -> list[Flow]:
    """A remote group rule on one port: its clause (the port, protocol and ports) and its accept flows."""
    table = Table.RULES_INGRESS if allow.direction is Direction.INGRESS else Table.RULES_EGRESS
    priority = RULE_PRIORITY + priority_offset(allow)
    ip = "ip" if allow.ethertype is Ethertype.IPV4 else "ipv6"
    flows = [Flow(bridge, table, priority, f"ct_state={state},{match}", _conjunction(conj_id + n, 2), allow.source,
                  f"{reason}: clause 2 of conjunction {conj_id + n}, {_port_words(firewall)} and the rule's "
                  "protocol and ports")
             for match in _allow_matches(firewall, allow) for n, state in enumerate(CONNECTION_STATES)]
    flows += [Flow(bridge, table, priority, f"conj_id={conj_id + n},ct_state={state},{ip},reg5={firewall.ofport:#x}",
                   _accept(firewall, allow.direction, state), allow.source,
                   f"{reason}: admitted when both clauses of conjunction {conj_id + n} match")
              for n, state in enumerate(CONNECTION_STATES)]
    return flows


# Pure, and asked again on every pass with equal arguments; one entry per member clause set.
@lru_cache(maxsize=1024)
def _member_flows_for(bridge: str, vlan: int, direction: Direction, ethertype: Ethertype, group_id: str,
                      priority: int, cidrs: tuple[str, ...], conj_ids: tuple[int, ...]) -> tuple[Flow, ...]:
    table = Table.RULES_INGRESS if direction is Direction.INGRESS else Table.RULES_EGRESS
    v4 = ethertype is Ethertype.IPV4
    field = {Direction.INGRESS: "nw_src" if v4 else "ipv6_src", Direction.EGRESS: "nw_dst" if v4 else "ipv6_dst"}
    where = "from" if direction is Direction.INGRESS else "to"
    return tuple(
        Flow(bridge, table, priority,
             _join(f"ct_state={state}", "ip" if v4 else "ipv6", f"reg6={vlan:#x}", _address_match(field[direction], cidr)),
             ",".join(_conjunction(conj_id + n, 1) for conj_id in conj_ids), f"remote-group:{group_id}",
             f"clause 1 of conjunctions {', '.join(str(c + n) for c in conj_ids)}: {direction.value} {ethertype.value} "
             f"{where} {cidr}, a member of security group {group_id}, on local VLAN {vlan}")
        for cidr in cidrs for n, state in enumerate(CONNECTION_STATES))


def _conjunction(conj_id: int, clause: int) -> str:
    return f"conjunction({conj_id},{clause}/2)"


def _conjunction_actions(*actions: str) -> str:
    """The conjunction actions of several flows as one list, each once, by id."""
    found = {(int(conj_id), int(clause)) for text in actions for conj_id, clause in _CONJUNCTION.findall(text)}
    return ",".join(_conjunction(conj_id, clause) for conj_id, clause in sorted(found))


def _allow_matches(firewall: PortFirewall, allow: Allow) -> list[str]:
    v4 = allow.ethertype is Ethertype.IPV4
    field = {Direction.INGRESS: "nw_src" if v4 else "ipv6_src", Direction.EGRESS: "nw_dst" if v4 else "ipv6_dst"}
    head = _join(_protocol_match(allow.ethertype, allow.protocol), f"reg5={firewall.ofport:#x}",
                 _address_match(field[allow.direction], allow.remote_cidr))
    if allow.icmp_type is not None:
        code = f"icmp_code={allow.icmp_code}" if allow.icmp_code is not None else ""
        return [_join(head, f"icmp_type={allow.icmp_type}", code)]
    if allow.port_min is not None and allow.protocol in PORT_FIELDS:
        return [_join(head, f"{PORT_FIELDS[allow.protocol]}={mask}")
                for mask in port_masks(allow.port_min, allow.port_max)]
    return [head]


def _accept(firewall: PortFirewall, direction: Direction, state: str) -> str:
    if direction is Direction.EGRESS:
        return _to(Table.ACCEPT_OR_INGRESS)  # committed there, unless the receiver is on this host
    if state == NEW:
        return f"{CT_COMMIT},{_output(firewall)},resubmit(,{Table.ACCEPTED_INGRESS_TRAFFIC})"
    return _output(firewall)


def _protocol_match(ethertype: Ethertype, protocol: int | None) -> str:
    """``tcp``, ``udp6``, ``icmp``, ``icmp6``, ``ip``, ``ipv6,nw_proto=50``: the words ovs-ofctl prints."""
    v6 = ethertype is Ethertype.IPV6
    ip = "ipv6" if v6 else "ip"
    if protocol is None:
        return ip
    if protocol in (TCP, UDP, SCTP):
        return {TCP: "tcp", UDP: "udp", SCTP: "sctp"}[protocol] + ("6" if v6 else "")
    if (protocol, v6) in ((ICMP, False), (ICMPV6, True)):
        return "icmp6" if v6 else "icmp"
    return f"{ip},nw_proto={protocol}"


def _address_match(field: str, cidr: str | None) -> str:
    """``nw_src=10.0.0.5`` (a host), ``nw_src=10.0.0.0/24``, or nothing for any address (/0)."""
    value = address_or_network(cidr)
    return f"{field}={value}" if value else ""


def _port_match(firewall: PortFirewall) -> str:
    return f"reg5={firewall.ofport:#x},in_port={firewall.device}"


def _load_regs(firewall: PortFirewall) -> str:
    return f"load:{firewall.ofport:#x}->{REG_PORT},load:{firewall.local_vlan:#x}->{REG_NET}"


def _output(firewall: PortFirewall) -> str:
    """By name, as ovs-ofctl --names prints it back: quoted unless a letter then letters and digits."""
    name = firewall.device
    return f"output:{name}" if _PLAIN_NAME.fullmatch(name) else f'output:"{name}"'


def _to(table: Table) -> str:
    return f"resubmit(,{table})"


def _join(*parts: str) -> str:
    return ",".join(part for part in parts if part)


def _port_words(firewall: PortFirewall) -> str:
    return f"port {firewall.port_id} ({firewall.device})"
