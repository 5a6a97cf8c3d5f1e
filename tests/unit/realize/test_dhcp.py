"""The DHCP realizer's decisions (changes_for: pure, from literal observations); a pass that trusts the last
one (files and dnsmasq only: SIGHUP, restart); and the DHCP tap in OVSDB on a FakeHost: created in the
pass's one transaction with the external_ids that get it tagged, kept on a second pass, retagged in place,
removed once the network is not served here."""

from __future__ import annotations

import signal
from dataclasses import replace
from pathlib import Path

from neutrino.host.fake import FakeHost
from neutrino.host.processes import FakeProcesses
from neutrino.model.resources import FixedIp, Subnet
from neutrino.model.state import ApiState
from neutrino.plan.dhcp import DhcpPlan
from neutrino.realize.dhcp import DhcpChanges, ObservedDhcp, apply_dhcp, changes_for, is_ours
from neutrino.realize.namespace_links import ObservedLink
from neutrino.realize.ovsdb import observe_ovs
from tests.unit.realize.passes import one_pass
from tests.unit.seed import mac_of, port, tap, vlan_network

DIR = "/var/lib/neutrino/agent/dhcp/net-1"
PLAN = DhcpPlan(
    network_id="net-1", port_id="dhcp-port-1", namespace="qdhcp-net-1", device="tapdhcp-port-",
    mac="fa:16:3e:00:00:02", addresses=("10.0.0.2/24",), mtu=1400, gateway="10.0.0.1",
    hosts="fa:16:3e:00:00:02,host-10-0-0-2.openstacklocal,10.0.0.2\n",
    addn_hosts="10.0.0.2\thost-10-0-0-2.openstacklocal host-10-0-0-2\n",
    opts="tag:subnet-s1,option:router,10.0.0.1\n",
    options=("--interface=tapdhcp-port-", "--dhcp-range=set:subnet-s1,10.0.0.0,static,255.255.255.0,86400s",
             "--keep-in-foreground"),
)
ARGV = PLAN.argv(DIR)
LEG = ObservedLink(mac="fa:16:3e:00:00:02", mtu=1400, up=True, addresses=("10.0.0.2/24",))
SERVED = ObservedDhcp("net-1", directory=True, namespace=True, devices={"tapdhcp-port-": LEG},
                      gateway="10.0.0.1", files=PLAN.files, pid=4242, command_line=ARGV)


def test_a_network_new_here_gets_namespace_leg_files_and_a_dnsmasq():
    assert changes_for(PLAN, None, DIR) == DhcpChanges(
        "net-1", create_namespace=True, create_leg=True,
        leg_commands=("link set lo up", "link set tapdhcp-port- address fa:16:3e:00:00:02 mtu 1400 up",
                      "addr replace 10.0.0.2/24 dev tapdhcp-port-",
                      "route replace default via 10.0.0.1 dev tapdhcp-port-"),
        files=("host", "addn_hosts", "opts"), process="start")


def test_a_served_network_as_planned_needs_nothing():
    assert not changes_for(PLAN, SERVED, DIR)


def test_a_new_port_rewrites_the_hosts_files_and_reloads_dnsmasq_without_a_restart():
    grown = replace(PLAN, hosts=PLAN.hosts + "fa:16:3e:00:00:05,host-10-0-0-5.openstacklocal,10.0.0.5\n")
    assert changes_for(grown, SERVED, DIR) == DhcpChanges("net-1", files=("host",), process="reload")


def test_a_new_command_line_restarts_dnsmasq():
    wider = replace(PLAN, options=PLAN.options + ("--dhcp-range=set:subnet-s2,10.1.0.0,static,255.255.255.0,86400s",),
                    addresses=("10.0.0.2/24", "10.1.0.2/24"))
    assert changes_for(wider, SERVED, DIR) == DhcpChanges(
        "net-1", leg_commands=("addr replace 10.1.0.2/24 dev tapdhcp-port-",), process="restart")


def test_a_dead_dnsmasq_is_started_again_and_a_pid_reused_by_another_program_is_left_alone():
    assert changes_for(PLAN, replace(SERVED, command_line=None), DIR) == DhcpChanges("net-1", process="start")
    other = ("sleep", "100")
    assert not is_ours(other, DIR)
    assert changes_for(PLAN, replace(SERVED, command_line=other), DIR) == DhcpChanges("net-1", process="start")


def test_an_older_dnsmasq_of_ours_is_restarted_with_the_new_command_line():
    older = ARGV[:-1]  # say, from before an upgrade
    assert is_ours(older, DIR)
    assert changes_for(PLAN, replace(SERVED, command_line=older), DIR).process == "restart"


def test_a_recreated_leg_restarts_dnsmasq_bound_to_the_old_one():
    changes = changes_for(PLAN, replace(SERVED, devices={"tapold-port-0": LEG}), DIR)
    assert (changes.stale_devices, changes.create_leg, changes.process) == (("tapold-port-0",), True, "restart")


def test_a_drifted_leg_is_repaired_in_place():
    drifted = ObservedLink(mac="fa:16:3e:99:99:99", mtu=1500, up=False, addresses=("10.0.0.2/24", "10.0.0.9/24"))
    changes = changes_for(PLAN, replace(SERVED, devices={"tapdhcp-port-": drifted}, gateway=None), DIR)
    assert changes == DhcpChanges("net-1", leg_commands=(
        "link set tapdhcp-port- address fa:16:3e:00:00:02 mtu 1400 up", "addr del 10.0.0.9/24 dev tapdhcp-port-",
        "route replace default via 10.0.0.1 dev tapdhcp-port-"), root_mtu=1400)
    assert changes_for(replace(PLAN, gateway=None), SERVED, DIR).leg_commands == ("route del default",)


def test_a_network_no_longer_served_here_is_removed():
    assert changes_for(None, SERVED, DIR) == DhcpChanges("net-1", remove=True)


# --- the DHCP tap in OVSDB (FakeHost) ---

SUBNET = Subnet("s1", "net-1", "10.0.0.0/24", gateway_ip="10.0.0.1")


def _state(host_id: str = "compute1") -> ApiState:
    dhcp = port("dhcp-port-1", "net-1", host=host_id, device_owner="network:dhcp",
                fixed_ips=(FixedIp("s1", "10.0.0.2"),))
    return ApiState(revision=1, networks={"net-1": vlan_network("net-1", 100)}, subnets={"s1": SUBNET},
                    ports={dhcp.id: dhcp})


def test_the_dhcp_tap_is_added_tagged_in_one_transaction_kept_and_removed_with_the_service():
    host = FakeHost()
    one_pass(host, _state())
    seen = observe_ovs(host).ports[tap("dhcp-port-1")]
    assert (seen.bridge, seen.owned, seen.tag) == ("br-int", True, 1)
    assert dict(seen.iface_external_ids) == {"iface-id": "dhcp-port-1", "attached-mac": mac_of("dhcp-port-1"),
                                             "iface-status": "active"}
    assert dict(seen.other_config)["net_uuid"] == "net-1"
    assert not one_pass(host, _state())[0]  # the second pass finds it as planned

    host.run(["ovs-vsctl", "--", "set", "Port", tap("dhcp-port-1"), "tag=9"])  # drift
    host.commands.clear()
    assert one_pass(host, _state())[0].changed == [f"port br-int/{tap('dhcp-port-1')}"]
    assert observe_ovs(host).ports[tap("dhcp-port-1")].tag == 1
    assert not [c for c in host.commands if "del-port" in c]  # retagged in place, not made anew

    one_pass(host, _state(host_id="elsewhere"))
    assert tap("dhcp-port-1") not in observe_ovs(host).ports


# --- apply, trusting the last pass (FakeHost: it would refuse any `ip` command) ---

def _running(tmp_path, processes: FakeProcesses) -> tuple[Path, int]:
    """The network's directory as a pass left it, and its dnsmasq."""
    directory = tmp_path / "net-1"
    directory.mkdir()
    for name, text in PLAN.files.items():
        (directory / name).write_text(text)
    pid = processes.spawn(["ip", "netns", "exec", PLAN.namespace, *PLAN.argv(str(directory))])
    (directory / "pid").write_text(f"{pid}\n")
    return directory, pid


def test_a_pass_trusting_the_last_one_reloads_new_hosts_and_restarts_a_dead_dnsmasq_without_an_exec(tmp_path):
    host, processes = FakeHost(), FakeProcesses()
    directory, pid = _running(tmp_path, processes)
    assert not apply_dhcp(host, processes, tmp_path, (PLAN,), {"net-1": PLAN})

    grown = replace(PLAN, hosts=PLAN.hosts + "fa:16:3e:00:00:05,host-10-0-0-5.openstacklocal,10.0.0.5\n")
    reloaded = apply_dhcp(host, processes, tmp_path, (grown,), {"net-1": PLAN})
    assert reloaded.changed == ["qdhcp-net-1: host", f"dnsmasq {pid} of qdhcp-net-1 reloaded (SIGHUP)"]
    assert processes.signals == [(pid, signal.SIGHUP)] and (directory / "host").read_text() == grown.hosts
    assert not reloaded.errors

    processes.exit(pid)
    restarted = apply_dhcp(host, processes, tmp_path, (grown,), {"net-1": grown})
    [(new_pid, argv)] = processes.running.items()
    assert restarted.added == [f"dnsmasq {new_pid} in qdhcp-net-1"] and argv == grown.argv(str(directory))
    assert (directory / "pid").read_text() == f"{new_pid}\n"
    assert host.commands == []
