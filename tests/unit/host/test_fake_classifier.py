"""The fake switch's classifier: which flow of a table a packet meets, conjunctive matches included, as
Open vSwitch decides it (tests/host/test_fake_parity.py asks the real one the same questions)."""

from __future__ import annotations

import pytest

from neutrino.host.fake import FakeHost
from tests.unit.host.classifier_cases import FLOWS, PROBES, TABLE


def _switch() -> FakeHost:
    host = FakeHost()
    host.run(["ovs-vsctl", "--", "add-br", "br-t", "--", "set", "Bridge", "br-t", "fail_mode=secure"])
    host.run(["ovs-ofctl", "--bundle", "replace-flows", "br-t", "-"], input="".join(f + "\n" for f in FLOWS))
    return host


@pytest.mark.parametrize(("packet", "heading", "actions"), PROBES, ids=[probe[0] for probe in PROBES])
def test_a_packet_meets_the_flow_ovs_would_apply(packet, heading, actions):
    decision = _switch().classify("br-t", TABLE, packet)
    assert (decision.heading, decision.actions) == (heading, actions) if decision else heading is None


def test_the_heading_names_the_cookie_and_a_flow_matching_everything():
    host = _switch()
    host.run(["ovs-ofctl", "add-flow", "br-t", "cookie=0x6e657574,table=4,priority=0,actions=drop"])
    decision = host.classify("br-t", 4, "tcp,nw_src=10.0.0.1")
    assert (decision.heading, decision.actions) == ("priority 0, cookie 0x6e657574", "drop")


def test_a_connection_state_and_registers_are_matched_under_their_masks():
    host = _switch()
    host.run(["ovs-ofctl", "add-flow", "br-t", "table=4,priority=40,ct_state=-est,reg5=0x7/0xf,actions=drop"])
    host.run(["ovs-ofctl", "add-flow", "br-t", "table=4,priority=50,ct_state=+est-rel+rpl,ct_zone=5,ct_mark=0,"
                                               "reg5=0x7,actions=NORMAL"])
    assert host.classify("br-t", 4, "ct_state=new|trk,ip,reg5=0x17").actions == "drop"
    assert host.classify("br-t", 4, "ct_state=est|rpl|trk,ct_zone=5,ip,reg5=7").actions == "NORMAL"
    assert host.classify("br-t", 4, "ct_state=est|rpl|trk,ct_zone=6,ip,reg5=7") is None
