"""The rest of the v2.0 surface: the version documents, /v2.0/extensions as clients read it, agents,
and how requests that reach no resource (unknown paths, wrong methods, no or bad token) are answered."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from neutrino.services.agents import OVS_AGENT
from tests.api.expect import error, ok

REFERENCE = Path("/work/shared/reference/neutron-api-definitions.json")
CLIENT_ALIASES = {"security-group", "quotas", "binding", "provider", "external-net", "port-security",
                  "allowed-address-pairs", "standard-attr-tag", "pagination", "sorting", "revision-if-match",
                  "net-mtu"}
MISSING = "3f0e8c0e-5d1c-4c1e-9a55-2b7f3e1d9a10"


# --- documents ---

def test_the_root_lists_v2_without_a_token(app_client):
    body = ok(app_client.get("/"))
    assert body == {"versions": [{"status": "CURRENT", "id": "v2.0",
                                  "links": [{"href": "http://testserver/v2.0/", "rel": "self"}]}]}


def test_v2_lists_the_resources(demo):
    for path in ("/v2.0", "/v2.0/"):
        resources = {r["collection"]: r for r in ok(demo.get(path))["resources"]}
        assert {"networks", "subnets", "ports", "security_groups", "security_group_rules"} <= set(resources)
        assert resources["networks"]["name"] == "network"
        assert resources["networks"]["links"] == [{"href": "http://testserver/v2.0/networks", "rel": "self"}]


def test_extensions_list_the_aliases_clients_look_for(demo):
    extensions = ok(demo.get("/v2.0/extensions"))["extensions"]
    aliases = [x["alias"] for x in extensions]
    assert CLIENT_ALIASES <= set(aliases)
    assert len(aliases) == len(set(aliases))
    for extension in extensions:
        assert set(extension) == {"alias", "name", "description", "updated", "links"}, extension
        assert extension["name"] and extension["description"] and extension["updated"], extension


def test_extensions_are_described_as_neutron_describes_them(demo):
    reference = {}
    for definition in json.loads(REFERENCE.read_text())["resources"].values():
        if "ALIAS" in definition and "NAME" in definition:
            reference[definition["ALIAS"]] = definition
    listed = {x["alias"]: x for x in ok(demo.get("/v2.0/extensions"))["extensions"]}
    compared = 0
    for alias, extension in listed.items():
        if alias not in reference:
            continue
        compared += 1
        assert extension["name"] == reference[alias]["NAME"], alias
        assert extension["description"] == reference[alias]["DESCRIPTION"], alias
        assert extension["updated"] == reference[alias]["UPDATED_TIMESTAMP"], alias
    assert compared >= 10


def test_one_extension_by_alias(demo):
    for alias in sorted(CLIENT_ALIASES):
        assert ok(demo.get(f"/v2.0/extensions/{alias}"))["extension"]["alias"] == alias
    error(demo.get("/v2.0/extensions/teleport"), 404)


def test_the_v2_documents_need_a_token(app_client):
    for path in ("/v2.0", "/v2.0/extensions", "/v2.0/extensions/quotas"):
        assert app_client.get(path).status_code == 401, path


# --- agents ---

def heartbeat(api, host: str = "compute-1") -> str:
    services = api.client.app.state.services
    return services.store.write(lambda tx: services.agents.heartbeat(
        tx, OVS_AGENT, "neutrino-agent", host, {"bridge_mappings": {"physnet1": "br-bond0"}}, start_flag=True))


def test_there_are_no_agents_until_one_reports(admin, demo):
    assert ok(admin.get("/v2.0/agents")) == {"agents": []}
    assert ok(demo.get("/v2.0/agents")) == {"agents": []}


def test_agents_are_for_admins_only(admin, demo):
    agent_id = heartbeat(admin)

    listed = ok(admin.get("/v2.0/agents"))["agents"]
    assert [a["id"] for a in listed] == [agent_id]
    agent = listed[0]
    assert (agent["agent_type"], agent["host"], agent["alive"], agent["admin_state_up"]) == \
        (OVS_AGENT, "compute-1", True, True)
    assert agent["configurations"] == {"bridge_mappings": {"physnet1": "br-bond0"}}

    assert ok(demo.get("/v2.0/agents")) == {"agents": []}
    error(demo.get(f"/v2.0/agents/{agent_id}"), 404, "AgentNotFound")
    error(demo.put(f"/v2.0/agents/{agent_id}", json={"agent": {"admin_state_up": False}}), 404, "AgentNotFound")
    error(demo.delete(f"/v2.0/agents/{agent_id}"), 404, "AgentNotFound")
    assert ok(admin.get(f"/v2.0/agents/{agent_id}"))["agent"]["admin_state_up"] is True


def test_an_admin_disables_describes_and_deletes_an_agent(admin):
    agent_id = heartbeat(admin)
    path = f"/v2.0/agents/{agent_id}"
    updated = ok(admin.put(path, json={"agent": {"admin_state_up": False, "description": "draining"}}))["agent"]
    assert updated["admin_state_up"] is False and updated["description"] == "draining"
    error(admin.put(path, json={"agent": {"host": "elsewhere"}}), 400, "HTTPBadRequest")
    error(admin.put(path, json={"agent": {"admin_state_up": "sometimes"}}), 400, "HTTPBadRequest")
    assert [a["host"] for a in ok(admin.get("/v2.0/agents", params={"host": "compute-1"}))["agents"]] == \
        ["compute-1"]

    ok(admin.delete(path), 204)
    error(admin.get(path), 404, "AgentNotFound")


# --- requests that reach no resource ---

@pytest.mark.parametrize("path", ["/v2.0/widgets", "/v2.0/widgets/1", "/nothing/here", "/v3.0/networks"])
def test_an_unknown_path_is_a_neutron_404(demo, path):
    error(demo.get(path), 404)


def test_a_wrong_method_is_a_neutron_405(demo):
    network = demo.create("networks", "network", name="net")
    for method, path in [("PATCH", "/v2.0/networks"), ("DELETE", "/v2.0/networks"), ("PUT", "/v2.0/networks"),
                         ("POST", f"/v2.0/networks/{network['id']}"), ("PATCH", f"/v2.0/networks/{network['id']}"),
                         ("POST", "/v2.0/extensions")]:
        error(demo.request(method, path), 405)


def test_a_request_without_a_token_is_unauthorized(app_client):
    for method, path in [("GET", "/v2.0/networks"), ("POST", "/v2.0/networks"), ("GET", f"/v2.0/ports/{MISSING}"),
                         ("DELETE", f"/v2.0/subnets/{MISSING}"), ("GET", "/v2.0/quotas/x"),
                         ("GET", "/v2.0/security_groups")]:
        response = app_client.request(method, path, json={"network": {"name": "x"}} if method == "POST" else None)
        error(response, 401)
        assert "WWW-Authenticate" in response.headers, path


def test_an_invalid_token_is_unauthorized(app_client, demo):
    for token in ("not-a-token", demo.token[:-4] + "AAAA", demo.token + "x", ""):
        response = app_client.get("/v2.0/networks", headers={"X-Auth-Token": token})
        error(response, 401)


def test_a_request_without_a_token_changes_nothing(app_client, demo):
    error(app_client.post("/v2.0/networks", json={"network": {"name": "sneaky"}}), 401)
    assert ok(demo.get("/v2.0/networks", params={"name": "sneaky"}))["networks"] == []


def test_every_answer_carries_a_request_id(demo):
    for response in (demo.get("/v2.0/networks"), demo.get("/v2.0/widgets"), demo.get(f"/v2.0/networks/{MISSING}")):
        assert response.headers["X-Openstack-Request-Id"].startswith("req-")
