"""The fake switch reads the firewall's OpenFlow vocabulary and prints it back as ovs-ofctl 3.1 does.

Each expected line was printed by the real ``ovs-ofctl dump-flows --no-stats --names`` for the same
input (tests/host/test_fake_parity.py keeps checking that against this machine's OVS).
"""

from __future__ import annotations

import pytest

from neutrino.host.errors import CommandFailed
from neutrino.host.fake import FakeHost

SPELLINGS = [
    pytest.param("table=82,priority=70,ct_state=-trk+new,ct_mark=1,ct_zone=0x5,reg5=7,ip,nw_proto=6,tp_dst=0x16,"
                 "actions=ct(zone=NXM_NX_REG6[0..15],commit,exec(load:1->NXM_NX_CT_MARK[])),output:tapa,"
                 'output:"tap-b"',
                 " table=82, priority=70,ct_state=+new-trk,ct_zone=5,ct_mark=0x1,tcp,reg5=0x7,tp_dst=22 "
                 "actions=ct(commit,zone=NXM_NX_REG6[0..15],exec(load:0x1->NXM_NX_CT_MARK[])),output:tapa,"
                 'output:"tap-b"', id="conntrack, registers, protocol shorthand, ports by name"),
    pytest.param("table=71,reg5=0x7/0xff,in_port=tapa,dl_src=FA:16:3E:00:00:01,arp,nw_src=10.0.0.5/24,"
                 "actions=load:0->NXM_NX_REG5[],load:0xffffffff->NXM_NX_REG6[0..31],ct_clear,resubmit(,72)",
                 " table=71, arp,reg5=0x7/0xff,in_port=tapa,dl_src=fa:16:3e:00:00:01,arp_spa=10.0.0.0/24 "
                 "actions=load:0->NXM_NX_REG5[],load:0xffffffff->NXM_NX_REG6[],ct_clear,resubmit(,72)",
                 id="ARP addresses, whole-register loads"),
    pytest.param("table=71,icmp6,icmp_type=136,nd_target=2001:db8::1/64,ct_state=+est-rel+rpl,actions=strip_vlan",
                 " table=71, ct_state=+est-rel+rpl,icmp6,icmp_type=136,nd_target=2001:db8::/64 actions=strip_vlan",
                 id="neighbour advertisement target"),
    pytest.param("table=71,reg1=1,tp_dst=22,icmp6,nd_target=fe80::1,ipv6_src=2001:0db8::5/128,actions=NORMAL",
                 " table=71, icmp6,reg1=0x1,ipv6_src=2001:db8::5,icmp_code=22 actions=NORMAL",
                 id="nd_target without an ND type is dropped; tp_dst of ICMP is its code"),
    pytest.param("table=71,reg1=2,udp,icmp_type=1,nw_dst=10.1.2.3/255.255.0.0,actions=drop",
                 " table=71, udp,reg1=0x2,nw_dst=10.1.0.0/16,tp_src=1 actions=drop", id="icmp_type of UDP is tp_src"),
    pytest.param("table=71,reg1=3,dl_type=0x86dd,nw_proto=50,ct_state=+inv+trk,"
                 "actions=ct(table=82,zone=NXM_NX_REG6[0..15])",
                 " table=71, ct_state=+inv+trk,ipv6,reg1=0x3,nw_proto=50 actions=ct(table=82,zone=NXM_NX_REG6[0..15])",
                 id="a protocol without a shorthand"),
    pytest.param("reg5=1,tp_dst=22,ipv6_src=::1,actions=drop", " reg5=0x1 actions=drop",
                 id="fields without their prerequisites are dropped"),
    pytest.param("table=82,priority=73,ct_state=+new-est,tcp,reg5=0x7,tp_dst=22,"
                 "actions=conjunction(20,2/2),conjunction( 0xb , 2/2)",
                 " table=82, priority=73,ct_state=+new-est,tcp,reg5=0x7,tp_dst=22 "
                 "actions=conjunction(20,2/2),conjunction(11,2/2)", id="conjunctions, in the order given"),
    pytest.param("table=82,priority=73,ip,reg5=7,ct_state=+new-est,conj_id=0xb,actions=resubmit(,73)",
                 " table=82, priority=73,conj_id=11,ct_state=+new-est,ip,reg5=0x7 actions=resubmit(,73)",
                 id="conj_id first, in decimal"),
    pytest.param("reg5=1/2,actions=drop", " reg5=0/0x2 actions=drop", id="bits outside the mask are cleared"),
]


def _switch() -> FakeHost:
    host = FakeHost()
    host.run(["ovs-vsctl", "--", "add-br", "br-t", "--", "set", "Bridge", "br-t", "fail_mode=secure"])
    for name in ("tapa", "tap-b"):
        host.plug("br-t", name, f"port-{name}", "fa:16:3e:00:00:01")
    return host


@pytest.mark.parametrize(("flow", "printed"), SPELLINGS)
def test_a_flow_is_printed_back_in_ovs_canonical_form(flow, printed):
    host = _switch()
    host.run(["ovs-ofctl", "add-flow", "br-t", flow])
    assert host.flow_lines("br-t") == [printed]


def test_two_spellings_of_one_flow_are_one_flow():
    host = _switch()
    host.run(["ovs-ofctl", "add-flow", "br-t", "ip,nw_proto=6,reg5=7,actions=drop"])
    host.run(["ovs-ofctl", "add-flow", "br-t", "tcp,reg5=0x7,actions=NORMAL"])
    assert host.flow_lines("br-t") == [" tcp,reg5=0x7 actions=NORMAL"]


def test_output_to_a_removed_port_prints_its_number():
    host = _switch()
    host.run(["ovs-ofctl", "add-flow", "br-t", 'actions=output:"tap-b"'])
    host.unplug("tap-b")
    assert host.flow_lines("br-t") == [" actions=output:2"]


@pytest.mark.parametrize(("flow", "message"), [
    ("reg5=1,actions=ct(commit,zone=NXM_NX_REG6[0..15])", "actions are invalid with specified match"),
    ('ip,actions=output:"nosuch"', '"nosuch": output to unknown port'),
    ("ct_state=+bogus,actions=drop", "bogus: unknown ct_state flag(s)"),
    ("ip,actions=drop,NORMAL", '"drop" must not be accompanied by any other action'),
    ("ip,actions=conjunction(5,1/2),resubmit(,3)", '"conjunction" actions may be used along with "note" but not '
                                                   'any other kind of action (such as the "resubmit" action used here)'),
    ("ip,actions=load:1->NXM_NX_REG5[],conjunction(5,1/2)", '(such as the "set_field" action used here)'),
    ("ip,actions=conjunction(5,1/1)", "conjunction must have at least 2 clauses"),
    ("ip,actions=conjunction(5,3/2)", "clause index must be less than or equal to number of clauses"),
    ("ip,actions=conjunction(5,0/2)", "clause index must be positive"),
    ("ip,actions=conjunction(5)", '"conjunction" syntax is "conjunction(id,i/n)"'),
    ("conj_id=7/0xff,actions=drop", "7/0xff: invalid mask for field conj_id"),
])
def test_what_ovs_ofctl_refuses_is_refused(flow, message):
    with pytest.raises(CommandFailed) as failed:
        _switch().run(["ovs-ofctl", "add-flow", "br-t", flow])
    assert failed.value.rc == 1 and message in failed.value.stderr
