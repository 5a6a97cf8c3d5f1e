"""FakeHost must not drift from Open vSwitch: the same plans, applied to the real OVS of this machine
(throw-away bridges ``nt<random>…``, removed in ``finally``) and to a FakeHost, must leave the same
observed OVSDB, the same flows (byte for byte as dump-flows prints them) and the same Reports.

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


def _real_ovs_answers() -> bool:
    if os.geteuid() != 0 or shutil.which("ovs-vsctl") is None or shutil.which("ovs-ofctl") is None:
        return False
    return subprocess.run(["ovs-vsctl", "--timeout=3", "show"], capture_output=True).returncode == 0


pytestmark = pytest.mark.skipif(not _real_ovs_answers(), reason="needs root and a running Open vSwitch")

NOTHING = ((), (), (), ())  # a Report with nothing added, removed, changed or failed
NUMBER = re.compile(r"in_port=\d+")  # a removed port's flows name it by number; numbers differ


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
        firewall_driver="noop",  # L2 parity; the fake does not model conntrack matches (ct_state, ...)
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
        (["ovs-ofctl", "--bundle", "replace-flows", bridge, "-"], f"priority=2,in_port={p}none,actions=drop\n"),
        dump,
        ([*vsctl, "--", "--if-exists", "del-port", plain], None),
        dump,  # the gone port's flow names it by number
        ([*vsctl, "--", "set", "Bridge", bridge, "fail_mode=standalone"], None),
        dump,  # a fail mode change flushes, and a standalone bridge is a learning switch
        (["ovs-ofctl", "dump-flows", f"{p}none", "--no-stats", "--names"], None),
    ]


_DEVICE_WARNING = re.compile(r"(could not open network device|default log directory)")


def _answer(host: Host, argv: list[str], input: str | None) -> tuple[int, str, str]:
    result = host.run(argv, input=input, check=False)
    stderr = "".join(line for line in result.stderr.splitlines(keepends=True)
                     if not _DEVICE_WARNING.search(line))  # real OVS warns about the absent bond members
    lines = sorted(NUMBER.sub("in_port=N", result.stdout).splitlines())  # dump order is the switch's own
    return result.rc, lines, stderr


def test_fake_answers_each_command_as_the_real_tools_do():
    prefix = "nt" + secrets.token_hex(3)[:5]
    real, fake = RealHost(), FakeHost()
    try:
        for argv, input in _commands(prefix):
            assert _answer(fake, argv, input) == _answer(real, argv, input), " ".join(argv)
    finally:
        real.run(["ovs-vsctl", "--timeout=10", "--", "--if-exists", "del-br", f"{prefix}t"], check=False)
