"""Project isolation as Neutron enforces it: a member sees and changes only its own project's
resources (another project's answer 404, not 403, and stay as they were), sees shared and external
networks read-only, sees the ports others put on its networks, and admin sees and acts for everyone."""

from __future__ import annotations

import pytest

from tests.api.cloud import module_cloud
from tests.api.expect import error
from tests.api.refusal import ids, refused

NOT_FOUND = {"networks": "NetworkNotFound", "subnets": "SubnetNotFound", "ports": "PortNotFound",
             "security_groups": "SecurityGroupNotFound", "security_group_rules": "SecurityGroupRuleNotFound"}
MEMBER = {"networks": "network", "subnets": "subnet", "ports": "port", "security_groups": "security_group",
          "security_group_rules": "security_group_rule"}


cloud, admin, demo, other = module_cloud("projects")


def estate(api, cidr: str) -> dict[str, dict]:
    """One of everything a project owns: network, subnet, port, security group and rule."""
    network = api.create("networks", "network", name="estate")
    group = api.create("security_groups", "security_group", name="estate")
    return {
        "networks": network,
        "subnets": api.create("subnets", "subnet", network_id=network["id"], ip_version=4, cidr=cidr),
        "ports": api.create("ports", "port", network_id=network["id"], security_groups=[group["id"]]),
        "security_groups": group,
        "security_group_rules": api.create("security_group_rules", "security_group_rule",
                                           security_group_id=group["id"], direction="ingress",
                                           protocol="tcp", port_range_min=22, port_range_max=22),
    }


@pytest.fixture(scope="module")
def estates(demo, other):
    return {"demo": estate(demo, "10.0.0.0/24"), "other": estate(other, "10.0.0.0/24")}


def path(collection: str, resource: dict) -> str:
    return f"/v2.0/{collection}/{resource['id']}"


def shown(api, collection: str, resource: dict) -> dict:
    response = api.get(path(collection, resource))
    assert response.status_code == 200, response.text
    return response.json()[MEMBER[collection]]


# --- each project sees its own ---

@pytest.mark.parametrize("collection", list(NOT_FOUND))
def test_each_project_lists_only_its_own(demo, other, estates, collection):
    mine, theirs = estates["demo"][collection], estates["other"][collection]
    assert mine["id"] in ids(demo, collection) and mine["id"] not in ids(other, collection)
    assert theirs["id"] in ids(other, collection) and theirs["id"] not in ids(demo, collection)
    listed = demo.get(f"/v2.0/{collection}").json()[collection]
    if collection in ("security_groups", "security_group_rules"):
        assert {item["project_id"] for item in listed} == {demo.project_id}


@pytest.mark.parametrize("collection", list(NOT_FOUND))
def test_another_projects_resource_is_not_found_and_left_alone(admin, demo, estates, collection):
    theirs = estates["other"][collection]
    before = shown(admin, collection, theirs)
    error(demo.get(path(collection, theirs)), 404, NOT_FOUND[collection])
    if collection != "security_group_rules":  # rules have no update
        refused(admin, lambda: demo.put(path(collection, theirs), json={MEMBER[collection]: {"name": "mine"}}),
                404, NOT_FOUND[collection])
    refused(admin, lambda: demo.delete(path(collection, theirs)), 404, NOT_FOUND[collection])
    assert shown(admin, collection, theirs) == before


@pytest.mark.parametrize("collection", ["networks", "subnets", "ports", "security_groups"])
def test_another_projects_tags_are_not_found(admin, demo, estates, collection):
    theirs = estates["other"][collection]
    refused(admin, lambda: demo.put(path(collection, theirs) + "/tags/mine"), 404, NOT_FOUND[collection])
    refused(admin, lambda: demo.put(path(collection, theirs) + "/tags", json={"tags": ["mine"]}),
            404, NOT_FOUND[collection])


def test_filters_do_not_reach_into_another_project(demo, other, estates):
    theirs = estates["other"]
    assert ids(demo, "networks", id=theirs["networks"]["id"]) == set()
    assert ids(demo, "networks", tenant_id=other.project_id) == set()
    assert ids(demo, "ports", network_id=theirs["networks"]["id"]) == set()
    assert ids(demo, "subnets", cidr="10.0.0.0/24") == {estates["demo"]["subnets"]["id"]}


def test_a_member_cannot_use_another_projects_private_network_or_group(admin, demo, estates):
    theirs = estates["other"]
    refused(admin, lambda: demo.post("/v2.0/ports", json={"port": {"network_id": theirs["networks"]["id"]}}),
            404, "NetworkNotFound")
    refused(admin, lambda: demo.post("/v2.0/subnets", json={"subnet": {
        "network_id": theirs["networks"]["id"], "ip_version": 4, "cidr": "10.7.0.0/24"}}), 404, "NetworkNotFound")
    refused(admin, lambda: demo.post("/v2.0/security_group_rules", json={"security_group_rule": {
        "security_group_id": theirs["security_groups"]["id"], "direction": "ingress"}}),
        404, "SecurityGroupNotFound")
    refused(admin, lambda: demo.post("/v2.0/ports", json={"port": {
        "network_id": estates["demo"]["networks"]["id"], "security_groups": [theirs["security_groups"]["id"]]}}),
        404, "SecurityGroupNotFound")


# --- naming a project ---

@pytest.mark.parametrize("key", ["tenant_id", "project_id"])
def test_a_member_may_not_create_for_another_project(admin, demo, other, estates, key):
    mine = estates["demo"]
    for collection, attrs in (("networks", {}),
                              ("subnets", {"network_id": mine["networks"]["id"], "ip_version": 4,
                                           "cidr": "10.8.0.0/24"}),
                              ("ports", {"network_id": mine["networks"]["id"]}),
                              ("security_groups", {"name": "for-them"})):
        body = {MEMBER[collection]: {**attrs, key: other.project_id}}
        refused(admin, lambda c=collection, b=body: demo.post(f"/v2.0/{c}", json=b), 403, "PolicyNotAuthorized")


def test_a_member_may_name_its_own_project(demo):
    network = demo.create("networks", "network", tenant_id=demo.project_id, project_id=demo.project_id)
    assert network["project_id"] == demo.project_id


def test_admin_sees_every_project(admin, estates):
    for collection in NOT_FOUND:
        listed = ids(admin, collection)
        assert {estates["demo"][collection]["id"], estates["other"][collection]["id"]} <= listed
        assert shown(admin, collection, estates["other"][collection])["project_id"] != admin.project_id


def test_admin_creates_for_another_project(admin, demo, other):
    network = admin.create("networks", "network", name="for-demo", project_id=demo.project_id)
    assert network["project_id"] == network["tenant_id"] == demo.project_id
    assert network["id"] in ids(demo, "networks") and network["id"] not in ids(other, "networks")
    subnet = admin.create("subnets", "subnet", network_id=network["id"], ip_version=4, cidr="10.9.0.0/24",
                          tenant_id=demo.project_id)
    port = admin.create("ports", "port", network_id=network["id"], tenant_id=demo.project_id)
    assert subnet["project_id"] == port["project_id"] == demo.project_id
    # The port gets demo's default group, not admin's.
    demo_default = next(g["id"] for g in demo.get("/v2.0/security_groups", params={"name": "default"})
                        .json()["security_groups"])
    assert port["security_groups"] == [demo_default]
    assert demo.put(f"/v2.0/networks/{network['id']}", json={"network": {"name": "mine now"}}).status_code == 200
    assert demo.delete(f"/v2.0/ports/{port['id']}").status_code == 204


# --- shared and external networks ---

@pytest.fixture(scope="module")
def shared(admin):
    network = admin.create("networks", "network", name="shared", shared=True)
    subnet = admin.create("subnets", "subnet", network_id=network["id"], ip_version=4, cidr="172.16.0.0/24")
    return network, subnet


@pytest.fixture(scope="module")
def external(admin):
    network = admin.create("networks", "network", name="public", **{"router:external": True})
    subnet = admin.create("subnets", "subnet", network_id=network["id"], ip_version=4, cidr="203.0.113.0/24")
    return network, subnet


def test_shared_and_external_networks_are_visible_to_every_member(demo, other, shared, external):
    for api in (demo, other):
        for network, subnet in (shared, external):
            assert network["id"] in ids(api, "networks")
            seen = shown(api, "networks", network)
            assert seen["subnets"] == [subnet["id"]]
            assert "provider:network_type" not in seen
    assert shown(demo, "networks", shared[0])["shared"] is True
    assert shown(demo, "networks", external[0])["router:external"] is True
    assert shared[1]["id"] in ids(demo, "subnets")


@pytest.mark.parametrize("which", ["shared", "external"])
def test_a_member_cannot_change_a_network_it_only_sees(admin, demo, shared, external, which):
    network, subnet = shared if which == "shared" else external
    before = shown(admin, "networks", network)
    refused(admin, lambda: demo.put(path("networks", network), json={"network": {"name": "taken"}}),
            403, "PolicyNotAuthorized")
    refused(admin, lambda: demo.delete(path("networks", network)), 403, "PolicyNotAuthorized")
    refused(admin, lambda: demo.put(path("networks", network), json={"network": {"shared": False}}),
            403, "PolicyNotAuthorized")
    assert shown(admin, "networks", network) == before
    subnet_before = shown(admin, "subnets", subnet)
    refused(admin, lambda: demo.put(path("subnets", subnet), json={"subnet": {"name": "taken"}}),
            403, "PolicyNotAuthorized")
    refused(admin, lambda: demo.delete(path("subnets", subnet)), 403, "PolicyNotAuthorized")
    assert shown(admin, "subnets", subnet) == subnet_before


def test_a_member_may_attach_a_port_to_a_shared_network_only(admin, demo, other, shared, external):
    port = demo.create("ports", "port", network_id=shared[0]["id"])
    assert port["project_id"] == demo.project_id
    assert port["fixed_ips"][0]["subnet_id"] == shared[1]["id"]
    # Another member does not see it; the network's owner (admin) would in any case.
    assert port["id"] not in ids(other, "ports")
    error(other.get(path("ports", port)), 404, "PortNotFound")
    refused(admin, lambda: demo.post("/v2.0/ports", json={"port": {"network_id": external[0]["id"]}}),
            403, "HTTPForbidden")


def test_a_network_in_use_by_other_projects_cannot_be_unshared(admin, demo):
    network = admin.create("networks", "network", shared=True)
    admin.create("subnets", "subnet", network_id=network["id"], ip_version=4, cidr="172.17.0.0/24")
    demo.create("ports", "port", network_id=network["id"])
    refused(admin, lambda: admin.put(path("networks", network), json={"network": {"shared": False}}),
            409, "InvalidSharedSetting")
    assert shown(admin, "networks", network)["shared"] is True


# --- ports of others on my network ---

def test_the_network_owner_sees_and_may_delete_ports_others_put_on_it(admin, demo, other):
    network = demo.create("networks", "network", name="hosting")
    demo.create("subnets", "subnet", network_id=network["id"], ip_version=4, cidr="10.20.0.0/24")
    guest = admin.create("ports", "port", network_id=network["id"], project_id=other.project_id, name="guest")
    assert guest["project_id"] == other.project_id
    # The owner of the port and the owner of the network both see it.
    assert guest["id"] in ids(demo, "ports", network_id=network["id"])
    assert shown(demo, "ports", guest)["name"] == "guest"
    assert guest["id"] in ids(other, "ports")
    # Other sees its port but not the network it sits on.
    error(other.get(path("networks", network)), 404, "NetworkNotFound")
    # update_port is the port owner's; delete_port is also the network owner's.
    refused(admin, lambda: demo.put(path("ports", guest), json={"port": {"name": "mine"}}),
            403, "PolicyNotAuthorized")
    assert demo.delete(path("ports", guest)).status_code == 204
    error(other.get(path("ports", guest)), 404, "PortNotFound")


def test_the_network_owner_may_change_a_subnet_admin_put_on_its_network(admin, demo):
    network = demo.create("networks", "network")
    subnet = admin.create("subnets", "subnet", network_id=network["id"], ip_version=4, cidr="10.21.0.0/24")
    assert subnet["project_id"] == admin.project_id
    renamed = demo.put(path("subnets", subnet), json={"subnet": {"name": "owned-by-network-owner"}})
    assert renamed.status_code == 200, renamed.text
    assert demo.delete(path("subnets", subnet)).status_code == 204


def test_a_network_with_another_projects_port_cannot_be_deleted_by_its_owner(admin, demo, other):
    network = demo.create("networks", "network")
    admin.create("ports", "port", network_id=network["id"], project_id=other.project_id)
    refused(admin, lambda: demo.delete(path("networks", network)), 409, "NetworkInUse")
