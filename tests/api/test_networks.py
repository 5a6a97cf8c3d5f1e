"""POST/GET/PUT/DELETE /v2.0/networks as Neutron answers them: defaults, provider segments and tenant
VLAN allocation, who may set what, and bad input of every kind refused with the store unchanged.

Most tests share one server (tests.api.cloud); those about the default VLAN range build their own.
"""

from __future__ import annotations

import pytest

from neutrino.model.ranges import parse_vlan_ranges
from tests.api.cloud import cloud_in, module_cloud
from tests.api.expect import error
from tests.api.refusal import feed_revision, ids, refused, unchanged

PROVIDER = ("provider:network_type", "provider:physical_network", "provider:segmentation_id")


cloud, admin, demo, _other = module_cloud("networks", with_other=False)


@pytest.fixture
def fresh(tmp_path):
    """A server of its own with the default settings: VLAN range physnet1:100:199, nothing allocated."""
    with cloud_in(tmp_path, wide=False, with_other=False) as cloud:
        yield cloud


def post(api, body):
    return api.post("/v2.0/networks", json=body)


def post_raw(api, raw: bytes):
    return api.post("/v2.0/networks", content=raw, headers={"Content-Type": "application/json"})


def provider(api, **attrs) -> dict:
    return api.create("networks", "network", **{f"provider:{k}": v for k, v in attrs.items()})


def vlan_of(admin, network: dict) -> int:
    return admin.get(f"/v2.0/networks/{network['id']}").json()["network"]["provider:segmentation_id"]


# --- defaults ---

def test_a_new_network_has_neutrons_defaults(fresh):
    admin = fresh.admin
    network = admin.create("networks", "network", name="net1")
    assert network["name"] == "net1"
    assert network["admin_state_up"] is True
    assert network["shared"] is False
    assert network["router:external"] is False
    assert network["mtu"] == 1500
    assert network["status"] == "ACTIVE"
    assert network["subnets"] == []
    assert network["port_security_enabled"] is True
    assert network["description"] == ""
    assert network["tags"] == []
    assert network["revision_number"] >= 0
    assert network["tenant_id"] == network["project_id"] == admin.project_id
    assert network["provider:network_type"] == "vlan"
    assert network["provider:physical_network"] == "physnet1"
    assert network["provider:segmentation_id"] == 100
    assert admin.get(f"/v2.0/networks/{network['id']}").json()["network"] == network


def test_a_member_never_sees_provider_attributes(admin, demo):
    network = demo.create("networks", "network", name="mine")
    assert not set(PROVIDER) & set(network)
    shown = demo.get(f"/v2.0/networks/{network['id']}").json()["network"]
    assert not set(PROVIDER) & set(shown)
    listed = demo.get("/v2.0/networks").json()["networks"]
    assert listed and all(not set(PROVIDER) & set(item) for item in listed)
    asked = demo.get(f"/v2.0/networks/{network['id']}", params={"fields": "provider:segmentation_id"})
    assert "provider:segmentation_id" not in asked.json()["network"]
    as_admin = admin.get(f"/v2.0/networks/{network['id']}").json()["network"]
    assert as_admin["provider:network_type"] == "vlan"
    assert 100 <= as_admin["provider:segmentation_id"] <= 3999


# --- segments ---

def test_tenant_networks_take_the_lowest_free_vlan_of_the_default_range(fresh):
    admin, demo = fresh.admin, fresh.demo
    first = demo.create("networks", "network", name="a")
    second = demo.create("networks", "network", name="b")
    assert [vlan_of(admin, n) for n in (first, second)] == [100, 101]
    assert demo.delete(f"/v2.0/networks/{first['id']}").status_code == 204
    third = demo.create("networks", "network", name="c")
    assert vlan_of(admin, third) == 100


def test_tenant_allocation_skips_vlans_held_by_provider_networks(fresh):
    admin = fresh.admin
    held = provider(admin, network_type="vlan", physical_network="physnet1", segmentation_id=100)
    assert held["provider:segmentation_id"] == 100
    tenant = admin.create("networks", "network")
    assert tenant["provider:segmentation_id"] == 101


def test_admin_creates_flat_and_vlan_provider_networks(admin):
    flat = provider(admin, network_type="flat", physical_network="physnet2")
    assert (flat["provider:network_type"], flat["provider:physical_network"],
            flat["provider:segmentation_id"]) == ("flat", "physnet2", None)
    vlan = provider(admin, network_type="vlan", physical_network="physnet1", segmentation_id=4001)
    assert (vlan["provider:network_type"], vlan["provider:segmentation_id"]) == ("vlan", 4001)
    # A provider VLAN need not lie in a tenant range, only on a known physnet, even one without a range.
    rangeless = provider(admin, network_type="vlan", physical_network="physnet2", segmentation_id=7)
    assert (rangeless["provider:physical_network"], rangeless["provider:segmentation_id"]) == ("physnet2", 7)


def test_a_vlan_provider_network_without_segmentation_id_gets_a_free_one_from_the_range(admin):
    first = provider(admin, network_type="vlan", physical_network="physnet1")
    second = provider(admin, network_type="vlan")
    taken = [n["provider:segmentation_id"] for n in admin.get("/v2.0/networks").json()["networks"]
             if n["provider:physical_network"] == "physnet1"]
    for network in (first, second):
        assert network["provider:physical_network"] == "physnet1"
        assert 100 <= network["provider:segmentation_id"] <= 3999
        assert taken.count(network["provider:segmentation_id"]) == 1


def test_a_vlan_in_use_is_a_conflict(admin):
    provider(admin, network_type="vlan", physical_network="physnet1", segmentation_id=4002)
    again = {"network": {"provider:network_type": "vlan", "provider:physical_network": "physnet1",
                         "provider:segmentation_id": 4002}}
    refused(admin, lambda: post(admin, again), 409, "VlanIdInUse")
    # The same VLAN id on another physnet is another segment.
    assert provider(admin, network_type="vlan", physical_network="physnet2",
                    segmentation_id=4002)["provider:segmentation_id"] == 4002


def test_a_second_flat_network_on_one_physnet_is_a_conflict(admin):
    provider(admin, network_type="flat", physical_network="physnet3")
    again = {"network": {"provider:network_type": "flat", "provider:physical_network": "physnet3"}}
    refused(admin, lambda: post(admin, again), 409, "FlatNetworkInUse")


@pytest.mark.parametrize("attrs", [
    {"provider:network_type": "vlan", "provider:physical_network": "physnet9", "provider:segmentation_id": 10},
    {"provider:network_type": "flat", "provider:physical_network": "physnet9"},
    {"provider:network_type": "flat"},
    {"provider:network_type": "flat", "provider:physical_network": "physnet1", "provider:segmentation_id": 5},
    {"provider:network_type": "vxlan", "provider:physical_network": "physnet1", "provider:segmentation_id": 1000},
    {"provider:network_type": "vlan", "provider:physical_network": "physnet1", "provider:segmentation_id": 4095},
    {"provider:network_type": "vlan", "provider:physical_network": "physnet1", "provider:segmentation_id": 0},
    {"provider:physical_network": "physnet1", "provider:segmentation_id": 120},
    {"provider:network_type": "vlan", "provider:segmentation_id": 120},
    {"provider:network_type": "vlan", "provider:physical_network": "physnet2"},
], ids=["unknown-physnet", "flat-unknown-physnet", "flat-no-physnet", "flat-with-vlan", "vxlan-with-physnet",
        "vlan-4095", "vlan-0", "no-network-type", "vlan-id-without-physnet", "physnet-without-range"])
def test_invalid_provider_segments_are_invalid_input(admin, attrs):
    refused(admin, lambda: post(admin, {"network": attrs}), 400, "InvalidInput")


def test_a_segmentation_id_that_is_not_a_number_is_a_bad_request(admin):
    body = {"network": {"provider:network_type": "vlan", "provider:physical_network": "physnet1",
                        "provider:segmentation_id": "ten"}}
    refused(admin, lambda: post(admin, body), 400, "HTTPBadRequest")


@pytest.mark.parametrize("attrs", [
    {"provider:network_type": "vlan"},
    {"provider:physical_network": "physnet1"},
    {"provider:segmentation_id": 150},
    {"shared": True},
    {"router:external": True},
])
def test_a_member_may_not_set_admin_attributes(admin, demo, attrs):
    refused(admin, lambda: post(demo, {"network": attrs}), 403, "PolicyNotAuthorized")


def test_a_member_may_state_the_defaults_of_admin_attributes(demo):
    network = demo.create("networks", "network", shared=False, **{"router:external": False})
    assert network["shared"] is False and network["router:external"] is False


def test_a_member_may_not_share_an_existing_network(admin, demo):
    network = demo.create("networks", "network")
    refused(admin, lambda: demo.put(f"/v2.0/networks/{network['id']}", json={"network": {"shared": True}}),
            403, "PolicyNotAuthorized")
    assert demo.get(f"/v2.0/networks/{network['id']}").json()["network"]["shared"] is False


def test_an_exhausted_vlan_range_is_service_unavailable(tmp_path):
    tiny = tuple(parse_vlan_ranges("physnet1:100:101"))
    with cloud_in(tmp_path, wide=False, with_other=False, network_vlan_ranges=tiny) as cloud:
        admin = cloud.admin
        taken = [admin.create("networks", "network")["provider:segmentation_id"] for _ in range(2)]
        assert taken == [100, 101]
        refused(admin, lambda: post(admin, {"network": {"name": "one-too-many"}}), 503, "NoNetworkAvailable")
        refused(admin, lambda: post(admin, {"network": {"provider:network_type": "vlan"}}),
                503, "NoNetworkAvailable")
        # A provider VLAN outside the range still works, and a freed tenant VLAN is taken again.
        provider(admin, network_type="vlan", physical_network="physnet1", segmentation_id=200)
        first = next(n for n in admin.get("/v2.0/networks").json()["networks"]
                     if n["provider:segmentation_id"] == 100)
        assert admin.delete(f"/v2.0/networks/{first['id']}").status_code == 204
        assert admin.create("networks", "network")["provider:segmentation_id"] == 100


# --- update ---

def test_name_admin_state_and_mtu_are_updatable(demo):
    network = demo.create("networks", "network", name="before")
    response = demo.put(f"/v2.0/networks/{network['id']}",
                        json={"network": {"name": "after", "admin_state_up": False, "mtu": 1400}})
    assert response.status_code == 200, response.text
    updated = response.json()["network"]
    assert (updated["name"], updated["admin_state_up"], updated["mtu"]) == ("after", False, 1400)
    assert updated["revision_number"] > network["revision_number"]
    shown = demo.get(f"/v2.0/networks/{network['id']}").json()["network"]
    assert (shown["name"], shown["admin_state_up"], shown["mtu"]) == ("after", False, 1400)


def test_an_mtu_above_the_global_mtu_is_refused(admin, demo):
    refused(admin, lambda: post(demo, {"network": {"mtu": 9000}}), 400, "InvalidInput")
    network = demo.create("networks", "network", mtu=1450)
    assert network["mtu"] == 1450
    refused(admin, lambda: demo.put(f"/v2.0/networks/{network['id']}", json={"network": {"mtu": 1501}}),
            400, "InvalidInput")
    refused(admin, lambda: demo.put(f"/v2.0/networks/{network['id']}", json={"network": {"mtu": -1}}),
            400, "HTTPBadRequest")
    assert demo.get(f"/v2.0/networks/{network['id']}").json()["network"]["mtu"] == 1450


@pytest.mark.parametrize("attrs", [{"status": "DOWN"}, {"id": "2f1ad8e2-8e0e-4b4b-9a1c-3a8d1d5d1b11"},
                                   {"subnets": []}, {"provider:segmentation_id": 120}, {"tenant_id": "x"}])
def test_read_only_attributes_cannot_be_updated(admin, attrs):
    network = admin.create("networks", "network", name="ro")
    refused(admin, lambda: admin.put(f"/v2.0/networks/{network['id']}", json={"network": attrs}),
            400, "HTTPBadRequest")
    assert admin.get(f"/v2.0/networks/{network['id']}").json()["network"] == network


def test_updating_with_an_empty_body_or_bad_json_is_refused(admin):
    network = admin.create("networks", "network")
    path = f"/v2.0/networks/{network['id']}"
    refused(admin, lambda: admin.put(path, content=b"{", headers={"Content-Type": "application/json"}),
            400, "MalformedRequestBody")
    refused(admin, lambda: admin.put(path, json={"name": "x"}), 400, "HTTPBadRequest")
    refused(admin, lambda: admin.put(path, json={"network": {"name": 7}}), 400, "HTTPBadRequest")


# --- delete ---

def test_a_network_with_ports_cannot_be_deleted(admin, demo):
    network = demo.create("networks", "network")
    demo.create("ports", "port", network_id=network["id"])
    refused(admin, lambda: demo.delete(f"/v2.0/networks/{network['id']}"), 409, "NetworkInUse")
    assert network["id"] in ids(demo, "networks")


def test_deleting_a_network_deletes_its_subnets(demo):
    network = demo.create("networks", "network")
    subnet = demo.create("subnets", "subnet", network_id=network["id"], ip_version=4, cidr="10.0.0.0/24")
    assert demo.get(f"/v2.0/networks/{network['id']}").json()["network"]["subnets"] == [subnet["id"]]
    assert demo.delete(f"/v2.0/networks/{network['id']}").status_code == 204
    error(demo.get(f"/v2.0/networks/{network['id']}"), 404, "NetworkNotFound")
    error(demo.get(f"/v2.0/subnets/{subnet['id']}"), 404, "SubnetNotFound")
    assert subnet["id"] not in ids(demo, "subnets")


def test_a_missing_network_is_not_found_on_every_verb(admin):
    missing = "7c6c4f7e-52b6-4b8c-a8f4-9a1c1f9a9d11"
    with unchanged(admin):
        error(admin.get(f"/v2.0/networks/{missing}"), 404, "NetworkNotFound")
        error(admin.put(f"/v2.0/networks/{missing}", json={"network": {"name": "x"}}), 404, "NetworkNotFound")
        error(admin.delete(f"/v2.0/networks/{missing}"), 404, "NetworkNotFound")


# --- bad bodies on create ---

@pytest.mark.parametrize("raw", [b"{", b"not json", b"", b'{"network": {"name": "x"}'])
def test_malformed_json_is_refused(admin, raw):
    refused(admin, lambda: post_raw(admin, raw), 400, "MalformedRequestBody")


@pytest.mark.parametrize("body", [
    {"name": "not wrapped"},
    {"networks": {"name": "not a list"}},
    {"networks": []},
    {"network": "a string"},
    {"network": {"name": "x"}, "extra": 1},
    [{"network": {}}],
    "network",
], ids=["unwrapped", "bulk-not-list", "bulk-empty", "member-not-object", "extra-key", "array", "string"])
def test_a_body_not_shaped_as_neutron_wants_is_refused(admin, body):
    refused(admin, lambda: post(admin, body), 400, "HTTPBadRequest")


@pytest.mark.parametrize("attrs", [
    {"name": 123},
    {"name": None},
    {"name": "x" * 256},
    {"description": ["list"]},
    {"admin_state_up": "maybe"},
    {"admin_state_up": 2},
    {"admin_state_up": None},
    {"port_security_enabled": "sometimes"},
    {"mtu": "big"},
    {"mtu": 1.5},
    {"mtu": True},
    {"shared": "yes please"},
    {"availability_zone_hints": ["nova"]},
])
def test_wrong_attribute_types_are_refused(admin, attrs):
    body = refused(admin, lambda: post(admin, {"network": attrs}), 400, "HTTPBadRequest")
    assert f"Invalid input for {next(iter(attrs))}" in body["message"]


@pytest.mark.parametrize("attrs", [{"colour": "blue"}, {"network_type": "vlan"}, {"provider:foo": 1}])
def test_unknown_attributes_are_refused(admin, attrs):
    body = refused(admin, lambda: post(admin, {"network": attrs}), 400, "HTTPBadRequest")
    assert "Unrecognized attribute" in body["message"]


@pytest.mark.parametrize("attrs", [{"id": "2f1ad8e2-8e0e-4b4b-9a1c-3a8d1d5d1b11"}, {"status": "DOWN"},
                                   {"subnets": []}, {"revision_number": 3}, {"created_at": "now"}])
def test_read_only_attributes_in_post_are_refused(admin, attrs):
    body = refused(admin, lambda: post(admin, {"network": attrs}), 400, "HTTPBadRequest")
    assert f"Attribute '{next(iter(attrs))}' not allowed in POST" in body["message"]


def test_string_booleans_are_converted_as_neutron_converts_them(admin):
    network = admin.create("networks", "network", admin_state_up="false", port_security_enabled="True")
    assert network["admin_state_up"] is False and network["port_security_enabled"] is True


def test_project_id_and_tenant_id_must_agree(admin):
    refused(admin, lambda: post(admin, {"network": {"project_id": "a", "tenant_id": "b"}}),
            400, "HTTPBadRequest")


# --- bulk ---

def test_bulk_create_makes_all_networks_in_one_request(admin):
    before = ids(admin, "networks")
    response = post(admin, {"networks": [{"name": "b1"}, {"name": "b2"}, {"name": "b3"}]})
    assert response.status_code == 201, response.text
    created = response.json()["networks"]
    assert [n["name"] for n in created] == ["b1", "b2", "b3"]
    assert len({n["provider:segmentation_id"] for n in created}) == 3
    assert ids(admin, "networks") == before | {n["id"] for n in created}


@pytest.mark.parametrize("bad, status, neutron_type", [
    ({"name": 5}, 400, "HTTPBadRequest"),
    ({"colour": "red"}, 400, "HTTPBadRequest"),
    ({"mtu": 9000}, 400, "InvalidInput"),
    ({"provider:network_type": "vlan", "provider:physical_network": "physnet1",
      "provider:segmentation_id": 4010}, 409, "VlanIdInUse"),
], ids=["bad-type", "unknown", "mtu", "vlan-taken-within-the-batch"])
def test_bulk_create_is_atomic(admin, bad, status, neutron_type):
    before = ids(admin, "networks")
    first = {"provider:network_type": "vlan", "provider:physical_network": "physnet1",
             "provider:segmentation_id": 4010}
    body = {"networks": [first, {"name": "fine"}, bad]}
    refused(admin, lambda: post(admin, body), status, neutron_type)
    assert ids(admin, "networks") == before


def test_a_member_bulk_create_with_one_forbidden_item_creates_nothing(admin, demo):
    before = ids(admin, "networks")
    revision = feed_revision(admin)
    error(post(demo, {"networks": [{"name": "ok"}, {"shared": True}]}), 403, "PolicyNotAuthorized")
    assert ids(admin, "networks") == before
    assert feed_revision(admin) == revision
