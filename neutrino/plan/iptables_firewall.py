"""PortFirewall -> Neutron's ``iptables_hybrid`` layout (``firewall_driver = "iptables_hybrid"``), as data.

Each instance port is plugged as tap -> Linux bridge ``qbr`` <- veth ``qvb``/``qvo`` -> br-int, and
br_netfilter shows the bridged frames to iptables, matched with ``physdev`` on the tap. Chains are
Neutron's, wrapped with the agent binary's prefix (``neutron-openvswi-``, 16 characters) and an
11-character suffix (direction letter + 10 characters of the port id):

    FORWARD -> neutron-openvswi-FORWARD -> neutron-openvswi-sg-chain -> -i<id> (to the VM) / -o<id> (from it)
    INPUT   -> neutron-openvswi-INPUT   -> -o<id> (from the VM to the host itself)
    -o<id> -> -s<id> (anti-spoofing: source IP and MAC), DHCP client / no DHCP server / no RA
    -i<id>, -o<id>: base allows, invalid dropped, replies and related pass, the rules (RETURN),
                    then neutron-openvswi-sg-fallback (DROP); sg-chain ends in ACCEPT
    raw PREROUTING -> neutron-openvswi-PREROUTING: ``-j CT --zone Z``, one zone per port (>= 4097)

Every rule carries ``-m comment``: a security group rule's id, or Neutron's words for its fixed rules,
so a packet dropped or passed can be traced to what decided it. Remote groups are one rule per member
CIDR (no ipsets). Two differences from Neutron's driver make both drivers behave alike: established
connections are not waved through before the rules (only replies ``--ctdir REPLY`` and related are),
so removing a rule cuts what it admitted without a conntrack flush, as the OVS firewall does; and the
fixed ICMPv6 allows are the OVS firewall's ``BASE_RULES``. iptables never sees ARP, so ARP and MAC
spoofing are stopped in br-int by Neutron's tables 24/25 (``spoofing_flows_for``).

Conntrack zones: a zone must not change under a live port (its connections would be lost), so the
zones in use are a host fact (``HostFacts.conntrack_zones``, read back from the raw table as Neutron's
``_populate_initial_zone_map`` does); a port keeps its zone, and a new one gets the next zone above the
highest in use (Neutron's choice, which keeps a just-freed zone and its stale entries unused longest),
new ports taken in port id order. Without facts the numbering is the same function of sorted port ids.
"""

from __future__ import annotations

from functools import lru_cache

from neutrino.model import names
from neutrino.plan.firewall import (
    ICMP,
    ICMPV6,
    Allow,
    BaseRule,
    Direction,
    Ethertype,
    Filtering,
    Own,
    PortFirewall,
    Verdict,
    address_or_network,
)
from neutrino.plan.host_plan import FilterRule, Flow, HybridPlug
from neutrino.plan.tables import Table

BINARY = "neutron-openvswi"  # neutron-openvswitch-agent cut to 16 characters, as iptables_manager wraps
CHAIN_SUFFIX = 11
FORWARD, INPUT, PREROUTING = f"{BINARY}-FORWARD", f"{BINARY}-INPUT", f"{BINARY}-PREROUTING"
SG_CHAIN, FALLBACK = f"{BINARY}-sg-chain", f"{BINARY}-sg-fallback"
ZONE_START, ZONE_MAX = 4097, 65535  # Neutron's per-port zones; below 4097 are local VLANs' zones
SHARED = "firewall"
# Protocol names as iptables-save prints them (netbase /etc/protocols); others print as numbers.
IPTABLES_PROTOCOLS = {
    1: "icmp", 2: "igmp", 4: "ipencap", 6: "tcp", 8: "egp", 17: "udp", 33: "dccp", 41: "ipv6",
    43: "ipv6-route", 44: "ipv6-frag", 46: "rsvp", 47: "gre", 50: "esp", 51: "ah", 58: "ipv6-icmp",
    59: "ipv6-nonxt", 60: "ipv6-opts", 89: "ospf", 112: "vrrp", 132: "sctp", 136: "udplite",
}
PORT_MATCH_MODULES = {"tcp": "tcp", "udp": "udp", "sctp": "sctp", "dccp": "dccp"}  # udplite: multiport only
UNSPECIFIED_ICMPV6 = (131, 135, 143)  # MLD report, NS, MLDv2 report from :: (duplicate address detection)
# Neutron's own comments (neutron/agent/linux/iptables_comments.py).
VM_INT_SG = "Direct traffic from the VM interface to the security group chain."
SG_TO_VM_SG = "Jump to the VM specific chain."
INPUT_TO_SG = "Direct incoming traffic from VM to the security group chain."
PAIR_ALLOW = "Allow traffic from defined IP/MAC pairs."
PAIR_DROP = "Drop traffic without an IP/MAC allow rule."
UNMATCHED = "Send unmatched traffic to the fallback chain."
UNMATCH_DROP = "Default drop rule for unmatched traffic."
INVALID_DROP = "Drop packets that conntrack finds invalid."
REPLY_ALLOW = "Direct replies of an allowed connection to the RETURN chain."
RELATED_ALLOW = "Direct packets related to an allowed connection to the RETURN chain."
PORT_SEC_ACCEPT = "Accept all packets when port security is disabled."
TRUSTED_ACCEPT = "Accept all packets when port is trusted."
IPV6_ICMP_ALLOW = "Allow IPv6 ICMP traffic."
# Ours, where Neutron writes none.
WRAPPED = "neutrino: security group chains"
SG_ACCEPT = "Accept what the port chains returned."
PAIR_CHECK = "Check the source against the IP/MAC pairs of the port."


def chain_name(direction_letter: str, port_id: str) -> str:
    """``neutron-openvswi-i2c3e7b4f-a``: i ingress, o egress, s anti-spoofing."""
    return f"{BINARY}-{(direction_letter + port_id)[:CHAIN_SUFFIX]}"


def hybrid_plugs_for(firewalls: list[PortFirewall]) -> list[HybridPlug]:
    """The qbr/qvb/qvo trio every instance port needs (network:* ports plug straight into br-int)."""
    return [HybridPlug(f.port_id, names.tap_name(f.port_id), names.hybrid_bridge_name(f.port_id),
                       names.hybrid_bridge_veth_name(f.port_id), names.hybrid_ovs_veth_name(f.port_id),
                       f"port:{f.port_id}", "iptables_hybrid: the instance's tap sits in a Linux bridge "
                                            "so br_netfilter can filter it; qvo is its port on br-int")
            for f in firewalls if f.filtering is not Filtering.TRUSTED]


def conntrack_zones_for(port_ids: list[str], in_use: dict[str, int]) -> dict[str, int]:
    """A conntrack zone per port: the one it uses now, else the next above the highest in use."""
    zones: dict[str, int] = {}
    taken: set[int] = set()
    for port_id in sorted(set(port_ids)):
        zone = in_use.get(port_id)
        if zone is not None and ZONE_START <= zone <= ZONE_MAX and zone not in taken:
            zones[port_id] = zone
            taken.add(zone)
    for port_id in sorted(set(port_ids) - set(zones)):
        zones[port_id] = _next_zone(taken)
        taken.add(zones[port_id])
    return zones


def filter_rules_for(firewalls: list[PortFirewall], zones: dict[str, int]) -> list[FilterRule]:
    """Every rule of both families, in the order iptables must hold them."""
    rules = []
    for family in (4, 6):
        rules += _shared_rules_for(family)
        filtered = [f for f in firewalls if f.is_filtered]
        for firewall in filtered:
            rules += _jump_rules_for(family, firewall)
        rules.append(_rule(family, "filter", SG_CHAIN, _commented(SG_ACCEPT, "-j ACCEPT"),
                           "what the port chains returned is accepted"))
        for firewall in firewalls:
            rules += _unfiltered_rules_for(family, firewall)
        for firewall in filtered:
            rules += _port_chains_for(family, firewall, zones[firewall.port_id])
    return rules


# A pure function of frozen values, remembered as ovs_firewall's port flows are: each pass asks again for
# every port, and a rule change alters the chains of its group's ports only.
@lru_cache(maxsize=1024)
def _port_chains_for(family: int, firewall: PortFirewall, zone: int) -> tuple[FilterRule, ...]:
    """A filtered port's zone rules, then its ingress, egress and anti-spoofing chains."""
    return (*_zone_rules_for(family, firewall, zone), *_ingress_chain_for(family, firewall),
            *_egress_chain_for(family, firewall), *_spoof_chain_for(family, firewall))


def restore_text_for(rules: list[FilterRule], family: int) -> str:
    """``iptables-restore --noflush`` input for our chains of one family: each chain is declared (so
    emptied) and refilled in one commit per table. Jumps from built-in chains are left to the realizer
    to ensure once, since re-appending them would duplicate them."""
    out = []
    for table in ("raw", "filter"):
        own = [r for r in rules if r.family == family and r.table == table and r.chain.startswith(BINARY)]
        if not own:
            continue
        out.append(f"*{table}")
        out += [f":{chain} - [0:0]" for chain in dict.fromkeys(r.chain for r in own)]
        out += [r.text() for r in own]
        out.append("COMMIT")
    return "".join(line + "\n" for line in out)


def spoofing_flows_for(bridge: str, firewalls: list[PortFirewall]) -> list[Flow]:
    """br-int's share of the hybrid driver (Neutron's ``setup_arp_spoofing_protection``): iptables
    sees no ARP, so an instance's ARP and neighbour advertisements must name its own IPs (table 24) and
    its frames carry its own MACs (table 25). A filtered port not plugged through its qvo cannot be
    filtered by iptables at all, so its traffic is dropped."""
    flows = [Flow(bridge, Table.ARP_SPOOF, 0, "", "drop", SHARED, "ARP/NA naming an address not the sender's"),
             Flow(bridge, Table.MAC_SPOOF, 0, "", "drop", SHARED, "frame from a MAC not the sender's")]
    for firewall in (f for f in firewalls if f.is_filtered):
        if firewall.device != names.hybrid_ovs_veth_name(firewall.port_id):
            flows += _unplumbed_flows_for(bridge, firewall)
        else:
            flows += _port_spoofing_flows_for(bridge, firewall)
    return flows


def _port_spoofing_flows_for(bridge: str, firewall: PortFirewall) -> list[Flow]:
    port, source = f"in_port={firewall.device}", f"anti-spoofing:{firewall.port_id}"
    words = f"port {firewall.port_id} ({firewall.device})"
    flows = [
        Flow(bridge, Table.LOCAL_SWITCHING, 10, f"arp,{port}", f"resubmit(,{Table.ARP_SPOOF})", source,
             f"{words}: its ARP is checked"),
        Flow(bridge, Table.LOCAL_SWITCHING, 10, f"icmp6,{port},icmp_type=136", f"resubmit(,{Table.ARP_SPOOF})",
             source, f"{words}: its neighbour advertisements are checked"),
        Flow(bridge, Table.LOCAL_SWITCHING, 9, port, f"resubmit(,{Table.MAC_SPOOF})", source,
             f"{words}: its source MAC is checked"),
    ]
    for pair in firewall.pairs:
        if pair.ethertype is Ethertype.IPV4:
            match = _join("arp", port, _ovs_address("arp_spa", pair.cidr))
        else:
            match = _join("icmp6", port, "icmp_type=136", _ovs_address("nd_target", pair.cidr))
        flows.append(Flow(bridge, Table.ARP_SPOOF, 2, match, f"resubmit(,{Table.MAC_SPOOF})", source,
                          f"{words} may claim {pair.cidr} ({pair.reason})"))
    flows += [Flow(bridge, Table.MAC_SPOOF, 2, f"{port},dl_src={mac}", f"resubmit(,{Table.TRANSIENT})",
                   source, f"{words} may send from {mac}") for mac in firewall.macs]
    return flows


def _unplumbed_flows_for(bridge: str, firewall: PortFirewall) -> list[Flow]:
    reason = (f"port {firewall.port_id} is plugged as {firewall.device}, not through "
              f"{names.hybrid_ovs_veth_name(firewall.port_id)}: iptables cannot filter it, so it is cut off")
    source = f"port:{firewall.port_id}"
    return [Flow(bridge, Table.LOCAL_SWITCHING, 10, f"in_port={firewall.device}", "drop", source, reason),
            *(Flow(bridge, Table.TRANSIENT, 90, f"dl_dst={mac}", "drop", source, reason) for mac in firewall.macs)]


def _shared_rules_for(family: int) -> list[FilterRule]:
    return [
        _rule(family, "filter", "FORWARD", _commented(WRAPPED, f"-j {FORWARD}"),
              "bridged instance traffic enters the security group chains"),
        _rule(family, "filter", "INPUT", _commented(WRAPPED, f"-j {INPUT}"),
              "instance traffic to the host enters the security group chains"),
        _rule(family, "raw", "PREROUTING", _commented(WRAPPED, f"-j {PREROUTING}"),
              "instance traffic gets its port's conntrack zone"),
        _rule(family, "filter", FALLBACK, _commented(UNMATCH_DROP, "-j DROP"), "nothing admitted it: dropped"),
    ]


def _jump_rules_for(family: int, firewall: PortFirewall) -> list[FilterRule]:
    tap, source = names.tap_name(firewall.port_id), f"port:{firewall.port_id}"
    to_vm, from_vm = _physdev("out", tap), _physdev("in", tap)
    ingress, egress = chain_name("i", firewall.port_id), chain_name("o", firewall.port_id)
    return [
        _rule(family, "filter", FORWARD, f"{to_vm} {_commented(VM_INT_SG, f'-j {SG_CHAIN}')}", "to the instance",
              source),
        _rule(family, "filter", FORWARD, f"{from_vm} {_commented(VM_INT_SG, f'-j {SG_CHAIN}')}",
              "from the instance", source),
        _rule(family, "filter", SG_CHAIN, f"{to_vm} {_commented(SG_TO_VM_SG, f'-j {ingress}')}",
              "its ingress chain", source),
        _rule(family, "filter", SG_CHAIN, f"{from_vm} {_commented(SG_TO_VM_SG, f'-j {egress}')}",
              "its egress chain", source),
        _rule(family, "filter", INPUT, f"{from_vm} {_commented(INPUT_TO_SG, f'-j {egress}')}",
              "what it sends to the host itself", source),
    ]


def _unfiltered_rules_for(family: int, firewall: PortFirewall) -> list[FilterRule]:
    if firewall.is_filtered:
        return []
    comment = TRUSTED_ACCEPT if firewall.filtering is Filtering.TRUSTED else PORT_SEC_ACCEPT
    tap, source = names.tap_name(firewall.port_id), f"port:{firewall.port_id}"
    rules = [_rule(family, "filter", FORWARD, f"{_physdev(way, tap)} {_commented(comment, '-j ACCEPT')}",
                   firewall.reason, source) for way in ("out", "in")]
    if firewall.filtering is Filtering.PORT_SECURITY_DISABLED:
        rules.append(_rule(family, "filter", INPUT, f"{_physdev('in', tap)} {_commented(comment, '-j ACCEPT')}",
                           firewall.reason, source))
    return rules


def _zone_rules_for(family: int, firewall: PortFirewall, zone: int) -> list[FilterRule]:
    comment = f"Set zone for {firewall.port_id}"
    qvb, tap = names.hybrid_bridge_veth_name(firewall.port_id), names.tap_name(firewall.port_id)
    return [_rule(family, "raw", PREROUTING, f"{match} {_commented(comment, f'-j CT --zone {zone}')}",
                  f"port {firewall.port_id}'s connections are tracked in zone {zone}", f"port:{firewall.port_id}")
            for match in (f"-m physdev --physdev-in {qvb}", f"-i {qvb}", f"-m physdev --physdev-in {tap}")]


def _ingress_chain_for(family: int, firewall: PortFirewall) -> list[FilterRule]:
    chain = chain_name("i", firewall.port_id)
    rules = [rule for base in firewall.base_rules if base.direction is Direction.INGRESS
             for rule in _base_rules_for(family, firewall, chain, base)]
    return rules + _rules_chain_for(family, firewall, chain, Direction.INGRESS)


def _egress_chain_for(family: int, firewall: PortFirewall) -> list[FilterRule]:
    chain, source = chain_name("o", firewall.port_id), f"port:{firewall.port_id}"
    rules = [rule for base in firewall.base_rules if base.own is Own.SOURCE_OR_UNSPECIFIED
             for rule in _base_rules_for(family, firewall, chain, base, unspecified=True)]
    if family == 6:
        rules += [_rule(6, "filter", chain, "-s ::/128 -d ff02::/16 -p ipv6-icmp -m icmp6 --icmpv6-type "
                        f"{kind} {_commented(IPV6_ICMP_ALLOW, '-j RETURN')}",
                        "duplicate address detection from the unspecified address", source)
                  for kind in UNSPECIFIED_ICMPV6]
    rules.append(_rule(family, "filter", chain, _commented(PAIR_CHECK, f"-j {chain_name('s', firewall.port_id)}"),
                       "only its own MAC/IP pairs get further", f"anti-spoofing:{firewall.port_id}"))
    rules += [rule for base in firewall.base_rules if base.direction is Direction.EGRESS
              for rule in _base_rules_for(family, firewall, chain, base)]
    return rules + _rules_chain_for(family, firewall, chain, Direction.EGRESS)


def _rules_chain_for(family: int, firewall: PortFirewall, chain: str, direction: Direction) -> list[FilterRule]:
    """Invalid dropped; replies and related pass; the allows; the fallback."""
    source, words = f"port:{firewall.port_id}", f"port {firewall.port_id} {direction.value}"
    ethertype = Ethertype.IPV4 if family == 4 else Ethertype.IPV6
    return [
        _rule(family, "filter", chain, _commented(INVALID_DROP, "-m conntrack --ctstate INVALID", "-j DROP"),
              f"{words}: invalid per conntrack", source),
        _rule(family, "filter", chain,
              _commented(REPLY_ALLOW, "-m conntrack --ctstate ESTABLISHED --ctdir REPLY", "-j RETURN"),
              f"{words}: replies of an allowed connection pass", source),
        _rule(family, "filter", chain, _commented(RELATED_ALLOW, "-m conntrack --ctstate RELATED", "-j RETURN"),
              f"{words}: packets related to an allowed connection pass", source),
        *(_rule(family, "filter", chain, _commented(allow.source, *_allow_args(allow), "-j RETURN"),
                allow.reason, allow.source)
          for allow in firewall.allows if allow.direction is direction and allow.ethertype is ethertype),
        _rule(family, "filter", chain, _commented(UNMATCHED, f"-j {FALLBACK}"),
              f"{words}: no rule admits it", source),
    ]


def _spoof_chain_for(family: int, firewall: PortFirewall) -> list[FilterRule]:
    chain, source = chain_name("s", firewall.port_id), f"anti-spoofing:{firewall.port_id}"
    ethertype = Ethertype.IPV4 if family == 4 else Ethertype.IPV6
    rules = [_rule(family, "filter", chain, _commented(PAIR_ALLOW, *_address_args("-s", pair.cidr),
                                                       f"-m mac --mac-source {pair.mac}", "-j RETURN"),
                   f"port {firewall.port_id} may send from {pair.mac} {pair.cidr} ({pair.reason})", source)
             for pair in firewall.pairs_of(ethertype)]
    rules.append(_rule(family, "filter", chain, _commented(PAIR_DROP, "-j DROP"),
                       f"port {firewall.port_id}: any other source MAC/IP is spoofed", source))
    return rules


def _base_rules_for(family: int, firewall: PortFirewall, chain: str, base: BaseRule,
                    unspecified: bool = False) -> list[FilterRule]:
    """A base rule in a port chain; ``unspecified``: its DHCP-discover form before the spoof check."""
    if base.ethertype not in (Ethertype.IPV4, Ethertype.IPV6) or (base.ethertype is Ethertype.IPV4) != (family == 4):
        return []  # ARP is not IP: br-int's tables 24/25 check it
    target = "-j DROP" if base.verdict is Verdict.DROP else "-j RETURN"
    protocol = IPTABLES_PROTOCOLS[base.protocol]
    prefix = ["-s 0.0.0.0/32 -d 255.255.255.255/32"] if unspecified else []
    if base.icmp_types:
        kinds = [f"-m icmp6 --icmpv6-type {kind}" for kind in base.icmp_types]
    else:
        kinds = [f"-m {protocol} --sport {base.source_port} --dport {base.dest_port}"]
    return [_rule(family, "filter", chain, _commented(base.reason, *prefix, f"-p {protocol}", kind, target),
                  f"port {firewall.port_id}: {base.reason}", f"port:{firewall.port_id}") for kind in kinds]


def _allow_args(allow: Allow) -> list[str]:
    """An Allow as iptables-save prints it: -s/-d, -p, then the protocol's port or ICMP match."""
    side = "-s" if allow.direction is Direction.INGRESS else "-d"
    args = _address_args(side, allow.remote_cidr)
    if not allow.protocol:  # no protocol, or 0: iptables reads "-p 0" as any protocol
        return args
    protocol = IPTABLES_PROTOCOLS.get(allow.protocol, str(allow.protocol))
    args.append(f"-p {protocol}")
    if allow.icmp_type is not None and allow.protocol in (ICMP, ICMPV6):
        code = f"/{allow.icmp_code}" if allow.icmp_code is not None else ""
        module, option = ("icmp", "--icmp-type") if allow.protocol == ICMP else ("icmp6", "--icmpv6-type")
        args.append(f"-m {module} {option} {allow.icmp_type}{code}")
    elif allow.port_min is not None:
        args.append(_port_args(protocol, allow.port_min, allow.port_max))
    return args


def _port_args(protocol: str, low: int, high: int) -> str:
    module = PORT_MATCH_MODULES.get(protocol)
    if module is None:
        return f"-m multiport --dports {low}" + (f":{high}" if high != low else "")
    if low == high:
        return f"-m {module} --dport {low}"
    return f"-m {module} -m multiport --dports {low}:{high}"


def _address_args(option: str, cidr: str | None) -> list[str]:
    """``-s 10.0.0.5/32``; nothing for any address (iptables drops a /0 match)."""
    return [] if cidr is None or cidr.endswith("/0") else [f"{option} {cidr}"]


def _ovs_address(field: str, cidr: str) -> str:
    """``arp_spa=10.0.0.5``; nothing for a /0 pair, which disables the address check, as in Neutron."""
    value = address_or_network(cidr)
    return f"{field}={value}" if value else ""


def _physdev(way: str, device: str) -> str:
    return f"-m physdev --physdev-{way} {device} --physdev-is-bridged"


def _commented(comment: str, *args: str) -> str:
    """Matches, then ``-m comment``, then the target (the last argument), as iptables-save orders them;
    the comment is quoted only when it has a space, as iptables-save prints it."""
    text = f'"{comment}"' if " " in comment else comment
    return " ".join([*args[:-1], f"-m comment --comment {text}", args[-1]])


def _rule(family: int, table: str, chain: str, rule: str, reason: str, source: str = SHARED) -> FilterRule:
    return FilterRule(family, table, chain, rule, source, reason)


def _join(*parts: str) -> str:
    return ",".join(part for part in parts if part)


def _next_zone(taken: set[int]) -> int:
    """The zone above the highest taken; after 65535, the lowest free one."""
    candidate = max(taken, default=ZONE_START - 1) + 1
    if candidate <= ZONE_MAX:
        return candidate
    return next(zone for zone in range(ZONE_START, ZONE_MAX + 1) if zone not in taken)
