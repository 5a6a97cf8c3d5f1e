"""FakeHost behaves as ovs-vsctl / ovs-ofctl 3.1 were seen to behave on this machine (the messages and
formats below were copied from the real tools; tests/host/test_fake_parity.py re-checks them live)."""

from __future__ import annotations

import json

import pytest

from neutrino.host.errors import CommandFailed
from neutrino.host.fake import NOT_MODELLED, FakeHost
from neutrino.realize.ovsdb import observe_ovs


def _vsctl(host: FakeHost, *args: str, check: bool = True):
    return host.run(["ovs-vsctl", "--timeout=10", *args], check=check)


def _secure_bridge(name: str = "br-t") -> FakeHost:
    host = FakeHost()
    _vsctl(host, "--", "add-br", name, "--", "set", "Bridge", name, "datapath_type=netdev", "fail_mode=secure")
    return host


def _port_json(host: FakeHost, name: str, columns: str) -> list:
    out = _vsctl(host, "--format=json", "--", f"--columns={columns}", "list", "Port", name).stdout
    return json.loads(out)["data"][0]


def test_a_failed_transaction_changes_nothing():
    host = FakeHost()
    with pytest.raises(CommandFailed) as failed:
        _vsctl(host, "--", "add-br", "br-a", "--", "set", "Port", "nosuch", "tag=1")
    assert (failed.value.rc, failed.value.stderr) == (1, 'ovs-vsctl: no row "nosuch" in table Port\n')
    assert observe_ovs(host).bridges == {}


def test_errors_come_back_as_results_when_not_checked():
    result = _vsctl(FakeHost(), "--", "del-port", "nosuch", check=False)
    assert (result.rc, result.stderr) == (1, "ovs-vsctl: no port named nosuch\n")


@pytest.mark.parametrize("argv", [
    ["ovs-vsctl", "--", "get", "Port", "p", "tag"],
    ["ovs-vsctl", "--oneline", "--", "list-br"],
    ["ovs-vsctl", "--format=json", "--", "list", "Port"],  # every column: not modelled
    ["ovs-ofctl", "dump-ports", "br-t"],
    ["ovs-ofctl", "replace-flows", "br-t", "-"],  # without --bundle it would not be atomic
    ["ip", "link", "show"],
])
def test_vocabulary_the_fake_does_not_know_fails_loudly_even_unchecked(argv):
    with pytest.raises(CommandFailed) as failed:
        _secure_bridge().run(argv, check=False)
    assert failed.value.rc == NOT_MODELLED and "does not model" in failed.value.stderr


def test_commands_in_a_namespace_are_not_modelled_yet():
    with pytest.raises(CommandFailed, match="network namespaces"):
        FakeHost().run(["ovs-vsctl", "show"], netns="qrouter-x")


def test_every_argv_is_logged():
    host = _secure_bridge()
    host.run(["ovs-ofctl", "dump-flows", "br-t"])
    assert host.commands[-1] == ["ovs-ofctl", "dump-flows", "br-t"] and len(host.commands) == 2


def test_values_are_read_as_ovs_vsctl_reads_them():
    host = _secure_bridge()
    _vsctl(host, "--", "add-port", "br-t", "p", "--", "set", "Port", "p", "tag=5", "trunks=1,2,3",
           'other_config:reason="a \\"quoted\\" reason"', "other_config:plain=x y")
    assert _port_json(host, "p", "name,tag,trunks,other_config") == [
        "p", 5, ["set", [1, 2, 3]], ["map", [["plain", "x y"], ["reason", 'a "quoted" reason']]]]
    _vsctl(host, "--", "set", "Port", "p", "trunks=4095", "--", "remove", "Port", "p", "other_config", "plain",
           "--", "clear", "Port", "p", "tag")
    assert _port_json(host, "p", "tag,trunks,other_config") == [["set", []], 4095, ["map", [["reason",
                                                                                          'a "quoted" reason']]]]


@pytest.mark.parametrize(("setting", "message"), [
    ("trunks=", 'trunks=: argument does not end in "=" followed by a value.'),
    ("tag=5000", "constraint violation: 5000 is not in the valid range 0 to 4095 (inclusive)"),
    ("tag=abc", '"abc" is not a valid integer or range'),
    ("vlan_mode=bogus", "constraint violation: bogus is not one of the allowed values "
                        "([access, dot1q-tunnel, native-tagged, native-untagged, trunk])"),
])
def test_bad_values_are_refused_as_ovs_vsctl_refuses_them(setting, message):
    host = _secure_bridge()
    _vsctl(host, "--", "add-port", "br-t", "p")
    with pytest.raises(CommandFailed) as failed:
        _vsctl(host, "--", "set", "Port", "p", setting)
    assert failed.value.stderr == f"ovs-vsctl: {message}\n"


def test_may_exist_add_bond_keeps_the_existing_port_and_refuses_other_members():
    host = _secure_bridge()
    _vsctl(host, "--", "--may-exist", "add-bond", "br-t", "b0", "x1", "x2", "bond_mode=active-backup")
    _vsctl(host, "--", "--may-exist", "add-bond", "br-t", "b0", "x2", "x1", "bond_mode=balance-slb")
    assert _port_json(host, "b0", "bond_mode") == ["active-backup"]  # columns of an existing port are kept
    with pytest.raises(CommandFailed, match="but b0 actually has interface\\(s\\) x1, x2"):
        _vsctl(host, "--", "--may-exist", "add-bond", "br-t", "b0", "x1", "x3")


def test_a_bridges_own_port_cannot_be_deleted_alone():
    with pytest.raises(CommandFailed, match="it is the local port for bridge br-t"):
        _vsctl(_secure_bridge(), "--", "del-port", "br-t", "br-t")


def test_plug_writes_what_os_vif_writes_and_the_switch_numbers_the_port():
    host = _secure_bridge()
    host.plug("br-t", "tapvm1", "port-1", "fa:16:3e:00:00:01")
    seen = observe_ovs(host).ports["tapvm1"]
    assert dict(seen.iface_external_ids) == {"iface-id": "port-1", "attached-mac": "fa:16:3e:00:00:01",
                                             "iface-status": "active"}
    assert seen.ofport == 1 and seen.mac_in_use == "fe:16:3e:00:00:01"
    host.unplug("tapvm1")
    assert "tapvm1" not in observe_ovs(host).ports


def test_an_uplink_nic_that_does_not_exist_gets_no_port_number():
    host = _secure_bridge()
    _vsctl(host, "--", "add-port", "br-t", "p9p9")
    assert observe_ovs(host).ports["p9p9"].ofport is None


def test_port_names_are_quoted_in_flows_unless_a_letter_then_letters_and_digits():
    host = _secure_bridge()
    for name in ("ab9", "Ab_c", "int-br-x"):
        _vsctl(host, "--", "add-port", "br-t", name, "--", "set", "Interface", name, "type=internal")
    flows = "".join(f"priority={n},in_port={name},actions=drop\n" for n, name in enumerate(("ab9", "Ab_c", "int-br-x")))
    host.run(["ovs-ofctl", "--bundle", "replace-flows", "br-t", "-"], input=flows)
    assert host.flow_lines("br-t") == [' priority=2,in_port="int-br-x" actions=drop',
                                       ' priority=1,in_port="Ab_c" actions=drop',
                                       " priority=0,in_port=ab9 actions=drop"]


def test_flows_are_printed_in_canonical_form():
    host = _secure_bridge()
    _vsctl(host, "--", "add-port", "br-t", "p", "--", "set", "Interface", "p", "type=internal")
    host.run(["ovs-ofctl", "add-flow", "br-t",
              "cookie=0x5,table=3,priority=32768,dl_vlan=0x10,in_port=p,dl_src=FA:16:3E:00:00:01,actions="])
    assert host.flow_lines("br-t") == [" cookie=0x5, table=3, in_port=p,dl_vlan=16,dl_src=fa:16:3e:00:00:01 "
                                       "actions=drop"]


def test_a_flow_naming_an_unknown_port_is_refused_and_the_table_kept():
    host = _secure_bridge()
    host.run(["ovs-ofctl", "add-flow", "br-t", "priority=1,actions=drop"])
    with pytest.raises(CommandFailed) as failed:
        host.run(["ovs-ofctl", "--bundle", "replace-flows", "br-t", "-"], input="priority=2,in_port=nosuch,actions=drop\n")
    assert failed.value.stderr == "ovs-ofctl: -:1: nosuch: invalid or unknown port for in_port\n"
    assert host.flow_lines("br-t") == [" priority=1 actions=drop"]


@pytest.mark.parametrize("flow", ["priority=x,actions=drop", "cookie=0x5/-1,actions=drop", "dl_vlan=abc,actions=drop",
                                  "priority=1"])
def test_a_malformed_flow_is_refused(flow):
    with pytest.raises(CommandFailed) as failed:
        _secure_bridge().run(["ovs-ofctl", "--bundle", "replace-flows", "br-t", "-"], input=flow + "\n")
    assert failed.value.rc == 1 and failed.value.stderr.startswith("ovs-ofctl: -:1: ")


def test_port_numbers_are_not_reused_so_old_flows_never_match_new_ports():
    host = _secure_bridge()
    host.plug("br-t", "tap1", "port-1", "fa:16:3e:00:00:01")
    host.unplug("tap1")
    host.plug("br-t", "tap2", "port-2", "fa:16:3e:00:00:02")
    assert observe_ovs(host).ports["tap2"].ofport == 2


def test_vswitchd_restart_loses_every_flow_and_keeps_ports_and_numbers():
    host = _secure_bridge()
    host.plug("br-t", "tap1", "port-1", "fa:16:3e:00:00:01")
    host.run(["ovs-ofctl", "add-flow", "br-t", "priority=1,in_port=tap1,actions=drop"])
    before = observe_ovs(host)
    host.restart_vswitchd()
    assert host.flow_lines("br-t") == [] and observe_ovs(host) == before


def test_a_standalone_bridge_is_a_learning_switch_and_changing_fail_mode_flushes_flows():
    host = FakeHost()
    _vsctl(host, "--", "add-br", "br-s")
    assert host.flow_lines("br-s") == [" priority=0 actions=NORMAL"]
    host.run(["ovs-ofctl", "add-flow", "br-s", "table=5,priority=3,actions=drop"])
    _vsctl(host, "--", "set", "Bridge", "br-s", "fail_mode=secure")
    assert host.flow_lines("br-s") == []


def test_ofctl_on_a_missing_bridge_says_so():
    with pytest.raises(CommandFailed, match="br-nope is not a bridge or a socket"):
        FakeHost().run(["ovs-ofctl", "dump-flows", "br-nope", "--no-stats", "--names"])
