"""The OVSDB realizer with tunnels, on a FakeHost: br-tun, its patch to br-int and one tunnel port per
endpoint, with Neutron's options, converge in one pass; an endpoint that moves gets its port re-made; a
deleted agent's port goes. (br-tun's flows are checked on real OVS: tests/host/test_tunnels.py.)"""

from __future__ import annotations

from dataclasses import replace

from neutrino.agent.facts import facts_from
from neutrino.host.fake import FakeHost
from neutrino.plan.build import build_plan
from neutrino.plan.host_plan import Interface
from neutrino.realize.ovsdb import apply_ovsdb, observe_ovs
from tests.unit.plan.test_tunnels import AGENTS, TUNNELLING, state


def ovsdb_pass(host: FakeHost, api_state):
    return apply_ovsdb(host, build_plan(api_state, TUNNELLING, facts_from(observe_ovs(host), TUNNELLING)))


def test_tunnel_bridge_patch_and_ports_are_created_with_neutrons_options_and_converge():
    host = FakeHost()
    report = ovsdb_pass(host, state())
    assert {"bridge br-tun", "port br-int/patch-tun", "port br-tun/patch-int", "port br-tun/gre-c6336402",
            "port br-tun/vxlan-c6336402", "port br-tun/vxlan-c6336403"} <= set(report.added)
    seen = observe_ovs(host)
    assert seen.bridges["br-tun"].fail_mode == "secure"
    assert seen.ports["vxlan-c6336403"].interfaces == (Interface("vxlan-c6336403", "vxlan", None, (
        ("df_default", "true"), ("in_key", "flow"), ("local_ip", "198.51.100.1"), ("out_key", "flow"),
        ("remote_ip", "198.51.100.3"))),)
    assert seen.ports["patch-tun"].interfaces == (Interface("patch-tun", "patch", "patch-int"),)
    assert not ovsdb_pass(host, state())


def test_a_moved_endpoint_gets_its_port_remade_and_a_deleted_agent_loses_its_port():
    host = FakeHost()
    ovsdb_pass(host, state())
    moved = [replace(a, tunneling_ip="198.51.100.33") if a.host == "compute3" else a for a in AGENTS]
    report = ovsdb_pass(host, state(agents=moved))
    assert "port br-tun/vxlan-c6336403" in report.removed and "port br-tun/vxlan-c6336421" in report.added
    gone = [a for a in moved if a.host != "compute3"]
    report = ovsdb_pass(host, state(agents=gone))
    assert report.removed == ["port br-tun/vxlan-c6336421"] and not report.added
    assert {p for p in observe_ovs(host).ports if p.startswith(("vxlan-", "gre-"))} == {
        "gre-c6336402", "vxlan-c6336402"}
