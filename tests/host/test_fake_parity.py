"""FakeHost must not drift from Open vSwitch: the same plans, applied to the real OVS of this machine
(throw-away bridges ``nt<random>…``, removed in ``finally``) and to a FakeHost, must leave the same
observed OVSDB, the same flows (byte for byte as dump-flows prints them) and the same Reports; and for
the same packets the fake's classifier must pick the flow ``ovs-appctl ofproto/trace`` picks
(conjunctive matches included).

Needs root and a running Open vSwitch; skipped otherwise. Never restarts ovs-vswitchd (other work
on the machine depends on it): the fake's restart behaviour is covered by unit tests only.
"""

from __future__ import annotations

import dataclasses
import os
import re
import secrets
import shutil
import subprocess

import pytest

from neutrino.agent.facts import facts_from
from neutrino.host.errors import CommandFailed
from neutrino.host.fake import FakeHost
from neutrino.host.runner import Host, RealHost
from neutrino.model.host_config import HostConfig, PatchLink, PhysicalBridge
from neutrino.model.resources import Network, Port
from neutrino.model.state import ApiState
from neutrino.plan.build import build_plan
from neutrino.realize.openflow import apply_flows, observe_flows
from neutrino.realize.ovsdb import apply_ovsdb, observe_ovs
from tests.unit.host import classifier_cases
from tests.unit.plan.groups import default_group, group, instance, pair, rule, state_of


def _real_ovs_answers() -> bool:
    if os.geteuid() != 0 or shutil.which("ovs-vsctl") is None or shutil.which("ovs-ofctl") is None:
        return False
    return subprocess.run(["ovs-vsctl", "--timeout=3", "show"], capture_output=True).returncode == 0


pytestmark = pytest.mark.skipif(not _real_ovs_answers(), reason="needs root and a running Open vSwitch")

NOTHING = ((), (), (), ())  # a Report with nothing added, removed, changed or failed
NUMBER = re.compile(r"in_port=\d+")  # a removed port's flows name it by number; numbers differ
OUTPUT_NUMBER = re.compile(r"output:\d+")  # the same for an output to a removed port


class Side:
    """One host under test (real or fake) and how it gets its instances plugged."""

    def __init__(self, host: Host, config: HostConfig):
        self.host, self.config = host, config

    def plug(self, name: str, iface_id: str, mac: str) -> None:
        if isinstance(self.host, FakeHost):
            self.host.plug(self.config.integration_bridge, name, iface_id, mac)
            return
        self.host.run(["ip", "link", "add", name, "type", "veth", "peer", "name", name + "v"])
        self.host.run(["ip", "link", "set", name, "up"])
        self.host.run(["ovs-vsctl", "--", "add-port", self.config.integration_bridge, name,
                       "--", "set", "Interface", name, f"external_ids:iface-id={iface_id}",
                       f"external_ids:attached-mac={mac}", "external_ids:iface-status=active"])

    def unplug(self, name: str) -> None:
        if isinstance(self.host, FakeHost):
            self.host.unplug(name)
            return
        self.host.run(["ovs-vsctl", "--", "--if-exists", "del-port", name])
        self.host.run(["ip", "link", "del", name])

    def apply(self, state: ApiState):
        plan = build_plan(state, self.config, facts_from(observe_ovs(self.host), self.config))
        reports = (apply_ovsdb(self.host, plan), apply_flows(self.host, plan))
        return plan, tuple(_normal_report(r) for r in reports)

    def observed(self) -> tuple:
        ours = {b.name for b in build_plan(ApiState(), self.config, facts_from(observe_ovs(self.host),
                                                                             self.config)).bridges}
        ovs = observe_ovs(self.host)
        bridges = {name: b for name, b in ovs.bridges.items() if name in ours}
        ports = {name: _normal_port(p) for name, p in ovs.ports.items() if p.bridge in ours}
        flows = {b: sorted(map(repr, (dataclasses.replace(f, match=frozenset(NUMBER.sub("in_port=N", m)
                                                                                    for m in f.match))
                                      for f in observe_flows(self.host, b)))) for b in sorted(ours)}
        dumped = {b: sorted(NUMBER.sub("in_port=N", line) for line in self._dump(b)) for b in sorted(ours)}
        return bridges, ports, flows, dumped

    def _dump(self, bridge: str) -> list[str]:
        return self.host.run(["ovs-ofctl", "dump-flows", bridge, "--no-stats", "--names"]).stdout.splitlines()


def _normal_port(port):
    """ofport numbers and MACs are the switch's to choose: compare only whether it chose one."""
    return dataclasses.replace(port, ofport=port.ofport is not None, mac_in_use=port.mac_in_use is not None)


def _normal_report(report):
    return tuple(tuple(sorted(NUMBER.sub("in_port=N", item) for item in items))
                 for items in (report.added, report.removed, report.changed, report.errors))


def _config(prefix: str) -> HostConfig:
    physical = f"{prefix}p"
    return HostConfig(
        host=f"parity-{prefix}", integration_bridge=f"{prefix}i", bridge_mappings={"physnet1": physical},
        physical_bridges=(PhysicalBridge(physical, (f"{prefix}a", f"{prefix}b"), f"{prefix}o"),),
        extra_bridges=(f"{prefix}x",),
        patch_links=(PatchLink(f"{prefix}x", f"{prefix}xp", physical, f"{prefix}px", peer_tag=201),),
        firewall_driver="noop",  # L2 parity; test_fake_host_matches_real_ovs_with_the_ovs_firewall has its own
    )


def _states(prefix: str) -> list[ApiState]:
    host = f"parity-{prefix}"
    vlan = Network("net-vlan", name="vlan", network_type="vlan", physical_network="physnet1", segmentation_id=100)
    flat = Network("net-flat", name="flat", network_type="flat", physical_network="physnet1")
    first = ApiState(networks={n.id: n for n in (vlan, flat)}, ports={
        "port-1": Port("port-1", "net-vlan", "fa:16:3e:00:00:01", host_id=host),
        "port-2": Port("port-2", "net-flat", "fa:16:3e:00:00:02", host_id=host, admin_state_up=False),
    })
    # the VLAN network moves to VID 200, port-2 comes up, port-1 is deleted from the API
    second = ApiState(networks={"net-vlan": dataclasses.replace(vlan, segmentation_id=200), "net-flat": flat},
                      ports={"port-2": dataclasses.replace(first.ports["port-2"], admin_state_up=True)})
    return [first, second]


def _cleanup(host: RealHost, config: HostConfig, devices: list[str]) -> None:
    for bridge in [config.integration_bridge, *(b.name for b in config.physical_bridges), *config.extra_bridges]:
        host.run(["ovs-vsctl", "--timeout=10", "--", "--if-exists", "del-br", bridge], check=False)
    for device in devices:
        host.run(["ip", "link", "del", device], check=False)


def test_fake_host_matches_real_ovs_pass_by_pass():
    prefix = "nt" + secrets.token_hex(3)[:5]
    config = _config(prefix)
    real, fake = Side(RealHost(), config), Side(FakeHost(), config)
    taps = [f"{prefix}t1", f"{prefix}t2", f"{prefix}t3"]
    first, second = _states(prefix)
    try:
        steps = [
            ("empty host", lambda side: None, first),
            ("instances plugged", lambda side: [side.plug(taps[0], "port-1", "fa:16:3e:00:00:01"),
                                                side.plug(taps[1], "port-2", "fa:16:3e:00:00:02"),
                                                side.plug(taps[2], "port-unknown", "fa:16:3e:00:00:03")], first),
            ("nothing changed", lambda side: None, first),
            ("API changed", lambda side: None, second),
            ("a parked port unplugged", lambda side: side.unplug(taps[2]), second),
            ("settled", lambda side: None, second),
        ]
        for label, act, state in steps:
            results = []
            for side in (real, fake):
                act(side)
                plan, reports = side.apply(state)
                results.append((plan, reports, side.observed()))
            (real_plan, real_reports, real_seen), (fake_plan, fake_reports, fake_seen) = results
            assert fake_plan == real_plan, label
            assert fake_reports == real_reports, label
            assert fake_seen == real_seen, label
        assert fake_reports == (NOTHING, NOTHING), "the last pass must change nothing"
    except CommandFailed as error:
        pytest.fail(f"{error}")
    finally:
        _cleanup(real.host, config, taps)


def _firewall_states(prefix: str) -> list[ApiState]:
    """Security groups using every rule field, on instances, a router port and a port without port
    security; then a rule removed, one added and a remote group gaining a member elsewhere."""
    host = f"parity-{prefix}"
    web = group("sg-web", rule("w-ssh", protocol="tcp", port_min=22, port_max=22, prefix="10.0.0.0/24"),
                rule("w-dns", protocol="udp", port_min=1000, port_max=1999),
                rule("w-ping", protocol="icmp", port_min=8, port_max=0), rule("w-unreach", protocol="icmp", port_min=3),
                rule("w-echo6", ethertype="IPv6", protocol="icmpv6", port_min=128),
                rule("w-esp", ethertype="IPv6", protocol="esp"), rule("w-vrrp", protocol="112"),
                rule("w-sctp", ethertype="IPv6", protocol="sctp", port_min=5, port_max=5),
                rule("w-v6net", ethertype="IPv6", prefix="2001:db8::/64"),
                rule("w-dns6", "egress", "IPv6", "udp", 53, 53, prefix="2001:db8::9/128"),
                rule("w-web", protocol="tcp", port_min=80, port_max=80, remote_group="sg-default"), name="web")
    ports = [
        instance("port-1", "10.0.0.5", "2001:db8::5", groups=("sg-default", "sg-web"), host=host,
                 allowed_address_pairs=(pair("10.0.0.100"), pair("10.0.2.0/24", "fa:16:3e:11:22:33"))),
        instance("port-2", "10.0.0.6", groups=("sg-default",), host=host),
        instance("port-3", "10.0.0.1", groups=(), host=host, device_owner="network:router_interface"),
        instance("port-4", "10.0.0.9", groups=(), host=host, port_security_enabled=False),
    ]
    first = state_of(ports, [default_group(), web])
    elsewhere = instance("port-9", "10.0.0.77", groups=("sg-default",), host="another-host")
    smaller = group("sg-web", *(r for r in web.rules if r.id != "w-ssh"),
                    rule("w-https", protocol="tcp", port_min=443, port_max=443), name="web")
    second = state_of([*ports, elsewhere], [default_group(), smaller])
    return [first, second]


def test_fake_host_matches_real_ovs_with_the_ovs_firewall():
    prefix = "nt" + secrets.token_hex(3)[:5]
    config = dataclasses.replace(_config(prefix), firewall_driver="openvswitch")
    real, fake = Side(RealHost(), config), Side(FakeHost(), config)
    taps = [f"{prefix}t{n}" for n in range(1, 5)]
    first, second = _firewall_states(prefix)
    plug_all = [(tap, f"port-{n}", first.ports[f"port-{n}"].mac_address) for n, tap in enumerate(taps, 1)]
    try:
        steps = [
            ("empty host", lambda side: None, first),
            ("instances plugged", lambda side: [side.plug(*args) for args in plug_all], first),
            ("nothing changed", lambda side: None, first),
            ("a rule replaced, a remote group member added", lambda side: None, second),
            ("a firewalled port unplugged", lambda side: side.unplug(taps[0]), second),
            ("settled", lambda side: None, second),
        ]
        for label, act, state in steps:
            results = []
            for side in (real, fake):
                act(side)
                plan, reports = side.apply(state)
                results.append((plan, reports, side.observed()))
            (real_plan, real_reports, real_seen), (fake_plan, fake_reports, fake_seen) = results
            assert fake_plan == real_plan, label
            assert fake_reports == real_reports, label
            assert fake_seen == real_seen, label
            if label == "instances plugged":
                assert any("ct(commit" in line for line in fake_seen[3][config.integration_bridge])
            if label == "a rule replaced, a remote group member added":
                decided = _decide_alike(real.host, fake.host, config.integration_bridge, _firewall_probes(real_plan))
                assert {"conj_id=", "priority 40", "priority 50", "priority 77"} <= {
                    marker for heading in decided for marker in ("conj_id=", "priority 40", "priority 50",
                                                                 "priority 77") if marker in heading}
        assert fake_reports == (NOTHING, NOTHING), "the last pass must change nothing"
    except CommandFailed as error:
        pytest.fail(f"{error}")
    finally:
        _cleanup(real.host, config, taps)


def _firewall_probes(plan) -> list[tuple[int, str]]:
    """(table, packet) into the rules of port-1 (default and web) and port-2 (default) of
    ``_firewall_states``' second state: members of the default group (10.0.0.77 elsewhere, 10.0.2.0/24 an
    address pair of port-1, 2001:db8::5) and strangers; new, established, replies and invalid."""
    ports = {f.port_id: f for f in plan.firewalls}

    def probe(port_id: str, table: int, state: str, fields: str) -> tuple[int, str]:
        port = ports[port_id]
        return table, f"ct_state={state}|trk,ct_zone={port.local_vlan},reg5={port.ofport},reg6={port.local_vlan}," \
                      f"{fields}"

    return [
        probe("port-1", 82, "new", "tcp,nw_src=10.0.0.77,tp_dst=80"),  # w-web, a remote group rule
        probe("port-1", 82, "new", "tcp,nw_src=10.0.0.77,tp_dst=81"),  # d-in4
        probe("port-1", 82, "est", "tcp,nw_src=10.0.2.9,tp_dst=81"),
        probe("port-1", 82, "new", "tcp,nw_src=10.0.1.1,tp_dst=80"),  # not a member
        probe("port-1", 82, "new", "tcp,nw_src=192.0.2.1,tp_dst=443"),  # w-https
        probe("port-1", 82, "new", "icmp,nw_src=192.0.2.1,icmp_type=8,icmp_code=0"),
        probe("port-2", 82, "new", "udp,nw_src=10.0.0.77,udp_dst=53"),
        probe("port-2", 82, "new", "tcp6,ipv6_src=2001:db8::5,tp_dst=80"),  # d-in6
        probe("port-2", 82, "new", "tcp6,ipv6_src=2001:db8::9,tp_dst=80"),
        probe("port-2", 82, "est|rpl", "tcp,nw_src=192.0.2.1,tp_dst=80"),
        probe("port-2", 82, "inv", "tcp,nw_src=10.0.0.77,tp_dst=80"),
        probe("port-1", 72, "new", "udp6,ipv6_dst=2001:db8::9,udp_dst=53"),  # w-dns6
        probe("port-2", 72, "new", "tcp,nw_dst=198.51.100.1,tp_dst=80"),  # d-eg4
    ]


def _decide_alike(real: RealHost, fake: FakeHost, bridge: str, probes: list[tuple[int, str]]) -> list[str]:
    """Each packet's flow in its table, by ofproto/trace (entering table 0 with reg7 = the table, which a
    flow added for the while resubmits there) and by the fake's classifier: the same; returns the headings."""
    hooks = [f"table=0,priority=65535,reg7={table:#x}" for table in sorted({table for table, _ in probes})]
    real.run(["ovs-ofctl", "add-flows", bridge, "-"],
             input="".join(f"{hook},actions=resubmit(,{int(hook.split('=')[-1], 0)})\n" for hook in hooks))
    try:
        decided = []
        for table, packet in probes:
            traced = _traced(real, bridge, table, f"reg7={table:#x},{packet}")
            decision = fake.classify(bridge, table, packet)
            assert (decision.heading if decision else None) == traced, packet
            decided.append(traced or "")
        return decided
    finally:
        for hook in hooks:
            real.run(["ovs-ofctl", "--strict", "del-flows", bridge, hook])


def _traced(host: RealHost, bridge: str, table: int, packet: str) -> str | None:
    """How ``ovs-appctl ofproto/trace`` heads the flow the packet meets in ``table``; None: no match."""
    output = host.run(["ovs-appctl", "ofproto/trace", bridge, packet]).stdout
    found = re.search(rf"^\s*{table}\. (.*)$", output, re.MULTILINE)
    assert found, output
    return None if found.group(1) == "No match." else found.group(1)


def test_the_fake_classifier_decides_conjunctive_matches_as_ovs():
    bridge = "nt" + secrets.token_hex(3)[:5] + "c"
    real, fake = RealHost(), FakeHost()
    try:
        for host in (real, fake):
            host.run(["ovs-vsctl", "--timeout=10", "--", "add-br", bridge, "--", "set", "Bridge", bridge,
                      "datapath_type=netdev", "fail_mode=secure"])
            host.run(["ovs-ofctl", "--bundle", "replace-flows", bridge, "-"],
                     input="".join(flow + "\n" for flow in classifier_cases.FLOWS))
        probes = [(classifier_cases.TABLE, packet) for packet, _, _ in classifier_cases.PROBES]
        assert _decide_alike(real, fake, bridge, probes) == [heading or "" for _, heading, _ in classifier_cases.PROBES]
    finally:
        real.run(["ovs-vsctl", "--timeout=10", "--", "--if-exists", "del-br", bridge], check=False)


def _commands(p: str) -> list[tuple[list[str], str | None]]:
    """Commands whose answers (status, output, message) must be the same from the fake and the real tools.
    Every name starts with the random prefix ``p``: internal ports become real devices on this host."""
    bridge, port, bond = f"{p}t", f"{p}p", f"{p}b"
    plain, underscore, hyphen = f"{p}q", f"{p}_q", f"int-{p}"
    vsctl = ["ovs-vsctl", "--timeout=10"]
    port_columns = [*vsctl, "--format=json", "--", "--columns=name,tag,trunks,vlan_mode,bond_mode,other_config",
                    "list", "Port"]
    dump = (["ovs-ofctl", "dump-flows", bridge, "--no-stats", "--names"], None)
    internal = [arg for name in (plain, underscore, hyphen)
                for arg in ("--", "add-port", bridge, name, "--", "set", "Interface", name, "type=internal")]
    flows = "".join(f"cookie=0x6e657574,priority={n},in_port={name},actions=drop\n"
                    for n, name in enumerate((plain, underscore, hyphen)))
    return [
        ([*vsctl, "--", "add-br", bridge, "--", "set", "Bridge", bridge, "datapath_type=netdev", "fail_mode=secure"],
         None),
        ([*vsctl, "--", "add-port", bridge, port, "--", "set", "Interface", port, "type=internal", "--", "set", "Port",
          port, "tag=5", "trunks=1,2,3", 'other_config:reason="a \\"quoted\\" reason"', "other_config:plain=x y"],
         None),
        ([*port_columns, port], None),
        ([*vsctl, "--", "set", "Port", port, "trunks=4095", "--", "remove", "Port", port, "other_config", "plain",
          "--", "clear", "Port", port, "tag"], None),
        ([*port_columns, port], None),
        *(([*vsctl, "--", "set", "Port", port, setting], None)
          for setting in ("trunks=", "tag=5000", "tag=abc", "vlan_mode=bogus")),
        ([*vsctl, "--", "set", "Port", f"{p}none", "tag=1"], None),
        ([*vsctl, "--", "del-port", f"{p}none"], None),
        ([*vsctl, "--", "--may-exist", "add-bond", bridge, bond, f"{p}x1", f"{p}x2", "bond_mode=active-backup"], None),
        ([*vsctl, "--", "--may-exist", "add-bond", bridge, bond, f"{p}x2", f"{p}x1", "bond_mode=balance-slb"], None),
        ([*port_columns, bond], None),
        ([*vsctl, "--", "--may-exist", "add-bond", bridge, bond, f"{p}x1", f"{p}x3"], None),
        ([*vsctl, "--", "--may-exist", "add-port", f"{p}none", port], None),
        ([*vsctl, "--", "del-port", bridge, bridge], None),
        ([*vsctl, "--", "add-br", bridge], None),
        ([*vsctl, *internal], None),
        (["ovs-ofctl", "--bundle", "replace-flows", bridge, "-"], flows),
        dump,
        (["ovs-ofctl", "add-flow", bridge, f"cookie=0x5,table=3,priority=32768,dl_vlan=0x10,in_port={plain},"
                                           "dl_src=FA:16:3E:00:00:01,actions="], None),
        (["ovs-ofctl", "add-flow", bridge, "table=3,priority=9,in_port=LOCAL,vlan_tci=0x0000/0x1fff,"
                                           "actions=mod_vlan_vid:7,resubmit(,60)"], None),
        dump,
        *((["ovs-ofctl", "add-flow", bridge, flow], None) for flow in _firewall_vocabulary(plain, hyphen)),
        dump,
        # flow mods in one bundle, as the OpenFlow realizer sends a few differences
        (["ovs-ofctl", "--bundle", "add-flows", bridge, "-"],
         "add table=9,priority=5,tcp,tp_dst=22,actions=drop\nadd table=9,priority=6,ip,actions=drop\n"),
        (["ovs-ofctl", "--bundle", "add-flows", bridge, "-"], "delete_strict table=9,priority=5,tcp,tp_dst=22\n"
         "add table=9,priority=6,ip,actions=NORMAL\ndelete_strict table=9,priority=8,ip\n"),
        (["ovs-ofctl", "--bundle", "add-flows", bridge, "-"], "delete_strict table=9,priority=6,ip,actions=drop\n"),
        dump,
        (["ovs-ofctl", "--bundle", "replace-flows", bridge, "-"], f"priority=2,in_port={p}none,actions=drop\n"),
        dump,
        ([*vsctl, "--", "--if-exists", "del-port", plain], None),
        dump,  # the gone port's flow names it by number
        ([*vsctl, "--", "set", "Bridge", bridge, "fail_mode=standalone"], None),
        dump,  # a fail mode change flushes, and a standalone bridge is a learning switch
        (["ovs-ofctl", "dump-flows", f"{p}none", "--no-stats", "--names"], None),
    ]


def _firewall_vocabulary(plain: str, hyphen: str) -> list[str]:
    """The OVS firewall's matches and actions in other spellings than the plan's, fields that ovs-ofctl
    drops for want of their prerequisites, and what it refuses."""
    return [
        f"table=82,priority=70,ct_state=-trk+new,ct_mark=1,ct_zone=0x5,reg5=7,ip,nw_proto=6,tp_dst=0x16,"
        f'actions=ct(zone=NXM_NX_REG6[0..15],commit,exec(load:1->NXM_NX_CT_MARK[])),output:{plain},output:"{hyphen}"',
        f"table=71,reg5=0x7/0xff,in_port={plain},dl_src=FA:16:3E:00:00:01,arp,nw_src=10.0.0.5/24,"
        "actions=load:0->NXM_NX_REG5[],load:0xffffffff->NXM_NX_REG6[0..31],ct_clear,resubmit(,72)",
        "table=71,priority=95,icmp6,icmp_type=136,nd_target=2001:db8::1/64,ct_state=+est-rel+rpl,actions=strip_vlan",
        "table=71,reg1=1,tp_dst=22,icmp6,nd_target=fe80::1,ipv6_src=2001:0db8::5/128,actions=NORMAL",
        "table=71,reg1=2,udp,icmp_type=1,nw_dst=10.1.2.3/255.255.0.0,actions=drop",
        "table=71,reg1=3,dl_type=0x86dd,nw_proto=50,ct_state=+inv+trk,actions=ct(table=82,zone=NXM_NX_REG6[0..15])",
        "table=71,reg1=4,tp_src=67,ip,ct_mark=0x1/0x1,actions=output:LOCAL",
        "reg5=1,actions=ct(commit,zone=NXM_NX_REG6[0..15])",  # ct() needs an IP match
        'ip,actions=output:"nosuch"',
        "ct_state=+bogus,actions=drop",
        "ip,actions=drop,NORMAL",
    ]


# Warnings and log lines, not answers: absent bond members, and ovs-ofctl's "normalization changed
# ofp_match" notes (its answer is what dump-flows prints afterwards).
_DEVICE_WARNING = re.compile(r"(could not open network device|default log directory|\|ofp_match\|INFO\|)")


def _answer(host: Host, argv: list[str], input: str | None) -> tuple[int, str, str]:
    result = host.run(argv, input=input, check=False)
    stderr = "".join(line for line in result.stderr.splitlines(keepends=True)
                     if not _DEVICE_WARNING.search(line))  # real OVS warns about the absent bond members
    numbered = OUTPUT_NUMBER.sub("output:N", NUMBER.sub("in_port=N", result.stdout))
    lines = sorted(numbered.splitlines())  # dump order is the switch's own
    return result.rc, lines, stderr


def test_fake_answers_each_command_as_the_real_tools_do():
    prefix = "nt" + secrets.token_hex(3)[:5]
    real, fake = RealHost(), FakeHost()
    try:
        for argv, input in _commands(prefix):
            assert _answer(fake, argv, input) == _answer(real, argv, input), " ".join(argv)
    finally:
        real.run(["ovs-vsctl", "--timeout=10", "--", "--if-exists", "del-br", f"{prefix}t"], check=False)
