"""VXLAN and GRE networks (ML2's tunnel type drivers) through the API: provider segments without a physnet,
tenant networks of the configured tenant_network_types, ids never shared (also under concurrent writers),
the MTU the encapsulation leaves, and ports bound only to hosts whose agent tunnels that type.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from sqlalchemy import select

from neutrino.model.ranges import parse_tunnel_ranges, parse_vlan_ranges
from neutrino.services import errors as e
from neutrino.services.agents import OVS_AGENT
from neutrino.store import tables as t
from tests.api.cloud import cloud_in, module_cloud
from tests.api.l3 import heartbeat
from tests.api.refusal import refused
from tests.api.test_concurrency import create_network, outcome, run_together
from tests.conftest import make_services

cloud, admin, demo, _other = module_cloud("tunnel-networks", with_other=False)

VXLAN_MAX, GRE_MAX = 2**24 - 1, 2**31 - 1


def post(api, **attrs):
    return api.post("/v2.0/networks", json={"network": attrs})


def tunnel(api, network_type: str, segmentation_id: int | None = None, **attrs) -> dict:
    provider = {"provider:network_type": network_type}
    if segmentation_id is not None:
        provider["provider:segmentation_id"] = segmentation_id
    return api.create("networks", "network", **provider, **attrs)


def segment(network: dict) -> tuple:
    return (network["provider:network_type"], network["provider:physical_network"],
            network["provider:segmentation_id"], network["mtu"])


@pytest.fixture
def vxlan_tenants(tmp_path):
    """A server whose tenant networks are VXLAN first (VNIs 1000-1001), then VLAN (physnet1:100:101)."""
    with cloud_in(tmp_path, wide=False, with_other=False, tenant_network_types=("vxlan", "vlan"),
                  vni_ranges=tuple(parse_tunnel_ranges("1000:1001", "vxlan")),
                  network_vlan_ranges=tuple(parse_vlan_ranges("physnet1:100:101"))) as built:
        yield built


# --- provider segments ---

def test_admin_creates_vxlan_and_gre_provider_networks_with_the_mtu_the_encapsulation_leaves(admin):
    vxlan = tunnel(admin, "vxlan", 70001)
    gre = tunnel(admin, "gre", 70001)  # a VNI and a GRE key are ids of different types: no conflict
    assert segment(vxlan) == ("vxlan", None, 70001, 1450)  # 1500 - 50 (IPv4 + UDP + VXLAN + Ethernet)
    assert segment(gre) == ("gre", None, 70001, 1458)  # 1500 - 42 (IPv4 + GRE with key + Ethernet)
    shown = admin.get(f"/v2.0/networks/{vxlan['id']}").json()["network"]
    assert segment(shown) == segment(vxlan)
    # An id outside the tenant ranges is fine for an admin's provider network, up to the type's largest.
    assert tunnel(admin, "vxlan", VXLAN_MAX)["provider:segmentation_id"] == VXLAN_MAX
    assert tunnel(admin, "gre", GRE_MAX)["provider:segmentation_id"] == GRE_MAX


def test_a_tunnel_id_in_use_is_a_conflict_until_its_network_is_deleted(admin):
    first = tunnel(admin, "vxlan", 70002)
    error = refused(admin, lambda: post(admin, **{"provider:network_type": "vxlan", "provider:segmentation_id": 70002}),
                    409, "TunnelIdInUse")
    assert error["message"] == "Unable to create the network. The tunnel ID 70002 is in use."
    assert admin.delete(f"/v2.0/networks/{first['id']}").status_code == 204
    assert tunnel(admin, "vxlan", 70002)["provider:segmentation_id"] == 70002


def test_a_provider_tunnel_network_without_an_id_takes_the_lowest_free_one_of_its_range(admin):
    taken = {n["provider:segmentation_id"] for n in admin.get(
        "/v2.0/networks", params={"provider:network_type": "gre"}).json()["networks"]}
    network = tunnel(admin, "gre")
    expected = min(set(range(1000, 2000)) - taken)
    assert segment(network) == ("gre", None, expected, 1458)


@pytest.mark.parametrize(("attrs", "message"), [
    ({"provider:network_type": "vxlan", "provider:physical_network": "physnet1", "provider:segmentation_id": 5},
     "provider:physical_network specified for vxlan network"),
    ({"provider:network_type": "gre", "provider:physical_network": "physnet1"},
     "provider:physical_network specified for gre network"),
    ({"provider:network_type": "vxlan", "provider:segmentation_id": 0}, "segmentation_id out of range (1 through 16777215)"),
    ({"provider:network_type": "vxlan", "provider:segmentation_id": VXLAN_MAX + 1},
     "segmentation_id out of range (1 through 16777215)"),
    ({"provider:network_type": "gre", "provider:segmentation_id": GRE_MAX + 1},
     "segmentation_id out of range (1 through 2147483647)"),
    ({"provider:network_type": "geneve", "provider:segmentation_id": 5}, "network_type value 'geneve' not supported"),
], ids=["vxlan-with-physnet", "gre-with-physnet", "vni-0", "vni-too-big", "gre-key-too-big", "geneve"])
def test_invalid_tunnel_segments_are_invalid_input(admin, attrs, message):
    error = refused(admin, lambda: post(admin, **attrs), 400, "InvalidInput")
    assert error["message"] == f"Invalid input for operation: {message}."


@pytest.mark.parametrize("attrs", [{"provider:network_type": "vxlan"},
                                   {"provider:network_type": "gre", "provider:segmentation_id": 7}])
def test_a_member_may_not_ask_for_a_tunnel_segment(admin, demo, attrs):
    refused(admin, lambda: post(demo, **attrs), 403, "PolicyNotAuthorized")


# --- MTU ---

def test_a_tunnel_networks_mtu_may_be_lowered_but_never_above_what_the_encapsulation_leaves(admin):
    refused(admin, lambda: post(admin, mtu=1451, **{"provider:network_type": "vxlan"}), 400, "InvalidInput")
    network = tunnel(admin, "vxlan", 70003, mtu=1400)
    assert network["mtu"] == 1400
    path = f"/v2.0/networks/{network['id']}"
    error = refused(admin, lambda: admin.put(path, json={"network": {"mtu": 1451}}), 400, "InvalidInput")
    assert error["message"] == "Invalid input for operation: Requested MTU is too big, maximum is 1450."
    assert admin.put(path, json={"network": {"mtu": 1450}}).json()["network"]["mtu"] == 1450
    gre = tunnel(admin, "gre", 70003)
    refused(admin, lambda: admin.put(f"/v2.0/networks/{gre['id']}", json={"network": {"mtu": 1459}}),
            400, "InvalidInput")


def test_the_underlay_mtu_sets_every_types_mtu(tmp_path):
    with cloud_in(tmp_path, with_other=False, global_mtu=9000) as jumbo:
        assert tunnel(jumbo.admin, "vxlan", 5)["mtu"] == 8950
        assert tunnel(jumbo.admin, "gre", 5)["mtu"] == 8958
        assert jumbo.admin.create("networks", "network")["mtu"] == 9000  # a tenant VLAN


# --- tenant networks ---

def test_tenant_networks_take_the_first_configured_type_with_a_free_id(vxlan_tenants):
    admin, demo = vxlan_tenants.admin, vxlan_tenants.demo
    made = [demo.create("networks", "network", name=f"n{i}") for i in range(4)]
    assert not {"provider:network_type", "provider:segmentation_id"} & set(made[0])  # a member sees none
    seen = [segment(admin.get(f"/v2.0/networks/{n['id']}").json()["network"]) for n in made]
    assert seen == [("vxlan", None, 1000, 1450), ("vxlan", None, 1001, 1450),  # the VNI range, then VLANs
                    ("vlan", "physnet1", 100, 1500), ("vlan", "physnet1", 101, 1500)]
    assert [n["mtu"] for n in made] == [1450, 1450, 1500, 1500]
    refused(admin, lambda: post(demo, name="none-left"), 503, "NoNetworkAvailable")
    assert demo.delete(f"/v2.0/networks/{made[1]['id']}").status_code == 204  # VNI 1001 is free again
    again = demo.create("networks", "network", name="again")
    assert segment(admin.get(f"/v2.0/networks/{again['id']}").json()["network"]) == ("vxlan", None, 1001, 1450)


def test_an_exhausted_vni_range_refuses_a_provider_network_without_an_id(vxlan_tenants):
    admin = vxlan_tenants.admin
    assert [tunnel(admin, "vxlan")["provider:segmentation_id"] for _ in range(2)] == [1000, 1001]
    refused(admin, lambda: post(admin, **{"provider:network_type": "vxlan"}), 503, "NoNetworkAvailable")
    assert tunnel(admin, "vxlan", 4000)["provider:segmentation_id"] == 4000  # a given id outside the range


def test_concurrent_tenant_vxlan_networks_never_share_a_vni(settings, database_url):
    services = make_services(replace(settings, db_url=database_url, tenant_network_types=("vxlan",),
                                     vni_ranges=tuple(parse_tunnel_ranges("5000:5009", "vxlan"))))
    try:
        results = run_together(6, lambda i: [outcome(lambda n=n: create_network(services, f"t{i}-{n}"))
                                             for n in range(3)])
        outcomes = [item for per_thread in results for item in per_thread]
        refused_ones = [value for kind, value in outcomes if kind == "error"]
        assert all(isinstance(value, e.NoNetworkAvailable) for value in refused_ones), refused_ones
        with services.store.read() as session:
            vnis = list(session.execute(select(t.Network.segmentation_id).where(
                t.Network.network_type == "vxlan")).scalars())
        assert sorted(vnis) == list(range(5000, 5010))  # each VNI once, the range used up
        assert len(refused_ones) == 18 - 10
    finally:
        services.store.dispose()


# --- binding ---

def test_ports_bind_only_to_hosts_whose_agent_tunnels_the_networks_type(admin):
    heartbeat(admin, "tun-vxlan-host", OVS_AGENT, {"bridge_mappings": {}, "tunnel_types": ["vxlan"],
                                                   "tunneling_ip": "198.51.100.7"})
    heartbeat(admin, "tun-vlan-host", OVS_AGENT, {"bridge_mappings": {"physnet1": "br-phys"}, "tunnel_types": []})
    vxlan, gre = tunnel(admin, "vxlan", 70004), tunnel(admin, "gre", 70004)

    def bound(network: dict, host: str) -> str:
        port = admin.create("ports", "port", network_id=network["id"], **{"binding:host_id": host})
        return port["binding:vif_type"]

    assert bound(vxlan, "tun-vxlan-host") == "ovs"
    assert bound(vxlan, "tun-vlan-host") == "binding_failed"
    assert bound(gre, "tun-vxlan-host") == "binding_failed"
