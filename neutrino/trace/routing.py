"""A packet in a router's namespace, as its RouterPlan (plan/l3.py) sets it up: the NAT rules of one chain read
the way nftables reads them (first match wins; accept, dnat and snat end the chain), and the routing table
(the kernel's connected routes of the legs' addresses, then the plan's routes), longest prefix first.

The NAT reader knows exactly the statements plan/l3.py writes; anything else raises RuleNotUnderstood, so a
new kind of rule there fails the trace's tests instead of being silently skipped.
"""

from __future__ import annotations

import ipaddress
import shlex
from dataclasses import dataclass

from neutrino.plan.l3 import NatRule, RouterLeg, RouterPlan
from neutrino.trace.packet import Packet


class RuleNotUnderstood(ValueError):
    pass


@dataclass(frozen=True)
class NatStep:
    """What one chain did: the rule that decided (None: none matched, the chain's policy accepts)."""

    rule: NatRule | None
    action: str  # "accept", "dnat", "snat" or "" (no rule matched)
    packet: Packet


@dataclass(frozen=True)
class RouteChoice:
    destination: str
    via: str | None  # None: connected (on-link)
    device: str
    source: str
    reason: str


def nat_step_for(plan: RouterPlan, chain: str, packet: Packet, iif: str, oif: str | None, dnatted: bool) -> NatStep:
    """The first rule of ``chain`` matching the packet (in on ``iif``, out on ``oif``; ``dnatted``: its
    connection was DNATed) and the packet after it."""
    for rule in plan.nat_rules:
        if rule.chain != chain:
            continue
        matched, action, address = _evaluate(rule.statement, packet, iif, oif, dnatted)
        if not matched:
            continue
        if action == "dnat":
            return NatStep(rule, action, packet.with_destination(address))
        if action == "snat":
            return NatStep(rule, action, packet.with_source(address))
        return NatStep(rule, action, packet)
    return NatStep(None, "", packet)


def _evaluate(statement: str, packet: Packet, iif: str, oif: str | None, dnatted: bool) -> tuple[bool, str, str]:
    """(whether every condition holds, the action, the action's address)."""
    words, matched, index = shlex.split(statement), True, 0
    while index < len(words):
        word = words[index]
        if word in ("accept", "dnat", "snat"):
            address = words[index + 2] if word != "accept" and words[index + 1] == "to" else ""
            return matched, word, address
        if word == "ip" and words[index + 1] in ("saddr", "daddr"):
            actual = packet.source if words[index + 1] == "saddr" else packet.destination
            equal, value, index = _operand(words, index + 2)
            matched &= (ipaddress.ip_address(actual) in ipaddress.ip_network(value, strict=False)) == equal
        elif word in ("iifname", "oifname"):
            equal, value, index = _operand(words, index + 1)
            actual = iif if word == "iifname" else oif
            matched &= (actual == value) == equal
        elif word == "ct" and words[index + 1] == "status":
            equal, value, index = _operand(words, index + 2)
            if value != "dnat":
                raise RuleNotUnderstood(f"ct status {value} in {statement!r}")
            matched &= dnatted == equal
        else:
            raise RuleNotUnderstood(f"{word!r} in {statement!r}")
    raise RuleNotUnderstood(f"no action in {statement!r}")


def _operand(words: list[str], index: int) -> tuple[bool, str, int]:
    """(whether the operator is equality, the value, the index after it): ``X``, ``!= X`` or ``! X``."""
    if words[index] in ("!=", "!"):
        return False, words[index + 1], index + 2
    return True, words[index], index + 1


def route_for(plan: RouterPlan, address: str) -> RouteChoice | None:
    """The route the namespace takes to ``address``: the longest prefix; a connected route wins a tie."""
    target = ipaddress.ip_address(address)
    best: tuple[tuple[int, int], RouteChoice] | None = None
    for network, choice, connected in _routes_of(plan):
        if target.version == network.version and target in network:
            rank = (network.prefixlen, int(connected))
            if best is None or rank > best[0]:
                best = (rank, choice)
    return best[1] if best else None


def _routes_of(plan: RouterPlan):
    for leg in plan.legs:
        for cidr in leg.addresses:
            interface = ipaddress.ip_interface(cidr)
            if interface.network.prefixlen < interface.max_prefixlen:  # a floating IP's /32 routes nothing
                yield interface.network, RouteChoice(str(interface.network), None, leg.device, leg.source,
                                                     f"connected: {leg.reason}"), True
    for route in plan.routes:
        device = route.device or _device_towards(plan, route.via)
        if device is not None:
            yield ipaddress.ip_network(route.destination), RouteChoice(
                route.destination, route.via, device, route.source, route.reason), False


def _device_towards(plan: RouterPlan, via: str | None) -> str | None:
    """The leg whose connected network holds a next hop (the kernel refuses a route to an unreachable one)."""
    if via is None:
        return None
    address = ipaddress.ip_address(via)
    for leg in plan.legs:
        if any(address in ipaddress.ip_interface(cidr).network for cidr in leg.addresses):
            return leg.device
    return None


def leg_named(plan: RouterPlan, device: str) -> RouterLeg:
    return next(leg for leg in plan.legs if leg.device == device)


def leg_of_port(plan: RouterPlan, port_id: str) -> RouterLeg | None:
    return next((leg for leg in plan.legs if leg.port_id == port_id), None)


def owns(plan: RouterPlan, address: str) -> RouterLeg | None:
    """The leg holding ``address`` itself (the router's own address: delivered to the namespace)."""
    target = ipaddress.ip_address(address)
    for leg in plan.legs:
        if any(ipaddress.ip_interface(cidr).ip == target for cidr in leg.addresses):
            return leg
    return None
