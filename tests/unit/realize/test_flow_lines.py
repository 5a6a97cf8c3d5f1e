"""How the OpenFlow realizer reads dump-flows lines and writes the flow mods of a few differences."""

from __future__ import annotations

import pytest

from neutrino.plan.host_plan import Flow
from neutrino.realize.diff import Changes
from neutrino.realize.openflow import InstalledFlow, desired_flow, flow_mods_for, parse_flow_line


@pytest.mark.parametrize(("line", "expected"), [
    pytest.param(' cookie=0x6e657574, table=82, priority=77,ct_state=+new-est,tcp,reg5=0x7,tp_dst=22 '
                 'actions=ct(commit,zone=NXM_NX_REG6[0..15]),output:"tap-a",resubmit(,92)',
                 InstalledFlow(82, 77, frozenset({"ct_state=+new-est", "tcp", "reg5=0x7", "tp_dst=22"}),
                               'ct(commit,zone=NXM_NX_REG6[0..15]),output:"tap-a",resubmit(,92)'),
                 id="no stats"),
    pytest.param(" cookie=0x0, duration=12.5s, table=60, n_packets=4, n_bytes=280, idle_age=1, "
                 'priority=100,in_port="tap-a" actions=resubmit(,71)',
                 InstalledFlow(60, 100, frozenset({"in_port=tap-a"}), "resubmit(,71)"), id="stats, quoted port"),
    pytest.param(" cookie=0x5, table=2, actions=drop", InstalledFlow(2, 32768, frozenset(), "drop"),
                 id="nothing to match"),
    pytest.param(" priority=0 actions=NORMAL", InstalledFlow(0, 0, frozenset(), "NORMAL"), id="table 0"),
    pytest.param(" ip actions=drop", InstalledFlow(0, 32768, frozenset({"ip"}), "drop"), id="default priority"),
    pytest.param("NXST_FLOW reply (xid=0x4):", None, id="header"),
])
def test_a_dump_flows_line_is_read_as_table_priority_match_and_actions(line, expected):
    assert parse_flow_line(line) == expected


def test_a_planned_flow_reads_as_its_dumped_form():
    flow = Flow("br-int", 82, 77, "ct_state=+new-est,tcp,reg5=0x7,tp_dst=22", "drop")
    assert desired_flow(flow) == parse_flow_line(
        " cookie=0x6e657574, table=82, priority=77,ct_state=+new-est,tcp,reg5=0x7,tp_dst=22 actions=drop")


def test_flow_mods_add_new_and_changed_flows_and_delete_exactly_the_gone_ones():
    new = Flow("br-int", 82, 77, "ct_state=+new-est,tcp,reg5=0x7,tp_dst=80", "drop")
    changed = Flow("br-int", 60, 1, "", "NORMAL")
    gone = InstalledFlow(82, 77, frozenset({"tp_dst=22", "tcp", "reg5=0x7", "ct_state=+new-est"}), "drop")
    changes = Changes(add=(desired_flow(new),), remove=(gone,),
                      modify=((InstalledFlow(60, 1, frozenset(), "drop"), desired_flow(changed)),))
    planned = {desired_flow(f).key: f for f in (new, changed)}
    assert flow_mods_for(changes, planned).splitlines() == [
        f"add {new.text()}",
        f"add {changed.text()}",
        # exactly the installed table, priority and match (no actions: delete_strict refuses them)
        "delete_strict table=82,priority=77,tcp,ct_state=+new-est,reg5=0x7,tp_dst=22",
    ]
