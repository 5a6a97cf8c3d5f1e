"""The body a write answers with is the resource as a later GET shows it and as the feed records it.

Services may hand the feed a body they built themselves instead of reading the resource back (a port
create does, to save the queries); these tests hold every such shortcut to what a read returns.
"""

from __future__ import annotations

import pytest

from neutrino.feed.change import Change


def feed_bodies(api) -> dict[tuple[str, str], dict | None]:
    """The latest recorded body of every (kind, id) in the feed."""
    response = api.get("/neutrino/v1/changes", params={"since": 0})
    assert response.status_code == 200, response.text
    return {(c.kind, c.id): c.body for c in map(Change.from_dict, response.json()["changes"])}


def show(api, port_id: str) -> dict:
    response = api.get(f"/v2.0/ports/{port_id}")
    assert response.status_code == 200, response.text
    return response.json()["port"]


@pytest.fixture
def network(admin) -> dict:
    network = admin.create("networks", "network", name="bodies")
    admin.create("subnets", "subnet", network_id=network["id"], ip_version=4, cidr="10.9.0.0/24")
    admin.create("subnets", "subnet", network_id=network["id"], ip_version=6, cidr="fd00:9::/64")
    return network


def _variants(group_id: str) -> dict[str, dict]:
    return {
        "defaults": {},
        "named, with explicit addresses of both versions": {
            "name": "p", "description": "d", "device_id": "vm-1", "device_owner": "compute:nova",
            "fixed_ips": [{"ip_address": "fd00:9::99"}, {"ip_address": "10.9.0.77"}]},
        "explicit group, address pairs and mac": {
            "security_groups": [group_id], "mac_address": "fa:16:3e:12:34:56",
            "allowed_address_pairs": [{"ip_address": "10.9.0.200"},
                                      {"ip_address": "10.9.0.0/28", "mac_address": "fa:16:3e:00:00:01"}]},
        "no port security": {"port_security_enabled": False, "admin_state_up": False},
        "a network device": {"device_owner": "network:dhcp"},
        "bound to a host": {"binding:host_id": "compute-1", "binding:profile": {"a": 1}},
    }


@pytest.mark.parametrize("variant", ["defaults", "named, with explicit addresses of both versions",
                                     "explicit group, address pairs and mac", "no port security",
                                     "a network device", "bound to a host"])
def test_a_created_port_is_answered_shown_and_recorded_alike(admin, network, variant):
    group = admin.create("security_groups", "security_group", name="g")
    attrs = _variants(group["id"])[variant]
    response = admin.post("/v2.0/ports", json={"port": {"network_id": network["id"], **attrs}})
    assert response.status_code == 201, response.text
    created = response.json()["port"]

    assert created == show(admin, created["id"])
    assert feed_bodies(admin)[("port", created["id"])] == created


def test_ports_created_in_bulk_are_answered_shown_and_recorded_alike(admin, network):
    response = admin.post("/v2.0/ports", json={"ports": [{"network_id": network["id"], "name": f"b{i}"}
                                                         for i in range(3)]})
    assert response.status_code == 201, response.text
    recorded = feed_bodies(admin)
    for created in response.json()["ports"]:
        assert created == show(admin, created["id"])
        assert recorded[("port", created["id"])] == created


def test_a_member_is_answered_what_it_is_shown(demo):
    network = demo.create("networks", "network", name="mine")
    demo.create("subnets", "subnet", network_id=network["id"], ip_version=4, cidr="10.8.0.0/24")
    created = demo.create("ports", "port", network_id=network["id"])
    assert created == show(demo, created["id"])
