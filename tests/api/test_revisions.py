"""Standard attributes that track change: revision_number (and ``If-Match: revision_number=N``, Neutron's
revision-if-match), created_at and updated_at in Neutron's "2026-11-26T05:02:31Z" form."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import update

from neutrino.store import tables as t
from tests.api.expect import TIMESTAMP, error, ok, refused

MISSING = "3f0e8c0e-5d1c-4c1e-9a55-2b7f3e1d9a10"


def put(api, path: str, body: dict, revision: int | str | None = None):
    headers = {} if revision is None else {"If-Match": f"revision_number={revision}"}
    return api.put(path, json=body, headers=headers)


@pytest.fixture
def resources(demo) -> dict[str, tuple[str, dict]]:
    """One of each standard-attr resource: collection -> (member, created body)."""
    network = demo.create("networks", "network", name="net")
    return {
        "networks": ("network", network),
        "subnets": ("subnet", demo.create("subnets", "subnet", network_id=network["id"], ip_version=4,
                                          cidr="10.0.0.0/24")),
        "ports": ("port", demo.create("ports", "port", network_id=network["id"])),
        "security_groups": ("security_group", demo.create("security_groups", "security_group", name="web")),
    }


def test_each_update_increments_the_revision_number(demo, resources):
    for collection, (member, created) in resources.items():
        path = f"/v2.0/{collection}/{created['id']}"
        # read back: creating the subnet bumped the network's revision, as in Neutron
        revisions = [ok(demo.get(path))[member]["revision_number"]]
        for name in ("first", "second"):
            revisions.append(ok(put(demo, path, {member: {"name": name}}))[member]["revision_number"])
        assert revisions == [revisions[0], revisions[0] + 1, revisions[0] + 2], collection
        assert ok(demo.get(path))[member]["revision_number"] == revisions[-1]


def test_a_new_network_starts_at_revision_zero(demo):
    assert demo.create("networks", "network", name="fresh")["revision_number"] == 0


def test_if_match_with_the_current_revision_updates(demo, resources):
    for collection, (member, created) in resources.items():
        path = f"/v2.0/{collection}/{created['id']}"
        current = ok(demo.get(path))[member]["revision_number"]
        updated = ok(put(demo, path, {member: {"description": "checked"}}, current))[member]
        assert updated["description"] == "checked" and updated["revision_number"] == current + 1, collection


def test_if_match_with_a_stale_revision_is_refused_and_changes_nothing(demo, resources):
    for collection, (member, created) in resources.items():
        path = f"/v2.0/{collection}/{created['id']}"
        stale = ok(demo.get(path))[member]["revision_number"]
        ok(put(demo, path, {member: {"name": "moved-on"}}))
        found = refused(demo, lambda path=path, member=member, stale=stale: put(
            demo, path, {member: {"name": "lost-update"}}, stale), 412, "RevisionNumberConstraintFailed")
        assert str(stale) in found["message"], collection
        after = ok(demo.get(path))[member]
        assert after["name"] == "moved-on" and after["revision_number"] == stale + 1, collection


def test_if_match_on_delete(demo, resources):
    _, network = resources["networks"]
    ok(demo.delete(f"/v2.0/ports/{resources['ports'][1]['id']}"), 204)
    path = f"/v2.0/networks/{network['id']}"
    ok(put(demo, path, {"network": {"name": "moved-on"}}))

    refused(demo, lambda: demo.delete(path, headers={"If-Match": "revision_number=0"}), 412,
            "RevisionNumberConstraintFailed")
    ok(demo.get(path))
    current = ok(demo.get(path))["network"]["revision_number"]
    ok(demo.delete(path, headers={"If-Match": f"revision_number={current}"}), 204)
    error(demo.get(path), 404, "NetworkNotFound")


def test_if_match_on_a_missing_network_is_not_found(demo):
    error(put(demo, f"/v2.0/networks/{MISSING}", {"network": {"name": "x"}}, 0), 404, "NetworkNotFound")


def test_if_match_without_a_revision_number_is_ignored_and_a_bad_one_refused(demo, resources):
    _, network = resources["networks"]
    path = f"/v2.0/networks/{network['id']}"
    for header in ("*", '"some-etag"'):
        ok(demo.put(path, json={"network": {"name": header}}, headers={"If-Match": header}))
    for header in ("revision_number=abc", "revision_number=", "revision_number=1, revision_number=2"):
        refused(demo, lambda header=header: demo.put(path, json={"network": {"name": "x"}},
                                                     headers={"If-Match": header}), 400)


def test_timestamps_are_neutrons_utc_seconds(demo, resources):
    for collection, (_, created) in resources.items():
        assert TIMESTAMP.match(created["created_at"]), (collection, created["created_at"])
        assert TIMESTAMP.match(created["updated_at"]), (collection, created["updated_at"])
        assert created["updated_at"] >= created["created_at"]
    rule = resources["security_groups"][1]["security_group_rules"][0]
    assert TIMESTAMP.match(rule["created_at"]) and TIMESTAMP.match(rule["updated_at"])


def test_an_update_moves_updated_at_and_keeps_created_at(demo, resources):
    long_ago = datetime(2020, 1, 2, 3, 4, 5)
    store = demo.client.app.state.services.store
    for table in (t.Network, t.Subnet, t.Port, t.SecurityGroup):
        store.write(lambda tx, table=table: tx.session.execute(
            update(table).values(created_at=long_ago, updated_at=long_ago)))

    for collection, (member, created) in resources.items():
        path = f"/v2.0/{collection}/{created['id']}"
        before = ok(demo.get(path))[member]
        assert before["created_at"] == before["updated_at"] == "2020-01-02T03:04:05Z", collection
        after = ok(put(demo, path, {member: {"description": "touched"}}))[member]
        assert after["created_at"] == "2020-01-02T03:04:05Z", collection
        assert TIMESTAMP.match(after["updated_at"]) and after["updated_at"] > "2025", (collection, after)
