"""build_plan(): the whole desired configuration of the seed node from literal API state and host facts."""

from __future__ import annotations

import re

from neutrino.model.state import ApiState
from neutrino.plan.build import build_plan
from neutrino.plan.facts import HostFacts
from neutrino.plan.l2 import links_for
from neutrino.plan.tables import COOKIE
from tests.unit.seed import SEED, SEED_L2, api, facts, flat_network, plugged, port, tap, vlan_network

C = f"cookie={COOKIE:#x}"
STATE = api(
    [vlan_network("net-a", 100), flat_network("net-f"), vlan_network("net-x", 300, physnet="physnet9")],
    [port("vm1-port", "net-a"), port("vm2-port", "net-f"), port("vm3-port", "net-x"),
     port("vm4-port", "net-a", admin_state_up=False)],
)
FACTS = facts(plugged("vm1-port"), plugged("vm2-port"), plugged("vm3-port"), plugged("vm4-port"))


def _flow_texts(plan, bridge: str) -> list[str]:
    return sorted(flow.text() for flow in plan.flows_of(bridge))


def test_seed_plan_has_every_flow_of_every_bridge():
    plan = build_plan(STATE, SEED_L2, FACTS)
    assert plan.local_vlans == {"net-a": 1, "net-f": 2}
    assert _flow_texts(plan, "br-int") == sorted([
        f"{C},table=0,priority=65535,dl_vlan=4095,actions=drop",
        f"{C},table=0,priority=0,actions=resubmit(,60)",
        f"{C},table=23,priority=0,actions=drop",
        f"{C},table=60,priority=1,actions=NORMAL",
        f"{C},table=0,priority=2,in_port=int-br-bond0,actions=drop",
        f"{C},table=0,priority=3,in_port=int-br-bond0,dl_vlan=100,actions=mod_vlan_vid:1,resubmit(,60)",
        f"{C},table=0,priority=3,in_port=int-br-bond0,vlan_tci=0x0000/0x1fff,actions=mod_vlan_vid:2,resubmit(,60)",
        f"{C},table=0,priority=2,in_port={tap('vm3-port')},actions=drop",
        f"{C},table=0,priority=2,in_port={tap('vm4-port')},actions=drop",
    ])
    assert _flow_texts(plan, "br-bond0") == sorted([
        f"{C},table=0,priority=0,actions=NORMAL",
        f"{C},table=0,priority=2,in_port=phy-br-bond0,actions=drop",
        f"{C},table=0,priority=4,in_port=phy-br-bond0,dl_vlan=1,actions=mod_vlan_vid:100,NORMAL",
        f"{C},table=0,priority=4,in_port=phy-br-bond0,dl_vlan=2,actions=strip_vlan,NORMAL",
    ])
    assert _flow_texts(plan, "br-ex") == [f"{C},table=0,priority=0,actions=NORMAL"]


def test_seed_plan_tags_bound_ports_and_parks_the_rest():
    plan = build_plan(STATE, SEED, FACTS)
    tags = {p.name: p.tag for p in plan.ports if not p.owned}
    assert tags == {tap("vm1-port"): 1, tap("vm2-port"): 2, tap("vm3-port"): 4095, tap("vm4-port"): 4095}
    assert set(plan.parked) == {tap("vm3-port"), tap("vm4-port")}
    assert {pid: s.status for pid, s in plan.port_states.items()} == {
        "vm1-port": "ACTIVE", "vm2-port": "ACTIVE", "vm3-port": "DOWN", "vm4-port": "DOWN"}


def test_port_tags_and_translation_flows_agree_on_each_local_vlan():
    plan = build_plan(STATE, SEED, FACTS)
    for network_id, vlan in plan.local_vlans.items():
        ports = [p for p in plan.ports if dict(p.other_config).get("net_uuid") == network_id]
        assert ports and all(p.tag == vlan for p in ports)
        into = [f for f in plan.flows_of("br-int") if f.source == f"network:{network_id}"]
        out = [f for f in plan.flows_of("br-bond0") if f.source == f"network:{network_id}"]
        assert [f.actions for f in into] == [f"mod_vlan_vid:{vlan},resubmit(,60)"]
        assert [f.match for f in out] == [f"in_port=phy-br-bond0,dl_vlan={vlan}"]


def test_traffic_of_one_network_never_reaches_another_networks_vlan():
    state = api([vlan_network(f"net-{i}", 100 + i) for i in range(5)],
                [port(f"vm{i}-port", f"net-{i}") for i in range(5)])
    plan = build_plan(state, SEED, facts(*(plugged(f"vm{i}-port") for i in range(5))))
    assert len(set(plan.local_vlans.values())) == 5
    # each provider VLAN maps to exactly one local VLAN and back
    pairs_in = {re.search(r"dl_vlan=(\d+)", f.match)[1]: f.actions for f in plan.flows_of("br-int")
                if f.source.startswith("network:")}
    pairs_out = {f.actions: re.search(r"dl_vlan=(\d+)", f.match)[1] for f in plan.flows_of("br-bond0")
                 if f.source.startswith("network:")}
    assert len(pairs_in) == len(pairs_out) == 5
    for network_id, vlan in plan.local_vlans.items():
        vid = state.networks[network_id].segmentation_id
        assert pairs_in[str(vid)] == f"mod_vlan_vid:{vlan},resubmit(,60)"
        assert pairs_out[f"mod_vlan_vid:{vid},NORMAL"] == str(vlan)


def test_plan_is_deterministic():
    assert build_plan(STATE, SEED, FACTS) == build_plan(STATE, SEED, FACTS)


def test_plan_does_not_depend_on_the_order_the_api_listed_things_in():
    reversed_state = ApiState(revision=STATE.revision, networks=dict(reversed(STATE.networks.items())),
                              ports=dict(reversed(STATE.ports.items())))
    assert build_plan(reversed_state, SEED, FACTS) == build_plan(STATE, SEED, FACTS)


def test_empty_api_gives_bridges_links_and_default_flows_only():
    plan = build_plan(ApiState(), SEED, HostFacts())
    assert [b.name for b in plan.bridges] == ["br-int", "br-bond0", "br-ex"]
    assert list(plan.ports) == links_for(SEED)
    assert plan.local_vlans == {} and plan.port_states == {} and plan.parked == {}
    assert all(not f.source.startswith(("network:", "device:")) for f in plan.flows)


def test_every_element_cites_its_source_and_reason():
    plan = build_plan(STATE, SEED, FACTS)
    for element in (*plan.bridges, *plan.ports, *plan.flows):
        assert element.source and element.reason, element
