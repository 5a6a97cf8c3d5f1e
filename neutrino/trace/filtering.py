"""A packet against one port's PortFirewall (plan/firewall.py), as both drivers enforce it: the anti-spoofing
pairs for what the port sends, then the first Allow of the port's security groups admitting the packet in
its direction (the peer: the destination of egress, the source of ingress; a remote group's peers are its
members, ``firewall.members_for``). Replies of an admitted connection pass (the plan is stateful)."""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from neutrino.plan import iptables_firewall
from neutrino.plan.firewall import Allow, Direction, MacIpPair, Members, PortFirewall
from neutrino.plan.tables import Table
from neutrino.trace.packet import Packet


def own_pair_for(firewall: PortFirewall, packet: Packet) -> MacIpPair | None:
    """The (MAC, address) pair the port may send this packet's source address from, if any."""
    address = ipaddress.ip_address(packet.source)
    return next((pair for pair in firewall.pairs_of(packet.ethertype) if address in _network(pair.cidr)), None)


def admitting_allow(firewall: PortFirewall, direction: Direction, packet: Packet, members: Members) -> Allow | None:
    """The first of the port's Allows (rule id order) admitting the packet in ``direction``, or None."""
    peer = packet.destination if direction is Direction.EGRESS else packet.source
    return next((allow for allow in firewall.allows if admits(allow, direction, packet, peer, members)), None)


def admits(allow: Allow, direction: Direction, packet: Packet, peer: str, members: Members) -> bool:
    if allow.direction is not direction or allow.ethertype is not packet.ethertype:
        return False
    if allow.protocol is not None and allow.protocol != packet.protocol_number:
        return False
    if allow.port_min is not None and not (packet.port is not None and allow.port_min <= packet.port <= allow.port_max):
        return False
    if allow.icmp_type is not None and allow.icmp_type != packet.icmp_type:
        return False
    if allow.icmp_code is not None and allow.icmp_code != 0:  # an echo request has code 0
        return False
    return _peer_admitted(allow, ipaddress.ip_address(peer), members)


def _peer_admitted(allow: Allow, peer, members: Members) -> bool:
    if allow.remote_group_id is not None:
        return any(peer in _network(cidr) for cidr in members.get((allow.remote_group_id, allow.ethertype), ()))
    return allow.remote_cidr is None or peer in _network(allow.remote_cidr)


def stages_for(driver: str, firewall: PortFirewall, direction: Direction) -> tuple[str, str, str]:
    """(where anti-spoofing runs, where the rules run, where a drop ends) as the host's driver names them."""
    if driver == "iptables_hybrid":
        letter = "o" if direction is Direction.EGRESS else "i"
        return (f"chain {iptables_firewall.chain_name('s', firewall.port_id)}",
                f"chain {iptables_firewall.chain_name(letter, firewall.port_id)}",
                f"chain {iptables_firewall.FALLBACK}")
    if direction is Direction.EGRESS:
        return (f"table {int(Table.BASE_EGRESS)}", f"table {int(Table.RULES_EGRESS)}",
                f"table {int(Table.DROPPED_TRAFFIC)}")
    return (f"table {int(Table.BASE_INGRESS)}", f"table {int(Table.RULES_INGRESS)}",
            f"table {int(Table.DROPPED_TRAFFIC)}")


def element_name(driver: str, bridge: str) -> str:
    """Where the driver filters: iptables (on the hybrid plug's Linux bridge) or br-int's flows."""
    return "iptables" if driver == "iptables_hybrid" else bridge


@lru_cache(maxsize=1 << 14)
def _network(cidr: str):
    return ipaddress.ip_network(cidr, strict=False)
