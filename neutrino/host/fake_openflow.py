"""A flow's match and actions as ovs-ofctl 3.1 reads them and prints them back, for the fake switch.

Reading turns each spelling into one canonical value (``ip,nw_proto=6`` is ``tcp``, ``reg5=7`` is
``reg5=0x7``, ``icmp_type`` is ``tp_src`` of an ICMP flow, ``ct(zone=..,commit)`` is
``ct(commit,zone=..)``), so two spellings of one flow are one flow, as in the switch. Printing follows
OVS's ``match_format`` field order (lib/match.c): conj_id, ct fields, the protocol shorthand, registers,
in_port, VLAN, MACs, addresses, nw_proto, then ICMP/ND or transport ports. ``conjunction(id,k/n)``
actions are kept in the order given, and refused beside any action but another conjunction.

As ovs-ofctl does, a field whose prerequisites are missing (``tp_dst`` without tcp/udp/sctp,
``nd_target`` without an ICMPv6 ND type) is silently dropped from the match; a ``ct()`` action on a
flow that does not match IP is refused. Ports are kept as numbers and printed by name when asked.
Anything outside this vocabulary raises NotModelled, so the fake never guesses.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from neutrino.host.fake_ovsdb import NotModelled, OvsError

LOCAL = 65534  # the bridge's own internal port
IP, IPV6, ARP, RARP = 0x0800, 0x86DD, 0x0806, 0x8035
ICMP, TCP, UDP, ICMPV6, SCTP = 1, 6, 17, 58, 132
PROTOCOL_WORDS = {
    "ip": (IP, None), "ipv6": (IPV6, None), "arp": (ARP, None), "rarp": (RARP, None),
    "icmp": (IP, ICMP), "tcp": (IP, TCP), "udp": (IP, UDP), "sctp": (IP, SCTP),
    "icmp6": (IPV6, ICMPV6), "tcp6": (IPV6, TCP), "udp6": (IPV6, UDP), "sctp6": (IPV6, SCTP),
}
# (dl_type, nw_proto) -> the word that names both; OVS prints "igmp" too, which we never match.
SHORTHANDS = {(IP, ICMP): "icmp", (IP, TCP): "tcp", (IP, UDP): "udp", (IP, SCTP): "sctp",
              (IPV6, ICMPV6): "icmp6", (IPV6, TCP): "tcp6", (IPV6, UDP): "udp6", (IPV6, SCTP): "sctp6"}
CT_STATE_FLAGS = ("new", "est", "rel", "rpl", "inv", "trk", "snat", "dnat")  # bit 0 upwards
REGISTERS = tuple(f"reg{n}" for n in range(16))
ND_TYPES = (135, 136)  # neighbour solicitation and advertisement carry a target
_PLAIN_NAME = re.compile(r"[A-Za-z][A-Za-z0-9]*")  # printed bare; any other port name is quoted
_SUBFIELD = re.compile(r"(NXM_NX_REG(?:1[0-5]|[0-9])|NXM_NX_CT_MARK)\[(?:(\d+)\.\.(\d+))?\]")

Match = tuple[tuple[str, "str | int | None"], ...]  # in print order; in_port as its number; None: a bare word


@dataclass(frozen=True)
class Output:
    """``output:PORT``, kept by number: printed by name only while a port has that number."""

    port: int


Action = str | Output


# --- the match -----------------------------------------------------------------------------------------

def parse_match(tokens: list[str], ports: dict[str, int], prefix: str) -> Match:
    fields: dict[str, object] = {}
    for token in tokens:
        key, _, value = token.partition("=")
        _read_field(fields, key, value, ports, prefix)
    _normalize(fields)
    return _canonical(fields)


def is_ip(match: Match) -> bool:
    """Whether the match names IPv4 or IPv6 (a ``ct()`` action needs it)."""
    words = {key for key, value in match if value is None}
    return bool(words & {"ip", "ipv6", *SHORTHANDS.values()})


def _read_field(fields: dict, key: str, value: str, ports: dict[str, int], prefix: str) -> None:
    if key in PROTOCOL_WORDS and not value:
        fields["dl_type"], proto = PROTOCOL_WORDS[key]
        if proto is not None:
            fields["nw_proto"] = proto
    elif key == "dl_type":
        fields["dl_type"] = int(value, 0)
    elif key == "nw_proto":
        fields["nw_proto"] = int(value, 0)
    elif key == "ct_state":
        fields["ct_state"] = ct_state_bits(value)
    elif key == "conj_id":
        if "/" in value:
            raise OvsError(f"{value}: invalid mask for field conj_id")
        fields["conj_id"] = _uint32(value)
    elif key in ("ct_zone", "ct_mark", *REGISTERS):
        fields[key] = _masked_number(value, 0xFFFF if key == "ct_zone" else 0xFFFFFFFF)
    elif key == "in_port":
        fields["in_port"] = port_number(value, ports, f"{prefix}{value.strip(chr(34))}: invalid or unknown "
                                                       "port for in_port")
    elif key == "dl_vlan":
        fields["dl_vlan"] = int(value, 0)
    elif key == "vlan_tci":
        fields["vlan_tci"] = _masked_number(value, 0xFFFF)
    elif key in ("dl_src", "dl_dst"):
        fields[key] = value.lower()
    elif key in ("nw_src", "nw_dst", "arp_spa", "arp_tpa"):
        fields[key] = ipaddress.IPv4Network(value, strict=False)
    elif key in ("ipv6_src", "ipv6_dst", "nd_target"):
        fields[key] = ipaddress.IPv6Network(value, strict=False)
    elif key in ("tp_src", "icmp_type", "tp_dst", "icmp_code"):  # ICMP type/code live in tp_src/tp_dst
        fields["tp_src" if key in ("tp_src", "icmp_type") else "tp_dst"] = _masked_number(value, 0xFFFF)
    else:
        raise NotModelled(f"OpenFlow match field {key!r} (teach fake_openflow how OVS prints it)")


def _normalize(fields: dict) -> None:
    """Drop what ovs-ofctl drops: fields whose prerequisites the match does not meet."""
    dl_type, nw_proto = fields.get("dl_type"), fields.get("nw_proto")
    if dl_type in (ARP, RARP):  # nw_src/nw_dst of an ARP match are its sender/target addresses
        for ip_name, arp_name in (("nw_src", "arp_spa"), ("nw_dst", "arp_tpa")):
            if ip_name in fields:
                fields[arp_name] = fields.pop(ip_name)
    wanted = {
        "nw_src": dl_type == IP, "nw_dst": dl_type == IP,
        "arp_spa": dl_type in (ARP, RARP), "arp_tpa": dl_type in (ARP, RARP),
        "ipv6_src": dl_type == IPV6, "ipv6_dst": dl_type == IPV6,
        "nw_proto": dl_type in (IP, IPV6),
        "tp_src": (dl_type, nw_proto) in SHORTHANDS, "tp_dst": (dl_type, nw_proto) in SHORTHANDS,
        "nd_target": (dl_type, nw_proto) == (IPV6, ICMPV6) and fields.get("tp_src", (0, 0))[0] in ND_TYPES,
    }
    for name, met in wanted.items():
        if not met:
            fields.pop(name, None)


def _canonical(fields: dict) -> Match:
    out: list[tuple[str, str | int | None]] = []
    if "conj_id" in fields:
        out.append(("conj_id", str(fields["conj_id"])))
    if "ct_state" in fields:
        out.append(("ct_state", _ct_state_text(*fields["ct_state"])))
    if "ct_zone" in fields:
        out.append(("ct_zone", _number16_text(*fields["ct_zone"])))
    if "ct_mark" in fields:
        out.append(("ct_mark", _number32_text(*fields["ct_mark"])))
    dl_type, nw_proto = fields.get("dl_type"), fields.get("nw_proto")
    shorthand = SHORTHANDS.get((dl_type, nw_proto))
    word = shorthand or {IP: "ip", IPV6: "ipv6", ARP: "arp", RARP: "rarp"}.get(dl_type)
    if word:
        out.append((word, None))
    out += [(reg, _number32_text(*fields[reg])) for reg in REGISTERS if reg in fields]
    out += [(key, fields[key]) for key in ("in_port", "dl_vlan") if key in fields]
    if "vlan_tci" in fields:
        out.append(("vlan_tci", _tci_text(*fields["vlan_tci"])))
    out += [(key, fields[key]) for key in ("dl_src", "dl_dst") if key in fields]
    if dl_type is not None and not word:
        out.append(("dl_type", f"0x{dl_type:04x}"))
    out += [(key, _network_text(fields[key])) for key in ("ipv6_src", "ipv6_dst", "arp_spa", "arp_tpa",
                                                          "nw_src", "nw_dst") if key in fields]
    if nw_proto is not None and "nw_proto" in fields and not shorthand:
        out.append(("nw_proto", str(nw_proto)))
    names = ("icmp_type", "icmp_code") if nw_proto in (ICMP, ICMPV6) else ("tp_src", "tp_dst")
    out += [(name, _number16_text(*fields[key])) for key, name in zip(("tp_src", "tp_dst"), names, strict=True)
            if key in fields]
    if "nd_target" in fields:
        out.append(("nd_target", _network_text(fields["nd_target"])))
    return tuple(out)


def ct_state_bits(text: str) -> tuple[int, int]:
    value = mask = 0
    for sign, name in re.findall(r"([+-]?)([a-z]+)", text):
        if not sign:
            raise NotModelled(f"ct_state flag {name!r} without + or -")
        if name not in CT_STATE_FLAGS:
            raise OvsError(f"{name}: unknown ct_state flag(s)")
        bit = 1 << CT_STATE_FLAGS.index(name)
        mask |= bit
        value |= bit if sign == "+" else 0
    return value, mask


def _ct_state_text(value: int, mask: int) -> str:
    return "".join(("+" if value & (1 << n) else "-") + name
                   for n, name in enumerate(CT_STATE_FLAGS) if mask & (1 << n))


def _masked_number(text: str, full: int) -> tuple[int, int]:
    """``value[/mask]``; as OVS, the bits outside the mask are cleared (``reg5=1/2`` is ``reg5=0/0x2``)."""
    value, _, mask = text.partition("/")
    bits = int(mask, 0) if mask else full
    return int(value, 0) & bits, bits


def _uint32(text: str) -> int:
    number = int(text.strip(), 0)
    if not 0 <= number <= 0xFFFFFFFF:
        raise NotModelled(f"{text!r} outside 32 bits (ovs-ofctl wraps it)")
    return number


def _number32_text(value: int, mask: int) -> str:
    """``%#x``, or ``%#x/%#x`` when masked (registers, ct_mark): 0 prints as 0."""
    return _hex(value) if mask == 0xFFFFFFFF else f"{_hex(value)}/{_hex(mask)}"


def _number16_text(value: int, mask: int) -> str:
    """Decimal when exact (ct_zone, ports, ICMP type/code), else ``%#x/%#x``."""
    return str(value) if mask == 0xFFFF else f"{_hex(value)}/{_hex(mask)}"


def _tci_text(value: int, mask: int) -> str:
    return f"{value:#06x}" if mask == 0xFFFF else f"{value:#06x}/{mask:#06x}"


def _hex(number: int) -> str:
    return f"{number:#x}" if number else "0"


def _network_text(network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> str:
    """An address alone when exact, else ``network/prefix``."""
    if network.prefixlen == network.max_prefixlen:
        return str(network.network_address)
    return str(network)


# --- actions ---------------------------------------------------------------------------------------------

def parse_actions(text: str, ports: dict[str, int], prefix: str) -> tuple[Action, ...]:
    parts = split_commas(text.strip())
    if "drop" in parts and len(parts) > 1:
        raise OvsError('"drop" must not be accompanied by any other action or instruction')
    actions = tuple(_action(part, ports, prefix) for part in parts if part != "drop")
    others = [action for action in actions if not is_conjunction(action)]
    if others and len(others) < len(actions):
        raise OvsError('"conjunction" actions may be used along with "note" but not any other kind of action '
                       f'(such as the "{_ofpact_name(others[0])}" action used here)')
    return actions


def is_conjunction(action: Action) -> bool:
    return isinstance(action, str) and action.startswith("conjunction(")


def conjunctions(actions: tuple[Action, ...]) -> list[tuple[int, int, int]]:
    """(id, clause, clauses) of each ``conjunction`` action."""
    return [tuple(int(n) for n in re.findall(r"\d+", action)) for action in actions if is_conjunction(action)]


def _ofpact_name(action: Action) -> str:
    """How OVS names an action kind in its messages."""
    if isinstance(action, Output) or action in ("NORMAL", "LOCAL"):
        return "output"
    for prefix, name in (("resubmit(", "resubmit"), ("ct(", "ct"), ("load:", "set_field"),
                         ("mod_vlan_vid:", "set_vlan_vid")):
        if action.startswith(prefix):
            return name
    return action  # strip_vlan, ct_clear


def uses_conntrack(actions: tuple[Action, ...]) -> bool:
    return any(isinstance(action, str) and action.startswith("ct(") for action in actions)


def split_commas(text: str) -> list[str]:
    """Split at the commas outside parentheses: ``ct(commit,zone=..),resubmit(,60)`` is two actions."""
    parts, depth, current = [], 0, ""
    for char in text:
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
            continue
        depth += (char == "(") - (char == ")")
        current += char
    parts.append(current)
    return [part.strip() for part in parts if part.strip()]


def _action(text: str, ports: dict[str, int], prefix: str) -> Action:
    if text in ("NORMAL", "LOCAL", "strip_vlan", "ct_clear"):
        return text
    name, _, argument = text.partition(":")
    if name == "output" and argument:
        if argument.strip('"') == "LOCAL":
            return "LOCAL"
        return Output(port_number(argument, ports, f"{prefix}{argument}: output to unknown port"))
    if name == "mod_vlan_vid" and argument:
        return f"mod_vlan_vid:{int(argument, 0)}"
    if name == "load" and "->" in argument:
        return _load(argument)
    found = re.fullmatch(r"resubmit\(,(\d+)\)", text)
    if found:
        return f"resubmit(,{int(found.group(1))})"
    if text.startswith("ct(") and text.endswith(")"):
        return _conntrack(text[3:-1])
    if text.startswith("conjunction(") and text.endswith(")"):
        return _conjunction(text[len("conjunction("):-1])
    raise NotModelled(f"OpenFlow action {text!r} (teach fake_openflow how OVS prints it)")


def _conjunction(arguments: str) -> str:
    """``conjunction(id,k/n)``: clause k of the n of conjunctive flow id."""
    found = re.fullmatch(r"\s*(\S+?)\s*,\s*(\d+)\s*/\s*(\d+)\s*", arguments)
    if not found:
        raise OvsError('"conjunction" syntax is "conjunction(id,i/n)"')
    conj_id, clause, clauses = _uint32(found.group(1)), int(found.group(2)), int(found.group(3))
    if clauses < 2:
        raise OvsError("conjunction must have at least 2 clauses")
    if clauses > 64:
        raise OvsError("conjunction must have at most 64 clauses")
    if clause < 1:
        raise OvsError("clause index must be positive")
    if clause > clauses:
        raise OvsError("clause index must be less than or equal to number of clauses")
    return f"conjunction({conj_id},{clause}/{clauses})"


def _load(argument: str) -> str:
    value, _, destination = argument.partition("->")
    found = _SUBFIELD.fullmatch(destination)
    if not found:
        raise NotModelled(f"load into {destination!r}")
    field, start, end = found.groups()
    whole = start is None or (int(start), int(end)) == (0, 31)
    return f"load:{_hex(int(value, 0))}->{field}[{'' if whole else f'{int(start)}..{int(end)}'}]"


def _conntrack(arguments: str) -> str:
    """ct(...) with its arguments in OVS's order: commit, table, zone, exec."""
    given: dict[str, str] = {}
    for part in split_commas(arguments):
        key, _, value = part.partition("=")
        if part == "commit":
            given["commit"] = "commit"
        elif key == "table":
            given["table"] = f"table={int(value, 0)}"
        elif key == "zone":
            given["zone"] = f"zone={_zone(value)}"
        elif part.startswith("exec(") and part.endswith(")"):
            given["exec"] = "exec(" + ",".join(_load(load.removeprefix("load:"))
                                               for load in split_commas(part[5:-1])) + ")"
        else:
            raise NotModelled(f"ct() argument {part!r}")
    return "ct(" + ",".join(given[key] for key in ("commit", "table", "zone", "exec") if key in given) + ")"


def _zone(value: str) -> str:
    if value.isdigit():
        return str(int(value))
    found = _SUBFIELD.fullmatch(value)
    if not found or found.group(2) is None or int(found.group(3)) - int(found.group(2)) != 15:
        raise OvsError(f"{value}: a conntrack zone is an immediate or a 16-bit field")
    return f"{found.group(1)}[{int(found.group(2))}..{int(found.group(3))}]"


# --- ports -----------------------------------------------------------------------------------------------

def port_number(text: str, ports: dict[str, int], error: str) -> int:
    name = text.strip('"')
    if name.isdigit():
        return int(name)
    if name == "LOCAL":
        return LOCAL
    if name not in ports:
        raise OvsError(error)
    return ports[name]


def port_text(number: int, names: dict[int, str] | None) -> str:
    if number == LOCAL:
        return "LOCAL"
    name = names.get(number) if names is not None else None
    if name is None:
        return str(number)
    return name if _PLAIN_NAME.fullmatch(name) else f'"{name}"'


def match_text(match: Match, names: dict[int, str] | None) -> list[str]:
    return [key if value is None else f"{key}={port_text(value, names) if key == 'in_port' else value}"
            for key, value in match]


def actions_text(actions: tuple[Action, ...], names: dict[int, str] | None) -> str:
    if not actions:
        return "drop"
    return ",".join(f"output:{port_text(a.port, names)}" if isinstance(a, Output) else a for a in actions)
