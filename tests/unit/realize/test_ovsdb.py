"""The OVSDB realizer on a FakeHost: creates what the plan asks, converges in one pass, restores drift,
removes only what neutrino marked as its own."""

from __future__ import annotations

import dataclasses

from neutrino.host.fake import FakeHost
from neutrino.plan.host_plan import Interface
from neutrino.plan.l2 import DEAD_REASON
from neutrino.realize.ovsdb import LIST_ARGS, OWNED, apply_ovsdb, observe_ovs
from tests.unit.realize.passes import one_pass, plan_on
from tests.unit.seed import HOST, SEED, api, mac_of, port, tap, vlan_network

NET = vlan_network("net-a", 100)
STATE = api([NET], [port("vm1-port", "net-a")])


def _seeded(*plugged: str) -> FakeHost:
    """A fake host after one pass of the seed config, with these API ports' taps plugged into br-int."""
    host = FakeHost()
    one_pass(host, STATE)
    for port_id in plugged:
        host.plug("br-int", tap(port_id), port_id, mac_of(port_id))
    return host


def _vsctl(host: FakeHost, *args: str) -> None:
    host.run(["ovs-vsctl", "--", *args])


def test_applying_the_seed_plan_creates_bridges_bond_and_patches():
    host = FakeHost()
    ovsdb_report, _ = one_pass(host, STATE)
    assert ovsdb_report.added == ["bridge br-int", "bridge br-bond0", "bridge br-ex",
                                  "port br-int/int-br-bond0", "port br-bond0/phy-br-bond0", "port br-bond0/bond0",
                                  "port br-ex/patch-bond0", "port br-bond0/patch-ex"]
    seen = observe_ovs(host)
    assert {(b.name, b.datapath_type, b.fail_mode, b.managed_by) for b in seen.bridges.values()} == {
        ("br-int", "netdev", "secure", HOST), ("br-bond0", "netdev", "secure", HOST),
        ("br-ex", "netdev", "secure", HOST)}
    assert {name: (p.bridge, p.interfaces, p.tag, p.bond_mode, p.owned) for name, p in seen.ports.items()} == {
        "int-br-bond0": ("br-int", (Interface("int-br-bond0", "patch", "phy-br-bond0"),), None, None, True),
        "phy-br-bond0": ("br-bond0", (Interface("phy-br-bond0", "patch", "int-br-bond0"),), None, None, True),
        "bond0": ("br-bond0", (Interface("p1p1"), Interface("p1p2")), None, "balance-slb", True),
        "patch-bond0": ("br-ex", (Interface("patch-bond0", "patch", "patch-ex"),), None, None, True),
        "patch-ex": ("br-bond0", (Interface("patch-ex", "patch", "patch-bond0"),), 201, None, True),
    }


def test_applying_twice_changes_nothing_the_second_time():
    host = _seeded("vm1-port")
    one_pass(host, STATE)
    host.commands.clear()
    ovsdb_report, _ = one_pass(host, STATE)
    assert not ovsdb_report, ovsdb_report
    assert [c for c in host.commands if c[0] == "ovs-vsctl" and c != LIST_ARGS] == []  # nothing written


def test_everything_is_written_in_one_transaction():
    host = FakeHost()
    one_pass(host, STATE)
    writes = [c for c in host.commands if c[0] == "ovs-vsctl" and c != LIST_ARGS]
    assert len(writes) == 1


def test_instance_port_is_tagged_with_its_networks_local_vlan():
    host = _seeded("vm1-port")
    ovsdb_report, _ = one_pass(host, STATE)
    assert ovsdb_report.changed == [f"port br-int/{tap('vm1-port')} tag None -> 1"]
    seen = observe_ovs(host).ports[tap("vm1-port")]
    assert (seen.tag, seen.vlan_mode, seen.owned) == (1, None, False)
    assert dict(seen.other_config)["net_uuid"] == "net-a"


def test_parked_port_shows_dead_vlan_and_reason_until_it_can_be_bound():
    down = api([NET], [port("vm1-port", "net-a", admin_state_up=False)])
    host = _seeded("vm1-port")
    one_pass(host, down)
    parked = observe_ovs(host).ports[tap("vm1-port")]
    assert (parked.tag, parked.vlan_mode, parked.trunks) == (4095, "trunk", (4095,))
    assert dict(parked.other_config)[DEAD_REASON] == "port vm1-port has admin_state_up false"

    one_pass(host, STATE)  # admin_state_up back to true
    bound = observe_ovs(host).ports[tap("vm1-port")]
    assert (bound.tag, bound.vlan_mode, bound.trunks) == (1, None, ())
    assert DEAD_REASON not in dict(bound.other_config)
    assert not one_pass(host, STATE)[0]


def test_port_deleted_by_hand_is_restored():
    host = _seeded()
    _vsctl(host, "del-port", "patch-ex")
    ovsdb_report, _ = one_pass(host, STATE)
    assert ovsdb_report.added == ["port br-bond0/patch-ex"]
    assert observe_ovs(host).ports["patch-ex"].tag == 201


def test_tags_changed_by_hand_are_restored():
    host = _seeded("vm1-port")
    one_pass(host, STATE)
    _vsctl(host, "set", "Port", "patch-ex", "tag=7")
    _vsctl(host, "set", "Port", tap("vm1-port"), "tag=9")
    ovsdb_report, _ = one_pass(host, STATE)
    assert sorted(ovsdb_report.changed) == ["port br-bond0/patch-ex", f"port br-int/{tap('vm1-port')} tag 9 -> 1"]
    seen = observe_ovs(host).ports
    assert (seen["patch-ex"].tag, seen[tap("vm1-port")].tag) == (201, 1)


def test_bridge_changed_by_hand_is_restored():
    host = _seeded()
    _vsctl(host, "set", "Bridge", "br-int", "fail_mode=standalone")
    ovsdb_report, _ = one_pass(host, STATE)
    assert ovsdb_report.changed == ["bridge br-int"]
    assert observe_ovs(host).bridges["br-int"].fail_mode == "secure"


def test_stale_owned_port_is_removed():
    host = _seeded()
    _vsctl(host, "add-port", "br-int", "int-br-old", "--", "set", "Port", "int-br-old", f"external_ids:{OWNED}=true")
    ovsdb_report, _ = one_pass(host, STATE)
    assert ovsdb_report.removed == ["port br-int/int-br-old"]
    assert "int-br-old" not in observe_ovs(host).ports


def test_instance_port_not_in_the_plan_is_never_deleted():
    host = _seeded("vm1-port")
    _vsctl(host, "add-port", "br-bond0", "eth9")  # an operator's own port on our bridge
    plan = plan_on(host, STATE)
    plan = dataclasses.replace(plan, ports=tuple(p for p in plan.ports if p.owned))  # no instance port
    report = apply_ovsdb(host, plan)
    assert report.removed == []
    assert {tap("vm1-port"), "eth9"} <= set(observe_ovs(host).ports)


def test_bridge_without_the_managed_mark_is_never_deleted():
    host = _seeded()
    _vsctl(host, "add-br", "br-user")
    _vsctl(host, "add-br", "br-other", "--", "set", "Bridge", "br-other", "external_ids:neutrino-managed=compute2")
    one_pass(host, STATE)
    assert {"br-user", "br-other"} <= set(observe_ovs(host).bridges)


def test_bridge_this_host_no_longer_configures_is_removed():
    host = _seeded()
    ovsdb_report, _ = one_pass(host, STATE, dataclasses.replace(SEED, extra_bridges=(), patch_links=()))
    assert sorted(ovsdb_report.removed) == ["bridge br-ex", "port br-bond0/patch-ex"]
    assert set(observe_ovs(host).bridges) == {"br-int", "br-bond0"}


def test_bond_members_changed_in_config_rebuild_the_bond():
    host = _seeded()
    rewired = dataclasses.replace(SEED.physical_bridges[0], uplinks=("p1p1", "p1p3"))
    ovsdb_report, _ = one_pass(host, STATE, dataclasses.replace(SEED, physical_bridges=(rewired,)))
    assert ovsdb_report.changed == ["port br-bond0/bond0"]
    assert observe_ovs(host).ports["bond0"].interfaces == (Interface("p1p1"), Interface("p1p3"))
