"""Tags (Neutron's standard-attr-tag): replace all, add one, remove one or all, ask for one; the
tags/tags-any/not-tags/not-tags-any filters; bad tags refused; every change moves the revision."""

from __future__ import annotations

import pytest

from tests.api.expect import error, ok, refused

MISSING = "3f0e8c0e-5d1c-4c1e-9a55-2b7f3e1d9a10"


def tags_path(resource: dict, collection: str = "networks") -> str:
    return f"/v2.0/{collection}/{resource['id']}/tags"


def shown(api, resource: dict, collection: str = "networks") -> dict:
    return ok(api.get(f"/v2.0/{collection}/{resource['id']}"))[collection[:-1]]


@pytest.fixture
def network(demo) -> dict:
    return demo.create("networks", "network", name="tagged")


def test_put_replaces_all_tags_and_each_change_moves_the_revision(demo, network):
    path = tags_path(network)

    assert ok(demo.put(path, json={"tags": ["red", "blue"]})) == {"tags": ["blue", "red"]}
    first = shown(demo, network)
    assert first["tags"] == ["blue", "red"]
    assert first["revision_number"] > network["revision_number"]

    assert ok(demo.put(path, json={"tags": ["green"]})) == {"tags": ["green"]}
    second = shown(demo, network)
    assert second["tags"] == ["green"] and second["revision_number"] > first["revision_number"]

    assert ok(demo.put(path, json={"tags": []})) == {"tags": []}
    assert shown(demo, network)["tags"] == []


def test_put_one_tag_adds_it_once(demo, network):
    path = tags_path(network)
    ok(demo.put(path, json={"tags": ["red"]}))
    before = shown(demo, network)

    assert demo.put(f"{path}/blue").status_code == 201
    after = shown(demo, network)
    assert after["tags"] == ["blue", "red"]
    assert after["revision_number"] > before["revision_number"]

    assert demo.put(f"{path}/blue").status_code == 201
    assert shown(demo, network)["tags"] == ["blue", "red"]
    assert ok(demo.get(path)) == {"tags": ["blue", "red"]}


def test_get_one_tag_answers_204_when_present_and_404_when_not(demo, network):
    path = tags_path(network)
    ok(demo.put(path, json={"tags": ["red"]}))
    response = demo.get(f"{path}/red")
    assert response.status_code == 204 and not response.content
    error(demo.get(f"{path}/blue"), 404, "TagNotFound")


def test_delete_one_tag_then_all(demo, network):
    path = tags_path(network)
    ok(demo.put(path, json={"tags": ["red", "blue", "green"]}))
    before = shown(demo, network)

    assert demo.delete(f"{path}/blue").status_code == 204
    after = shown(demo, network)
    assert after["tags"] == ["green", "red"] and after["revision_number"] > before["revision_number"]
    refused(demo, lambda: demo.delete(f"{path}/blue"), 404, "TagNotFound")

    assert demo.delete(path).status_code == 204
    assert shown(demo, network)["tags"] == []
    assert ok(demo.get(path)) == {"tags": []}


def test_tag_filters(demo):
    def tagged(name, *tags):
        created = demo.create("networks", "network", name=name)
        ok(demo.put(tags_path(created), json={"tags": list(tags)}))
        return name

    tagged("one", "red", "blue")
    tagged("two", "red")
    tagged("three", "green")
    tagged("four")

    def names(params) -> list[str]:
        return sorted(n["name"] for n in ok(demo.get("/v2.0/networks", params=params))["networks"])

    assert names({"tags": "red"}) == ["one", "two"]
    assert names({"tags": "red,blue"}) == ["one"]
    assert names([("tags", "red"), ("tags", "blue")]) == ["one"]
    assert names({"tags-any": "blue,green"}) == ["one", "three"]
    assert names({"not-tags": "red,blue"}) == ["four", "three", "two"]
    assert names({"not-tags-any": "red"}) == ["four", "three"]
    assert names({"not-tags-any": "red,green"}) == ["four"]
    assert names({"tags": "red", "not-tags": "blue"}) == ["two"]
    assert names({"tags": "purple"}) == []


def test_bad_tags_are_refused(demo, network):
    path = tags_path(network)
    ok(demo.put(path, json={"tags": ["keep"]}))
    for body in [{"tags": "red"}, {"tags": [7]}, {"tags": [None]}, {"tags": ["x" * 256]}, {"tags": ["a", "a"]},
                 {"tag": ["red"]}, ["red"]]:
        refused(demo, lambda body=body: demo.put(path, json=body), 400, "InvalidInput")
    refused(demo, lambda: demo.put(f"{path}/{'x' * 256}"), 400, "InvalidInput")
    refused(demo, lambda: demo.put(path, content=b"{"), 400, "MalformedRequestBody")
    assert shown(demo, network)["tags"] == ["keep"]


def test_tags_of_a_missing_or_hidden_network_are_not_found(demo, other, network):
    theirs = other.create("networks", "network", name="theirs")
    for target in ({"id": MISSING}, theirs):
        path = tags_path(target)
        refused(demo, lambda path=path: demo.get(path), 404)
        refused(demo, lambda path=path: demo.put(path, json={"tags": ["red"]}), 404)
        refused(demo, lambda path=path: demo.put(f"{path}/red"), 404)
        refused(demo, lambda path=path: demo.delete(path), 404)
        refused(demo, lambda path=path: demo.delete(f"{path}/red"), 404)


def test_a_member_may_not_tag_a_shared_network_of_another_project(admin, demo):
    shared = admin.create("networks", "network", name="shared", shared=True)
    refused(demo, lambda: demo.put(tags_path(shared), json={"tags": ["mine"]}), 403, "PolicyNotAuthorized")
    refused(demo, lambda: demo.put(f"{tags_path(shared)}/mine"), 403, "PolicyNotAuthorized")
    ok(admin.put(tags_path(shared), json={"tags": ["public"]}))
    assert ok(demo.get(tags_path(shared))) == {"tags": ["public"]}


def test_subnets_ports_and_security_groups_take_tags(demo, network):
    subnet = demo.create("subnets", "subnet", network_id=network["id"], ip_version=4, cidr="10.0.0.0/24")
    port = demo.create("ports", "port", network_id=network["id"])
    group = demo.create("security_groups", "security_group", name="web")
    for resource, collection in ((subnet, "subnets"), (port, "ports"), (group, "security_groups")):
        assert demo.put(f"{tags_path(resource, collection)}/blue").status_code == 201
        assert shown(demo, resource, collection)["tags"] == ["blue"]
        listed = ok(demo.get(f"/v2.0/{collection}", params={"tags": "blue"}))[collection]
        assert [item["id"] for item in listed] == [resource["id"]]


def test_security_group_rules_have_no_tags(demo):
    group = demo.create("security_groups", "security_group", name="web")
    rule = group["security_group_rules"][0]
    assert "tags" not in rule
    error(demo.get(f"/v2.0/security_group_rules/{rule['id']}/tags"), 404)
    error(demo.put(f"/v2.0/security_group_rules/{rule['id']}/tags", json={"tags": ["x"]}), 404)
    error(demo.get("/v2.0/security_group_rules", params={"tags": "x"}), 400, "HTTPBadRequest")
