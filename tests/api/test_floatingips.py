"""/v2.0/floatingips as Neutron's L3 plugin answers it: allocation from an external network, association
with a fixed IP through a router (ExternalGatewayForFloatingIPNotFound otherwise), one floating IP per
fixed IP, disassociation, status reported by the L3 agent hosting the router, project isolation, quotas,
the feed, and races between concurrent writers on both stores."""

from __future__ import annotations

import ipaddress
from dataclasses import replace

import pytest

from neutrino.agent.server import ServerApi
from neutrino.config import AgentSettings
from neutrino.model.host_config import HostConfig
from neutrino.model.resources import floating_ip_from_body
from neutrino.services import errors as e
from neutrino.services.context import ADMIN
from tests.api.cloud import module_cloud
from tests.api.expect import error, feed_revision, ids, ok, refused
from tests.api.l3 import (
    changes_since,
    external_network,
    host_up,
    private_subnet,
    remove_interface,
    router_on,
    show,
    update_router,
)
from tests.api.test_concurrency import run_together
from tests.conftest import make_services

MISSING = "5b0f2a57-2f6e-4c59-9a0e-2d1f3c5e7a90"

cloud, admin, demo, other = module_cloud("floatingips")


@pytest.fixture
def public(admin) -> tuple[dict, dict]:
    return external_network(admin)


@pytest.fixture
def subnet(demo) -> dict:
    return private_subnet(demo)


@pytest.fixture
def router(demo, public, subnet) -> dict:
    return router_on(demo, public[0], subnet)


@pytest.fixture
def port(demo, subnet) -> dict:
    return demo.create("ports", "port", network_id=subnet["network_id"], name="instance")


def post(api, **attrs):
    return api.post("/v2.0/floatingips", json={"floatingip": attrs})


def put(api, floating_ip: dict, **attrs):
    return api.put(f"/v2.0/floatingips/{floating_ip['id']}", json={"floatingip": attrs})


def allocate(api, network: dict, **attrs) -> dict:
    return api.create("floatingips", "floatingip", floating_network_id=network["id"], **attrs)


def floating_port(admin, floating_ip: dict) -> dict:
    [found] = ok(admin.get("/v2.0/ports", params={"device_id": floating_ip["id"]}))["ports"]
    return found


# --- allocation ---

def test_a_floating_ip_holds_a_free_address_of_the_external_network_on_a_port_of_its_own(admin, demo, public):
    network, external = public
    floating_ip = allocate(demo, network, description="web")
    address = floating_ip["floating_ip_address"]
    assert ipaddress.ip_address(address) in ipaddress.ip_network(external["cidr"]) and address != external["gateway_ip"]
    assert (floating_ip["floating_network_id"], floating_ip["status"], floating_ip["description"]) == (
        network["id"], "DOWN", "web")
    assert (floating_ip["port_id"], floating_ip["fixed_ip_address"], floating_ip["router_id"]) == (None, None, None)
    assert floating_ip["project_id"] == floating_ip["tenant_id"] == demo.project_id
    assert floating_ip["port_details"] is None and "name" not in floating_ip
    assert show(demo, "floatingips", floating_ip["id"]) == floating_ip
    assert ids(demo, "floatingips", floating_ip_address=address) == {floating_ip["id"]}  # find by address

    held = floating_port(admin, floating_ip)
    assert (held["device_owner"], held["project_id"], held["status"], held["network_id"]) == (
        "network:floatingip", "", "N/A", network["id"])
    assert held["fixed_ips"] == [{"subnet_id": external["id"], "ip_address": address}]
    failure = refused(admin, lambda: admin.delete(f"/v2.0/ports/{held['id']}"), 409, "ServicePortInUse")
    assert "has device owner network:floatingip" in failure["message"]

    ok(demo.delete(f"/v2.0/floatingips/{floating_ip['id']}"), 204)
    error(demo.get(f"/v2.0/floatingips/{floating_ip['id']}"), 404, "FloatingIPNotFound")
    assert ok(admin.get("/v2.0/ports", params={"device_id": floating_ip["id"]}))["ports"] == []
    again = allocate(admin, network, floating_ip_address=address)  # the address is free again
    assert again["floating_ip_address"] == address


def test_an_admin_chooses_the_address_and_anyone_the_subnet(admin, demo, public):
    network, external = public
    chosen = allocate(admin, network, floating_ip_address="203.0.113.200", project_id=demo.project_id)
    assert (chosen["floating_ip_address"], chosen["project_id"]) == ("203.0.113.200", demo.project_id)
    failure = refused(demo, lambda: post(demo, floating_network_id=network["id"], floating_ip_address="203.0.113.201"),
                    403, "PolicyNotAuthorized")
    assert "create_floatingip:floating_ip_address" in failure["message"]
    refused(admin, lambda: post(admin, floating_network_id=network["id"], floating_ip_address="203.0.113.200"),
            409, "IpAddressInUse")
    refused(admin, lambda: post(admin, floating_network_id=network["id"], floating_ip_address="198.51.100.9"),
            400, "InvalidIpForNetwork")
    second = admin.create("subnets", "subnet", network_id=network["id"], cidr="198.51.100.0/24", ip_version=4)
    in_second = allocate(demo, network, subnet_id=second["id"])
    assert ipaddress.ip_address(in_second["floating_ip_address"]) in ipaddress.ip_network("198.51.100.0/24")
    assert "subnet_id" not in in_second


def test_a_floating_ip_comes_only_from_an_external_network_with_ipv4_room(admin, demo, other, subnet):
    internal = subnet["network_id"]
    failure = refused(demo, lambda: post(demo, floating_network_id=internal), 400, "BadRequest")
    assert failure["message"] == f"Bad floatingip request: Network {internal} is not a valid external network."
    refused(demo, lambda: post(demo, floating_network_id=MISSING), 404, "NetworkNotFound")
    theirs = other.create("networks", "network", name="private")
    refused(demo, lambda: post(demo, floating_network_id=theirs["id"]), 404, "NetworkNotFound")
    refused(demo, lambda: post(demo), 400, "HTTPBadRequest")
    refused(demo, lambda: post(demo, floating_network_id="nope"), 400, "HTTPBadRequest")

    empty = admin.create("networks", "network", name="empty", **{"router:external": True})
    failure = refused(demo, lambda: post(demo, floating_network_id=empty["id"]), 400, "BadRequest")
    assert failure["message"] == f"Bad floatingip request: Network {empty['id']} does not contain any IPv4 subnet."
    small, _ = external_network(admin, "192.0.2.0/29")  # 5 addresses besides the gateway
    for _ in range(5):
        allocate(demo, small)
    refused(demo, lambda: post(demo, floating_network_id=small["id"]), 409, "IpAddressGenerationFailure")


# --- association ---

def test_associating_needs_a_router_between_the_ports_subnet_and_the_external_network(admin, demo, public,
                                                                                      subnet, port):
    network, _ = public
    floating_ip = allocate(demo, network)
    message = (f"External network {network['id']} is not reachable from subnet {subnet['id']}.  Therefore, "
               f"cannot associate Port {port['id']} with a Floating IP.")
    failure = refused(demo, lambda: put(demo, floating_ip, port_id=port["id"]), 404,
                    "ExternalGatewayForFloatingIPNotFound")
    assert failure["message"] == message
    router = router_on(demo, None, subnet)  # an interface, no gateway
    assert refused(demo, lambda: put(demo, floating_ip, port_id=port["id"]), 404,
                   "ExternalGatewayForFloatingIPNotFound")["message"] == message
    elsewhere, _ = external_network(admin, "198.51.100.0/24")
    ok(update_router(demo, router, external_gateway_info={"network_id": elsewhere["id"]}))
    refused(demo, lambda: put(demo, floating_ip, port_id=port["id"]), 404, "ExternalGatewayForFloatingIPNotFound")

    ok(update_router(demo, router, external_gateway_info={"network_id": network["id"]}))
    associated = ok(put(demo, floating_ip, port_id=port["id"]))["floatingip"]
    assert (associated["port_id"], associated["fixed_ip_address"], associated["router_id"], associated["status"]) == (
        port["id"], port["fixed_ips"][0]["ip_address"], router["id"], "DOWN")
    assert associated["port_details"] == {
        "name": "instance", "network_id": subnet["network_id"], "mac_address": port["mac_address"],
        "admin_state_up": True, "status": "DOWN", "device_id": "", "device_owner": ""}
    assert associated["revision_number"] > floating_ip["revision_number"]
    assert ids(demo, "floatingips", port_id=port["id"]) == {floating_ip["id"]}


def test_a_floating_ip_is_associated_at_creation_and_disassociated_by_a_null_port(demo, public, router, port):
    network, _ = public
    floating_ip = allocate(demo, network, port_id=port["id"])
    assert (floating_ip["port_id"], floating_ip["router_id"]) == (port["id"], router["id"])
    released = ok(put(demo, floating_ip, port_id=None))["floatingip"]
    assert (released["port_id"], released["fixed_ip_address"], released["router_id"], released["port_details"]) == (
        None, None, None, None)
    kept = ok(put(demo, floating_ip, description="spare"))["floatingip"]
    assert (kept["port_id"], kept["description"]) == (None, "spare")


def test_one_fixed_ip_has_at_most_one_floating_ip(demo, public, router, port):
    network, _ = public
    first = allocate(demo, network, port_id=port["id"])
    second = allocate(demo, network)
    fixed = port["fixed_ips"][0]["ip_address"]
    failure = refused(demo, lambda: put(demo, second, port_id=port["id"]), 409, "FloatingIPPortAlreadyAssociated")
    assert failure["message"] == (
        f"Cannot associate floating IP {second['floating_ip_address']} ({second['id']}) with port {port['id']} "
        f"using fixed IP {fixed}, as that fixed IP already has a floating IP on external network {network['id']}.")
    refused(demo, lambda: post(demo, floating_network_id=network["id"], port_id=port["id"]), 409,
            "FloatingIPPortAlreadyAssociated")
    assert ok(put(demo, first, port_id=port["id"]))["floatingip"]["port_id"] == port["id"]  # no change is fine
    ok(put(demo, first, port_id=None))
    assert ok(put(demo, second, port_id=port["id"]))["floatingip"]["fixed_ip_address"] == fixed


def test_which_fixed_ip_a_floating_ip_goes_to(demo, public, router, subnet):
    network, _ = public
    floating_ip = allocate(demo, network)
    two = demo.create("ports", "port", network_id=subnet["network_id"], fixed_ips=[
        {"subnet_id": subnet["id"], "ip_address": "10.0.0.50"}, {"subnet_id": subnet["id"], "ip_address": "10.0.0.51"}])
    cases = [
        ({"port_id": two["id"]}, f"Port {two['id']} has multiple fixed IPv4 addresses.  Must provide a specific "
                                 "IPv4 address when assigning a floating IP"),
        ({"port_id": two["id"], "fixed_ip_address": "10.0.0.52"}, f"Port {two['id']} does not have fixed ip 10.0.0.52"),
        ({"port_id": two["id"], "fixed_ip_address": "fd00::5"},
         "Cannot process floating IP association with fd00::5, since that is not an IPv4 address"),
        ({"fixed_ip_address": "10.0.0.50"}, "fixed_ip_address cannot be specified without a port_id"),
    ]
    for attrs, message in cases:
        failure = refused(demo, lambda a=attrs: put(demo, floating_ip, **a), 400, "BadRequest")
        assert failure["message"] == f"Bad floatingip request: {message}.", attrs
    bare = demo.create("ports", "port", network_id=subnet["network_id"], fixed_ips=[])
    refused(demo, lambda: put(demo, floating_ip, port_id=bare["id"]), 400, "BadRequest")
    associated = ok(put(demo, floating_ip, port_id=two["id"], fixed_ip_address="10.0.0.51"))["floatingip"]
    assert associated["fixed_ip_address"] == "10.0.0.51"
    moved = ok(put(demo, floating_ip, port_id=two["id"], fixed_ip_address="10.0.0.50"))["floatingip"]
    assert moved["fixed_ip_address"] == "10.0.0.50"


def test_a_dhcp_port_gets_no_floating_ip(admin, demo, public, router, subnet):
    network, _ = public
    dhcp = admin.create("ports", "port", network_id=subnet["network_id"], device_owner="network:dhcp",
                        project_id=demo.project_id)
    floating_ip = allocate(demo, network)
    failure = refused(demo, lambda: put(demo, floating_ip, port_id=dhcp["id"]), 400, "BadRequest")
    assert failure["message"] == "Bad floatingip request: Port %(id)s is unable to be assigned a floating IP."


# --- what a floating IP holds in place, and what lets go of it ---

def test_the_interface_and_gateway_a_floating_ip_uses_stay(demo, public, router, subnet, port):
    network, _ = public
    floating_ip = allocate(demo, network, port_id=port["id"])
    failure = refused(demo, lambda: remove_interface(demo, router, subnet_id=subnet["id"]), 409,
                    "RouterInterfaceInUseByFloatingIP")
    assert failure["message"] == (f"Router interface for subnet {subnet['id']} on router {router['id']} cannot be "
                                "deleted, as it is required by one or more floating IPs.")
    failure = refused(demo, lambda: update_router(demo, router, external_gateway_info=None), 409,
                    "RouterExternalGatewayInUseByFloatingIp")
    assert failure["message"] == (f"Gateway cannot be updated for router {router['id']}, since a gateway to "
                                f"external network {network['id']} is required by one or more floating IPs.")
    refused(demo, lambda: demo.delete(f"/v2.0/routers/{router['id']}"), 409, "RouterInUse")
    refused(demo, lambda: put(demo, {"id": floating_ip["id"]}, port_id=MISSING), 404, "PortNotFound")

    ok(put(demo, floating_ip, port_id=None))
    ok(remove_interface(demo, router, subnet_id=subnet["id"]))
    ok(update_router(demo, router, external_gateway_info=None))


def test_deleting_the_instance_port_lets_go_of_its_floating_ip(admin, demo, public, router, port):
    network, _ = public
    floating_ip = allocate(demo, network, port_id=port["id"])
    before = feed_revision(demo)
    ok(demo.delete(f"/v2.0/ports/{port['id']}"), 204)
    released = show(demo, "floatingips", floating_ip["id"])
    assert (released["port_id"], released["fixed_ip_address"], released["router_id"]) == (None, None, None)
    value = floating_ip_from_body(changes_since(admin, before)[("floatingip", floating_ip["id"])])
    assert (value.floating_ip_address, value.port_id, value.fixed_ip_address, value.router_id, value.status) == (
        floating_ip["floating_ip_address"], None, None, None, "DOWN")


def test_a_fixed_ip_with_a_floating_ip_stays_on_its_port(demo, public, router, subnet, port):
    network, _ = public
    allocate(demo, network, port_id=port["id"])
    fixed = port["fixed_ips"][0]
    failure = refused(demo, lambda: demo.put(f"/v2.0/ports/{port['id']}", json={"port": {"fixed_ips": [
        {"subnet_id": subnet["id"], "ip_address": "10.0.0.99"}]}}), 400, "BadRequest")
    assert failure["message"] == (f"Bad port request: Cannot update the fixed_ips of the port {port['id']}, because "
                                "its original fixed_ip has been associated to a floating ip.")
    kept = ok(demo.put(f"/v2.0/ports/{port['id']}", json={"port": {"fixed_ips": [
        fixed, {"subnet_id": subnet["id"], "ip_address": "10.0.0.99"}]}}))["port"]
    assert len(kept["fixed_ips"]) == 2


def test_deleting_an_external_network_takes_its_spare_floating_ips_but_not_used_ones(admin, demo, subnet, port):
    network, _ = external_network(admin, "198.51.100.0/24")
    spare = allocate(demo, network)
    router = router_on(demo, network, subnet)
    used = allocate(demo, network, port_id=port["id"])
    refused(admin, lambda: admin.delete(f"/v2.0/networks/{network['id']}"), 409, "NetworkInUse")
    ok(put(demo, used, port_id=None))
    ok(remove_interface(demo, router, subnet_id=subnet["id"]))
    ok(demo.delete(f"/v2.0/routers/{router['id']}"), 204)
    ok(admin.delete(f"/v2.0/networks/{network['id']}"), 204)
    assert not {spare["id"], used["id"]} & ids(admin, "floatingips")


# --- who sees and changes what ---

def test_a_project_sees_and_uses_only_its_own_floating_ips_and_ports(admin, demo, other, public, router, port):
    network, _ = public
    mine = allocate(demo, network)
    theirs = allocate(other, network)
    assert mine["id"] in ids(demo, "floatingips") and theirs["id"] not in ids(demo, "floatingips")
    assert {mine["id"], theirs["id"]} <= ids(admin, "floatingips")
    for call in (lambda: demo.get(f"/v2.0/floatingips/{theirs['id']}"), lambda: put(demo, theirs, description="x"),
                 lambda: demo.delete(f"/v2.0/floatingips/{theirs['id']}")):
        refused(demo, call, 404, "FloatingIPNotFound")
    failure = refused(demo, lambda: demo.get(f"/v2.0/floatingips/{MISSING}"), 404, "FloatingIPNotFound")
    assert failure["message"] == f"Floating IP {MISSING} could not be found"
    refused(other, lambda: put(other, theirs, port_id=port["id"]), 404, "PortNotFound")
    # an admin may associate another project's port (Neutron checks ownership for members only)
    assert ok(put(admin, theirs, port_id=port["id"]))["floatingip"]["router_id"] == router["id"]


def test_a_project_allocates_as_many_floating_ips_as_its_quota(admin, other, public):
    network, _ = public
    ok(admin.put(f"/v2.0/quotas/{other.project_id}", json={"quota": {"floatingip": 1}}))
    try:
        while len(ids(other, "floatingips")) < 1:
            allocate(other, network)
        failure = refused(other, lambda: post(other, floating_network_id=network["id"]), 409, "OverQuota")
        assert "floatingip" in failure["message"]
    finally:
        ok(admin.delete(f"/v2.0/quotas/{other.project_id}"), 204)


# --- status, as the L3 agent reports it ---

def test_the_l3_agent_hosting_the_router_reports_the_status(admin, demo, public, subnet, port):
    host_up(admin, "net-fip")
    network, _ = public
    router = router_on(demo, network, subnet)
    hosts = {p["binding:host_id"] for p in ok(admin.get("/v2.0/ports", params={"device_id": router["id"]}))["ports"]}
    [host] = hosts
    floating_ip = allocate(demo, network, port_id=port["id"])
    spare = allocate(demo, network)

    def report(api, on_host: str, statuses: dict):
        return api.put(f"/neutrino/v1/hosts/{on_host}/floatingips/status", json={"floatingips": statuses})

    agent = ServerApi(AgentSettings(host=HostConfig(host=host)), lambda refresh=False: admin.token)
    agent.client = admin.client  # the agent's HTTP calls, to this app
    ignored = agent.report_floatingip_statuses({floating_ip["id"]: "ACTIVE", spare["id"]: "ACTIVE",
                                                MISSING: "ACTIVE"})
    assert sorted(ignored) == sorted([spare["id"], MISSING])
    assert show(demo, "floatingips", floating_ip["id"])["status"] == "ACTIVE"
    assert show(demo, "floatingips", spare["id"])["status"] == "DOWN"
    assert ok(report(admin, "elsewhere", {floating_ip["id"]: "ERROR"}))["ignored"] == [floating_ip["id"]]
    refused(admin, lambda: report(admin, host, {floating_ip["id"]: "GREEN"}), 400, "HTTPBadRequest")
    refused(admin, lambda: report(demo, host, {floating_ip["id"]: "DOWN"}), 403, "PolicyNotAuthorized")
    before = feed_revision(admin)
    assert ok(report(admin, host, {floating_ip["id"]: "ACTIVE"}))["ignored"] == []
    assert feed_revision(admin) == before  # nothing changed, nothing written

    other_port = demo.create("ports", "port", network_id=subnet["network_id"])
    moved = ok(put(demo, floating_ip, port_id=other_port["id"]))["floatingip"]
    assert moved["status"] == "DOWN"  # until the agent has it in place again


# --- concurrent writers (the services, as the controller calls them; both stores) ---

@pytest.fixture
def store_services(settings, database_url):
    services = make_services(replace(settings, db_url=database_url))
    yield services
    services.store.dispose()


def _external(services, cidr: str) -> str:
    network_id = services.store.write(lambda tx: services.networks.create(
        tx, ADMIN, {"name": "public", "router:external": True, "project_id": "p"}))
    services.store.write(lambda tx: services.subnets.create(
        tx, ADMIN, {"network_id": network_id, "ip_version": 4, "cidr": cidr, "enable_dhcp": False,
                    "project_id": "p"}))
    return network_id


def _outcome(call):
    try:
        return "ok", call()
    except e.NeutronError as exc:
        return "error", exc


def test_concurrent_floating_ips_never_share_an_address(store_services):
    services = store_services
    network_id = _external(services, "192.0.2.0/28")  # 13 addresses besides the gateway

    def allocate_until_full(_):
        got = []
        while True:
            kind, value = _outcome(lambda: services.store.write(lambda tx: services.floating_ips.create(
                tx, ADMIN, {"floating_network_id": network_id, "project_id": "p"})))
            if kind == "error":
                return got, value
            got.append(value)

    results = run_together(6, allocate_until_full)
    created = [fip for got, _ in results for fip in got]
    assert all(isinstance(failure, e.IpAddressGenerationFailure) for _, failure in results)
    with services.store.read() as session:
        views = services.floating_ips.views(session, ADMIN, created)
    addresses = [v["floating_ip_address"] for v in views]
    assert len(created) == len(set(addresses)) == 13


def test_concurrent_associations_of_one_fixed_ip_have_one_winner(store_services):
    services = store_services
    network_id = _external(services, "192.0.2.0/24")
    internal = services.store.write(lambda tx: services.networks.create(tx, ADMIN, {"name": "n", "project_id": "p"}))
    subnet_id = services.store.write(lambda tx: services.subnets.create(
        tx, ADMIN, {"network_id": internal, "ip_version": 4, "cidr": "10.0.0.0/24", "project_id": "p"}))
    router_id = services.store.write(lambda tx: services.routers.create(
        tx, ADMIN, {"name": "r", "project_id": "p", "external_gateway_info": {"network_id": network_id}}))
    services.store.write(lambda tx: services.routers.add_interface(tx, ADMIN, router_id, {"subnet_id": subnet_id}))
    port_id = services.store.write(lambda tx: services.ports.create(tx, ADMIN, {"network_id": internal,
                                                                              "project_id": "p"}))
    floating_ips = [services.store.write(lambda tx: services.floating_ips.create(
        tx, ADMIN, {"floating_network_id": network_id, "project_id": "p"})) for _ in range(6)]

    results = run_together(6, lambda i: _outcome(lambda: services.store.write(
        lambda tx: services.floating_ips.update(tx, ADMIN, floating_ips[i], {"port_id": port_id}))))

    losers = [value for kind, value in results if kind == "error"]
    assert len(losers) == 5 and all(isinstance(x, e.FloatingIPPortAlreadyAssociated) for x in losers), results
    with services.store.read() as session:
        views = services.floating_ips.views(session, ADMIN, floating_ips)
    assert [v["port_id"] for v in views].count(port_id) == 1
