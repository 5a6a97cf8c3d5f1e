"""Which flow of one OpenFlow table a packet meets, as ovs-vswitchd's classifier decides (lib/classifier.c),
conjunctive matches included: the fake switch's answer to "what would OVS do with this packet here".

A packet is written as ``ovs-appctl ofproto/trace`` reads one: ``ct_state=new|trk,tcp,reg5=7,reg6=5,
nw_src=10.0.0.6,tp_dst=22``; a field not given is 0, as there. As there, ``tp_src``/``tp_dst`` are TCP's:
other protocols name their own (``udp_dst``, ``sctp_src``).

The lookup (``classifier_lookup__``): the highest-priority matching flow without ``conjunction``
actions is the "hard" match. Matching flows with conjunction actions above it are "soft" matches: from
their highest priority down, a conjunction whose every clause is matched by a soft match of that
priority completes, and the table is searched again with ``conj_id`` set to its id and conjunctions
ignored; whatever that search finds (the ``conj_id`` flow, or else the hard match) is the answer. A
priority where nothing completes gives way to the next, then to the hard match.

Where OVS leaves the choice open the fake picks one, so a probe that depends on it says nothing:
two flows of one priority matching the same packet (undefined in OpenFlow; the fake takes the first as
dump-flows sorts them) and two conjunctions completing at one priority ("unpredictable" in
ovs-fields(7); the fake takes the lowest id).
"""

from __future__ import annotations

import ipaddress
from collections import defaultdict
from collections.abc import Iterable

from neutrino.host.fake_openflow import (
    ARP,
    CT_STATE_FLAGS,
    PROTOCOL_WORDS,
    RARP,
    REGISTERS,
    Match,
    conjunctions,
    ct_state_bits,
    port_number,
)
from neutrino.host.fake_ovsdb import NotModelled

Packet = dict[str, object]
_NUMBERS = {"ct_zone": 0xFFFF, "ct_mark": 0xFFFFFFFF, "conj_id": 0xFFFFFFFF, "vlan_tci": 0xFFFF, "tp_src": 0xFFFF,
            "tp_dst": 0xFFFF, **{reg: 0xFFFFFFFF for reg in REGISTERS}}  # matched as value/mask
_ADDRESSES = ("nw_src", "nw_dst", "arp_spa", "arp_tpa", "ipv6_src", "ipv6_dst", "nd_target")
_ICMP_FIELDS = {"icmp_type": "tp_src", "icmp_code": "tp_dst"}  # ICMP type and code live in tp_src/tp_dst
# Port fields of a packet: tp_src/tp_dst are TCP's, as ofproto/trace reads them.
_PORT_FIELDS = {f"{name}_{end}": (number, f"tp_{end}") for name, number in (("tcp", 6), ("udp", 17), ("sctp", 132))
                for end in ("src", "dst")} | {f"tp_{end}": (6, f"tp_{end}") for end in ("src", "dst")}


def parse_packet(text: str, ports: dict[str, int]) -> Packet:
    """A packet in ``ofproto/trace`` syntax -> its fields (numbers, addresses, lower-case MACs)."""
    packet: Packet = {}
    port_protocols = set()  # the IP protocol of each port field given (tp_dst: TCP's)
    for token in filter(None, (part.strip() for part in text.split(","))):
        key, _, value = token.partition("=")
        if key in PROTOCOL_WORDS and not value:
            packet["dl_type"], proto = PROTOCOL_WORDS[key]
            if proto is not None:
                packet["nw_proto"] = proto
        elif key == "ct_state":
            packet["ct_state"] = _packet_ct_state(value)
        elif key in _PORT_FIELDS:
            port_protocols.add(_PORT_FIELDS[key][0])
            packet[_PORT_FIELDS[key][1]] = int(value, 0)
        elif key in ("dl_type", "nw_proto", "dl_vlan") or key in _NUMBERS or key in _ICMP_FIELDS:
            _read_number(packet, key, int(value, 0))
        elif key == "in_port":
            packet["in_port"] = port_number(value, ports, f"{value}: unknown port")
        elif key in ("dl_src", "dl_dst"):
            packet[key] = value.lower()
        elif key in _ADDRESSES:
            packet[key] = ipaddress.ip_address(value)
        else:
            raise NotModelled(f"packet field {key!r} (teach fake_classifier how OVS reads it)")
    if port_protocols - {packet.get("nw_proto")}:
        raise NotModelled("ports of another protocol than the packet's (ofproto/trace: prerequisites not met)")
    if packet.get("dl_type") in (ARP, RARP):  # nw_src/nw_dst of an ARP packet are its sender/target
        for ip_name, arp_name in (("nw_src", "arp_spa"), ("nw_dst", "arp_tpa")):
            if ip_name in packet:
                packet[arp_name] = packet.pop(ip_name)
    return packet


def lookup(flows: Iterable, packet: Packet):
    """The flow (a ``SwitchFlow``) of one table that OVS applies to ``packet``, or None."""
    table = sorted(flows, key=lambda f: (-f.priority, repr(f.match)))
    return _lookup(table, packet, conjunctive=True)


def _lookup(table: list, packet: Packet, conjunctive: bool):
    matching = [flow for flow in table if matches(flow.match, packet)]
    hard = next((flow for flow in matching if not conjunctions(flow.actions)), None)
    if not conjunctive:
        return hard
    floor = hard.priority if hard is not None else -1
    soft = [flow for flow in matching if conjunctions(flow.actions) and flow.priority > floor]
    for priority in sorted({flow.priority for flow in soft}, reverse=True):
        for conj_id in _complete(flow for flow in soft if flow.priority == priority):
            found = _lookup(table, {**packet, "conj_id": conj_id}, conjunctive=False)
            if found is not None:
                return found
    return hard


def _complete(flows: Iterable) -> list[int]:
    """The ids of the conjunctions whose every clause one of these flows matches, lowest first."""
    seen: dict[int, set[int]] = defaultdict(set)
    needed: dict[int, int] = {}
    for flow in flows:
        for conj_id, clause, clauses in conjunctions(flow.actions):
            seen[conj_id].add(clause)
            needed.setdefault(conj_id, clauses)
    return sorted(conj_id for conj_id, clauses in seen.items() if clauses == set(range(1, needed[conj_id] + 1)))


def matches(match: Match, packet: Packet) -> bool:
    """Whether a canonical match (``fake_openflow.parse_match``) holds for the packet."""
    return all(_holds(key, value, packet) for key, value in match)


def _holds(key: str, value, packet: Packet) -> bool:
    if value is None:  # ip, tcp6, arp, ...: the protocol words
        dl_type, proto = PROTOCOL_WORDS[key]
        return packet.get("dl_type", 0) == dl_type and (proto is None or packet.get("nw_proto", 0) == proto)
    if key == "ct_state":
        bits, mask = ct_state_bits(value)
        return packet.get("ct_state", 0) & mask == bits
    field = _ICMP_FIELDS.get(key, key)
    if field in _NUMBERS:
        number, _, mask = str(value).partition("/")
        bits = int(mask, 0) if mask else _NUMBERS[field]
        return packet.get(field, 0) & bits == int(number, 0) & bits
    if key in ("in_port", "nw_proto"):
        return packet.get(key, 0) == int(value)
    if key == "dl_vlan":
        return packet.get("vlan_tci", 0) & 0x1FFF == 0x1000 | int(value)
    if key == "dl_type":
        return packet.get("dl_type", 0) == int(value, 16)
    if key in ("dl_src", "dl_dst"):
        return packet.get(key, "00:00:00:00:00:00") == value
    if key in _ADDRESSES:
        network = ipaddress.ip_network(value)
        default = ipaddress.ip_address(0) if network.version == 4 else ipaddress.IPv6Address(0)
        return packet.get(key, default) in network
    raise NotModelled(f"matching a packet on {key!r}")


def _read_number(packet: Packet, key: str, number: int) -> None:
    if key == "dl_vlan":
        packet["vlan_tci"] = 0x1000 | number
    else:
        packet[_ICMP_FIELDS.get(key, key)] = number


def _packet_ct_state(text: str) -> int:
    """``new|trk`` (how ofproto/trace reads a packet's connection state) -> its bits."""
    bits = 0
    for name in filter(None, text.split("|")):
        if name not in CT_STATE_FLAGS:
            raise NotModelled(f"ct_state {name!r} of a packet")
        bits |= 1 << CT_STATE_FLAGS.index(name)
    return bits
