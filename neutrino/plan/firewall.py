"""Security groups -> what each port bound on this host may send and receive, before any driver renders it.

For every port bound and plugged here (the same decision as ``l2.ports_for``) this computes one
``PortFirewall``: the port's device, ofport and local VLAN, its anti-spoofing ``MacIpPair``s (fixed IPs,
allowed address pairs, the EUI-64 link-local address of its MAC) and its allow-list: one ``Allow`` per
security group rule. A rule with a ``remote_group_id`` stays one ``Allow`` naming the group: its
members (``members_for``: every address of the group's ports of the rule's ethertype, across the whole
API state; an empty group admits nothing, as in Neutron) are resolved apart from the ports, so that a
membership change leaves every ``PortFirewall`` as it was. The OVS driver matches them once per remote
group with conjunctions; ``expanded`` gives the iptables driver one ``Allow`` per member address.
Everything not allowed is dropped; replies of allowed connections pass.

``BASE_RULES`` are the allows and drops Neutron adds to every filtered port whatever its groups say:
ARP and neighbour discovery for its own addresses, DHCP/DHCPv6 client traffic, and no DHCP server
replies or IPv6 router advertisements from the instance. ``ovs_firewall`` and ``iptables_firewall``
render the same ``PortFirewall`` for their driver.

Not filtered (``is_filtered`` false, no pairs, no allows): ports with ``port_security_enabled`` false,
and ports whose ``device_owner`` starts with ``network:`` (router and DHCP ports are trusted).
"""

from __future__ import annotations

import ipaddress
from collections import defaultdict
from dataclasses import dataclass, replace
from enum import StrEnum
from functools import lru_cache

from neutrino.model.host_config import HostConfig
from neutrino.model.resources import Port, SecurityGroup, SecurityGroupRule
from neutrino.model.state import ApiState
from neutrino.plan import l2
from neutrino.plan.facts import HostFacts, PluggedPort


class Direction(StrEnum):
    INGRESS = "ingress"  # to the port
    EGRESS = "egress"  # from the port


class Ethertype(StrEnum):
    IPV4 = "IPv4"
    IPV6 = "IPv6"
    ARP = "ARP"  # ARP and RARP appear only in BASE_RULES: no security group rule can name them
    RARP = "RARP"


class Verdict(StrEnum):
    ALLOW = "allow"
    DROP = "drop"


class Filtering(StrEnum):
    FILTERED = "filtered"
    PORT_SECURITY_DISABLED = "port-security-disabled"  # everything passes, no anti-spoofing
    TRUSTED = "trusted"  # a network:* port (router, DHCP): not filtered, as in Neutron


class Own(StrEnum):
    """Which of the port's own addresses a base rule insists on."""

    ANY = "any"
    SOURCE = "source"  # sent from one of its (MAC, IP) pairs
    SOURCE_OR_UNSPECIFIED = "source-or-unspecified"  # ... or from 0.0.0.0 with its MAC (DHCP discover)
    TARGET = "target"  # a neighbour advertisement for one of its IPv6 addresses


ICMP, TCP, UDP, DCCP, ICMPV6, SCTP, UDPLITE = 1, 6, 17, 33, 58, 132, 136
PORT_PROTOCOLS = (TCP, UDP, DCCP, SCTP, UDPLITE)  # a rule's port range is a destination port range
ICMP_PROTOCOLS = (ICMP, ICMPV6)  # a rule's port_range_min/max are the ICMP type/code
ALL_PORTS = (1, 65535)  # Neutron treats 1-65535 as no port range
LINK_LOCAL = ipaddress.IPv6Network("fe80::/64")

# neutron-lib IP_PROTOCOL_MAP, with its alias icmpv6; "any" is no protocol.
PROTOCOL_NUMBERS = {
    "hopopt": 0, "icmp": ICMP, "igmp": 2, "ipip": 4, "tcp": TCP, "egp": 8, "udp": UDP, "dccp": DCCP,
    "ipv6-encap": 41, "ipv6-route": 43, "ipv6-frag": 44, "rsvp": 46, "gre": 47, "esp": 50, "ah": 51,
    "ipv6-icmp": ICMPV6, "icmpv6": ICMPV6, "ipv6-nonxt": 59, "ipv6-opts": 60, "ospf": 89, "vrrp": 112,
    "pgm": 113, "sctp": SCTP, "udplite": UDPLITE,
}
PROTOCOL_NAMES = {number: name for name, number in PROTOCOL_NUMBERS.items() if name != "icmpv6"}


@dataclass(frozen=True)
class MacIpPair:
    """A source an instance may send from: a MAC and an address (``/32``, ``/128``) or a whole CIDR."""

    mac: str
    cidr: str
    reason: str = ""

    @property
    def ethertype(self) -> Ethertype:
        return ethertype_of(self.cidr)


@dataclass(frozen=True)
class Allow:
    """One security group rule for one remote: traffic in ``direction`` that matches everything set here.

    ``remote_cidr`` is the peer (source of ingress, destination of egress); None is any peer, unless
    ``remote_group_id`` names a group: then the peers are its members (``resolved``).
    """

    direction: Direction
    ethertype: Ethertype
    protocol: int | None = None  # IP protocol number; None is any
    port_min: int | None = None  # destination port range (tcp, udp, sctp, dccp, udplite)
    port_max: int | None = None
    icmp_type: int | None = None
    icmp_code: int | None = None
    remote_cidr: str | None = None
    remote_group_id: str | None = None  # the remote group whose members are the peers, if any
    source: str = ""  # the security group rule id
    reason: str = ""


@dataclass(frozen=True)
class BaseRule:
    """An allow or drop Neutron puts on every filtered port, whatever its security groups say."""

    name: str
    direction: Direction
    verdict: Verdict
    ethertype: Ethertype
    own: Own = Own.ANY
    protocol: int | None = None
    source_port: int | None = None
    dest_port: int | None = None
    icmp_types: tuple[int, ...] = ()
    reason: str = ""


_OUT, _IN, _ALLOW, _DROP = Direction.EGRESS, Direction.INGRESS, Verdict.ALLOW, Verdict.DROP
BASE_RULES = (
    BaseRule("arp", _OUT, _ALLOW, Ethertype.ARP, Own.SOURCE, reason="ARP naming one of its own MAC/IP pairs"),
    BaseRule("rarp", _OUT, _ALLOW, Ethertype.RARP, Own.SOURCE, reason="RARP from one of its own MACs"),
    BaseRule("icmpv6-out", _OUT, _ALLOW, Ethertype.IPV6, Own.SOURCE, ICMPV6, icmp_types=(130, 133, 135),
             reason="MLD query, router and neighbour solicitation from its own addresses"),
    BaseRule("neighbour-advertisement", _OUT, _ALLOW, Ethertype.IPV6, Own.TARGET, ICMPV6, icmp_types=(136,),
             reason="neighbour advertisements for its own addresses only"),
    BaseRule("dhcp-client", _OUT, _ALLOW, Ethertype.IPV4, Own.SOURCE_OR_UNSPECIFIED, UDP, 68, 67,
             reason="DHCP client: discover from 0.0.0.0, request and renew from its own address"),
    BaseRule("dhcpv6-client", _OUT, _ALLOW, Ethertype.IPV6, Own.SOURCE, UDP, 546, 547, reason="DHCPv6 client"),
    BaseRule("dhcp-server", _OUT, _DROP, Ethertype.IPV4, Own.ANY, UDP, 67, 68,
             reason="an instance may not answer as a DHCP server"),
    BaseRule("dhcpv6-server", _OUT, _DROP, Ethertype.IPV6, Own.ANY, UDP, 547, 546,
             reason="an instance may not answer as a DHCPv6 server"),
    BaseRule("router-advertisement", _OUT, _DROP, Ethertype.IPV6, Own.ANY, ICMPV6, icmp_types=(134,),
             reason="an instance may not advertise itself as an IPv6 router"),
    BaseRule("arp-in", _IN, _ALLOW, Ethertype.ARP, reason="ARP to the instance"),
    BaseRule("icmpv6-in", _IN, _ALLOW, Ethertype.IPV6, Own.ANY, ICMPV6, icmp_types=(130, 134, 135, 136),
             reason="MLD query, router advertisement, neighbour solicitation and advertisement"),
    BaseRule("dhcp-offer", _IN, _ALLOW, Ethertype.IPV4, Own.ANY, UDP, 67, 68, reason="DHCP server replies"),
    BaseRule("dhcpv6-reply", _IN, _ALLOW, Ethertype.IPV6, Own.ANY, UDP, 547, 546, reason="DHCPv6 server replies"),
)


@dataclass(frozen=True)
class PortFirewall:
    """What one port bound here may send and receive. Filtered ports drop everything else."""

    port_id: str
    device: str  # the OVS port on br-int (tap... or qvo...)
    ofport: int | None
    local_vlan: int
    mac: str
    filtering: Filtering
    pairs: tuple[MacIpPair, ...] = ()
    allows: tuple[Allow, ...] = ()
    reason: str = ""

    @property
    def is_filtered(self) -> bool:
        return self.filtering is Filtering.FILTERED

    @property
    def base_rules(self) -> tuple[BaseRule, ...]:
        return BASE_RULES if self.is_filtered else ()

    @property
    def macs(self) -> tuple[str, ...]:
        """Every MAC the port may use: its own first, then those of its allowed address pairs."""
        return tuple(dict.fromkeys((self.mac, *(pair.mac for pair in self.pairs))))

    def pairs_of(self, ethertype: Ethertype) -> tuple[MacIpPair, ...]:
        return tuple(pair for pair in self.pairs if pair.ethertype is ethertype)


Members = dict[tuple[str, Ethertype], tuple[str, ...]]  # (group id, ethertype) -> member CIDRs


def firewalls_for(state: ApiState, config: HostConfig, facts: HostFacts,
                  local_vlans: dict[str, int]) -> list[PortFirewall]:
    """One PortFirewall for each port bound and plugged on this host, in port id order."""
    allows_of: dict[str, tuple[Allow, ...]] = {}  # a group's Allows are the same for each of its ports
    firewalls = []
    for plugged in l2.bound_ports_for(state, config, facts):
        port = state.ports[plugged.iface_id]
        for group_id in port.security_groups:
            if group_id in state.security_groups and group_id not in allows_of:
                allows_of[group_id] = allows_for_group(state.security_groups[group_id], state.security_groups)
        firewalls.append(port_firewall_for(port, plugged, local_vlans[port.network_id], state.security_groups,
                                           allows_of))
    return sorted(firewalls, key=lambda f: (f.port_id, f.device))


def port_firewall_for(port: Port, plugged: PluggedPort, local_vlan: int, groups: dict[str, SecurityGroup],
                      allows_of: dict[str, tuple[Allow, ...]]) -> PortFirewall:
    """``allows_of``: each of the port's groups' Allows (``allows_for_group``)."""
    mac = port.mac_address.lower()
    common = dict(port_id=port.id, device=plugged.name, ofport=plugged.ofport, local_vlan=local_vlan, mac=mac)
    if port.device_owner.startswith("network:"):
        return PortFirewall(**common, filtering=Filtering.TRUSTED,
                            reason=f"{port.device_owner} port: trusted, not filtered")
    if not port.port_security_enabled:
        return PortFirewall(**common, filtering=Filtering.PORT_SECURITY_DISABLED,
                            reason="port_security_enabled is false: no filtering, no anti-spoofing")
    named = [groups[group_id] for group_id in sorted(set(port.security_groups)) if group_id in groups]
    allows = tuple(allow for group in named for allow in allows_of[group.id])
    labels = ", ".join(_label(group) for group in named) or "no security group"
    return PortFirewall(**common, filtering=Filtering.FILTERED, pairs=pairs_for(port), allows=allows,
                        reason=f"filtered by {labels}")


def pairs_for(port: Port) -> tuple[MacIpPair, ...]:
    """The (MAC, address) pairs the port may send from: fixed IPs, allowed address pairs, link-local."""
    mac = port.mac_address.lower()
    pairs = [MacIpPair(mac, _cidr(fixed.ip_address), f"fixed IP {fixed.ip_address}") for fixed in port.fixed_ips]
    pairs += [MacIpPair((pair.mac_address or mac).lower(), _cidr(pair.ip_address),
                        f"allowed address pair {pair.ip_address}") for pair in port.allowed_address_pairs]
    pairs.append(MacIpPair(mac, f"{link_local_for(mac)}/128", f"IPv6 link-local address of {mac}"))
    unique: dict[tuple[str, str], MacIpPair] = {}
    for pair in pairs:
        unique.setdefault((pair.mac, pair.cidr), pair)
    return tuple(unique.values())


@lru_cache(maxsize=1 << 14)  # pure, and asked for every port on every pass
def link_local_for(mac: str) -> str:
    """The EUI-64 IPv6 link-local address of a MAC: fa:16:3e:aa:bb:cc -> fe80::f816:3eff:feaa:bbcc."""
    octets = [int(part, 16) for part in mac.split(":")]
    octets[0] ^= 0x02  # the universal/local bit is inverted in an interface identifier
    interface_id = bytes(octets[:3] + [0xFF, 0xFE] + octets[3:])
    return str(LINK_LOCAL.network_address + int.from_bytes(interface_id, "big"))


def members_for(state: ApiState) -> Members:
    """(security group id, ethertype) -> the CIDRs of every port in the group (fixed IPs and allowed
    address pairs), across the whole API state, sorted."""
    members: dict[tuple[str, Ethertype], set[str]] = defaultdict(set)
    for port in state.ports.values():
        addresses = [fixed.ip_address for fixed in port.fixed_ips]
        addresses += [pair.ip_address for pair in port.allowed_address_pairs]
        for group_id in port.security_groups:
            for address in addresses:
                cidr = _cidr(address)
                members[(group_id, ethertype_of(cidr))].add(cidr)
    return {key: tuple(sorted(cidrs, key=_network_order)) for key, cidrs in members.items()}


def allows_for_group(group: SecurityGroup, groups: dict[str, SecurityGroup]) -> tuple[Allow, ...]:
    """Every Allow of a group's rules, in rule id order."""
    remotes = sorted({rule.remote_group_id for rule in group.rules if rule.remote_group_id})
    return _allows_for_group(group, tuple((group_id, groups.get(group_id)) for group_id in remotes))


# Remembered: a pass asks again for every group of every port here, and one rule change alters one group.
# What the Allows read of other groups (their names, in the reasons) is part of the key.
@lru_cache(maxsize=4096)
def _allows_for_group(group: SecurityGroup, remotes: tuple[tuple[str, SecurityGroup | None], ...]
                      ) -> tuple[Allow, ...]:
    groups = {group_id: remote for group_id, remote in remotes if remote is not None}
    return tuple(allow for rule in sorted(group.rules, key=lambda r: r.id)
                 for allow in allows_for_rule(rule, group, groups))


def allows_for_rule(rule: SecurityGroupRule, group: SecurityGroup, groups: dict[str, SecurityGroup]) -> list[Allow]:
    """The rule as one Allow for its remote: its prefix, the members of its remote group, or any peer."""
    template = allow_template_for(rule)
    if template is None:
        return []  # the API refuses such a rule; never read what we cannot parse as "any"
    ethertype = template.ethertype
    where = "from" if template.direction is Direction.INGRESS else "to"
    if rule.remote_group_id:
        remote = groups.get(rule.remote_group_id)
        label = _label(remote) if remote else rule.remote_group_id
        return [_with_remote(template, group, rule, None, f"{where} members of {label}", rule.remote_group_id)]
    if rule.remote_ip_prefix:
        cidr = _cidr(rule.remote_ip_prefix)
        if ethertype_of(cidr) is not ethertype:
            return []  # the API refuses this too: an IPv4 rule cannot name an IPv6 prefix
        return [_with_remote(template, group, rule, cidr, f"{where} {cidr}")]
    return [_with_remote(template, group, rule, None, f"{where} anywhere")]


def resolved(allow: Allow, members: Members) -> tuple[Allow, ...]:
    """A remote group's Allow once per member address of its ethertype (none for an empty group); any
    other Allow as it is."""
    if allow.remote_group_id is None:
        return (allow,)
    return tuple(replace(allow, remote_cidr=None if cidr.endswith("/0") else cidr, reason=f"{allow.reason}: {cidr}")
                 for cidr in members.get((allow.remote_group_id, allow.ethertype), ()))


def expanded(firewall: PortFirewall, members: Members) -> PortFirewall:
    """The firewall with each remote group's Allow resolved to its members' addresses (``resolved``)."""
    if not any(allow.remote_group_id for allow in firewall.allows):
        return firewall
    return replace(firewall, allows=tuple(one for allow in firewall.allows for one in resolved(allow, members)))


def allow_template_for(rule: SecurityGroupRule) -> Allow | None:
    """The rule as an Allow for any peer, before its remote is resolved; None if it cannot be parsed."""
    try:
        ethertype = Ethertype(rule.ethertype)
        protocol = protocol_number(rule.protocol, ethertype)
    except ValueError:
        return None
    return Allow(Direction(rule.direction), ethertype, protocol, *_ports(protocol, rule), source=rule.id)


def protocol_number(protocol: str | None, ethertype: Ethertype) -> int | None:
    """'tcp' and '6' -> 6; None or 'any' -> None (any protocol); icmp of an IPv6 rule -> 58, as Neutron
    stores it. Raises ValueError for a name neutron-lib does not know."""
    if protocol in (None, "", "any"):
        return None
    if protocol.isdigit():
        number = int(protocol)
    elif protocol.lower() in PROTOCOL_NUMBERS:
        number = PROTOCOL_NUMBERS[protocol.lower()]
    else:
        raise ValueError(f"unknown IP protocol {protocol!r}")
    return ICMPV6 if number == ICMP and ethertype is Ethertype.IPV6 else number


def describe(allow: Allow) -> str:
    """'ingress IPv4 tcp 22', 'egress IPv6 any protocol', 'ingress IPv4 icmp type 8 code 0'."""
    words = [allow.direction.value, allow.ethertype.value]
    words.append("any protocol" if allow.protocol is None else PROTOCOL_NAMES.get(allow.protocol, str(allow.protocol)))
    if allow.port_min is not None:
        words.append(str(allow.port_min) if allow.port_min == allow.port_max else f"{allow.port_min}-{allow.port_max}")
    if allow.icmp_type is not None:
        words.append(f"type {allow.icmp_type}")
    if allow.icmp_code is not None:
        words.append(f"code {allow.icmp_code}")
    return " ".join(words)


def address_or_network(cidr: str | None) -> str | None:
    """How a match names a normalized CIDR: '10.0.0.5' for a host, '10.0.0.0/24', or None for any (/0)."""
    if cidr is None or cidr.endswith("/0"):
        return None
    address, _, length = cidr.partition("/")
    return address if int(length) == (128 if ":" in address else 32) else cidr


def ethertype_of(cidr: str) -> Ethertype:
    return Ethertype.IPV6 if ":" in cidr else Ethertype.IPV4


def _with_remote(template: Allow, group: SecurityGroup, rule: SecurityGroupRule, cidr: str | None,
                 remote_words: str, remote_group_id: str | None = None) -> Allow:
    t = template
    return Allow(t.direction, t.ethertype, t.protocol, t.port_min, t.port_max, t.icmp_type, t.icmp_code,
                 None if cidr is None or cidr.endswith("/0") else cidr, remote_group_id, rule.id,
                 f"security group {_label(group)} rule {rule.id}: {describe(t)} {remote_words}")


def _ports(protocol: int | None, rule: SecurityGroupRule) -> tuple[int | None, int | None, int | None, int | None]:
    """(port_min, port_max, icmp_type, icmp_code) of a rule, as its protocol reads port_range_min/max."""
    low, high = rule.port_range_min, rule.port_range_max
    if protocol in ICMP_PROTOCOLS:
        return None, None, low, (high if low is not None else None)
    if protocol in PORT_PROTOCOLS and low is not None:
        high = low if high is None else high
        return (None, None, None, None) if (low, high) == ALL_PORTS else (low, high, None, None)
    return None, None, None, None


@lru_cache(maxsize=1 << 14)  # pure, and asked for every address of every port on every pass
def _cidr(address: str) -> str:
    """'10.0.0.5' -> '10.0.0.5/32'; '10.0.1.7/24' -> '10.0.1.0/24' (the network an address pair names)."""
    return str(ipaddress.ip_network(address, strict=False))


def _network_order(cidr: str) -> tuple[int, int, int]:
    network = ipaddress.ip_network(cidr)
    return network.version, int(network.network_address), network.prefixlen


def _label(group: SecurityGroup) -> str:
    return f"{group.name} ({group.id})" if group.name else group.id
