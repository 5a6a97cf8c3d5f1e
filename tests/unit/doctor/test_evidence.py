"""Where a probe's packets stopped, from the counters read before and after it, and what that points at: a
hop of the model without its flows, a router that did not forward, the fabric beyond this host; and a probe
that contradicts the model."""

from __future__ import annotations

from dataclasses import replace

from neutrino.doctor.evidence import Counters, FlowCounter, LinkCounter, localize, steps_for
from neutrino.doctor.explain import explanations_for
from neutrino.doctor.live import Outcome
from neutrino.trace.resolve import resolve_probe
from neutrino.trace.walk import trace
from tests.unit.doctor.deployment import OFPORTS, facts, healthy, plan_of, state
from tests.unit.plan.routers import NS
from tests.unit.seed import HOST, SEED, tap

API = state()
PLAN = plan_of(API)
OFPORT_OF = {tap(port_id): ofport for port_id, ofport in OFPORTS.items()}
LOST = Outcome("icmp", "", None, 3, False, "0/3 echo replies")


def model(source: str, destination: str, protocol: str = "icmp", port: int | None = None):
    return trace(API, {HOST: SEED}, resolve_probe(API, source, destination, protocol, port), facts={HOST: facts()})


def steps(result):
    return steps_for(result.hops, result.reply, PLAN, SEED, OFPORT_OF)


def reading(packets: int, flows=None, quiet: tuple[tuple[str, str], ...] = ()) -> Counters:
    """Every flow of the plan and every link the steps count at ``packets`` (``quiet`` links at 0)."""
    flows = flows if flows is not None else healthy(PLAN).flows
    counted = {bridge: [replace(flow, packets=packets) for flow in found] for bridge, found in flows.items()}
    devices = {(namespace, device) for namespace in ("", NS) for device in
               (tap("vm1-port"), tap("vm2-port"), "p1p1", "p1p2", *(leg.device for leg in PLAN.routers[0].legs))}
    links = {key: (0, 0) if key in quiet else (packets, packets) for key in devices}
    return Counters(counted, links)


def test_every_hop_of_the_request_and_the_reply_on_this_host_has_its_counter():
    found = steps(model("vm1", "vm2"))
    counted = [(s.reply, s.number, type(s.counter).__name__) for s in found if s.counter is not None]
    assert counted == [(False, 1, "LinkCounter"), (False, 3, "FlowCounter"), (False, 4, "FlowCounter"),
                       (False, 6, "LinkCounter"), (False, 8, "LinkCounter"), (False, 11, "FlowCounter"),
                       (False, 12, "LinkCounter"), (True, 1, "LinkCounter"), (True, 3, "FlowCounter"),
                       (True, 4, "FlowCounter"), (True, 6, "LinkCounter"), (True, 7, "LinkCounter"),
                       (True, 9, "FlowCounter"), (True, 10, "LinkCounter")]
    ingress = found[10].counter
    assert isinstance(ingress, FlowCounter) and ingress.bridge == "br-int"
    assert ingress.words == "2 flows of rule rule-icmp of tapvm2-port in table 82 of br-int"  # by reg5: not vm1's
    routed = found[7].counter
    assert routed == LinkCounter(NS, ("qr-" + PLAN.routers[0].legs[1].port_id[:11],), "tx", routed.words)


def test_nothing_stops_when_every_counter_saw_the_packets():
    checks, stop = localize(steps(model("vm1", "vm2")), reading(0), reading(3), sent=3)
    assert stop is None
    assert all(check.passed in (True, None) for check in checks)


def test_a_hop_whose_flows_are_gone_is_where_the_packets_stop_and_the_drift_is_named():
    result = model("vm1", "vm2")
    without = {**healthy(PLAN).flows, "br-int": [f for f in healthy(PLAN).flows["br-int"]
                                                 if not (f.flow.table == 82 and "icmp" in f.flow.match)]}
    checks, stop = localize(steps(result), reading(0, without), reading(3, without), sent=3)
    assert (stop.step.reply, stop.step.number, stop.packets, stop.installed, stop.planned) == (False, 11, 0, 0, 2)
    assert [c.passed for c in checks[:10] if c.passed is not None] == [True] * 5
    assert not any(c.step.reply for c in checks)  # no reply to count: the request never got there
    [finding] = explanations_for(result, LOST, checks, stop, reading(0, without), reading(3, without), HOST)
    assert finding.code == "live-flows-missing" and finding.severity == "error"
    assert finding.element == "request hop 11: firewall br-int table 82"
    assert finding.message.startswith("the packets stop at request hop 11: firewall br-int table 82: 2 of the "
                                      "2 flows the plan puts there are not installed; it passed request hop 8")
    assert finding.fix == "neutrino agent --config <agent.toml>"


def test_a_router_that_did_not_forward_is_where_the_packets_stop():
    result = model("vm1", "vm2")
    out_leg = (NS, "qr-" + PLAN.routers[0].legs[1].port_id[:11])
    checks, stop = localize(steps(result), reading(0), reading(3, quiet=(out_leg,)), sent=3)
    assert (stop.step.number, stop.step.hop.stage) == (8, "routing")
    [finding] = explanations_for(result, LOST, checks, stop, reading(0), reading(3, quiet=(out_leg,)), HOST)
    assert finding.code == "live-stopped" and "router did not take or forward them" in finding.cause


def test_packets_that_left_by_the_uplink_with_no_reply_point_outside_neutrino():
    result = model("vm1", "198.51.100.7")
    assert result.verdict.delivered
    silent = (("", "p1p1"), ("", "p1p2"))
    before, after = reading(0), reading(3)
    after = replace(after, links={**after.links, **{key: (0, 3) for key in silent}})  # sent out, nothing came in
    checks, stop = localize(steps(result), before, after, sent=3)
    assert (stop.step.reply, stop.step.hop.element.value) == (True, "fabric")
    [finding] = explanations_for(result, LOST, checks, stop, before, after, HOST)
    assert finding.code == "live-outside-neutrino"
    assert finding.message == "the evidence points outside neutrino: no reply came back in by p1p1, p1p2 " \
                              "(provider VLAN 201)"
    assert "does the upstream switch carry provider VLAN 201?" in finding.cause and "the outside" in finding.cause


def test_a_probe_answered_where_the_model_drops_is_a_disagreement():
    result = model("vm2", "vm1", "tcp", 22)
    assert result.verdict.reason.value == "dropped-by-security-group"
    answered = Outcome("tcp", "10.0.0.5", 22, 1, True, "connected")
    [finding] = explanations_for(result, answered, [], None, reading(0), reading(1), HOST)
    assert finding.code == "live-model-disagrees" and finding.found == "connected"


def test_a_drop_rule_of_someone_else_in_forward_that_counted_the_probe_is_named():
    result = model("vm1", "vm2")
    rule = "-A FORWARD -s 10.0.0.0/8 -j DROP"
    before = replace(reading(0), forward={rule: 5, "-A FORWARD -j REJECT": 1})
    after = replace(reading(3), forward={rule: 8, "-A FORWARD -j REJECT": 1})
    checks, stop = localize(steps(result), before, after, sent=3)
    found = explanations_for(result, LOST, checks, stop, before, after, HOST)
    assert [f.code for f in found] == ["live-not-localized", "live-foreign-forward-rule"]
    assert found[1].fix == "iptables -D FORWARD -s 10.0.0.0/8 -j DROP" and found[1].found == f"{rule}: 3 packets"
