"""The OpenFlow realizer on a FakeHost: installs the plan's flows, converges in one pass, restores flows
deleted by hand or lost to an ovs-vswitchd restart, removes stale ones, and reports each difference."""

from __future__ import annotations

import re

from neutrino.host.fake import FakeHost
from neutrino.model.host_config import HostConfig
from neutrino.plan.tables import COOKIE
from neutrino.realize.openflow import apply_flows, observe_flows, sync_flows, vswitchd_pid
from tests.unit.realize.passes import one_pass, plan_on
from tests.unit.seed import SEED, SEED_L2, api, mac_of, port, tap, vlan_network

C = f"cookie={COOKIE:#x}"
STATE = api([vlan_network("net-a", 100)], [port("vm1-port", "net-a"), port("vm2-port", "net-a",
                                                                           admin_state_up=False)])


def _plugged_host(config: HostConfig = SEED) -> FakeHost:
    """A fake host where vm1 (bindable) and vm2 (admin down: parked) are plugged and one pass has run."""
    host = FakeHost()
    one_pass(host, STATE, config)
    for port_id in ("vm1-port", "vm2-port"):
        host.plug("br-int", tap(port_id), port_id, mac_of(port_id))
    one_pass(host, STATE, config)
    return host


def _ofctl(host: FakeHost, *args: str) -> None:
    host.run(["ovs-ofctl", *args])


def test_applying_a_plan_installs_every_flow_as_ovs_prints_it():
    host = _plugged_host(SEED_L2)  # the L2 flows alone; the firewall's are in test_firewall_flows.py
    assert sorted(host.flow_lines("br-int")) == sorted([
        f" {C}, priority=65535,dl_vlan=4095 actions=drop",
        f" {C}, priority=3,in_port=\"int-br-bond0\",dl_vlan=100 actions=mod_vlan_vid:1,resubmit(,60)",
        f" {C}, priority=2,in_port=\"int-br-bond0\" actions=drop",
        f" {C}, priority=2,in_port=\"{tap('vm2-port')}\" actions=drop",
        f" {C}, priority=0 actions=resubmit(,60)",
        f" {C}, table=23, priority=0 actions=drop",
        f" {C}, table=60, priority=1 actions=NORMAL",
    ])
    assert sorted(host.flow_lines("br-bond0")) == sorted([
        f" {C}, priority=4,in_port=\"phy-br-bond0\",dl_vlan=1 actions=mod_vlan_vid:100,NORMAL",
        f" {C}, priority=2,in_port=\"phy-br-bond0\" actions=drop",
        f" {C}, priority=0 actions=NORMAL",
    ])
    assert host.flow_lines("br-ex") == [f" {C}, priority=0 actions=NORMAL"]


def test_applying_twice_changes_nothing_the_second_time():
    host = _plugged_host()
    host.commands.clear()
    _, flow_report = one_pass(host, STATE)
    assert not flow_report, flow_report
    assert [c for c in host.commands if "replace-flows" in c] == []


def test_each_bridge_is_replaced_in_one_atomic_bundle():
    host = FakeHost()
    one_pass(host, STATE)
    installs = [c for c in host.commands if c[0] == "ovs-ofctl" and "dump-flows" not in c]
    assert installs == [["ovs-ofctl", "--bundle", "replace-flows", bridge, "-"]
                        for bridge in ("br-int", "br-bond0", "br-ex")]


def test_flow_deleted_by_hand_is_restored():
    host = _plugged_host()
    _ofctl(host, "--strict", "del-flows", "br-int", "table=0,priority=3,in_port=int-br-bond0,dl_vlan=100")
    _, flow_report = one_pass(host, STATE)
    assert flow_report.added == [
        "br-int table=0,priority=3,dl_vlan=100,in_port=int-br-bond0 actions=mod_vlan_vid:1,resubmit(,60)"]
    assert flow_report.removed == [] and flow_report.changed == []
    assert any("dl_vlan=100" in line for line in host.flow_lines("br-int"))


def test_stale_flow_is_removed():
    host = _plugged_host()
    _ofctl(host, "add-flow", "br-bond0", f"{C},priority=4,in_port=phy-br-bond0,dl_vlan=9,actions=mod_vlan_vid:900,NORMAL")
    _, flow_report = one_pass(host, STATE)
    assert flow_report.removed == ["br-bond0 table=0,priority=4,dl_vlan=9,in_port=phy-br-bond0 "
                                   "actions=mod_vlan_vid:900,NORMAL"]
    assert not any("dl_vlan=9 " in line for line in host.flow_lines("br-bond0"))


def test_flows_come_back_after_vswitchd_restart():
    host = _plugged_host()
    expected = {bridge: sorted(host.flow_lines(bridge)) for bridge in ("br-int", "br-bond0", "br-ex")}
    host.restart_vswitchd()
    assert all(host.flow_lines(bridge) == [] for bridge in expected)  # secure bridges: nothing at all

    ovsdb_report, flow_report = one_pass(host, STATE)
    assert not ovsdb_report  # the ports survived the restart
    assert len(flow_report.added) == sum(len(lines) for lines in expected.values())
    assert {bridge: sorted(host.flow_lines(bridge)) for bridge in expected} == expected


def test_drop_flow_of_an_unplugged_parked_port_is_removed():
    host = _plugged_host()
    host.unplug(tap("vm2-port"))
    [stale] = [f for f in observe_flows(host, "br-int") if f.priority == 2 and "int-br" not in str(f.match)]
    [match] = stale.match
    assert re.fullmatch(r"in_port=\d+", match)  # OVS keeps the flow, naming the gone port by number
    _, flow_report = one_pass(host, STATE)
    assert flow_report.removed == [f"br-int table=0,priority=2,{match} actions=drop"]


def test_changed_segmentation_id_changes_the_translation_flows():
    host = _plugged_host()
    moved = api([vlan_network("net-a", 200)], STATE.ports.values())
    _, flow_report = one_pass(host, moved)
    assert flow_report.added == [
        "br-int table=0,priority=3,dl_vlan=200,in_port=int-br-bond0 actions=mod_vlan_vid:1,resubmit(,60)"]
    assert flow_report.removed == [
        "br-int table=0,priority=3,dl_vlan=100,in_port=int-br-bond0 actions=mod_vlan_vid:1,resubmit(,60)"]
    assert flow_report.changed == [
        "br-bond0 table=0,priority=4,dl_vlan=1,in_port=phy-br-bond0 actions=mod_vlan_vid:200,NORMAL"]


def test_bridges_outside_the_plan_keep_their_flows():
    host = _plugged_host()
    host.run(["ovs-vsctl", "--", "add-br", "br-user"])
    user_flows = host.flow_lines("br-user")
    assert user_flows == [" priority=0 actions=NORMAL"]  # a standalone bridge's own learning-switch flow
    apply_flows(host, plan_on(host, STATE))
    assert host.flow_lines("br-user") == user_flows


def test_sync_returns_what_each_bridge_holds_as_dump_flows_reads_it_back():
    host = _plugged_host()
    host.run(["ovs-ofctl", "add-flow", "br-int", "table=0,priority=200,ip,nw_dst=10.0.0.5,actions=drop"])
    synced = sync_flows(host, plan_on(host, STATE))
    assert synced.report.removed  # the stray flow went...
    assert {bridge: set(flows) for bridge, flows in synced.installed.items()} == {
        bridge: set(observe_flows(host, bridge)) for bridge in ("br-int", "br-bond0", "br-ex")}  # ...as it says


def test_the_vswitchd_pid_changes_when_it_restarts():
    host = _plugged_host()
    before = vswitchd_pid(host)
    assert before is not None and vswitchd_pid(host) == before
    host.restart_vswitchd()
    assert vswitchd_pid(host) not in (None, before)
