"""OpenFlow plan: local VLAN <-> provider VLAN where Neutron puts it, defaults, dead VLAN and parked ports.

Flow texts are compared whole, as ``ovs-ofctl add-flows`` reads them: they are what the switch runs.
"""

from __future__ import annotations

import pytest

from neutrino.model.resources import Network
from neutrino.plan import flows
from neutrino.plan.tables import COOKIE
from tests.unit.seed import SEED, flat_network, vlan_network

C = f"cookie={COOKIE:#x}"


def _texts(flow_list) -> list[tuple[str, str]]:
    return [(flow.bridge, flow.text()) for flow in flow_list]


def test_vlan_network_translates_on_int_and_phys_bridges():
    assert _texts(flows.translation_flows_for(vlan_network("net-a", 100), 5, SEED)) == [
        # in: provider VLAN 100 arriving from br-bond0 becomes local VLAN 5 on br-int
        ("br-int", f"{C},table=0,priority=3,in_port=int-br-bond0,dl_vlan=100,actions=mod_vlan_vid:5,resubmit(,60)"),
        # out: local VLAN 5 leaving br-int becomes provider VLAN 100 on the physical bridge
        ("br-bond0", f"{C},table=0,priority=4,in_port=phy-br-bond0,dl_vlan=5,actions=mod_vlan_vid:100,NORMAL"),
    ]


def test_flat_network_strips_and_pushes():
    assert _texts(flows.translation_flows_for(flat_network("net-f"), 2, SEED)) == [
        ("br-int", f"{C},table=0,priority=3,in_port=int-br-bond0,vlan_tci=0x0000/0x1fff,"
                   "actions=mod_vlan_vid:2,resubmit(,60)"),
        ("br-bond0", f"{C},table=0,priority=4,in_port=phy-br-bond0,dl_vlan=2,actions=strip_vlan,NORMAL"),
    ]


@pytest.mark.parametrize("network", [
    pytest.param(vlan_network("net-o", 100, physnet="physnet2"), id="vlan on an unmapped physnet"),
    pytest.param(flat_network("net-o", physnet="physnet2"), id="flat on an unmapped physnet"),
    pytest.param(Network("net-o", network_type="vxlan", segmentation_id=5001), id="a tunnel network"),
])
def test_networks_on_other_physnets_get_no_flows(network):
    assert flows.translation_flows_for(network, 3, SEED) == []


def test_translation_flows_cite_their_network():
    for flow in flows.translation_flows_for(vlan_network("net-a", 100), 5, SEED):
        assert flow.source == "network:net-a"
        assert "100" in flow.reason and "5" in flow.reason


def test_integration_bridge_drops_dead_vlan_and_strays_and_switches_the_rest():
    assert sorted(_texts(flows.integration_defaults_for(SEED))) == sorted([
        ("br-int", f"{C},table=0,priority=65535,dl_vlan=4095,actions=drop"),
        ("br-int", f"{C},table=0,priority=0,actions=resubmit(,60)"),
        ("br-int", f"{C},table=23,priority=0,actions=drop"),  # the canary: gone => vswitchd restarted
        ("br-int", f"{C},table=60,priority=1,actions=NORMAL"),
        ("br-int", f"{C},table=0,priority=2,in_port=int-br-bond0,actions=drop"),
    ])


def test_physical_and_extra_bridges_switch_normally_and_drop_strays_from_br_int():
    assert sorted(_texts(flows.physical_defaults_for(SEED))) == sorted([
        ("br-bond0", f"{C},table=0,priority=0,actions=NORMAL"),
        ("br-bond0", f"{C},table=0,priority=2,in_port=phy-br-bond0,actions=drop"),
        ("br-ex", f"{C},table=0,priority=0,actions=NORMAL"),
    ])


def test_parked_port_gets_a_drop_flow_that_says_why():
    [flow] = flows.parked_port_flows_for(SEED, {"tapvm1-port-0": "port vm1-port has admin_state_up false"})
    assert flow.text() == f"{C},table=0,priority=2,in_port=tapvm1-port-0,actions=drop"
    assert (flow.source, flow.reason) == ("device:tapvm1-port-0", "parked: port vm1-port has admin_state_up false")


def test_parked_port_flows_are_in_port_name_order():
    parked = {"tapb": "b", "tapa": "a"}
    assert [f.match for f in flows.parked_port_flows_for(SEED, parked)] == ["in_port=tapa", "in_port=tapb"]
