"""/v2.0/quotas as Neutron's quotasv2 and quota_details answer it: defaults, per-project limits that
admins set and reset, usage, OverQuota naming the resource, and bad values refused."""

from __future__ import annotations

from tests.api.expect import error, ids, ok, refused

DEFAULTS = {"network": 100, "subnet": 100, "port": 500, "security_group": 10, "security_group_rule": 100,
            "router": 10, "floatingip": 50}


def quota(api, project_id: str, suffix: str = "") -> dict:
    return ok(api.get(f"/v2.0/quotas/{project_id}{suffix}"))["quota"]


def set_quota(admin, project_id: str, **limits) -> dict:
    return ok(admin.put(f"/v2.0/quotas/{project_id}", json={"quota": limits}))["quota"]


def network(api, name: str = "net"):
    return api.post("/v2.0/networks", json={"network": {"name": name}})


def test_a_project_starts_with_neutrons_default_quotas(demo):
    assert quota(demo, demo.project_id) == DEFAULTS
    assert quota(demo, demo.project_id, "/default") == DEFAULTS


def test_details_count_what_the_project_uses(demo, other):
    net = demo.create("networks", "network", name="net")
    demo.create("subnets", "subnet", network_id=net["id"], ip_version=4, cidr="10.0.0.0/24")
    demo.create("ports", "port", network_id=net["id"])
    other.create("networks", "network", name="theirs")

    details = quota(demo, demo.project_id, "/details")

    assert set(details) == set(DEFAULTS)
    assert details["network"] == {"limit": 100, "used": 1, "reserved": 0}
    assert details["subnet"]["used"] == 1 and details["port"]["used"] == 1
    assert details["security_group"]["used"] == 1  # the default group the port made
    assert details["security_group_rule"]["used"] == 4
    assert details["router"] == {"limit": 10, "used": 0, "reserved": 0}


def test_an_admin_sets_a_limit_and_the_next_create_past_it_is_over_quota(admin, demo):
    limits = set_quota(admin, demo.project_id, network=2)
    assert limits == dict(DEFAULTS, network=2)
    assert quota(demo, demo.project_id)["network"] == 2
    assert quota(demo, demo.project_id, "/default")["network"] == 100

    ok(network(demo, "one"), 201)
    ok(network(demo, "two"), 201)
    found = refused(demo, lambda: network(demo, "three"), 409, "OverQuota")
    assert "network" in found["message"]
    assert quota(demo, demo.project_id, "/details")["network"] == {"limit": 2, "used": 2, "reserved": 0}


def test_a_limit_binds_only_its_project(admin, demo, other):
    set_quota(admin, demo.project_id, network=0)
    error(network(demo), 409, "OverQuota")
    ok(network(other), 201)
    ok(network(admin), 201)


def test_a_bulk_create_past_the_limit_creates_nothing(admin, demo):
    set_quota(admin, demo.project_id, network=2)
    before = ids(demo, "networks")
    body = {"networks": [{"name": "a"}, {"name": "b"}, {"name": "c"}]}
    found = refused(demo, lambda: demo.post("/v2.0/networks", json=body), 409, "OverQuota")
    assert "network" in found["message"]
    assert ids(demo, "networks") == before
    ok(demo.post("/v2.0/networks", json={"networks": [{"name": "a"}, {"name": "b"}]}), 201)


def test_a_bulk_rule_create_past_the_limit_creates_nothing(admin, demo):
    set_quota(admin, demo.project_id, security_group_rule=8)
    group = demo.create("security_groups", "security_group", name="web")  # 4 default rules + 2 of web
    before = ids(demo, "security_group_rules")
    rules = [{"security_group_id": group["id"], "direction": "ingress", "protocol": "tcp",
              "port_range_min": port, "port_range_max": port} for port in (1, 2, 3)]
    found = refused(demo, lambda: demo.post("/v2.0/security_group_rules", json={"security_group_rules": rules}),
                    409, "OverQuota")
    assert "security_group_rule" in found["message"]
    assert ids(demo, "security_group_rules") == before


def test_minus_one_means_unlimited(admin, demo):
    set_quota(admin, demo.project_id, security_group=-1)
    for number in range(DEFAULTS["security_group"] + 1):
        demo.create("security_groups", "security_group", name=f"group-{number}")
    assert quota(demo, demo.project_id, "/details")["security_group"]["used"] == DEFAULTS["security_group"] + 2


def test_security_group_and_rule_limits_count_the_default_group(admin, demo):
    set_quota(admin, demo.project_id, security_group=2, security_group_rule=8)
    group = demo.create("security_groups", "security_group", name="web")  # default (4 rules) + web (2 rules)
    error(demo.post("/v2.0/security_groups", json={"security_group": {"name": "db"}}), 409, "OverQuota")

    rule = {"security_group_id": group["id"], "direction": "ingress", "protocol": "tcp"}
    ok(demo.post("/v2.0/security_group_rules", json={"security_group_rule": dict(rule, port_range_min=1,
                                                                                  port_range_max=1)}), 201)
    ok(demo.post("/v2.0/security_group_rules", json={"security_group_rule": dict(rule, port_range_min=2,
                                                                                  port_range_max=2)}), 201)
    found = refused(demo, lambda: demo.post("/v2.0/security_group_rules", json={
        "security_group_rule": dict(rule, port_range_min=3, port_range_max=3)}), 409, "OverQuota")
    assert "security_group_rule" in found["message"]


def test_port_and_subnet_limits(admin, demo):
    set_quota(admin, demo.project_id, port=1, subnet=1)
    net = demo.create("networks", "network", name="net")
    demo.create("subnets", "subnet", network_id=net["id"], ip_version=4, cidr="10.0.0.0/24")
    body = {"subnet": {"network_id": net["id"], "ip_version": 4, "cidr": "10.0.1.0/24"}}
    assert "subnet" in refused(demo, lambda: demo.post("/v2.0/subnets", json=body), 409, "OverQuota")["message"]
    demo.create("ports", "port", network_id=net["id"])
    body = {"port": {"network_id": net["id"]}}
    assert "port" in refused(demo, lambda: demo.post("/v2.0/ports", json=body), 409, "OverQuota")["message"]


def test_delete_resets_a_project_to_the_defaults(admin, demo):
    set_quota(admin, demo.project_id, network=3, port=7)
    assert demo.project_id in {q["project_id"] for q in ok(admin.get("/v2.0/quotas"))["quotas"]}

    ok(admin.delete(f"/v2.0/quotas/{demo.project_id}"), 204)

    assert quota(demo, demo.project_id) == DEFAULTS
    assert demo.project_id not in {q["project_id"] for q in ok(admin.get("/v2.0/quotas"))["quotas"]}


def test_the_admin_list_shows_projects_with_their_own_limits(admin, demo):
    assert ok(admin.get("/v2.0/quotas"))["quotas"] == []
    set_quota(admin, demo.project_id, router=3)
    listed = ok(admin.get("/v2.0/quotas"))["quotas"]
    assert listed == [dict(DEFAULTS, router=3, project_id=demo.project_id, tenant_id=demo.project_id)]


def test_a_member_may_read_only_its_own_project(demo, other):
    for suffix in ("", "/default", "/details"):
        error(demo.get(f"/v2.0/quotas/{other.project_id}{suffix}"), 403, "PolicyNotAuthorized")
    error(demo.get("/v2.0/quotas"), 403, "PolicyNotAuthorized")


def test_a_member_may_not_change_quotas(demo, other):
    for project_id in (demo.project_id, other.project_id):
        path = f"/v2.0/quotas/{project_id}"
        refused(demo, lambda path=path: demo.put(path, json={"quota": {"network": 1000}}), 403, "PolicyNotAuthorized")
        refused(demo, lambda path=path: demo.delete(path), 403, "PolicyNotAuthorized")
    assert quota(demo, demo.project_id) == DEFAULTS


def test_an_admin_reads_any_projects_quota(admin, demo):
    assert quota(admin, demo.project_id) == DEFAULTS
    assert quota(admin, demo.project_id, "/details")["network"]["used"] == 0


def test_numbers_given_as_strings_are_converted(admin, demo):
    assert set_quota(admin, demo.project_id, network="7")["network"] == 7


def test_bad_quota_updates_are_refused(admin, demo):
    path = f"/v2.0/quotas/{demo.project_id}"
    for body in [
        {"quota": {"network": "lots"}},
        {"quota": {"network": -2}},
        {"quota": {"network": None}},
        {"quota": {"network": [1]}},
        {"quota": {"network": True}},
        {"quota": {"network": 2**31}},
        {"quota": {"widgets": 5}},
        {"quota": {"network": 5, "widgets": 5}},
        {"quota": "network=5"},
        {"quotas": {"network": 5}},
        ["network", 5],
    ]:
        found = refused(admin, lambda body=body: admin.put(path, json=body), 400, None)
        assert found["type"] in ("HTTPBadRequest", "InvalidInput"), (body, found)
    refused(admin, lambda: admin.put(path, content=b"{"), 400, "MalformedRequestBody")
    assert quota(demo, demo.project_id) == DEFAULTS
