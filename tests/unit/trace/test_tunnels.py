"""trace() across hosts over tunnelled networks: through br-tun, encapsulated with the network's VNI / GRE key
between the two hosts' endpoints, decapsulated on the other host; and what stops it when a host has no tunnel
to the other.

compute1 (198.51.100.1) and compute2 (198.51.100.2) both tunnel VXLAN and GRE. Project demo:

    v 10.1.0.0/24 (VXLAN 1000)   v1 10.1.0.5 on compute1, v2 10.1.0.6 on compute2, v3 10.1.0.7 on compute1
    w 10.2.0.0/24 (VXLAN 1001)   w2 10.2.0.6 on compute2
    g 10.3.0.0/24 (GRE 1000)     g1 10.3.0.5 on compute1, g2 10.3.0.6 on compute2

All in the default group (its members admit each other). No router. Local VLANs (both hosts): g 1, v 2.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from neutrino.model.resources import Agent, Network, Subnet
from neutrino.model.state import ApiState
from neutrino.trace.render import render_text, trace_from_json, trace_json
from neutrino.trace.resolve import resolve_probe
from neutrino.trace.result import Element, Hop, ObjectRef, Reason, Rewrite
from neutrino.trace.walk import trace
from tests.unit.seed import SEED
from tests.unit.trace.topology import C1, C2, DEFAULT, DEMO, instance

V = Network("net-v", name="v", project_id=DEMO, network_type="vxlan", segmentation_id=1000, mtu=1450)
W = Network("net-w", name="w", project_id=DEMO, network_type="vxlan", segmentation_id=1001, mtu=1450)
G = Network("net-g", name="g", project_id=DEMO, network_type="gre", segmentation_id=1000, mtu=1458)
SUBNETS = (Subnet("sub-v", V.id, "10.1.0.0/24", gateway_ip="10.1.0.1", name="v-subnet", project_id=DEMO),
           Subnet("sub-w", W.id, "10.2.0.0/24", gateway_ip="10.2.0.1", name="w-subnet", project_id=DEMO),
           Subnet("sub-g", G.id, "10.3.0.0/24", gateway_ip="10.3.0.1", name="g-subnet", project_id=DEMO))
V1 = instance("v1-port", V, "sub-v", "10.1.0.5", C1)
V2 = instance("v2-port", V, "sub-v", "10.1.0.6", C2)
V3 = instance("v3-port", V, "sub-v", "10.1.0.7", C1)
W2 = instance("w2-port", W, "sub-w", "10.2.0.6", C2)
G1 = instance("g1-port", G, "sub-g", "10.3.0.5", C1)
G2 = instance("g2-port", G, "sub-g", "10.3.0.6", C2)
TO_C1, TO_C2 = "vxlan-c6336401", "vxlan-c6336402"  # each host names its tunnel by the remote address
HOSTS = {host: replace(SEED, host=host, tunnel_types=("vxlan", "gre"), tunnel_ip=ip, tunnel_prefix=24)
         for host, ip in ((C1, "198.51.100.1"), (C2, "198.51.100.2"))}


def agent(host: str, ip: str | None, *types: str) -> Agent:
    return Agent(f"agent-{host}", host, "Open vSwitch agent", True, tunneling_ip=ip, tunnel_types=types)


AGENTS = (agent(C1, "198.51.100.1", "vxlan", "gre"), agent(C2, "198.51.100.2", "vxlan", "gre"))


def cloud(agents=AGENTS) -> ApiState:
    networks, ports = (V, W, G), (V1, V2, V3, W2, G1, G2)
    return ApiState(revision=3, networks={n.id: n for n in networks}, subnets={s.id: s for s in SUBNETS},
                    ports={p.id: p for p in ports}, security_groups={DEFAULT.id: DEFAULT},
                    agents={a.id: a for a in agents})


def run(state: ApiState, source: str, destination: str, hosts=HOSTS):
    return trace(state, hosts, resolve_probe(state, source, destination, "icmp"))


def test_vxlan_across_hosts_is_encapsulated_with_its_vni_between_the_endpoints_and_decapsulated_there():
    result = run(cloud(), "v1", "v2")
    assert result.verdict.reason is Reason.DELIVERED
    assert result.verdict.message == "delivered to port v2 (project demo-project) on compute2"
    tunnelled = [h for h in result.hops if h.name in ("br-tun", "underlay") or h.stage.endswith("NORMAL")]
    assert [(h.host, h.name, h.stage) for h in tunnelled] == [
        (C1, "br-int", "table 0 -> 60 NORMAL"),
        (C1, "br-tun", "table 20 priority 2"),
        ("", "underlay", "VXLAN VNI 1000"),
        (C2, "br-tun", "table 0 priority 1"),
        (C2, "br-tun", "table 4 priority 1"),
        (C2, "br-tun", "table 10 priority 1"),
        (C2, "br-int", "table 0 -> 60 NORMAL"),
    ]
    out, fabric, dispatch, decap = tunnelled[1], tunnelled[2], tunnelled[3], tunnelled[4]
    assert out.matched == (f"in_port=patch-int by table 0 -> 2 -> 20: dl_vlan=2,dl_dst={V2.mac_address} actions=strip_vlan,"
                           f'load:0x3e8->NXM_NX_TUN_ID[],output:"{TO_C2}": port v2-port is on host compute2; '
                           f"out {TO_C2} (198.51.100.1 -> 198.51.100.2); its ARP request is flooded by table 22 "
                           f"to {TO_C2}")
    assert out.rewrites == (Rewrite("vlan", "2", ""), Rewrite("tunnel", "", "VXLAN VNI 1000"))
    assert out.changed == "pop VLAN 2, encapsulate VXLAN VNI 1000"
    assert fabric == Hop("", Element.FABRIC, "underlay", "VXLAN VNI 1000",
                         f"compute1 198.51.100.1 -> compute2 198.51.100.2 (UDP port 4789, tunnel {TO_C2})",
                         source="agent:agent-compute2")
    assert dispatch.matched == f"in_port={TO_C1} actions=resubmit(,4): from host compute1: vxlan tunnel id -> local VLAN"
    assert decap.matched == "tun_id=0x3e8 actions=mod_vlan_vid:2,resubmit(,10): vxlan 1000 -> local VLAN 2"
    assert decap.changed == "decapsulate VXLAN VNI 1000, push VLAN 2"
    assert tunnelled[-1].matched == "in from patch-tun on local VLAN 2: out tap" + V2.id[:11]
    # the reply goes back through compute2's tunnel to compute1
    back = [h for h in result.reply if h.name in ("br-tun", "underlay")]
    assert [(h.host, h.stage) for h in back][:2] == [(C2, "table 20 priority 2"), ("", "VXLAN VNI 1000")]
    assert back[1].matched == f"compute2 198.51.100.2 -> compute1 198.51.100.1 (UDP port 4789, tunnel {TO_C1})"
    assert back[2].matched.startswith(f"in_port={TO_C2} actions=resubmit(,4)")
    assert trace_from_json(trace_json(result)) == result
    assert "encapsulate VXLAN VNI 1000" in render_text(result).plain


def test_gre_across_hosts_names_its_key_and_table_3():
    result = run(cloud(), "g1", "g2")
    assert result.verdict.reason is Reason.DELIVERED
    by_stage = {(h.host, h.stage): h for h in result.hops}
    assert by_stage[("", "GRE key 1000")].matched == ("compute1 198.51.100.1 -> compute2 198.51.100.2 "
                                                      "(IP protocol 47, tunnel gre-c6336402)")
    assert by_stage[(C1, "table 20 priority 2")].changed == "pop VLAN 1, encapsulate GRE key 1000"
    assert by_stage[(C2, "table 0 priority 1")].matched.startswith("in_port=gre-c6336401 actions=resubmit(,3)")
    assert by_stage[(C2, "table 3 priority 1")].changed == "decapsulate GRE key 1000, push VLAN 1"


def test_on_one_host_a_tunnelled_network_is_switched_by_br_int_alone():
    result = run(cloud(), "v1", "v3")
    assert result.verdict.reason is Reason.DELIVERED
    assert not [h for h in result.hops + result.reply if h.name in ("br-tun", "underlay")]


def test_another_tunnelled_network_is_isolated_it_needs_a_router():
    result = run(cloud(), "v1", "w2")
    assert result.verdict.reason is Reason.NO_ROUTER_INTERFACE
    assert not [h for h in result.hops if h.name in ("br-tun", "underlay")]


@pytest.mark.parametrize("agents, host, remote, why", [
    ((AGENTS[0], agent(C2, "198.51.100.2", "gre")), C1, C2,
     "the Open vSwitch agent on compute2 reports tunnel_types ['gre'], without vxlan"),
    ((AGENTS[0], agent(C2, None)), C1, C2, "the Open vSwitch agent on compute2 reports no tunneling_ip"),
    ((agent(C1, "198.51.100.1", "gre"), AGENTS[1]), C2, C1,  # the way back is missing
     "the Open vSwitch agent on compute1 reports tunnel_types ['gre'], without vxlan"),
])
def test_a_host_without_a_tunnel_to_the_other_says_which_agent_lacks_the_endpoint_and_the_fix(agents, host, remote,
                                                                                              why):
    result = run(cloud(agents), "v1", "v2")
    verdict = result.verdict
    assert verdict.reason is Reason.NO_TUNNEL_ENDPOINT
    assert verdict.message == (f"network v (project demo-project) is VXLAN VNI 1000, but host {host} has no vxlan "
                               f"tunnel to host {remote}: {why}")
    assert verdict.objects == (ObjectRef("network", V.id, "v", DEMO),
                               ObjectRef("agent", f"agent-{remote}", f"Open vSwitch agent on {remote}"))
    assert verdict.fixes == (f'on host {remote}: set tunnel_types to include "vxlan" and tunnel_ip to its endpoint '
                             "address in the [host] section of its agent configuration, then restart its agent "
                             "(neutrino agent --config <agent.toml>)",)
    assert not [h for h in result.hops if h.name == "underlay"]


def test_a_host_whose_agent_does_not_tunnel_vxlan_parks_the_destination_on_the_dead_vlan():
    hosts = {**HOSTS, C2: replace(HOSTS[C2], tunnel_types=("gre",))}
    result = run(cloud(), "v1", "v2", hosts)
    assert result.verdict.reason is Reason.DEAD_VLAN
