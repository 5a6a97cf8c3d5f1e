"""/v2.0/security_groups and /v2.0/security_group_rules as Neutron answers them: the default group
of each project, the rules every group starts with, every rule field and its checks, duplicates,
deletes and their cascade, and other projects' groups kept out of reach."""

from __future__ import annotations

import threading
from dataclasses import replace

import pytest

from tests.api.expect import error, ids, ok, refused, unchanged
from tests.conftest import DEMO_PASSWORD, Api, issue_token, make_services

GROUPS, RULES = "/v2.0/security_groups", "/v2.0/security_group_rules"
MISSING = "3f0e8c0e-5d1c-4c1e-9a55-2b7f3e1d9a10"


def groups(api, **params) -> list[dict]:
    return ok(api.get(GROUPS, params=params))["security_groups"]


def default_group(api) -> dict:
    found = [g for g in groups(api) if g["name"] == "default" and g["project_id"] == api.project_id]
    assert len(found) == 1, found
    return found[0]


def new_group(api, name: str = "web", **attrs) -> dict:
    return api.create("security_groups", "security_group", name=name, **attrs)


def post_rule(api, group_id: str, **attrs):
    attrs.setdefault("direction", "ingress")
    return api.post(RULES, json={"security_group_rule": {"security_group_id": group_id, **attrs}})


def new_rule(api, group_id: str, **attrs) -> dict:
    return ok(post_rule(api, group_id, **attrs), 201)["security_group_rule"]


def rule_shape(rule: dict) -> tuple:
    return (rule["direction"], rule["ethertype"], rule["protocol"], rule["port_range_min"],
            rule["port_range_max"], rule["remote_ip_prefix"], rule["remote_group_id"])


def network_port(api, **attrs) -> dict:
    network = api.create("networks", "network", name="net")
    api.create("subnets", "subnet", network_id=network["id"], ip_version=4, cidr="10.1.0.0/24")
    return api.create("ports", "port", network_id=network["id"], **attrs)


# --- the default group ---

def test_the_first_list_creates_the_default_group_with_neutrons_four_rules(demo):
    listed = groups(demo)

    assert [g["name"] for g in listed] == ["default"]
    group = listed[0]
    assert group["description"] == "Default security group"
    assert group["project_id"] == group["tenant_id"] == demo.project_id
    assert sorted(rule_shape(r) for r in group["security_group_rules"]) == [
        ("egress", "IPv4", None, None, None, None, None),
        ("egress", "IPv6", None, None, None, None, None),
        ("ingress", "IPv4", None, None, None, None, group["id"]),
        ("ingress", "IPv6", None, None, None, None, group["id"]),
    ]
    assert all(r["security_group_id"] == group["id"] and r["belongs_to_default_sg"]
               for r in group["security_group_rules"])


def test_listing_again_finds_the_same_default_group(demo):
    first = default_group(demo)
    assert groups(demo) == [first]
    assert len(ok(demo.get(RULES))["security_group_rules"]) == 4


def test_the_first_rule_list_also_creates_the_default_group(demo):
    rules = ok(demo.get(RULES))["security_group_rules"]
    assert len(rules) == 4 and {r["security_group_id"] for r in rules} == {default_group(demo)["id"]}


def test_the_first_port_creates_the_default_group_and_is_bound_to_it(demo):
    port = network_port(demo)

    group = default_group(demo)
    assert port["security_groups"] == [group["id"]]
    assert len(groups(demo)) == 1


def test_creating_a_group_first_also_creates_the_default_group(demo):
    web = new_group(demo)
    assert sorted(g["name"] for g in groups(demo)) == ["default", "web"]
    assert web["id"] != default_group(demo)["id"]


def test_each_project_gets_its_own_default_group(demo, other):
    assert default_group(demo)["id"] != default_group(other)["id"]
    assert [g["project_id"] for g in groups(demo)] == [demo.project_id]


@pytest.fixture
def shared_store_client(settings, database_url):
    """An API on SQLite or PostgreSQL, with the demo user's Api."""
    from fastapi.testclient import TestClient

    from neutrino.api.app import create_app

    settings = replace(settings, db_url=database_url)
    services = make_services(settings)
    app = create_app(settings, services)
    app.state.identity.bootstrap()
    with TestClient(app) as client:
        token, project = issue_token(client, "demo", DEMO_PASSWORD, "demo")
        yield Api(client, token, project)
    services.store.dispose()


def test_eight_concurrent_first_lists_create_exactly_one_default_group(shared_store_client):
    demo = shared_store_client
    barrier = threading.Barrier(8)
    answers: list = [None] * 8

    def first_use(i: int) -> None:
        barrier.wait()
        answers[i] = demo.get(GROUPS)

    threads = [threading.Thread(target=first_use, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert all(a is not None and a.status_code == 200 for a in answers), [a and a.text for a in answers]
    seen = {tuple(g["id"] for g in a.json()["security_groups"]) for a in answers}
    assert len(seen) == 1 and len(next(iter(seen))) == 1
    assert len(groups(demo)) == 1
    assert len(ok(demo.get(RULES))["security_group_rules"]) == 4


# --- groups ---

def test_a_new_group_gets_the_two_egress_rules(demo):
    group = new_group(demo, description="web servers")

    assert group["name"] == "web" and group["description"] == "web servers"
    assert group["stateful"] is True
    assert sorted(rule_shape(r) for r in group["security_group_rules"]) == [
        ("egress", "IPv4", None, None, None, None, None),
        ("egress", "IPv6", None, None, None, None, None),
    ]
    assert not any(r["belongs_to_default_sg"] for r in group["security_group_rules"])
    shown = ok(demo.get(f"{GROUPS}/{group['id']}"))["security_group"]
    assert shown["security_group_rules"] == group["security_group_rules"]


def test_a_group_may_not_be_named_default(demo):
    group = new_group(demo, "seed")
    for name in ("default", "Default", "DEFAULT"):
        refused(demo, lambda name=name: demo.post(GROUPS, json={"security_group": {"name": name}}), 400,
                "HTTPBadRequest")
        refused(demo, lambda name=name: demo.put(f"{GROUPS}/{group['id']}", json={"security_group": {"name": name}}),
                400, "HTTPBadRequest")


def test_bad_group_bodies_are_refused(demo):
    new_group(demo, "seed")
    for body in [
        {"security_group": {"name": 7}},
        {"security_group": {"name": "x" * 256}},
        {"security_group": {"description": None}},
        {"security_group": {"stateful": "sometimes"}},
        {"security_group": {"security_group_rules": []}},
        {"security_group": {"id": MISSING}},
        {"security_group": {"colour": "red"}},
        {"security_group": "web"},
        {"group": {"name": "web"}},
        [{"security_group": {"name": "web"}}],
    ]:
        refused(demo, lambda body=body: demo.post(GROUPS, json=body), 400, None)
    refused(demo, lambda: demo.post(GROUPS, content=b"{"), 400, "MalformedRequestBody")


def test_a_group_is_renamed_and_its_revision_moves(demo):
    group = new_group(demo)
    updated = ok(demo.put(f"{GROUPS}/{group['id']}", json={"security_group": {"name": "db", "description": "d"}}))
    assert updated["security_group"]["name"] == "db"
    assert updated["security_group"]["revision_number"] > group["revision_number"]


def test_the_default_group_cannot_be_renamed(demo):
    group = default_group(demo)
    path = f"{GROUPS}/{group['id']}"
    refused(demo, lambda: demo.put(path, json={"security_group": {"name": "mine"}}), 409,
            "SecurityGroupCannotUpdateDefault")
    ok(demo.put(path, json={"security_group": {"description": "still default"}}))


def test_deleting_a_group_removes_it_and_its_rules(demo):
    group = new_group(demo)
    rule_ids = {r["id"] for r in group["security_group_rules"]}

    ok(demo.delete(f"{GROUPS}/{group['id']}"), 204)

    error(demo.get(f"{GROUPS}/{group['id']}"), 404, "SecurityGroupNotFound")
    assert not rule_ids & ids(demo, "security_group_rules")
    error(demo.delete(f"{GROUPS}/{group['id']}"), 404, "SecurityGroupNotFound")


def test_a_group_in_use_by_a_port_cannot_be_deleted(demo):
    group = new_group(demo)
    port = network_port(demo, security_groups=[group["id"]])
    assert port["security_groups"] == [group["id"]]

    refused(demo, lambda: demo.delete(f"{GROUPS}/{group['id']}"), 409, "SecurityGroupInUse")

    ok(demo.put(f"/v2.0/ports/{port['id']}", json={"port": {"security_groups": []}}))
    ok(demo.delete(f"{GROUPS}/{group['id']}"), 204)


def test_a_member_cannot_delete_the_default_group_but_an_admin_can(demo, admin):
    group = default_group(demo)
    refused(demo, lambda: demo.delete(f"{GROUPS}/{group['id']}"), 409, "SecurityGroupCannotRemoveDefault")

    ok(admin.delete(f"{GROUPS}/{group['id']}"), 204)
    assert default_group(demo)["id"] != group["id"]  # the next use makes a new one


def test_deleting_a_group_removes_other_groups_rules_that_name_it_as_remote_group(demo):
    web, db = new_group(demo, "web"), new_group(demo, "db")
    from_web = new_rule(demo, db["id"], protocol="tcp", port_range_min=5432, port_range_max=5432,
                        remote_group_id=web["id"])
    kept = new_rule(demo, db["id"], protocol="tcp", port_range_min=22, port_range_max=22)

    ok(demo.delete(f"{GROUPS}/{web['id']}"), 204)

    error(demo.get(f"{RULES}/{from_web['id']}"), 404, "SecurityGroupRuleNotFound")
    remaining = ok(demo.get(f"{GROUPS}/{db['id']}"))["security_group"]
    assert kept["id"] in {r["id"] for r in remaining["security_group_rules"]}
    assert from_web["id"] not in {r["id"] for r in remaining["security_group_rules"]}


def test_another_projects_group_is_not_found(demo, other):
    theirs = new_group(other)
    path = f"{GROUPS}/{theirs['id']}"
    with unchanged(demo):
        error(demo.get(path), 404, "SecurityGroupNotFound")
        error(demo.put(path, json={"security_group": {"name": "mine"}}), 404, "SecurityGroupNotFound")
        error(demo.delete(path), 404, "SecurityGroupNotFound")
        error(post_rule(demo, theirs["id"], protocol="tcp"), 404, "SecurityGroupNotFound")
        error(demo.get(f"{RULES}/{theirs['security_group_rules'][0]['id']}"), 404, "SecurityGroupRuleNotFound")
        error(demo.delete(f"{RULES}/{theirs['security_group_rules'][0]['id']}"), 404, "SecurityGroupRuleNotFound")
    assert theirs["id"] not in ids(demo, "security_groups")
    assert not {r["id"] for r in theirs["security_group_rules"]} & ids(demo, "security_group_rules")


def test_another_projects_group_cannot_be_a_remote_group(demo, other):
    theirs, mine = new_group(other), new_group(demo)
    refused(demo, lambda: post_rule(demo, mine["id"], remote_group_id=theirs["id"]), 404, "SecurityGroupNotFound")


def test_an_admin_sees_every_projects_groups(admin, demo, other):
    mine, theirs = default_group(demo), default_group(other)
    assert {mine["id"], theirs["id"]} <= ids(admin, "security_groups")


# --- rules: fields ---

def test_a_rule_with_every_field_is_created_as_given(demo):
    group = new_group(demo)
    rule = new_rule(demo, group["id"], direction="ingress", ethertype="IPv4", protocol="tcp",
                    port_range_min=80, port_range_max=443, remote_ip_prefix="192.0.2.0/24",
                    description="https and friends")

    assert rule_shape(rule) == ("ingress", "IPv4", "tcp", 80, 443, "192.0.2.0/24", None)
    assert rule["normalized_cidr"] == "192.0.2.0/24"
    assert rule["description"] == "https and friends"
    assert rule["security_group_id"] == group["id"]
    assert rule["project_id"] == demo.project_id
    assert ok(demo.get(f"{RULES}/{rule['id']}"))["security_group_rule"] == rule
    shown = ok(demo.get(f"{GROUPS}/{group['id']}"))["security_group"]
    assert rule["id"] in {r["id"] for r in shown["security_group_rules"]}
    assert shown["revision_number"] > group["revision_number"]


def test_ethertype_is_case_insensitive(demo):
    group = new_group(demo)
    for port, (given, stored) in enumerate([("ipv4", "IPv4"), ("IPV6", "IPv6"), ("Ipv4", "IPv4")], start=1):
        rule = new_rule(demo, group["id"], ethertype=given, protocol="udp", port_range_min=port, port_range_max=port)
        assert rule["ethertype"] == stored, given


def test_protocol_by_name_or_number(demo):
    group = new_group(demo)
    for given, stored in [("tcp", "tcp"), ("TCP", "tcp"), ("6", "6"), (6, "6"), ("icmp", "icmp"),
                          ("132", "132"), ("gre", "gre"), ("any", None), (None, None)]:
        rule = new_rule(demo, group["id"], protocol=given, remote_ip_prefix="198.51.100.0/24")
        assert rule["protocol"] == stored, given
        ok(demo.delete(f"{RULES}/{rule['id']}"), 204)


def test_legacy_icmp_names_of_an_ipv6_rule_become_ipv6_icmp(demo):
    group = new_group(demo)
    for given, stored in [("icmp", "ipv6-icmp"), ("icmpv6", "ipv6-icmp"), ("1", "58")]:
        rule = new_rule(demo, group["id"], ethertype="IPv6", protocol=given, port_range_min=135)
        assert rule["protocol"] == stored, given
        ok(demo.delete(f"{RULES}/{rule['id']}"), 204)


def test_icmp_type_and_code_are_kept(demo):
    group = new_group(demo)
    echo = new_rule(demo, group["id"], protocol="icmp", port_range_min=8, port_range_max=0)
    assert (echo["port_range_min"], echo["port_range_max"]) == (8, 0)
    any_code = new_rule(demo, group["id"], protocol="icmp", port_range_min=3)
    assert (any_code["port_range_min"], any_code["port_range_max"]) == (3, None)


def test_a_remote_ip_prefix_keeps_its_host_bits_and_normalized_cidr_drops_them(demo):
    group = new_group(demo)
    rule = new_rule(demo, group["id"], protocol="tcp", port_range_min=22, port_range_max=22,
                    remote_ip_prefix="10.1.2.3/16")
    assert rule["remote_ip_prefix"] == "10.1.2.3/16"
    assert rule["normalized_cidr"] == "10.1.0.0/16"


def test_a_bare_address_becomes_a_host_prefix(demo):
    group = new_group(demo)
    v4 = new_rule(demo, group["id"], remote_ip_prefix="203.0.113.7")
    v6 = new_rule(demo, group["id"], ethertype="IPv6", remote_ip_prefix="2001:db8::1")
    assert (v4["remote_ip_prefix"], v4["normalized_cidr"]) == ("203.0.113.7/32", "203.0.113.7/32")
    assert (v6["remote_ip_prefix"], v6["normalized_cidr"]) == ("2001:db8::1/128", "2001:db8::1/128")


def test_prefixes_that_differ_only_in_host_bits_are_different_rules(demo):
    group = new_group(demo)
    one = new_rule(demo, group["id"], protocol="tcp", port_range_min=22, port_range_max=22, remote_ip_prefix="10.0.0.5/24")
    two = new_rule(demo, group["id"], protocol="tcp", port_range_min=22, port_range_max=22, remote_ip_prefix="10.0.0.0/24")
    assert one["normalized_cidr"] == two["normalized_cidr"] == "10.0.0.0/24"
    refused(demo, lambda: post_rule(demo, group["id"], protocol="6", port_range_min=22, port_range_max=22,
                                    remote_ip_prefix="10.0.0.5/24"), 409, "SecurityGroupRuleExists")


def test_a_rule_with_a_remote_group(demo):
    web, db = new_group(demo, "web"), new_group(demo, "db")
    rule = new_rule(demo, db["id"], protocol="tcp", port_range_min=5432, port_range_max=5432,
                    remote_group_id=web["id"])
    assert rule["remote_group_id"] == web["id"] and rule["remote_ip_prefix"] is None
    assert rule["normalized_cidr"] is None


def test_an_ipv6_icmp_rule_may_name_icmp(demo):
    group = new_group(demo)
    rule = new_rule(demo, group["id"], ethertype="IPv6", protocol="ipv6-icmp", port_range_min=128)
    assert rule["protocol"] == "ipv6-icmp"


# --- rules: bad input ---

BAD_RULES = [  # (attributes, status, NeutronError type or None when only the status is Neutron's)
    ({"direction": "sideways"}, 400, "HTTPBadRequest"),
    ({"direction": None}, 400, "HTTPBadRequest"),
    ({"ethertype": "IPv5"}, 400, "HTTPBadRequest"),
    ({"protocol": "carrier-pigeon"}, 400, "SecurityGroupRuleInvalidProtocol"),
    ({"protocol": "256"}, 400, None),
    ({"protocol": -1}, 400, None),
    ({"protocol": ["tcp"]}, 400, None),
    ({"protocol": "tcp", "port_range_min": 100, "port_range_max": 99}, 400, "SecurityGroupInvalidPortRange"),
    ({"protocol": "udp", "port_range_min": 100}, 400, "SecurityGroupInvalidPortRange"),
    ({"protocol": "udp", "port_range_max": 100}, 400, "SecurityGroupInvalidPortRange"),
    ({"protocol": "tcp", "port_range_min": 0, "port_range_max": 10}, 400, "SecurityGroupInvalidPortValue"),
    ({"protocol": "tcp", "port_range_min": 1, "port_range_max": 65536}, 400, "HTTPBadRequest"),
    ({"protocol": "tcp", "port_range_min": -1, "port_range_max": 10}, 400, "HTTPBadRequest"),
    ({"protocol": "tcp", "port_range_min": "eighty", "port_range_max": 80}, 400, "HTTPBadRequest"),
    ({"port_range_min": 22, "port_range_max": 22}, 400, "SecurityGroupProtocolRequiredWithPorts"),
    ({"protocol": "any", "port_range_min": 22, "port_range_max": 22}, 400,
     "SecurityGroupProtocolRequiredWithPorts"),
    ({"protocol": "gre", "port_range_min": 22, "port_range_max": 22}, 400, "SecurityGroupInvalidProtocolForPort"),
    ({"protocol": "icmp", "port_range_min": 256}, 400, "SecurityGroupInvalidIcmpValue"),
    ({"protocol": "icmp", "port_range_min": 8, "port_range_max": 256}, 400, "SecurityGroupInvalidIcmpValue"),
    ({"protocol": "icmp", "port_range_max": 0}, 400, "SecurityGroupMissingIcmpType"),
    ({"protocol": "ipv6-icmp", "ethertype": "IPv4"}, 400, "SecurityGroupEthertypeConflictWithProtocol"),
    ({"remote_ip_prefix": "10.0.0.0/8", "ethertype": "IPv6"}, 400, "SecurityGroupRuleParameterConflict"),
    ({"remote_ip_prefix": "2001:db8::/32"}, 400, "SecurityGroupRuleParameterConflict"),
    ({"remote_ip_prefix": "10.0.0.0/33"}, 400, None),
    ({"remote_ip_prefix": "not-a-cidr"}, 400, None),
    ({"remote_ip_prefix": 10}, 400, None),
    ({"remote_group_id": "not-a-uuid"}, 400, "HTTPBadRequest"),
    ({"remote_group_id": MISSING}, 404, "SecurityGroupNotFound"),
    ({"security_group_id": MISSING}, 404, "SecurityGroupNotFound"),
    ({"name": "rules have no name"}, 400, "HTTPBadRequest"),
    ({"id": MISSING}, 400, "HTTPBadRequest"),
]


def test_bad_rules_are_refused_and_change_nothing(demo):
    group = new_group(demo)
    for attrs, status, neutron_type in BAD_RULES:
        rule = {"security_group_id": group["id"], "direction": "ingress", **attrs}
        try:
            refused(demo, lambda rule=rule: demo.post(RULES, json={"security_group_rule": rule}), status,
                    neutron_type)
        except AssertionError as failure:
            raise AssertionError(f"{attrs}: {failure}") from None
    assert len(ok(demo.get(f"{GROUPS}/{group['id']}"))["security_group"]["security_group_rules"]) == 2


def test_a_remote_prefix_and_a_remote_group_together_are_refused(demo):
    web, db = new_group(demo, "web"), new_group(demo, "db")
    refused(demo, lambda: post_rule(demo, db["id"], remote_ip_prefix="10.0.0.0/8", remote_group_id=web["id"]),
            400, "SecurityGroupMultipleRemoteEntites")


def test_a_rule_without_a_group_or_a_direction_is_refused(demo):
    group = new_group(demo)
    body = {"security_group_rule": {"direction": "ingress"}}
    refused(demo, lambda: demo.post(RULES, json=body), 400, "HTTPBadRequest")
    body = {"security_group_rule": {"security_group_id": group["id"]}}
    refused(demo, lambda: demo.post(RULES, json=body), 400, "HTTPBadRequest")


def test_rules_cannot_be_updated(demo):
    group = new_group(demo)
    rule = new_rule(demo, group["id"], protocol="tcp", port_range_min=22, port_range_max=22)
    refused(demo, lambda: demo.put(f"{RULES}/{rule['id']}", json={"security_group_rule": {"port_range_min": 23}}),
            400, "HTTPBadRequest")


# --- rules: duplicates ---

DUPLICATES = [  # (a rule, the same rule written another way)
    ({"protocol": "tcp", "port_range_min": 22, "port_range_max": 22},
     {"protocol": "tcp", "port_range_min": 22, "port_range_max": 22}),
    ({"protocol": "tcp", "port_range_min": 22, "port_range_max": 22},
     {"protocol": "6", "port_range_min": 22, "port_range_max": 22}),
    ({"protocol": "udp"}, {"protocol": "17"}),
    ({"protocol": "icmp"}, {"protocol": "ICMP", "ethertype": "ipv4"}),
    ({"protocol": "tcp", "remote_ip_prefix": "0.0.0.0/0"}, {"protocol": "tcp"}),
    ({"protocol": "tcp"}, {"protocol": "tcp", "remote_ip_prefix": "0.0.0.0/0"}),
    ({"ethertype": "IPv6", "remote_ip_prefix": "::/0"}, {"ethertype": "IPv6"}),
    ({"protocol": "any"}, {}),
]


def test_a_rule_written_another_way_is_a_duplicate(demo):
    group = new_group(demo)
    for first, second in DUPLICATES:
        existing = new_rule(demo, group["id"], **first)
        try:
            found = refused(demo, lambda second=second: post_rule(demo, group["id"], **second), 409,
                            "SecurityGroupRuleExists")
        except AssertionError as failure:
            raise AssertionError(f"{first} then {second}: {failure}") from None
        assert existing["id"] in found["message"]
        ok(demo.delete(f"{RULES}/{existing['id']}"), 204)


def test_the_default_egress_rules_count_as_duplicates(demo):
    group = new_group(demo)
    refused(demo, lambda: post_rule(demo, group["id"], direction="egress"), 409, "SecurityGroupRuleExists")
    refused(demo, lambda: post_rule(demo, group["id"], direction="egress", ethertype="IPv6",
                                    remote_ip_prefix="::/0"), 409, "SecurityGroupRuleExists")


def test_the_same_rule_in_another_group_or_direction_is_no_duplicate(demo):
    web, db = new_group(demo, "web"), new_group(demo, "db")
    new_rule(demo, web["id"], protocol="tcp", port_range_min=22, port_range_max=22)
    new_rule(demo, db["id"], protocol="tcp", port_range_min=22, port_range_max=22)
    new_rule(demo, web["id"], direction="egress", protocol="tcp", port_range_min=22, port_range_max=22)
    new_rule(demo, web["id"], protocol="tcp", port_range_min=22, port_range_max=23)


def test_rules_are_created_in_bulk(demo):
    group = new_group(demo)
    body = {"security_group_rules": [
        {"security_group_id": group["id"], "direction": "ingress", "protocol": "tcp",
         "port_range_min": 22, "port_range_max": 22},
        {"security_group_id": group["id"], "direction": "ingress", "protocol": "icmp"},
    ]}
    created = ok(demo.post(RULES, json=body), 201)["security_group_rules"]
    assert [r["protocol"] for r in created] == ["tcp", "icmp"]
    shown = ok(demo.get(f"{GROUPS}/{group['id']}"))["security_group"]
    assert {r["id"] for r in created} <= {r["id"] for r in shown["security_group_rules"]}


@pytest.mark.parametrize("second", [
    {"protocol": "tcp", "port_range_min": 22, "port_range_max": 22},
    {"protocol": "6", "port_range_min": 22, "port_range_max": 22},
    {"protocol": "TCP", "port_range_min": 22, "port_range_max": 22, "ethertype": "ipv4"},
])
def test_a_bulk_create_with_a_duplicate_inside_creates_nothing(demo, second):
    group = new_group(demo)
    first = {"protocol": "tcp", "port_range_min": 22, "port_range_max": 22}
    body = {"security_group_rules": [
        {"security_group_id": group["id"], "direction": "ingress", "protocol": "udp"},
        {"security_group_id": group["id"], "direction": "ingress", **first},
        {"security_group_id": group["id"], "direction": "ingress", **second},
    ]}
    before = ids(demo, "security_group_rules")
    refused(demo, lambda: demo.post(RULES, json=body), 409, "DuplicateSecurityGroupRuleInPost")
    assert ids(demo, "security_group_rules") == before


def test_a_bulk_create_duplicating_an_existing_rule_creates_nothing(demo):
    group = new_group(demo)
    new_rule(demo, group["id"], protocol="tcp", port_range_min=80, port_range_max=80)
    body = {"security_group_rules": [
        {"security_group_id": group["id"], "direction": "ingress", "protocol": "udp"},
        {"security_group_id": group["id"], "direction": "ingress", "protocol": "6",
         "port_range_min": 80, "port_range_max": 80},
    ]}
    before = ids(demo, "security_group_rules")
    refused(demo, lambda: demo.post(RULES, json=body), 409, "SecurityGroupRuleExists")
    assert ids(demo, "security_group_rules") == before


def test_a_bulk_create_with_one_bad_rule_creates_nothing(demo):
    group = new_group(demo)
    body = {"security_group_rules": [
        {"security_group_id": group["id"], "direction": "ingress", "protocol": "udp"},
        {"security_group_id": group["id"], "direction": "ingress", "protocol": "tcp",
         "port_range_min": 9, "port_range_max": 1},
    ]}
    before = ids(demo, "security_group_rules")
    refused(demo, lambda: demo.post(RULES, json=body), 400, "SecurityGroupInvalidPortRange")
    assert ids(demo, "security_group_rules") == before


# --- rules: delete ---

def test_deleting_a_rule_removes_it_from_its_group(demo):
    group = new_group(demo)
    rule = new_rule(demo, group["id"], protocol="tcp", port_range_min=22, port_range_max=22)

    ok(demo.delete(f"{RULES}/{rule['id']}"), 204)

    error(demo.get(f"{RULES}/{rule['id']}"), 404, "SecurityGroupRuleNotFound")
    shown = ok(demo.get(f"{GROUPS}/{group['id']}"))["security_group"]
    assert rule["id"] not in {r["id"] for r in shown["security_group_rules"]}
    error(demo.delete(f"{RULES}/{rule['id']}"), 404, "SecurityGroupRuleNotFound")
    new_rule(demo, group["id"], protocol="tcp", port_range_min=22, port_range_max=22)  # no longer a duplicate


def test_rules_are_filtered_by_group_and_fields(demo):
    web, db = new_group(demo, "web"), new_group(demo, "db")
    new_rule(demo, web["id"], protocol="tcp", port_range_min=80, port_range_max=80)
    listed = ok(demo.get(RULES, params={"security_group_id": web["id"], "direction": "ingress"}))
    assert [r["port_range_min"] for r in listed["security_group_rules"]] == [80]
    listed = ok(demo.get(RULES, params={"security_group_id": db["id"], "fields": ["id", "direction"]}))
    assert {tuple(sorted(r)) for r in listed["security_group_rules"]} == {("direction", "id")}
