"""Layer 2 plan: bridges, links, each plugged port's local VLAN or the dead VLAN, and port states."""

from __future__ import annotations

import pytest

from neutrino.model.host_config import HostConfig, PhysicalBridge
from neutrino.model.resources import Network
from neutrino.plan import l2
from neutrino.plan.host_plan import Interface, PortState
from neutrino.plan.l2 import DEAD_REASON
from tests.unit.seed import HOST, SEED, api, facts, flat_network, plugged, port, tap, vlan_network

NET = vlan_network("net-a", 100)


def _why(state, *plugged_ports):
    """(the one instance port, local VLANs, port states, parked) for a host with these ports plugged."""
    ports, vlans, states, parked = l2.ports_for(state, SEED, facts(*plugged_ports))
    return ports, vlans, states, parked


UNBINDABLE = [
    pytest.param(api([NET]), ["no port vm1-port in the API", "unknown iface-id"], id="unknown iface-id"),
    pytest.param(api([NET], [port("vm1-port", "net-a", host="compute2")]),
                 ["bound to host 'compute2'", f"this host is '{HOST}'"], id="bound to another host"),
    pytest.param(api([NET], [port("vm1-port", "net-a", host="")]), ["has no binding:host_id"],
                 id="no binding host"),
    pytest.param(api([vlan_network("net-a", 100, physnet="physnet9")], [port("vm1-port", "net-a")]),
                 ["physnet 'physnet9'", "no bridge mapping"], id="unmapped physnet"),
    pytest.param(api([NET], [port("vm1-port", "net-a", admin_state_up=False)]),
                 ["port vm1-port has admin_state_up false"], id="port admin down"),
    pytest.param(api([vlan_network("net-a", 100, admin_state_up=False)], [port("vm1-port", "net-a")]),
                 ["network net-a has admin_state_up false"], id="network admin down"),
    pytest.param(api([], [port("vm1-port", "net-gone")]), ["network net-gone is not in the API"],
                 id="network missing"),
    pytest.param(api([Network("net-a", network_type="vxlan", segmentation_id=5001)], [port("vm1-port", "net-a")]),
                 ["type 'vxlan'", "not wired by this agent"], id="unwired network type"),
]


@pytest.mark.parametrize(("state", "phrases"), UNBINDABLE)
def test_unbound_port_is_parked_on_dead_vlan(state, phrases):
    ports, vlans, _, parked = _why(state, plugged("vm1-port"))
    [parked_port] = ports
    assert (parked_port.name, parked_port.tag, parked_port.vlan_mode, parked_port.trunks) == \
        (tap("vm1-port"), 4095, "trunk", (4095,))
    assert parked_port.owned is False  # the hypervisor's port: configured, never deleted
    reason = parked[tap("vm1-port")]
    assert all(phrase in reason for phrase in phrases), reason
    assert dict(parked_port.other_config) == {DEAD_REASON: reason}  # visible in `ovs-vsctl list port`
    assert vlans == {}


def test_parked_port_of_this_host_is_reported_down_with_its_reason():
    state = api([vlan_network("net-a", 100, physnet="physnet9")], [port("vm1-port", "net-a")])
    _, _, states, parked = _why(state, plugged("vm1-port"))
    assert states["vm1-port"] == PortState("vm1-port", "DOWN", tap("vm1-port"), reason=parked[tap("vm1-port")])


def test_bound_port_gets_its_networks_local_vlan_and_neutron_bookkeeping():
    ports, vlans, _, parked = _why(api([NET], [port("vm1-port", "net-a")]), plugged("vm1-port"))
    [bound] = ports
    assert vlans == {"net-a": 1} and parked == {}
    assert (bound.bridge, bound.name, bound.tag, bound.vlan_mode, bound.owned) == \
        ("br-int", tap("vm1-port"), 1, None, False)
    assert bound.other_config == (("net_uuid", "net-a"), ("network_type", "vlan"),
                                  ("physical_network", "physnet1"), ("segmentation_id", "100"), ("tag", "1"))


def test_local_vlan_is_kept_from_host_facts_after_restart():
    state = api([NET, vlan_network("net-b", 200)], [port("vm1-port", "net-a"), port("vm2-port", "net-b")])
    ports, vlans, _, _ = _why(state, plugged("vm1-port", net_uuid="net-a", local_vlan=7), plugged("vm2-port"))
    assert vlans == {"net-a": 7, "net-b": 1}
    assert {p.name: p.tag for p in ports} == {tap("vm1-port"): 7, tap("vm2-port"): 1}


def test_new_network_gets_lowest_free_local_vlan():
    state = api([vlan_network(n, vid) for n, vid in (("net-a", 100), ("net-b", 200), ("net-c", 300))],
                [port("vm1-port", "net-a"), port("vm2-port", "net-b"), port("vm3-port", "net-c")])
    _, vlans, _, _ = _why(state, plugged("vm1-port", "net-a", 1), plugged("vm3-port", "net-c", 3),
                          plugged("vm2-port"))
    assert vlans == {"net-a": 1, "net-b": 2, "net-c": 3}


def test_new_networks_are_numbered_in_network_id_order():
    assert l2.local_vlans_for(["net-z", "net-y", "net-z"], {}) == {"net-y": 1, "net-z": 2}


def test_networks_never_share_a_local_vlan_even_when_stale_bookkeeping_says_so():
    # vm1's port was parked (admin down) and kept net-a's old bookkeeping while net-b took VLAN 1;
    # when vm1's port comes back up, net-a must not join net-b on VLAN 1.
    state = api([NET, flat_network("net-b")], [port("vm1-port", "net-a"), port("vm2-port", "net-b")])
    ports, vlans, _, _ = _why(state, plugged("vm1-port", "net-a", 1), plugged("vm2-port", "net-b", 1))
    assert sorted(vlans.values()) == [1, 2]
    assert len({p.tag for p in ports}) == 2


def test_seed_layout_has_bond_and_patch_links_with_tag_201():
    links = {(p.bridge, p.name): (p.interfaces, p.tag, p.bond_mode, p.owned) for p in l2.links_for(SEED)}
    assert links == {
        ("br-int", "int-br-bond0"): ((Interface("int-br-bond0", "patch", "phy-br-bond0"),), None, None, True),
        ("br-bond0", "phy-br-bond0"): ((Interface("phy-br-bond0", "patch", "int-br-bond0"),), None, None, True),
        ("br-bond0", "bond0"): ((Interface("p1p1"), Interface("p1p2")), None, "balance-slb", True),
        ("br-ex", "patch-bond0"): ((Interface("patch-bond0", "patch", "patch-ex"),), None, None, True),
        ("br-bond0", "patch-ex"): ((Interface("patch-ex", "patch", "patch-bond0"),), 201, None, True),
    }


def test_seed_bridges_are_integration_physical_and_extra_all_secure():
    bridges = [(b.name, b.datapath_type, b.fail_mode) for b in l2.bridges_for(SEED)]
    assert bridges == [("br-int", "netdev", "secure"), ("br-bond0", "netdev", "secure"),
                       ("br-ex", "netdev", "secure")]


def test_single_uplink_is_a_plain_port_not_a_bond():
    config = HostConfig("compute2", bridge_mappings={"physnet2": "br-eth1"},
                        physical_bridges=(PhysicalBridge("br-eth1", ("eth1",)),))
    uplinks = [p for p in l2.links_for(config) if p.source.endswith(".uplinks")]
    assert [(p.bridge, p.name, p.interfaces, p.bond_mode) for p in uplinks] == \
        [("br-eth1", "eth1", (Interface("eth1"),), None)]


def test_port_states_active_and_down():
    state = api([NET, vlan_network("net-b", 200, physnet="physnet9")], [
        port("vm1-port", "net-a"),  # plugged and bindable
        port("vm2-port", "net-a"),  # bound here, not plugged (yet)
        port("vm3-port", "net-b"),  # plugged, but its physnet has no bridge here
        port("vm4-port", "net-a", host="compute2"),  # another host's business
    ])
    _, _, states, _ = _why(state, plugged("vm1-port"), plugged("vm3-port"))
    assert {pid: (s.status, s.device, s.local_vlan) for pid, s in states.items()} == {
        "vm1-port": ("ACTIVE", tap("vm1-port"), 1),
        "vm2-port": ("DOWN", None, None),
        "vm3-port": ("DOWN", tap("vm3-port"), None),
    }
    assert states["vm2-port"].reason == "not plugged on this host"


def test_ports_plugged_on_other_bridges_are_left_alone():
    ports, _, states, parked = _why(api([NET], [port("vm1-port", "net-a")]), plugged("vm1-port", bridge="br-ex"))
    assert ports == [] and parked == {}
    assert states["vm1-port"].status == "DOWN"
