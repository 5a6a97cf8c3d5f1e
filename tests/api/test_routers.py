"""/v2.0/routers as Neutron's L3 plugin answers it: the external gateway (ext-gw-mode), interfaces added
and removed by subnet or by port, extra routes, what keeps a router, a subnet or a port from being
deleted, project isolation, quotas, and the feed the L3 agents read; every refusal leaves the store as
it was."""

from __future__ import annotations

import ipaddress

import pytest

from neutrino.model.resources import FixedIp, router_from_body
from tests.api.cloud import cloud_in, module_cloud
from tests.api.expect import error, feed_revision, ids, ok, refused
from tests.api.l3 import (
    add_interface,
    changes_since,
    external_network,
    heartbeat,
    host_up,
    private_subnet,
    remove_interface,
    router_on,
    router_ports,
    show,
    update_router,
)

MISSING = "0c1f7b1e-6a4d-4d8e-9a34-6b1f2b8d5e11"

cloud, admin, demo, other = module_cloud("routers")


@pytest.fixture
def public(admin) -> tuple[dict, dict]:
    return external_network(admin)


@pytest.fixture
def subnet(demo) -> dict:
    return private_subnet(demo)


def interfaces(admin, router: dict) -> list[dict]:
    return router_ports(admin, router, "network:router_interface")


# --- create, show, list, update ---

def test_a_new_router_has_neutrons_defaults_and_no_gateway(demo):
    router = demo.create("routers", "router", name="r1", description="mine")
    assert (router["name"], router["description"], router["status"], router["admin_state_up"]) == (
        "r1", "mine", "ACTIVE", True)
    assert router["external_gateway_info"] is None and router["routes"] == []
    assert router["project_id"] == router["tenant_id"] == demo.project_id
    assert router["revision_number"] == 0 and router["tags"] == []
    assert show(demo, "routers", router["id"]) == router

    renamed = ok(update_router(demo, router, name="r2", admin_state_up=False))["router"]
    assert (renamed["name"], renamed["admin_state_up"]) == ("r2", False)
    assert renamed["revision_number"] > router["revision_number"]
    assert router["id"] in ids(demo, "routers", name="r2")


def test_bad_router_input_is_refused_and_changes_nothing(demo, subnet):
    for body in ({"router": {"admin_state_up": "sometimes"}},
                 {"router": {"routes": []}},  # routes are set by update only
                 {"router": {"external_gateway_info": {"enable_snat": False}}},  # no network_id
                 {"router": {"external_gateway_info": {"network_id": "nope"}}},
                 {"router": {"external_gateway_info": {"network_id": MISSING, "color": "red"}}},
                 {"router": {"status": "DOWN"}}):
        refused(demo, lambda b=body: demo.post("/v2.0/routers", json=b), 400, "HTTPBadRequest")


# --- the external gateway ---

def test_a_gateway_is_a_port_on_the_external_network_with_one_of_its_addresses(admin, demo, public):
    network, external = public
    router = router_on(demo, network)
    gateway = router["external_gateway_info"]
    assert (gateway["network_id"], gateway["enable_snat"]) == (network["id"], True)
    [fixed] = gateway["external_fixed_ips"]
    assert fixed["subnet_id"] == external["id"]
    assert ipaddress.ip_address(fixed["ip_address"]) in ipaddress.ip_network(external["cidr"])

    [port] = router_ports(admin, router, "network:router_gateway")
    assert (port["device_id"], port["project_id"], port["network_id"]) == (router["id"], "", network["id"])
    assert port["fixed_ips"] == gateway["external_fixed_ips"]
    assert port["security_groups"] == []
    assert router_ports(demo, router) == []  # the gateway port belongs to no project


def test_only_an_admin_chooses_snat_and_the_external_address(admin, demo, public):
    network, external = public
    for gateway in ({"network_id": network["id"], "enable_snat": False},
                    {"network_id": network["id"], "external_fixed_ips": [{"subnet_id": external["id"]}]}):
        failure = refused(demo, lambda g=gateway: demo.post("/v2.0/routers", json={"router": {
            "external_gateway_info": g}}), 403, "PolicyNotAuthorized")
        assert "external_gateway_info" in failure["message"]
    router = router_on(demo, network)
    refused(demo, lambda: update_router(demo, router, external_gateway_info={
        "network_id": network["id"], "enable_snat": False}), 403, "PolicyNotAuthorized")

    changed = ok(update_router(admin, router, external_gateway_info={
        "network_id": network["id"], "enable_snat": False,
        "external_fixed_ips": [{"ip_address": "203.0.113.77"}]}))["router"]["external_gateway_info"]
    assert changed["enable_snat"] is False
    assert changed["external_fixed_ips"] == [{"subnet_id": external["id"], "ip_address": "203.0.113.77"}]
    [port] = router_ports(admin, router, "network:router_gateway")
    assert [f["ip_address"] for f in port["fixed_ips"]] == ["203.0.113.77"]


def test_a_gateway_needs_an_external_network_it_can_see(admin, demo, other, public, subnet):
    network, external = public
    internal = subnet["network_id"]
    failure = refused(demo, lambda: demo.post("/v2.0/routers", json={"router": {
        "external_gateway_info": {"network_id": internal}}}), 400, "BadRequest")
    assert failure["message"] == f"Bad router request: Network {internal} is not an external network."
    hidden = other.create("networks", "network", name="theirs")
    refused(demo, lambda: demo.post("/v2.0/routers", json={"router": {
        "external_gateway_info": {"network_id": hidden["id"]}}}), 404, "NetworkNotFound")
    failure = refused(admin, lambda: admin.post("/v2.0/routers", json={"router": {"external_gateway_info": {
        "network_id": network["id"], "external_fixed_ips": [{"ip_address": external["gateway_ip"]}]}}}),
        400, "BadRequest")
    assert failure["message"] == (f"Bad router request: External IP {external['gateway_ip']} is the same as "
                                "the gateway IP.")


def test_clearing_or_moving_the_gateway_replaces_its_port(admin, demo, public):
    network, _ = public
    second, _ = external_network(admin, "198.51.100.0/24")
    router = router_on(demo, network)
    [first_port] = router_ports(admin, router, "network:router_gateway")

    moved = ok(update_router(demo, router, external_gateway_info={"network_id": second["id"]}))["router"]
    assert moved["external_gateway_info"]["network_id"] == second["id"]
    [second_port] = router_ports(admin, router, "network:router_gateway")
    assert second_port["network_id"] == second["id"] and second_port["id"] != first_port["id"]
    error(admin.get(f"/v2.0/ports/{first_port['id']}"), 404, "PortNotFound")

    for nothing in ({}, None):  # openstack router unset --external-gateway sends {}
        assert ok(update_router(demo, router, external_gateway_info=nothing))["router"][
            "external_gateway_info"] is None
        assert router_ports(admin, router) == []
        ok(update_router(demo, router, external_gateway_info={"network_id": network["id"]}))


def test_an_external_network_with_gateways_stays_external_and_in_use(admin, demo, public):
    network, external = public
    router_on(demo, network)
    refused(admin, lambda: admin.put(f"/v2.0/networks/{network['id']}", json={"network": {
        "router:external": False}}), 409, "ExternalNetworkInUse")
    refused(admin, lambda: admin.delete(f"/v2.0/networks/{network['id']}"), 409, "NetworkInUse")
    refused(admin, lambda: admin.delete(f"/v2.0/subnets/{external['id']}"), 409, "SubnetInUse")


# --- interfaces ---

def test_an_interface_by_subnet_holds_the_subnets_gateway_address(admin, demo, subnet):
    router = demo.create("routers", "router", name="r")
    info = ok(add_interface(demo, router, subnet_id=subnet["id"]))
    [port] = interfaces(admin, router)
    assert info == {"id": router["id"], "tenant_id": demo.project_id, "project_id": demo.project_id,
                    "port_id": port["id"], "network_id": subnet["network_id"], "subnet_id": subnet["id"],
                    "subnet_ids": [subnet["id"]]}
    assert port["fixed_ips"] == [{"subnet_id": subnet["id"], "ip_address": subnet["gateway_ip"]}]
    assert (port["device_id"], port["project_id"], port["security_groups"]) == (router["id"], demo.project_id, [])
    assert show(demo, "routers", router["id"])["revision_number"] > router["revision_number"]
    # openstack router show lists the interfaces as the member's ports with the router's device_id
    assert [p["id"] for p in router_ports(demo, router)] == [port["id"]]


def test_an_interface_twice_on_a_subnet_or_on_an_overlapping_one_is_refused(demo, public, subnet):
    network, external = public
    router = router_on(demo, network, subnet)
    failure = refused(demo, lambda: add_interface(demo, router, subnet_id=subnet["id"]), 400, "BadRequest")
    assert failure["message"] == f"Bad router request: Router already has a port on subnet {subnet['id']}."

    wider = private_subnet(demo, "10.0.0.0/16")
    failure = refused(demo, lambda: add_interface(demo, router, subnet_id=wider["id"]), 400, "BadRequest")
    assert failure["message"] == (f"Bad router request: Cidr 10.0.0.0/16 of subnet {wider['id']} overlaps with "
                                f"cidr 10.0.0.0/24 of subnet {subnet['id']}.")
    like_outside = private_subnet(demo, "203.0.113.0/25")
    failure = refused(demo, lambda: add_interface(demo, router, subnet_id=like_outside["id"]), 400, "BadRequest")
    assert f"overlaps with cidr 203.0.113.0/24 of subnet {external['id']}" in failure["message"]


def test_an_interface_needs_a_gateway_address_and_a_subnet_of_ones_own(admin, demo, other):
    router = demo.create("routers", "router", name="r")
    no_gateway = private_subnet(demo, "10.1.0.0/24", gateway_ip=None)
    failure = refused(demo, lambda: add_interface(demo, router, subnet_id=no_gateway["id"]), 400, "BadRequest")
    assert failure["message"] == "Bad router request: Subnet for router interface must have a gateway IP."
    theirs = private_subnet(other, "10.2.0.0/24")
    refused(demo, lambda: add_interface(demo, router, subnet_id=theirs["id"]), 404, "SubnetNotFound")
    shared = admin.create("networks", "network", name="shared", shared=True)
    shared_subnet = private_subnet(admin, "10.3.0.0/24", network=shared)
    failure = refused(demo, lambda: add_interface(demo, router, subnet_id=shared_subnet["id"]), 400, "BadRequest")
    assert "is not owned by project making the request" in failure["message"]


@pytest.mark.parametrize("info, message", [
    ({}, "Either subnet_id or port_id must be specified"),
    ({"subnet_id": "nope"}, "'nope' is not a valid UUID"),
    ({"subnet_id": MISSING, "port_id": MISSING}, "Cannot specify both subnet-id and port-id"),
])
def test_an_interface_request_names_a_subnet_or_a_port(demo, info, message):
    router = demo.create("routers", "router", name="r")
    failure = refused(demo, lambda: add_interface(demo, router, **info), 400, "BadRequest")
    assert failure["message"] == f"Bad router request: {message}."


def test_an_interface_by_port_takes_over_a_port_with_addresses(admin, demo, subnet):
    router = demo.create("routers", "router", name="r")
    port = demo.create("ports", "port", network_id=subnet["network_id"],
                       fixed_ips=[{"subnet_id": subnet["id"], "ip_address": "10.0.0.9"}])
    info = ok(add_interface(demo, router, port_id=port["id"]))
    assert (info["port_id"], info["subnet_ids"]) == (port["id"], [subnet["id"]])
    taken = show(admin, "ports", port["id"])
    assert (taken["device_id"], taken["device_owner"]) == (router["id"], "network:router_interface")

    second = demo.create("routers", "router", name="r2")
    failure = refused(demo, lambda: add_interface(demo, second, port_id=port["id"]), 409, "PortInUse")
    assert failure["message"] == (f"Unable to complete operation on port {port['id']} for network "
                                f"{subnet['network_id']}. Port already has an attached device {router['id']}.")
    bare = demo.create("ports", "port", network_id=subnet["network_id"], fixed_ips=[])
    failure = refused(demo, lambda: add_interface(demo, second, port_id=bare["id"]), 400, "BadRequest")
    assert failure["message"] == "Bad router request: Router port must have at least one fixed IP."
    two = private_subnet(demo, "10.9.0.0/24", network=show(demo, "networks", subnet["network_id"]))
    double = demo.create("ports", "port", network_id=subnet["network_id"],
                         fixed_ips=[{"subnet_id": subnet["id"]}, {"subnet_id": two["id"]}])
    failure = refused(demo, lambda: add_interface(demo, second, port_id=double["id"]), 400, "BadRequest")
    assert failure["message"] == "Bad router request: Cannot have multiple IPv4 subnets on router port."
    refused(demo, lambda: add_interface(demo, second, port_id=MISSING), 404, "PortNotFound")


def test_interfaces_are_removed_by_subnet_or_by_port(admin, demo, subnet):
    router = demo.create("routers", "router", name="r")
    added = ok(add_interface(demo, router, subnet_id=subnet["id"]))
    removed = ok(remove_interface(demo, router, subnet_id=subnet["id"]))
    assert removed == added
    assert interfaces(admin, router) == []
    error(admin.get(f"/v2.0/ports/{added['port_id']}"), 404, "PortNotFound")

    failure = refused(demo, lambda: remove_interface(demo, router, subnet_id=subnet["id"]), 404,
                    "RouterInterfaceNotFoundForSubnet")
    assert failure["message"] == f"Router {router['id']} has no interface on subnet {subnet['id']}"
    added = ok(add_interface(demo, router, subnet_id=subnet["id"]))
    other_subnet = private_subnet(demo, "10.4.0.0/24")
    refused(demo, lambda: remove_interface(demo, router, port_id=added["port_id"], subnet_id=other_subnet["id"]),
            400, "SubnetMismatchForPort")
    failure = refused(demo, lambda: remove_interface(demo, router, port_id=MISSING), 404, "RouterInterfaceNotFound")
    assert failure["message"] == f"Router {router['id']} does not have an interface with id {MISSING}"
    assert ok(remove_interface(demo, router, port_id=added["port_id"]))["port_id"] == added["port_id"]
    assert interfaces(admin, router) == []


def test_a_router_with_interfaces_and_its_ports_stay_until_the_interfaces_go(admin, demo, public, subnet):
    network, _ = public
    router = router_on(demo, network, subnet)
    [interface] = interfaces(admin, router)
    [gateway] = router_ports(admin, router, "network:router_gateway")
    failure = refused(demo, lambda: demo.delete(f"/v2.0/routers/{router['id']}"), 409, "RouterInUse")
    assert failure["message"] == f"Router {router['id']} has ports still attached: {interface['id']}"
    failure = refused(demo, lambda: demo.delete(f"/v2.0/subnets/{subnet['id']}"), 409, "SubnetInUse")
    assert failure["message"] == (f"Unable to complete operation on subnet {subnet['id']}: One or more ports "
                                "have an IP allocation from this subnet.")
    for port in (interface, gateway):
        failure = refused(admin, lambda p=port: admin.delete(f"/v2.0/ports/{p['id']}"), 409, "ServicePortInUse")
        assert failure["message"] == (f"Port {port['id']} cannot be deleted directly via the port API: has device "
                                    f"owner {port['device_owner']}.")

    ok(remove_interface(demo, router, subnet_id=subnet["id"]))
    ok(demo.delete(f"/v2.0/routers/{router['id']}"), 204)
    refused(demo, lambda: demo.get(f"/v2.0/routers/{router['id']}"), 404, "RouterNotFound")
    assert router_ports(admin, router) == []
    ok(demo.delete(f"/v2.0/subnets/{subnet['id']}"), 204)


# --- extra routes ---

def test_extra_routes_go_through_a_neighbour_on_an_attached_subnet(demo, public, subnet):
    network, _ = public
    router = router_on(demo, network, subnet)
    routes = [{"destination": "192.168.7.0/24", "nexthop": "10.0.0.20"},
              {"destination": "0.0.0.0/0", "nexthop": "10.0.0.21"}]
    updated = ok(update_router(demo, router, routes=routes))["router"]
    assert sorted(updated["routes"], key=str) == sorted(routes, key=str)

    failure = refused(demo, lambda: update_router(demo, router, routes=[
        {"destination": "192.168.8.0/24", "nexthop": "172.16.0.1"}]), 400, "InvalidRoutes")
    assert failure["message"] == ("Invalid format for routes: [{'destination': '192.168.8.0/24', 'nexthop': "
                                "'172.16.0.1'}], the nexthop is not connected with router")
    failure = refused(demo, lambda: update_router(demo, router, routes=[
        {"destination": "192.168.8.0/24", "nexthop": subnet["gateway_ip"]}]), 400, "InvalidRoutes")
    assert failure["message"].endswith("the nexthop is used by router")
    for bad in ([{"destination": "192.168.8.5/24", "nexthop": "10.0.0.20"}],
                [{"destination": "127.0.0.0/8", "nexthop": "10.0.0.20"}],
                [{"destination": "192.168.8.0/24"}],
                [routes[0], routes[0]]):
        refused(demo, lambda b=bad: update_router(demo, router, routes=b), 400, "HTTPBadRequest")
    too_many = [{"destination": f"192.168.{n}.0/24", "nexthop": "10.0.0.20"} for n in range(31)]
    refused(demo, lambda: update_router(demo, router, routes=too_many), 400, "RoutesExhausted")

    failure = refused(demo, lambda: remove_interface(demo, router, subnet_id=subnet["id"]), 409,
                    "RouterInterfaceInUseByRoute")
    assert failure["message"] == (f"Router interface for subnet {subnet['id']} on router {router['id']} cannot be "
                                "deleted, as it is required by one or more routes.")
    assert ok(update_router(demo, router, routes=None))["router"]["routes"] == []
    ok(remove_interface(demo, router, subnet_id=subnet["id"]))


def test_extra_routes_are_added_and_removed_atomically(demo, subnet):
    router = router_on(demo, None, subnet)
    path = f"/v2.0/routers/{router['id']}"
    first = {"destination": "192.168.1.0/24", "nexthop": "10.0.0.5"}
    second = {"destination": "192.168.2.0/24", "nexthop": "10.0.0.6"}
    assert ok(demo.put(path + "/add_extraroutes", json={"router": {"routes": [first]}}))["router"]["routes"] == [first]
    added = ok(demo.put(path + "/add_extraroutes", json={"router": {"routes": [first, second]}}))["router"]
    assert added["routes"] == [first, second]
    removed = ok(demo.put(path + "/remove_extraroutes", json={"router": {"routes": [first, {
        "destination": "192.168.3.0/24", "nexthop": "10.0.0.7"}]}}))["router"]
    assert removed["routes"] == [second]
    refused(demo, lambda: demo.put(path + "/add_extraroutes", json={"router": {"routes": [
        {"destination": "192.168.4.0/24", "nexthop": "172.16.0.1"}]}}), 400, "InvalidRoutes")
    refused(demo, lambda: demo.put(path + "/add_extraroutes", json={"routes": []}), 400, "HTTPBadRequest")


# --- who sees and changes what ---

def test_a_project_sees_and_changes_only_its_own_routers(admin, demo, other, subnet):
    mine = demo.create("routers", "router", name="mine")
    theirs = other.create("routers", "router", name="theirs")
    assert mine["id"] in ids(demo, "routers") and theirs["id"] not in ids(demo, "routers")
    assert {mine["id"], theirs["id"]} <= ids(admin, "routers")
    path = f"/v2.0/routers/{theirs['id']}"
    refused(demo, lambda: demo.get(path), 404, "RouterNotFound")
    refused(demo, lambda: demo.put(path, json={"router": {"name": "x"}}), 404, "RouterNotFound")
    refused(demo, lambda: demo.delete(path), 404, "RouterNotFound")
    refused(demo, lambda: add_interface(demo, theirs, subnet_id=subnet["id"]), 404, "RouterNotFound")
    refused(demo, lambda: add_interface(demo, {"id": MISSING}, subnet_id=subnet["id"]), 404, "RouterNotFound")
    failure = refused(demo, lambda: demo.get(f"/v2.0/routers/{MISSING}"), 404, "RouterNotFound")
    assert failure["message"] == f"Router {MISSING} could not be found"
    # an admin attaches a member's subnet to a member's router
    assert ok(add_interface(admin, mine, subnet_id=subnet["id"]))["project_id"] == demo.project_id


def test_a_project_makes_as_many_routers_as_its_quota(admin, other):
    ok(admin.put(f"/v2.0/quotas/{other.project_id}", json={"quota": {"router": 1}}))
    try:
        existing = len(ids(other, "routers"))
        for _ in range(max(0, 1 - existing)):
            other.create("routers", "router", name="one")
        failure = refused(other, lambda: other.post("/v2.0/routers", json={"router": {"name": "two"}}), 409,
                        "OverQuota")
        assert "router" in failure["message"]
        details = ok(admin.get(f"/v2.0/quotas/{other.project_id}/details"))["quota"]
        assert details["router"]["used"] >= 1
    finally:
        ok(admin.delete(f"/v2.0/quotas/{other.project_id}"), 204)


def test_routers_carry_tags(demo):
    router = demo.create("routers", "router", name="tagged")
    ok(demo.put(f"/v2.0/routers/{router['id']}/tags", json={"tags": ["red", "blue"]}))
    assert show(demo, "routers", router["id"])["tags"] == ["blue", "red"]
    assert router["id"] in ids(demo, "routers", tags="red")


# --- the feed the L3 agents read ---

def test_router_writes_reach_the_feed_with_every_port_they_change(admin, demo, public, subnet):
    network, _ = public
    before = feed_revision(admin)
    router = router_on(demo, network, subnet)
    [gateway] = router_ports(admin, router, "network:router_gateway")
    [interface] = interfaces(admin, router)
    changed = changes_since(admin, before)
    value = router_from_body(changed[("router", router["id"])])  # as the agent's plan sees it
    assert (value.id, value.gateway_network_id, value.enable_snat, value.routes) == (
        router["id"], network["id"], True, ())
    assert value.external_fixed_ips == tuple(FixedIp(**f) for f in gateway["fixed_ips"])
    assert changed[("port", gateway["id"])]["device_owner"] == "network:router_gateway"
    assert changed[("port", interface["id"])]["fixed_ips"] == interface["fixed_ips"]

    before = feed_revision(admin)
    ok(update_router(demo, router, routes=[{"destination": "192.168.9.0/24", "nexthop": "10.0.0.9"}]))
    assert router_from_body(changes_since(admin, before)[("router", router["id"])]).routes == (
        ("192.168.9.0/24", "10.0.0.9"),)

    ok(update_router(demo, router, routes=[]))
    ok(remove_interface(demo, router, subnet_id=subnet["id"]))
    before = feed_revision(admin)
    ok(demo.delete(f"/v2.0/routers/{router['id']}"), 204)
    changed = changes_since(admin, before)
    assert changed[("router", router["id"])] is None and changed[("port", gateway["id"])] is None


# --- where routers run (each test with a cloud of its own: scheduling counts every router) ---

@pytest.fixture
def fresh(tmp_path):
    with cloud_in(tmp_path, with_other=False) as built:
        yield built


def hosts_of(admin, router: dict) -> set[tuple[str, str]]:
    return {(p["binding:host_id"], p["binding:vif_type"]) for p in router_ports(admin, router)}


def test_a_router_runs_on_the_l3_agent_with_fewest_routers_and_all_its_ports_are_bound_there(fresh):
    admin, demo = fresh.admin, fresh.demo
    agents = {"net-a": host_up(admin, "net-a"), "net-b": host_up(admin, "net-b")}
    network, _ = external_network(admin)
    first = router_on(demo, network, private_subnet(demo))
    [(host, vif_type)] = hosts_of(admin, first)
    assert host in agents and vif_type == "ovs"
    second = router_on(demo, network)
    [(other_host, _)] = hosts_of(admin, second)
    assert other_host != host

    [agent] = ok(admin.get(f"/v2.0/routers/{first['id']}/l3-agents"))["agents"]
    assert (agent["id"], agent["host"], agent["agent_type"], agent["alive"]) == (agents[host], host, "L3 agent", True)
    hosted = ok(admin.get(f"/v2.0/agents/{agents[host]}/l3-routers"))["routers"]
    assert [r["id"] for r in hosted] == [first["id"]]
    assert ok(admin.get(f"/v2.0/routers/{demo.create('routers', 'router')['id']}/l3-agents")) == {"agents": []}
    refused(admin, lambda: demo.get(f"/v2.0/routers/{first['id']}/l3-agents"), 403, "PolicyNotAuthorized")
    refused(admin, lambda: demo.get(f"/v2.0/agents/{agents[host]}/l3-routers"), 403, "PolicyNotAuthorized")

    ok(admin.delete(f"/v2.0/agents/{agents[host]}"), 204)  # its routers move to the agent left
    assert hosts_of(admin, first) == {(other_host, "ovs")}


def test_a_router_waits_for_an_l3_agent_and_gets_one_when_an_agent_reports(fresh):
    admin, demo = fresh.admin, fresh.demo
    network, _ = external_network(admin)
    router = router_on(demo, network, private_subnet(demo))
    assert hosts_of(admin, router) == {("", "unbound")}
    heartbeat(admin, "net-a")  # an OVS agent alone runs no routers
    assert hosts_of(admin, router) == {("", "unbound")}

    before = feed_revision(admin)
    host_up(admin, "net-a")
    assert hosts_of(admin, router) == {("net-a", "ovs")}
    changed = changes_since(admin, before)
    assert {p["id"] for p in router_ports(admin, router)} <= {rid for kind, rid in changed if kind == "port"}


def test_an_admin_moves_a_router_between_l3_agents(fresh):
    admin, demo = fresh.admin, fresh.demo
    a, b = host_up(admin, "net-a"), host_up(admin, "net-b")
    router = router_on(demo, None, private_subnet(demo))
    [(host, _)] = hosts_of(admin, router)
    here, there = (a, b) if host == "net-a" else (b, a)
    path = f"/v2.0/agents/{there}/l3-routers"
    refused(admin, lambda: admin.post(path, json={"router_id": router["id"]}), 409, "RouterHostedByL3Agent")
    refused(admin, lambda: admin.delete(f"{path}/{router['id']}"), 409, "RouterNotHostedByL3Agent")
    ovs = heartbeat(admin, "net-a")
    refused(admin, lambda: admin.post(f"/v2.0/agents/{ovs}/l3-routers", json={"router_id": router["id"]}), 404,
            "InvalidL3Agent")
    refused(admin, lambda: demo.post(path, json={"router_id": router["id"]}), 403, "PolicyNotAuthorized")

    ok(admin.delete(f"/v2.0/agents/{here}/l3-routers/{router['id']}"), 204)
    assert hosts_of(admin, router) == {("", "unbound")}
    assert ok(admin.post(path, json={"router_id": router["id"]}), 201) is None
    assert hosts_of(admin, router) == {("net-b" if host == "net-a" else "net-a", "ovs")}


def test_a_dead_or_disabled_l3_agent_gets_no_new_router(fresh):
    admin, demo = fresh.admin, fresh.demo
    dead, disabled = host_up(admin, "net-dead"), host_up(admin, "net-off")
    services = fresh.services
    services.store.write(lambda tx: _age(tx, dead))
    ok(admin.put(f"/v2.0/agents/{disabled}", json={"agent": {"admin_state_up": False}}))
    router = router_on(demo, None, private_subnet(demo))
    assert hosts_of(admin, router) == {("", "unbound")}


def _age(tx, agent_id: str) -> None:
    from datetime import timedelta

    from neutrino.store import tables as t

    row = tx.session.get(t.Agent, agent_id)
    row.heartbeat_timestamp -= timedelta(minutes=10)
