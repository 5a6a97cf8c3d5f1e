"""plan/tunnels.py: br-tun, its tunnel ports and flows from literal API state (agents, networks, ports).

compute1 (this host, 198.51.100.1) tunnels VXLAN and GRE. compute2 (.2) does both, compute3 (.3) only
VXLAN, compute4 reports no endpoint. net-v is VXLAN 1000 with ports on compute1, 2 and 3; net-g is GRE 1000
with ports on compute1 and 2; net-w is VXLAN 1001 with a port on compute3 only; net-l is a VLAN network.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from neutrino.model.host_config import HostConfigError, host_config_from_dict
from neutrino.model.resources import Agent, FixedIp, Network, Subnet, network_from_body
from neutrino.model.state import ApiState
from neutrino.plan.build import build_plan
from neutrino.plan.dhcp import dhcp_for
from neutrino.plan.host_plan import Interface, TunnelAddress, TunnelPort, TunnelSegment
from neutrino.plan.tables import COOKIE
from tests.unit.seed import HOST, SEED_L2, facts, mac_of, plugged, port, tap, vlan_network

C = f"cookie={COOKIE:#x}"
TUNNELLING = host_config_from_dict({
    "name": HOST, "bridge_mappings": {"physnet1": "br-bond0"}, "firewall_driver": "noop",
    "tunnel_types": ["vxlan", "gre"], "tunnel_ip": "198.51.100.1/24", "tunnel_ip_bridge": "br-bond0",
}, HOST)
WITH_ARP = replace(TUNNELLING, arp_responder=True)


def ovs_agent(host: str, ip: str | None, *types: str, agent_type: str = "Open vSwitch agent") -> Agent:
    return Agent(f"agent-{host}-{agent_type[:3]}", host, agent_type, alive=True, tunneling_ip=ip, tunnel_types=types)


AGENTS = [ovs_agent(HOST, "198.51.100.1", "vxlan", "gre"), ovs_agent("compute2", "198.51.100.2", "vxlan", "gre"),
          ovs_agent("compute3", "198.51.100.3", "vxlan"), ovs_agent("compute4", None),
          ovs_agent("compute5", "198.51.100.5", "vxlan", agent_type="L3 agent")]
NETWORKS = [Network("net-v", name="v", network_type="vxlan", segmentation_id=1000, mtu=1450),
            Network("net-g", name="g", network_type="gre", segmentation_id=1000, mtu=1458),
            Network("net-w", name="w", network_type="vxlan", segmentation_id=1001, mtu=1450),
            vlan_network("net-l", 100)]
PORTS = [port("vm1", "net-v"), port("vm2", "net-v", host="compute2", fixed_ips=(FixedIp("s", "10.0.0.2"),)),
         port("vm3", "net-v", host="compute3", fixed_ips=(FixedIp("s", "10.0.0.3"), FixedIp("s6", "fd00::3"))),
         port("vm4", "net-g"), port("vm5", "net-g", host="compute2"), port("vm6", "net-w", host="compute3"),
         port("vm7", "net-l")]
FACTS = facts(plugged("vm1"), plugged("vm4"), plugged("vm7"))


def state(agents=AGENTS, ports=PORTS) -> ApiState:
    return ApiState(revision=1, networks={n.id: n for n in NETWORKS}, ports={p.id: p for p in ports},
                    agents={a.id: a for a in agents})


def tun_flows(plan) -> list[str]:
    return sorted(flow.text() for flow in plan.flows_of("br-tun"))


def test_a_tunnelling_host_has_a_secure_tunnel_bridge_patched_to_the_integration_bridge():
    plan = build_plan(state(), TUNNELLING, FACTS)
    br_tun = next(b for b in plan.bridges if b.name == "br-tun")
    assert (br_tun.datapath_type, br_tun.fail_mode) == ("netdev", "secure")  # a restarted switch floods nothing
    patches = {(p.bridge, p.name): p.interfaces for p in plan.ports if p.name.startswith("patch-")}
    assert patches == {("br-int", "patch-tun"): (Interface("patch-tun", "patch", "patch-int"),),
                       ("br-tun", "patch-int"): (Interface("patch-int", "patch", "patch-tun"),)}
    assert plan.tunnel_address == TunnelAddress("br-bond0", "198.51.100.1", 24, source="config:tunnel_ip",
                                                reason=plan.tunnel_address.reason)


def test_one_tunnel_port_per_other_endpoint_and_type_named_and_optioned_as_neutron_does():
    plan = build_plan(state(), TUNNELLING, FACTS)
    assert [(t.name, t.network_type, t.remote_ip, t.remote_host) for t in plan.tunnels] == [
        ("gre-c6336402", "gre", "198.51.100.2", "compute2"),
        ("vxlan-c6336402", "vxlan", "198.51.100.2", "compute2"),
        ("vxlan-c6336403", "vxlan", "198.51.100.3", "compute3"),
    ]  # none to itself, to compute4 (no endpoint) or to an agent that is not an OVS agent
    [port_to_3] = [p for p in plan.ports if p.name == "vxlan-c6336403"]
    assert (port_to_3.bridge, port_to_3.owned, port_to_3.source) == ("br-tun", True, "agent:agent-compute3-Ope")
    assert port_to_3.interfaces == (Interface("vxlan-c6336403", "vxlan", None, (
        ("df_default", "true"), ("in_key", "flow"), ("local_ip", "198.51.100.1"), ("out_key", "flow"),
        ("remote_ip", "198.51.100.3"))),)


def test_br_tun_carries_each_tunnelled_network_between_its_local_vlan_and_its_tunnel_id():
    plan = build_plan(state(), TUNNELLING, FACTS)
    assert plan.local_vlans == {"net-g": 1, "net-l": 2, "net-v": 3}
    learn = ("learn(table=20,hard_timeout=300,priority=1,cookie=0x6e65756c,NXM_OF_VLAN_TCI[0..11],"
             "NXM_OF_ETH_DST[]=NXM_OF_ETH_SRC[],load:0->NXM_OF_VLAN_TCI[],load:NXM_NX_TUN_ID[]->NXM_NX_TUN_ID[],"
             "output:OXM_OF_IN_PORT[])")
    assert tun_flows(plan) == sorted([
        f"{C},table=0,priority=1,in_port=patch-int,actions=resubmit(,2)",
        f"{C},table=0,priority=1,in_port=gre-c6336402,actions=resubmit(,3)",
        f"{C},table=0,priority=1,in_port=vxlan-c6336402,actions=resubmit(,4)",
        f"{C},table=0,priority=1,in_port=vxlan-c6336403,actions=resubmit(,4)",
        f"{C},table=0,priority=0,actions=drop",
        f"{C},table=2,priority=0,dl_dst=00:00:00:00:00:00/01:00:00:00:00:00,actions=resubmit(,20)",
        f"{C},table=2,priority=0,dl_dst=01:00:00:00:00:00/01:00:00:00:00:00,actions=resubmit(,22)",
        f"{C},table=3,priority=0,actions=drop",
        f"{C},table=3,priority=1,tun_id=0x3e8,actions=mod_vlan_vid:1,resubmit(,10)",  # GRE key 1000 -> net-g
        f"{C},table=4,priority=0,actions=drop",
        f"{C},table=4,priority=1,tun_id=0x3e8,actions=mod_vlan_vid:3,resubmit(,10)",  # VNI 1000 -> net-v
        f'{C},table=10,priority=1,actions={learn},output:"patch-int"',
        f"{C},table=20,priority=0,actions=resubmit(,22)",
        f'{C},table=20,priority=2,dl_vlan=1,dl_dst={mac_of("vm5")},actions=strip_vlan,load:0x3e8->NXM_NX_TUN_ID[],'
        'output:"gre-c6336402"',
        f'{C},table=20,priority=2,dl_vlan=3,dl_dst={mac_of("vm2")},actions=strip_vlan,load:0x3e8->NXM_NX_TUN_ID[],'
        'output:"vxlan-c6336402"',
        f'{C},table=20,priority=2,dl_vlan=3,dl_dst={mac_of("vm3")},actions=strip_vlan,load:0x3e8->NXM_NX_TUN_ID[],'
        'output:"vxlan-c6336403"',
        f"{C},table=22,priority=0,actions=drop",
        f'{C},table=22,priority=1,dl_vlan=1,actions=strip_vlan,load:0x3e8->NXM_NX_TUN_ID[],output:"gre-c6336402"',
        f'{C},table=22,priority=1,dl_vlan=3,actions=strip_vlan,load:0x3e8->NXM_NX_TUN_ID[],output:"vxlan-c6336402",'
        'output:"vxlan-c6336403"',
    ])  # net-w has no port here: no local VLAN, no flows; net-l is a VLAN network: none on br-tun
    assert plan.tunnel_segments == (
        TunnelSegment("net-g", "gre", 1000, 1, ("gre-c6336402",), "network:net-g", plan.tunnel_segments[0].reason),
        TunnelSegment("net-v", "vxlan", 1000, 3, ("vxlan-c6336402", "vxlan-c6336403"), "network:net-v",
                      plan.tunnel_segments[1].reason),
    )
    assert "flooded to compute2, compute3" in plan.tunnel_segments[1].reason


def test_every_tunnel_flow_cites_the_object_that_caused_it():
    plan = build_plan(state(), WITH_ARP, FACTS)
    sources = {flow.source for flow in plan.flows_of("br-tun")}
    assert sources == {"config:tunnel_types", "config:arp_responder", "agent:agent-compute2-Ope",
                       "agent:agent-compute3-Ope", "network:net-g", "network:net-v", "port:vm2", "port:vm3",
                       "port:vm5"}
    assert all(flow.reason for flow in plan.flows_of("br-tun"))


def test_the_arp_responder_answers_for_other_hosts_ipv4_addresses_on_this_host():
    flows = [f.text() for f in build_plan(state(), WITH_ARP, FACTS).flows_of("br-tun") if f.table in (2, 21)]
    mac3 = mac_of("vm3")
    assert sorted(flows) == sorted([
        f"{C},table=2,priority=0,dl_dst=00:00:00:00:00:00/01:00:00:00:00:00,actions=resubmit(,20)",
        f"{C},table=2,priority=0,dl_dst=01:00:00:00:00:00/01:00:00:00:00:00,actions=resubmit(,22)",
        f"{C},table=2,priority=1,arp,dl_dst=ff:ff:ff:ff:ff:ff,actions=resubmit(,21)",
        f"{C},table=21,priority=0,actions=resubmit(,22)",
        f"{C},table=21,priority=1,arp,dl_vlan=3,arp_tpa=10.0.0.2,actions=move:NXM_OF_ETH_SRC[]->NXM_OF_ETH_DST[],"
        f"mod_dl_src:{mac_of('vm2')},load:0x2->NXM_OF_ARP_OP[],move:NXM_NX_ARP_SHA[]->NXM_NX_ARP_THA[],"
        f"move:NXM_OF_ARP_SPA[]->NXM_OF_ARP_TPA[],load:{int(mac_of('vm2').replace(':', ''), 16):#x}->"
        "NXM_NX_ARP_SHA[],load:0xa000002->NXM_OF_ARP_SPA[],IN_PORT",
        f"{C},table=21,priority=1,arp,dl_vlan=3,arp_tpa=10.0.0.3,actions=move:NXM_OF_ETH_SRC[]->NXM_OF_ETH_DST[],"
        f"mod_dl_src:{mac3},load:0x2->NXM_OF_ARP_OP[],move:NXM_NX_ARP_SHA[]->NXM_NX_ARP_THA[],"
        f"move:NXM_OF_ARP_SPA[]->NXM_OF_ARP_TPA[],load:{int(mac3.replace(':', ''), 16):#x}->"
        "NXM_NX_ARP_SHA[],load:0xa000003->NXM_OF_ARP_SPA[],IN_PORT",
    ])  # vm3's IPv6 address is not ARP's; vm1 is local: its own answer comes through br-int


def test_a_deleted_agent_takes_its_tunnel_port_flood_output_and_unicast_flows_with_it():
    without_3 = [a for a in AGENTS if a.host != "compute3"]
    plan = build_plan(state(agents=without_3), TUNNELLING, FACTS)
    assert [t.name for t in plan.tunnels] == ["gre-c6336402", "vxlan-c6336402"]
    assert not [p for p in plan.ports if p.name == "vxlan-c6336403"]
    assert not [f for f in plan.flows_of("br-tun") if "c6336403" in f.match + f.actions or f.source == "port:vm3"]
    assert [s.flood_to for s in plan.tunnel_segments] == [("gre-c6336402",), ("vxlan-c6336402",)]


def test_an_agent_that_reports_no_heartbeat_keeps_its_tunnel_until_it_is_deleted():
    dead = [replace(a, alive=False) if a.host == "compute3" else a for a in AGENTS]
    assert build_plan(state(agents=dead), TUNNELLING, FACTS).tunnels == build_plan(state(), TUNNELLING, FACTS).tunnels


def test_a_network_floods_only_to_hosts_with_ports_on_it_and_not_at_all_with_none():
    only_local = [p for p in PORTS if p.id not in ("vm2", "vm3")]
    plan = build_plan(state(ports=only_local), TUNNELLING, FACTS)
    [net_v] = [s for s in plan.tunnel_segments if s.network_id == "net-v"]
    assert net_v.flood_to == ()  # its broadcasts stay on this host
    assert not [f for f in plan.flows_of("br-tun") if f.table == 22 and "dl_vlan=3" in f.match]
    assert [t.name for t in plan.tunnels] == ["gre-c6336402", "vxlan-c6336402", "vxlan-c6336403"]  # all endpoints


def test_a_tunnelled_port_gets_its_local_vlan_and_neutrons_bookkeeping():
    plan = build_plan(state(), TUNNELLING, FACTS)
    [vm1] = [p for p in plan.ports if p.name == tap("vm1")]
    assert vm1.tag == 3
    assert dict(vm1.other_config) == {"net_uuid": "net-v", "network_type": "vxlan", "physical_network": "",
                                      "segmentation_id": "1000", "tag": "3"}
    assert plan.port_states["vm1"].status == "ACTIVE"


def test_a_host_without_tunnel_types_parks_tunnelled_ports_and_has_no_tunnel_bridge():
    plan = build_plan(state(), SEED_L2, FACTS)
    assert "net-v" not in plan.local_vlans and "net-l" in plan.local_vlans
    assert "tunnel_types: none" in plan.parked[tap("vm1")]
    assert plan.port_states["vm1"].status == "DOWN"
    assert not [b for b in plan.bridges if b.name == "br-tun"]
    assert (plan.tunnels, plan.tunnel_segments, plan.tunnel_address) == ((), (), None)
    only_vxlan = replace(TUNNELLING, tunnel_types=("vxlan",))
    gre_less = build_plan(state(), only_vxlan, FACTS)
    assert "tunnel_types: vxlan" in gre_less.parked[tap("vm4")]
    assert [t.name for t in gre_less.tunnels] == ["vxlan-c6336402", "vxlan-c6336403"]


def test_dhcp_advertises_a_vxlan_networks_mtu():
    body = {"id": "net-v", "provider:network_type": "vxlan", "provider:physical_network": None,
            "provider:segmentation_id": 1000, "mtu": 1450}
    dhcp_port = port("dhcp", "net-v", device_owner="network:dhcp", fixed_ips=(FixedIp("s", "10.0.0.2"),))
    api = ApiState(revision=1, networks={"net-v": network_from_body(body)}, ports={"dhcp": dhcp_port},
                   subnets={"s": Subnet("s", "net-v", "10.0.0.0/24", gateway_ip="10.0.0.1")})
    [plan] = dhcp_for(api, TUNNELLING)
    assert plan.mtu == 1450 and "--dhcp-option-force=option:mtu,1450" in plan.options


def test_tunnel_port_values_name_what_the_trace_needs():
    [gre, *_] = build_plan(state(), TUNNELLING, FACTS).tunnels
    assert gre == TunnelPort("gre-c6336402", "gre", "198.51.100.1", "198.51.100.2", "compute2",
                             source="agent:agent-compute2-Ope", reason="gre to host compute2 (198.51.100.1 -> "
                                                                       "198.51.100.2)")


# --- the host config's tunnel keys ---

@pytest.mark.parametrize(("settings", "complaint"), [
    ({"tunnel_types": ["geneve"], "tunnel_ip": "198.51.100.1"}, "tunnel_types must be among"),
    ({"tunnel_types": ["vxlan"]}, "tunnel_types needs tunnel_ip"),
    ({"tunnel_types": ["vxlan"], "tunnel_ip": "fd00::1"}, "not an IPv4 address"),
    ({"tunnel_types": ["vxlan"], "tunnel_ip": "198.51.100.1/24", "tunnel_ip_bridge": "eth0"},
     "must be a physical or extra bridge"),
    ({"tunnel_types": ["vxlan"], "tunnel_ip": "198.51.100.1", "tunnel_ip_bridge": "br-bond0"},
     "needs tunnel_ip with its prefix length"),
    ({"tunnel_types": ["vxlan"], "tunnel_ip": "198.51.100.1", "tunnel_bridge": "br-int"}, "a bridge of its own"),
], ids=["unknown-type", "no-endpoint", "ipv6", "address-on-a-nic", "address-without-prefix", "tunnel-bridge-is-br-int"])
def test_tunnel_settings_that_cannot_work_are_refused(settings, complaint):
    with pytest.raises(HostConfigError, match=complaint):
        host_config_from_dict({"bridge_mappings": {"physnet1": "br-bond0"}, **settings}, HOST)
