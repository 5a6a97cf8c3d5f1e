"""trace/routing.py reads plan/l3.py's NAT rules as nftables does and routes by longest prefix."""

from __future__ import annotations

import pytest

from neutrino.model.state import ApiState
from neutrino.plan.l3 import NatRule, routers_for
from neutrino.trace.packet import Packet, Protocol
from neutrino.trace.routing import RuleNotUnderstood, nat_step_for, route_for
from tests.unit.trace.topology import HOSTS, R1, cloud

QG, QR = "qg-e0000000-00", "qr-a0000000-00"


def plan_of(state: ApiState = None):
    (plan,) = routers_for(state or cloud(), HOSTS["compute1"])
    assert plan.router_id == R1.id
    return plan


def icmp(source: str, destination: str) -> Packet:
    return Packet(source, destination, Protocol.ICMP)


@pytest.mark.parametrize(("chain", "packet", "iif", "oif", "dnatted", "action", "after"), [
    ("prerouting", icmp("198.51.100.7", "203.0.113.10"), QG, None, False, "dnat", "198.51.100.7>10.0.0.5"),
    ("prerouting", icmp("10.0.0.6", "10.0.1.7"), QR, None, False, "", "10.0.0.6>10.0.1.7"),
    ("postrouting", icmp("10.0.0.6", "10.0.1.7"), QR, "qr-b0000000-00", False, "accept", "10.0.0.6>10.0.1.7"),
    ("postrouting", icmp("10.0.0.6", "198.51.100.7"), QR, QG, False, "snat", "203.0.113.2>198.51.100.7"),
    ("postrouting", icmp("10.0.0.5", "198.51.100.7"), QR, QG, False, "snat", "203.0.113.10>198.51.100.7"),
    ("postrouting", icmp("10.0.1.7", "10.0.0.5"), "qr-b0000000-00", QR, True, "snat", "203.0.113.2>10.0.0.5"),
    ("postrouting", icmp("198.51.100.7", "10.0.0.5"), QG, QR, True, "", "198.51.100.7>10.0.0.5"),
])
def test_nat_rules_are_read_first_match_wins(chain, packet, iif, oif, dnatted, action, after):
    step = nat_step_for(plan_of(), chain, packet, iif, oif, dnatted)
    assert step.action == action
    assert f"{step.packet.source}>{step.packet.destination}" == after


@pytest.mark.parametrize("statement", ["ip daddr 1.2.3.4 masquerade", "meta mark 0x2 accept", "ip daddr 1.2.3.4"])
def test_a_rule_the_reader_does_not_know_is_an_error_not_a_skip(statement):
    plan = plan_of()
    odd = type(plan)(plan.router_id, plan.namespace, plan.legs, plan.routes,
                     (NatRule("prerouting", statement, "odd"),))
    with pytest.raises(RuleNotUnderstood):
        nat_step_for(odd, "prerouting", icmp("1.1.1.1", "1.2.3.4"), QG, None, False)


def test_both_spellings_of_ct_status_not_dnat_are_read():
    plan = plan_of()
    for spelling in ("!=", "!"):
        rule = NatRule("postrouting", f'oifname != "{QG}" ct status {spelling} dnat accept', "no NAT")
        odd = type(plan)(plan.router_id, plan.namespace, plan.legs, plan.routes, (rule,))
        assert nat_step_for(odd, "postrouting", icmp("10.0.0.6", "10.0.1.7"), QR, "qr-b", False).action == "accept"
        assert nat_step_for(odd, "postrouting", icmp("10.0.0.6", "10.0.1.7"), QR, "qr-b", True).action == ""


def test_routes_longest_prefix_connected_first():
    plan = plan_of()
    assert route_for(plan, "10.0.1.7").device == "qr-b0000000-00"
    default = route_for(plan, "198.51.100.7")
    assert (default.destination, default.via, default.device) == ("0.0.0.0/0", "203.0.113.1", QG)
    assert route_for(plan, "203.0.113.50").via is None  # the external subnet is connected
    assert route_for(plan, "2001:db8::1") is None
