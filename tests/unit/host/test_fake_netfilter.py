"""FakeHost's netfilter behaves as iptables 1.8.9 (nf_tables), sysctl, modprobe and conntrack were seen to
behave on this machine (tests/host/test_iptables_parity.py re-checks it live)."""

from __future__ import annotations

import pytest

from neutrino.host.errors import CommandFailed
from neutrino.host.fake import NOT_MODELLED, FakeHost


def _restore(host: FakeHost, text: str, program: str = "iptables-restore", check: bool = True):
    return host.run([program, "--noflush"], input=text, check=check)


def test_save_prints_raw_before_filter_builtin_chains_first_then_user_chains_sorted():
    host = FakeHost()
    _restore(host, "*filter\n:zz - [0:0]\n:aa - [0:0]\n-A zz -j aa\n-A FORWARD -j zz\nCOMMIT\n"
                   "*raw\n:PREROUTING DROP [0:0]\nCOMMIT\n")
    assert [line for line in host.run(["iptables-save"]).stdout.splitlines() if not line.startswith("#")] == [
        "*raw", ":PREROUTING DROP [0:0]", ":OUTPUT ACCEPT [0:0]", "COMMIT",
        "*filter", ":INPUT ACCEPT [0:0]", ":FORWARD ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]", ":aa - [0:0]",
        ":zz - [0:0]", "-A FORWARD -j zz", "-A zz -j aa", "COMMIT"]
    assert host.run(["ip6tables-save"]).stdout == ""  # the other family has no table yet


def test_declaring_an_existing_chain_empties_it():
    host = FakeHost()
    _restore(host, "*filter\n:a - [0:0]\n-A a -j DROP\nCOMMIT\n")
    _restore(host, "*filter\n:a - [0:0]\n-A a -j RETURN\nCOMMIT\n")
    assert "-A a -j RETURN\nCOMMIT" in host.run(["iptables-save"]).stdout


def test_a_failed_table_changes_nothing_but_an_earlier_table_stays_committed():
    host = FakeHost()
    failed = _restore(host, "*raw\n:r - [0:0]\nCOMMIT\n*filter\n:f - [0:0]\n-A nosuch -j ACCEPT\nCOMMIT\n",
                      check=False)
    assert (failed.rc, failed.stderr) == (1, "iptables-restore: line 6 failed: No chain/target/match by that name.\n")
    saved = host.run(["iptables-save"]).stdout
    assert ":r - [0:0]" in saved and ":f - [0:0]" not in saved


def test_a_chain_with_rules_or_jumped_to_cannot_be_deleted_in_the_same_transaction_it_can_once_emptied():
    host = FakeHost()
    _restore(host, "*filter\n:a - [0:0]\n:b - [0:0]\n-A a -j b\n-A b -j ACCEPT\nCOMMIT\n")
    busy = _restore(host, "*filter\n-X b\nCOMMIT\n", check=False)
    assert (busy.rc, busy.stderr) == (4, "iptables-restore v1.8.9 (nf_tables): \nline 2: CHAIN_DEL failed "
                                         "(Device or resource busy): chain b\n")
    _restore(host, "*filter\n:a - [0:0]\n:b - [0:0]\n-A a -j RETURN\n-X b\nCOMMIT\n")
    assert ":b " not in host.run(["iptables-save"]).stdout


def test_a_jump_needs_its_chain_at_its_line_and_fails_at_commit():
    failed = _restore(FakeHost(), "*filter\n:a - [0:0]\n-A a -j b\n:b - [0:0]\nCOMMIT\n", "ip6tables-restore",
                      check=False)
    assert (failed.rc, failed.stderr) == (2, "ip6tables-restore v1.8.9 (nf_tables): Chain 'b' does not exist\n"
                                             "Error occurred at line: 5\nTry `ip6tables-restore -h' or "
                                             "'ip6tables-restore --help' for more information.\n")


def test_insert_puts_a_rule_on_top_and_delete_takes_the_first_match():
    host = FakeHost()
    _restore(host, "*filter\n-A FORWARD -j ACCEPT\n-I FORWARD 1 -j DROP\n-A FORWARD -j DROP\n-D FORWARD -j DROP\n"
                   "COMMIT\n")
    assert [line for line in host.run(["iptables-save"]).stdout.splitlines() if line.startswith("-A")] == [
        "-A FORWARD -j ACCEPT", "-A FORWARD -j DROP"]


def test_sysctl_reads_and_writes_the_bridge_keys_and_a_missing_one_fails_as_sysctl_does():
    host = FakeHost()
    host.run(["sysctl", "-qw", "net.bridge.bridge-nf-call-iptables=0"])
    assert host.run(["sysctl", "-n", "net.bridge.bridge-nf-call-iptables",
                     "net.bridge.bridge-nf-call-ip6tables"]).stdout == "0\n1\n"
    host.sysctls.clear()
    missing = host.run(["sysctl", "-n", "net.bridge.bridge-nf-call-iptables"], check=False)
    assert (missing.rc, missing.stderr) == (1, "sysctl: cannot stat /proc/sys/net/bridge/bridge-nf-call-iptables: "
                                               "No such file or directory\n")


def test_conntrack_delete_by_zone_exits_1_when_there_was_nothing():
    host = FakeHost()
    host.connections[("ipv4", 4097)] = 2
    assert host.run(["conntrack", "-D", "-w", "4097", "-f", "ipv4"]).rc == 0
    again = host.run(["conntrack", "-D", "-w", "4097", "-f", "ipv4"], check=False)
    assert (again.rc, again.stderr) == (1, "conntrack v1.4.7 (conntrack-tools): 0 flow entries have been deleted.\n")


@pytest.mark.parametrize("argv", [
    ["iptables-restore"],  # without --noflush it would flush every table
    ["iptables-save", "-t", "nat"],
    ["sysctl", "-n", "net.ipv4.ip_forward"],
    ["conntrack", "-F"],
    ["modprobe", "openvswitch"],
])
def test_netfilter_vocabulary_the_fake_does_not_know_fails_loudly(argv):
    with pytest.raises(CommandFailed) as failed:
        FakeHost().run(argv, input="", check=False)
    assert failed.value.rc == NOT_MODELLED


def test_other_tables_are_not_modelled():
    with pytest.raises(CommandFailed) as failed:
        _restore(FakeHost(), "*nat\n:POSTROUTING ACCEPT [0:0]\nCOMMIT\n", check=False)
    assert failed.value.rc == NOT_MODELLED
