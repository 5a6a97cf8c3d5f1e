"""The iptables realizer on a FakeHost: the plan's filter_rules become our chains and the jumps into them,
converge in one pass, change only the chains that differ (one restore per family), never touch rules of
others, drop the conntrack entries of a gone port's zone, read the zones back for the next plan, and
insist on br_netfilter."""

from __future__ import annotations

import pytest

from neutrino.agent.facts import facts_from
from neutrino.host.errors import Unsupported
from neutrino.host.fake import FakeHost
from neutrino.plan.build import build_plan
from neutrino.plan.iptables_firewall import WRAPPED
from neutrino.realize.iptables import (
    apply_iptables,
    filter_changes_for,
    observe_filter,
    observed_after,
    parse_save,
    remove_filter,
    restore_text_for,
)
from neutrino.realize.ovsdb import ObservedOvs
from tests.unit.plan.groups import HYBRID, default_group, group, instance, plugged_here, rule, state_of

DEFAULT = default_group()
VM1 = instance("vm1-port", "10.0.0.5", groups=("sg-default",))
VM2 = instance("vm2-port", "10.0.0.6", groups=("sg-default",))
WEB = group("sg-web", rule("r-ssh", protocol="tcp", port_min=22, port_max=22), rule("r-out", "egress"))
VM3 = instance("vm3-port", "10.0.0.7", groups=("sg-web",))
JUMP = f'-m comment --comment "{WRAPPED}" -j neutron-openvswi-FORWARD'
OTHERS = """\
*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:DOCKER - [0:0]
-A FORWARD -o docker0 -j DOCKER
-A FORWARD -i docker0 -j ACCEPT
-A DOCKER -d 172.17.0.2/32 -p tcp -m tcp --dport 80 -j ACCEPT
COMMIT
"""


def _plan(ports=(VM1, VM2), groups=(DEFAULT,), plugged=None, zones=()):
    plugged = ports if plugged is None else plugged
    return build_plan(state_of(list(ports), list(groups)), HYBRID, plugged_here(*plugged, hybrid=True, zones=zones))


def _applied(plan=None) -> FakeHost:
    host = FakeHost()
    report = apply_iptables(host, plan or _plan())
    assert report and not report.errors, report
    host.commands.clear()
    return host


def _restores(host: FakeHost) -> list[list[str]]:
    return [c for c in host.commands if c[0].endswith("-restore")]


def _saved(host: FakeHost, family: int = 4) -> str:
    return host.run(["iptables-save" if family == 4 else "ip6tables-save"]).stdout


def _rules_of(host: FakeHost, family: int, chain: str) -> list[str]:
    return [line.split(" ", 2)[2] for line in _saved(host, family).splitlines() if line.startswith(f"-A {chain} ")]


def test_applying_installs_every_planned_rule_and_one_jump_per_builtin_chain():
    plan = _plan()
    host = _applied(plan)
    for family in (4, 6):
        rules = [line for line in _saved(host, family).splitlines() if line.startswith("-A ")]
        assert sorted(rules) == sorted(r.text() for r in plan.filter_rules if r.family == family)
    assert _rules_of(host, 4, "FORWARD") == [JUMP]
    assert _rules_of(host, 4, "PREROUTING") == [
        f'-m comment --comment "{WRAPPED}" -j neutron-openvswi-PREROUTING']


def test_applying_twice_changes_nothing_the_second_time():
    plan = _plan()
    host = _applied(plan)
    report = apply_iptables(host, plan)
    assert not report and not report.errors, report
    assert _restores(host) == []


def test_a_chain_jumped_to_but_without_rules_still_exists():
    host = _applied(_plan(ports=(), groups=()))  # no port: neutron-openvswi-FORWARD is empty
    assert ":neutron-openvswi-FORWARD - [0:0]" in _saved(host)
    assert ":neutron-openvswi-PREROUTING - [0:0]" in _saved(host, 6)


def test_one_rule_removed_refills_only_the_chains_it_was_in_one_restore_per_family():
    host = _applied(_plan(ports=(VM3,), groups=(WEB,)))
    without_ssh = group("sg-web", rule("r-out", "egress"))
    report = apply_iptables(host, _plan(ports=(VM3,), groups=(without_ssh,)))
    assert report.changed == ["IPv4 filter chain neutron-openvswi-ivm3-port (5 rules)"]  # r-ssh: IPv4 only
    assert report.added == report.removed == []
    assert _restores(host) == [["iptables-restore", "--noflush"]]
    assert not any("r-ssh" in line for line in _saved(host).splitlines())


def test_restore_text_empties_and_refills_a_changed_chain_and_deletes_a_stale_one():
    host = _applied()
    changes = filter_changes_for(_plan(ports=(VM1, VM2), plugged=(VM1,)).filter_rules, observe_filter(host))
    text = restore_text_for(changes, 4).splitlines()
    assert text[:2] == ["*raw", ":neutron-openvswi-PREROUTING - [0:0]"]
    table = text[text.index("*filter") + 1:]
    declared = [line for line in table if line.startswith(":")]
    assert sorted(declared) == [f":neutron-openvswi-{name} - [0:0]" for name in
                                ("FORWARD", "INPUT", "ivm2-port", "ovm2-port", "sg-chain", "svm2-port")]
    assert table[:len(declared)] == declared  # emptied first, then refilled
    assert {line.split()[1] for line in table if line.startswith("-A ")} == {
        "neutron-openvswi-FORWARD", "neutron-openvswi-INPUT", "neutron-openvswi-sg-chain"}
    assert table[-4:] == ["-X neutron-openvswi-ivm2-port", "-X neutron-openvswi-ovm2-port",
                          "-X neutron-openvswi-svm2-port", "COMMIT"]


def test_a_gone_port_loses_its_chains_and_its_zones_connections():
    host = _applied()
    assert observe_filter(host).conntrack_zones == {"vm1-port": 4097, "vm2-port": 4098}
    host.connections.update({("ipv4", 4098): 3, ("ipv6", 4098): 1, ("ipv4", 4097): 2})
    report = apply_iptables(host, _plan(plugged=(VM1,)))
    assert "conntrack zone 4098 (port vm2-port)" in report.removed
    assert "IPv4 filter chain neutron-openvswi-ivm2-port (7 rules)" in report.removed
    assert host.connections == {("ipv4", 4097): 2}  # vm1's connections are not disturbed
    assert "vm2-port" not in _saved(host) + _saved(host, 6)
    assert ["conntrack", "-D", "-w", "4098", "-f", "ipv6"] in host.commands
    assert not apply_iptables(host, _plan(plugged=(VM1,)))


def test_rules_of_others_are_never_touched():
    host = FakeHost()
    host.run(["iptables-restore", "--noflush"], input=OTHERS)
    before = _saved(host)
    apply_iptables(host, _plan())
    assert _rules_of(host, 4, "FORWARD") == [JUMP, "-o docker0 -j DOCKER", "-i docker0 -j ACCEPT"]
    assert ":FORWARD DROP [0:0]" in _saved(host)
    remove_filter(host)
    assert before in _saved(host)  # the filter table as it was (an empty raw table is left, as iptables does)


def test_a_jump_deleted_by_hand_comes_back_on_top_and_a_duplicate_goes():
    host = _applied()
    host.run(["iptables-restore", "--noflush"], input=f"*filter\n-D FORWARD {JUMP}\n-A FORWARD -j DROP\nCOMMIT\n")
    assert apply_iptables(host, _plan()).added == ["jump IPv4 filter FORWARD -> neutron-openvswi-FORWARD"]
    assert _rules_of(host, 4, "FORWARD") == [JUMP, "-j DROP"]
    host.run(["iptables-restore", "--noflush"], input=f"*filter\n-A FORWARD {JUMP}\nCOMMIT\n")
    report = apply_iptables(host, _plan())
    assert report.removed == ["jump IPv4 filter FORWARD -> neutron-openvswi-FORWARD"] * 2
    assert report.added == ["jump IPv4 filter FORWARD -> neutron-openvswi-FORWARD"]
    assert _rules_of(host, 4, "FORWARD") == [JUMP, "-j DROP"]


def test_a_chain_edited_by_hand_is_restored():
    plan = _plan()
    host = _applied(plan)
    chain = "neutron-openvswi-ivm1-port"
    host.run(["iptables-restore", "--noflush"], input=f"*filter\n-I {chain} 1 -j RETURN\nCOMMIT\n")
    report = apply_iptables(host, plan)
    assert report.changed == [f"IPv4 filter chain {chain} (7 rules)"]
    assert _rules_of(host, 4, chain) == [r.rule for r in plan.filter_rules if r.family == 4 and r.chain == chain]


def test_zones_are_read_back_so_a_restarted_agent_renumbers_no_port():
    host = _applied()  # vm1 4097, vm2 4098
    vm0 = instance("vm0-port", "10.0.0.4", groups=("sg-default",))  # sorts first: fresh, it would take 4097
    facts = facts_from(ObservedOvs({}, {}), HYBRID, observe_filter(host).conntrack_zones)
    assert facts.conntrack_zones == (("vm1-port", 4097), ("vm2-port", 4098))
    plan = _plan(ports=(vm0, VM1, VM2), zones=facts.conntrack_zones)
    report = apply_iptables(host, plan)
    assert observe_filter(host).conntrack_zones == {"vm0-port": 4099, "vm1-port": 4097, "vm2-port": 4098}
    assert not any("PREROUTING" in line and "4097" in line for line in report.changed)


def test_what_is_ours_after_applying_is_known_without_reading_it_back():
    plan = _plan(ports=(VM1, VM2, VM3), groups=(DEFAULT, WEB))
    host = _applied(plan)
    read, known = observe_filter(host), observed_after(plan.filter_rules)
    assert set(known.chains) == set(read.chains) and set(known.jumps) == set(read.jumps)
    assert known.conntrack_zones == read.conntrack_zones
    assert not filter_changes_for(plan.filter_rules, known)


def test_a_failed_restore_is_reported_and_retried_and_clears_no_connection():
    host = _applied()
    host.connections[("ipv4", 4098)] = 1
    host.run(["ip6tables-restore", "--noflush"], input="*filter\n:audit - [0:0]\n-A audit "
                                                     "-j neutron-openvswi-svm2-port\nCOMMIT\n")
    report = apply_iptables(host, _plan(plugged=(VM1,)))  # IPv6: svm2 cannot go while a chain jumps to it
    assert report.errors and "CHAIN_DEL failed" in report.errors[0]
    assert any("IPv4 filter chain neutron-openvswi-ivm2-port" in line for line in report.removed)
    assert host.connections == {("ipv4", 4098): 1}
    assert "vm2-port" in _saved(host, 6)


def test_bridge_netfilter_is_switched_on_and_reported():
    host = FakeHost()
    host.sysctls["net.bridge.bridge-nf-call-iptables"] = "0"
    report = apply_iptables(host, _plan())
    assert report.changed == ["sysctl net.bridge.bridge-nf-call-iptables 0 -> 1"]
    assert host.sysctls["net.bridge.bridge-nf-call-iptables"] == "1"


def test_br_netfilter_is_loaded_when_its_sysctls_are_missing():
    host = FakeHost()
    host.sysctls.clear()
    apply_iptables(host, _plan())
    assert ["modprobe", "br_netfilter"] in host.commands
    assert host.sysctls == {"net.bridge.bridge-nf-call-iptables": "1", "net.bridge.bridge-nf-call-ip6tables": "1"}


def test_a_kernel_without_br_netfilter_is_refused_with_the_reason():
    host = FakeHost()
    host.sysctls.clear()
    host.kernel_modules.clear()
    with pytest.raises(Unsupported, match="needs br_netfilter.*Module br_netfilter not found"):
        apply_iptables(host, _plan())
    assert _restores(host) == []  # nothing half-done: no rule is installed that could not filter


def test_cleanup_leaves_chains_neutrino_did_not_mark():
    host = FakeHost()
    neutron_agent = "*filter\n:neutron-openvswi-FORWARD - [0:0]\n-A FORWARD -j neutron-openvswi-FORWARD\nCOMMIT\n"
    host.run(["iptables-restore", "--noflush"], input=neutron_agent)
    assert not remove_filter(host)
    assert _rules_of(host, 4, "FORWARD") == ["-j neutron-openvswi-FORWARD"]


def test_cleanup_removes_every_chain_jump_and_zone_of_ours():
    host = _applied()
    host.connections[("ipv6", 4097)] = 1
    report = remove_filter(host)
    assert "conntrack zone 4097 (port vm1-port)" in report.removed and not host.connections
    for family in (4, 6):
        assert "neutron-openvswi" not in _saved(host, family)
    assert not remove_filter(host)


def test_parse_save_keeps_only_our_chains_and_the_jumps_into_them():
    chains, jumps = parse_save(OTHERS.replace("COMMIT", f"-A FORWARD {JUMP}\nCOMMIT") +
                               "*nat\n:neutron-openvswi-x - [0:0]\n-A neutron-openvswi-x -j ACCEPT\nCOMMIT\n", 4)
    assert chains == []  # the nat table is not ours to read
    assert [(j.table, j.chain, j.rule) for j in jumps] == [("filter", "FORWARD", JUMP)]
