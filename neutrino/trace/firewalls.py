"""A port's firewall as hops of the walk: anti-spoofing and the rules of what it sends, the rules of what it
receives, each named as the host's driver names it (filtering.py decides; this module records and stops).
A reply (``established``) passes the rules as its connection's conntrack entry lets it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from neutrino.model.resources import Port
from neutrino.model.state import ApiState
from neutrino.plan.firewall import Direction, PortFirewall, describe
from neutrino.trace import verdicts
from neutrino.trace.explain import allowed_address_fix, group_ref, label, port_ref, stop
from neutrino.trace.filtering import admitting_allow, element_name, own_pair_for, stages_for
from neutrino.trace.hosts import Attachment, Plans
from neutrino.trace.packet import Packet
from neutrino.trace.result import Admitted, Element, Hop, Reason

ESTABLISHED = "the reply of an admitted connection (conntrack: established, reply): passes"


@dataclass(frozen=True)
class Gate:
    state: ApiState
    plans: Plans
    established: bool  # walking a reply
    record: Callable[[Hop], None]


def egress(gate: Gate, port: Port, at: Attachment, packet: Packet) -> Admitted | None:
    """What the port sends: its anti-spoofing pairs, then its egress rules; what admitted it (None: nothing
    needed to, a trusted port)."""
    firewall, driver = gate.plans.firewall(port), gate.plans.view(at.host).config.firewall_driver
    if firewall is None or not firewall.is_filtered:
        return _unfiltered(gate, port, at, firewall, driver, Direction.EGRESS)
    spoofing, rules, dropped = stages_for(driver, firewall, Direction.EGRESS)
    element = element_name(driver, at.bridge)
    pair = own_pair_for(firewall, packet)
    if pair is None:
        gate.record(Hop(at.host, Element.FIREWALL, element, spoofing, f"{packet.source} is none of the port's "
                                                                      "addresses (fixed IPs, allowed address pairs): dropped"))
        raise stop(Reason.DROPPED_BY_ANTI_SPOOFING,
                   f"port {label(port)} may not send from {packet.source}: it is neither a fixed IP nor in its "
                   "allowed_address_pairs", [port_ref(port)], [allowed_address_fix(gate.state, port, packet.source)])
    gate.record(Hop(at.host, Element.FIREWALL, element, spoofing, f"source {packet.source} {pair.mac}: {pair.reason}",
                    source=f"port:{port.id}"))
    return _rules(gate, port, at, firewall, packet, Direction.EGRESS, (element, rules, dropped))


def ingress(gate: Gate, port: Port, at: Attachment, packet: Packet) -> Admitted | None:
    firewall, driver = gate.plans.firewall(port), gate.plans.view(at.host).config.firewall_driver
    if firewall is None or not firewall.is_filtered:
        return _unfiltered(gate, port, at, firewall, driver, Direction.INGRESS)
    _, rules, dropped = stages_for(driver, firewall, Direction.INGRESS)
    return _rules(gate, port, at, firewall, packet, Direction.INGRESS, (element_name(driver, at.bridge), rules, dropped))


def _unfiltered(gate: Gate, port: Port, at: Attachment, firewall: PortFirewall | None, driver: str,
                direction: Direction) -> Admitted | None:
    why = firewall.reason if firewall is not None else f"firewall_driver {driver} on {at.host}: nothing filtered"
    gate.record(Hop(at.host, Element.FIREWALL, element_name(driver, at.bridge), "not filtered", why,
                    source=f"port:{port.id}"))
    if port.device_owner.startswith("network:"):
        return None
    return Admitted(port.id, direction.value, None, None, why)


def _rules(gate: Gate, port: Port, at: Attachment, firewall: PortFirewall, packet: Packet, direction: Direction,
           where: tuple[str, str, str]) -> Admitted | None:
    element, stage, dropped = where
    if gate.established:
        gate.record(Hop(at.host, Element.FIREWALL, element, stage, ESTABLISHED, source=f"port:{port.id}"))
        return None
    remote_groups = tuple(sorted({a.remote_group_id for a in firewall.allows if a.remote_group_id}))
    allow = admitting_allow(firewall, direction, packet, gate.plans.members(remote_groups))
    if allow is None:
        gate.record(Hop(at.host, Element.FIREWALL, element, dropped,
                        f"no {direction.value} rule of the port's security groups admits it: dropped",
                        source=f"port:{port.id}"))
        raise verdicts.security_group_drop(gate.state, port, direction, packet)
    groups = gate.state.security_groups
    group = next((groups[g] for g in port.security_groups
                  if g in groups and any(r.id == allow.source for r in groups[g].rules)), None)
    gate.record(Hop(at.host, Element.FIREWALL, element, stage, allow.reason, source=f"rule:{allow.source}"))
    return Admitted(port.id, direction.value, allow.source, group_ref(group) if group else None, describe(allow))
