"""The OpenFlow realizer with the native OVS firewall, on a FakeHost that prints conntrack flows as OVS
3.1 does: a firewalled host converges in one pass, and a rule change or a remote group's new member
touches only the flows that depend on it. What the installed flows decide for a packet is asked of the
fake switch's classifier (conjunctions included; tests/host/test_fake_parity.py holds it to OVS's)."""

from __future__ import annotations

import pytest

from neutrino.host.fake import FakeHost
from neutrino.realize.openflow import desired_flow, observe_flows
from tests.unit.plan.groups import default_group, group, instance, rule, state_of
from tests.unit.realize.passes import one_pass, plan_on
from tests.unit.seed import tap

WEB = group("sg-web", rule("r-ssh", protocol="tcp", port_min=22, port_max=22, prefix="10.0.0.0/24"),
            rule("r-ping", protocol="icmp", port_min=8, port_max=0), rule("r-out", "egress"), name="web")
# vm1port's tap is a plain name (printed bare by ovs-ofctl), vm2-port's has a hyphen (printed quoted)
VM1 = instance("vm1port", "10.0.0.5", "2001:db8::5", groups=("sg-default", "sg-web"))
VM2 = instance("vm2-port", "10.0.0.6", groups=("sg-default",))
ROUTER = instance("qr-port", "10.0.0.1", groups=(), device_owner="network:router_interface")
PORTS = [VM1, VM2, ROUTER]
STATE = state_of(PORTS, [default_group(), WEB])


def _firewalled_host(state=STATE) -> FakeHost:
    host = FakeHost()
    one_pass(host, state)
    for port in PORTS:
        host.plug("br-int", tap(port.id), port.id, port.mac_address)
    one_pass(host, state)
    return host


def test_every_planned_firewall_flow_is_read_back_exactly_as_planned():
    host = _firewalled_host()
    plan = plan_on(host, STATE)
    planned = {desired_flow(flow) for flow in plan.flows_of("br-int")}
    assert any("ct(commit" in flow.actions for flow in planned)
    assert set(observe_flows(host, "br-int")) == planned


def test_a_firewalled_host_converges_in_one_pass():
    host = _firewalled_host()
    host.commands.clear()
    ovsdb_report, flow_report = one_pass(host, STATE)
    assert not ovsdb_report and not flow_report, (ovsdb_report, flow_report)
    assert [c for c in host.commands if "replace-flows" in c] == []


def test_adding_a_rule_adds_only_its_flows():
    host = _firewalled_host()
    bigger = group("sg-web", *WEB.rules, rule("r-web", protocol="tcp", port_min=80, port_max=80), name="web")
    host.commands.clear()
    _, flow_report = one_pass(host, state_of(PORTS, [default_group(), bigger]))
    # a few differences go as flow mods in one bundle, not as the bridge's whole set
    assert [c for c in host.commands if c[0] == "ovs-ofctl" and "dump-flows" not in c] == [
        ["ovs-ofctl", "--bundle", "add-flows", "br-int", "-"]]
    assert flow_report.removed == [] and flow_report.changed == []
    assert sorted(flow_report.added) == sorted(
        f"br-int table=82,priority=77,ct_state={state},reg5=0x2,tcp,tp_dst=80 actions={actions}"
        for state, actions in (("+est-rel-rpl", "output:tapvm1port"),
                               ("+new-est", "ct(commit,zone=NXM_NX_REG6[0..15]),output:tapvm1port,resubmit(,92)")))


def test_removing_a_rule_removes_only_its_flows():
    host = _firewalled_host()
    smaller = group("sg-web", *(r for r in WEB.rules if r.id != "r-ping"), name="web")
    state = state_of(PORTS, [default_group(), smaller])
    _, flow_report = one_pass(host, state)
    assert flow_report.added == [] and flow_report.changed == []
    assert len(flow_report.removed) == 2
    assert all("icmp,icmp_code=0,icmp_type=8" in line for line in flow_report.removed), flow_report.removed
    assert not any("icmp_type=8" in line for line in host.flow_lines("br-int"))
    assert not one_pass(host, state)[1]


def _ingress(host: FakeHost, port, source: str, state: str = "new", rest: str = "tcp,tp_dst=5000"):
    """What br-int's ingress rules (table 82) do with a packet from ``source`` to ``port``."""
    [firewall] = [f for f in plan_on(host, STATE).firewalls if f.port_id == port.id]
    protocol, _, ports = rest.partition(",")
    v6 = ":" in source
    fields = [f"ct_state={state}|trk", f"ct_zone={firewall.local_vlan}", protocol + ("6" if v6 else ""), ports,
              f"reg5={firewall.ofport}", f"reg6={firewall.local_vlan}", f"{'ipv6_src' if v6 else 'nw_src'}={source}"]
    return host.classify("br-int", 82, ",".join(fields))


def _admitted(decision) -> bool:
    return decision is not None and "output:" in decision.actions


def test_a_new_member_of_a_remote_group_adds_only_its_member_clauses_and_is_admitted():
    host = _firewalled_host()
    elsewhere = instance("vm9-port", "10.0.0.77", groups=("sg-default",), host="compute2")
    assert not _admitted(_ingress(host, VM1, "10.0.0.77")) and not _admitted(_ingress(host, VM2, "10.0.0.77"))
    _, flow_report = one_pass(host, state_of([*PORTS, elsewhere], [default_group(), WEB]))
    assert flow_report.removed == [] and flow_report.changed == []
    # the default group admits ingress from its members: one member clause for new and one for established
    # connections, shared by both member ports here
    assert len(flow_report.added) == 2
    assert all("nw_src=10.0.0.77" in line and "actions=conjunction(" in line for line in flow_report.added)
    assert _admitted(_ingress(host, VM1, "10.0.0.77")) and _admitted(_ingress(host, VM2, "10.0.0.77"))


# (to, from, connection state, protocol and ports) -> admitted, and by which rule
PROBES = [
    pytest.param(VM1, "10.0.0.6", "new", "tcp,tp_dst=5000", "d-in4", id="member, any protocol"),
    pytest.param(VM1, "10.0.0.6", "est", "tcp,tp_dst=5000", "d-in4", id="member, established"),
    pytest.param(VM1, "10.0.0.9", "new", "tcp,tp_dst=22", "r-ssh", id="prefix rule"),
    pytest.param(VM1, "10.0.0.6", "new", "tcp,tp_dst=22", "r-ssh", id="prefix rule above remote group"),
    pytest.param(VM1, "10.0.0.9", "new", "tcp,tp_dst=5000", None, id="neither member nor rule"),
    pytest.param(VM1, "10.0.0.9", "est", "tcp,tp_dst=5000", None, id="established, no rule any more"),
    pytest.param(VM1, "192.168.0.1", "new", "icmp,icmp_type=8,icmp_code=0", "r-ping", id="ping from anywhere"),
    pytest.param(VM2, "10.0.0.5", "new", "udp,udp_dst=53", "d-in4", id="member to the other port"),
    pytest.param(VM2, "10.0.0.9", "new", "tcp,tp_dst=22", None, id="web's rule is not the other port's"),
    pytest.param(VM2, "2001:db8::5", "new", "tcp,tp_dst=80", "d-in6", id="IPv6 member"),
    pytest.param(VM2, "2001:db8::6", "new", "tcp,tp_dst=80", None, id="IPv6 non-member"),
]


@pytest.mark.parametrize(("port", "source", "state", "rest", "rule_id"), PROBES)
def test_installed_flows_admit_exactly_what_the_rules_say(port, source, state, rest, rule_id):
    host = _firewalled_host()
    decision = _ingress(host, port, source, state, rest)
    assert _admitted(decision) is (rule_id is not None), decision
    if rule_id is not None:
        [flow] = [f for f in plan_on(host, STATE).flows_of("br-int") if _heads(f, decision)]
        assert flow.source == rule_id
        assert ("ct(commit" in decision.actions) is (state == "new")


def _heads(flow, decision) -> bool:
    """Whether ``decision`` is this planned flow (the same priority and match fields)."""
    match, _, priority = decision.heading.split(", cookie")[0].rpartition(", priority ")
    return flow.table == 82 and flow.priority == int(priority) and set(flow.match.split(",")) == set(match.split(","))


def test_a_member_that_leaves_the_group_is_cut_off_established_too():
    host = _firewalled_host()
    assert _admitted(_ingress(host, VM1, "10.0.0.6", "est"))
    gone = instance("vm2-port", "10.0.0.6", groups=())
    one_pass(host, state_of([VM1, gone, ROUTER], [default_group(), WEB]))
    decision = _ingress(host, VM1, "10.0.0.6", "est")
    assert "exec(load:0x1->NXM_NX_CT_MARK[])" in decision.actions  # marked no longer allowed, then dropped


def test_an_unplugged_port_loses_its_flows_and_its_peers_keep_theirs():
    host = _firewalled_host()
    host.unplug(tap(VM2.id))
    one_pass(host, STATE)
    lines = host.flow_lines("br-int")
    assert not any(tap(VM2.id) in line for line in lines)
    assert any('in_port=tapvm1port actions=load:0x2->NXM_NX_REG5[]' in line for line in lines)
    assert not one_pass(host, STATE)[1]
