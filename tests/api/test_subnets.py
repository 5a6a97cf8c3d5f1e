"""POST/GET/PUT/DELETE /v2.0/subnets as Neutron answers them: computed gateway and pools for IPv4 and
IPv6, explicit pools and gateways, DNS servers and host routes, who may add a subnet to which network,
and bad input of every kind refused with the store unchanged."""

from __future__ import annotations

import pytest

from tests.api.cloud import module_cloud
from tests.api.expect import error
from tests.api.refusal import ids, refused, unchanged

cloud, admin, demo, other = module_cloud("subnets")


@pytest.fixture
def network(demo) -> dict:
    return demo.create("networks", "network", name="subnet-tests")


def post(api, **attrs):
    return api.post("/v2.0/subnets", json={"subnet": attrs})


def subnet_on(api, network: dict, cidr: str, ip_version: int = 4, **attrs) -> dict:
    return api.create("subnets", "subnet", network_id=network["id"], cidr=cidr, ip_version=ip_version, **attrs)


def pools(*ranges: tuple[str, str]) -> list[dict]:
    return [{"start": start, "end": end} for start, end in ranges]


# --- what a subnet looks like ---

def test_an_ipv4_subnet_gets_the_first_address_as_gateway_and_the_rest_as_its_pool(demo, network):
    subnet = subnet_on(demo, network, "10.0.0.0/24", name="v4")
    assert subnet["cidr"] == "10.0.0.0/24"
    assert subnet["ip_version"] == 4
    assert subnet["gateway_ip"] == "10.0.0.1"
    assert subnet["allocation_pools"] == pools(("10.0.0.2", "10.0.0.254"))
    assert subnet["enable_dhcp"] is True
    assert subnet["dns_nameservers"] == [] and subnet["host_routes"] == []
    assert subnet["ipv6_ra_mode"] is None and subnet["ipv6_address_mode"] is None
    assert subnet["subnetpool_id"] is None
    assert subnet["network_id"] == network["id"]
    assert subnet["project_id"] == subnet["tenant_id"] == demo.project_id
    assert demo.get(f"/v2.0/subnets/{subnet['id']}").json()["subnet"] == subnet
    assert demo.get(f"/v2.0/networks/{network['id']}").json()["network"]["subnets"] == [subnet["id"]]


def test_an_ipv6_subnet_pool_runs_to_the_last_address(demo, network):
    subnet = subnet_on(demo, network, "2001:db8::/64", ip_version=6)
    assert subnet["gateway_ip"] == "2001:db8::1"
    assert subnet["allocation_pools"] == pools(("2001:db8::2", "2001:db8::ffff:ffff:ffff:ffff"))
    assert subnet["ip_version"] == 6


def test_cidr_and_gateway_are_stored_in_canonical_form(demo, network):
    subnet = subnet_on(demo, network, "2001:DB8:0:1::/64", ip_version=6, gateway_ip="2001:DB8:0:1::FFFF")
    assert subnet["cidr"] == "2001:db8:0:1::/64"
    assert subnet["gateway_ip"] == "2001:db8:0:1::ffff"


def test_ip_version_is_converted_to_an_integer(demo, network):
    assert subnet_on(demo, network, "10.9.0.0/24", ip_version="4")["ip_version"] == 4


def test_a_subnet_without_gateway_pools_every_usable_address(demo, network):
    subnet = subnet_on(demo, network, "10.0.1.0/24", gateway_ip=None)
    assert subnet["gateway_ip"] is None
    assert subnet["allocation_pools"] == pools(("10.0.1.1", "10.0.1.254"))


def test_an_explicit_gateway_is_left_out_of_the_computed_pools(demo, network):
    subnet = subnet_on(demo, network, "10.0.2.0/24", gateway_ip="10.0.2.100")
    assert subnet["allocation_pools"] == pools(("10.0.2.1", "10.0.2.99"), ("10.0.2.101", "10.0.2.254"))


def test_a_gateway_outside_the_subnet_is_allowed_as_in_neutron(demo, network):
    subnet = subnet_on(demo, network, "10.0.3.0/24", gateway_ip="192.168.0.1")
    assert subnet["gateway_ip"] == "192.168.0.1"
    assert subnet["allocation_pools"] == pools(("10.0.3.1", "10.0.3.254"))


def test_explicit_pools_are_kept_in_address_order(demo, network):
    subnet = subnet_on(demo, network, "10.0.4.0/24",
                       allocation_pools=pools(("10.0.4.100", "10.0.4.110"), ("10.0.4.10", "10.0.4.20")))
    assert subnet["allocation_pools"] == pools(("10.0.4.10", "10.0.4.20"), ("10.0.4.100", "10.0.4.110"))
    assert subnet["gateway_ip"] == "10.0.4.1"


def test_the_same_cidr_may_be_used_on_two_networks(demo, network):
    second = demo.create("networks", "network", name="second")
    one = subnet_on(demo, network, "10.0.5.0/24")
    two = subnet_on(demo, second, "10.0.5.0/24")
    assert one["cidr"] == two["cidr"] and one["id"] != two["id"]


def test_dns_nameservers_and_host_routes_round_trip_and_update(demo, network):
    subnet = subnet_on(demo, network, "10.0.6.0/24", dns_nameservers=["8.8.8.8", "1.1.1.1"],
                       host_routes=[{"destination": "192.168.0.0/16", "nexthop": "10.0.6.254"}])
    assert subnet["dns_nameservers"] == ["8.8.8.8", "1.1.1.1"]
    assert subnet["host_routes"] == [{"destination": "192.168.0.0/16", "nexthop": "10.0.6.254"}]
    path = f"/v2.0/subnets/{subnet['id']}"
    changed = demo.put(path, json={"subnet": {
        "dns_nameservers": ["9.9.9.9"],
        "host_routes": [{"destination": "172.16.0.0/12", "nexthop": "10.0.6.253"},
                        {"destination": "0.0.0.0/0", "nexthop": "10.0.6.252"}]}})
    assert changed.status_code == 200, changed.text
    shown = demo.get(path).json()["subnet"]
    assert shown["dns_nameservers"] == ["9.9.9.9"]
    assert sorted(shown["host_routes"], key=lambda r: r["destination"]) == [
        {"destination": "0.0.0.0/0", "nexthop": "10.0.6.252"},
        {"destination": "172.16.0.0/12", "nexthop": "10.0.6.253"}]
    cleared = demo.put(path, json={"subnet": {"dns_nameservers": [], "host_routes": None}})
    assert cleared.status_code == 200, cleared.text
    assert (cleared.json()["subnet"]["dns_nameservers"], cleared.json()["subnet"]["host_routes"]) == ([], [])


def test_none_for_dns_nameservers_and_host_routes_means_empty(demo, network):
    subnet = subnet_on(demo, network, "10.0.7.0/24", dns_nameservers=None, host_routes=None)
    assert subnet["dns_nameservers"] == [] and subnet["host_routes"] == []


def test_enable_dhcp_round_trips_and_updates(demo, network):
    subnet = subnet_on(demo, network, "10.0.8.0/24", enable_dhcp=False)
    assert subnet["enable_dhcp"] is False
    updated = demo.put(f"/v2.0/subnets/{subnet['id']}", json={"subnet": {"enable_dhcp": True, "name": "dhcp"}})
    assert updated.status_code == 200, updated.text
    assert (updated.json()["subnet"]["enable_dhcp"], updated.json()["subnet"]["name"]) == (True, "dhcp")


@pytest.mark.parametrize("ra, address", [("slaac", "slaac"), ("dhcpv6-stateful", "dhcpv6-stateful"),
                                         ("dhcpv6-stateless", "dhcpv6-stateless"), (None, "slaac"),
                                         ("slaac", None)])
def test_ipv6_modes_round_trip(demo, network, ra, address):
    subnet = subnet_on(demo, network, "2001:db8:1::/64", ip_version=6, ipv6_ra_mode=ra, ipv6_address_mode=address)
    assert (subnet["ipv6_ra_mode"], subnet["ipv6_address_mode"]) == (ra, address)
    assert demo.delete(f"/v2.0/subnets/{subnet['id']}").status_code == 204


def test_a_small_subnet_without_dhcp_is_allowed_but_cannot_turn_dhcp_on(admin, demo, network):
    subnet = subnet_on(demo, network, "10.0.9.0/31", enable_dhcp=False, gateway_ip=None)
    assert subnet["cidr"] == "10.0.9.0/31"
    refused(admin, lambda: demo.put(f"/v2.0/subnets/{subnet['id']}", json={"subnet": {"enable_dhcp": True}}),
            400, "InvalidInput")


def test_dhcp_cannot_be_turned_off_on_a_subnet_with_ipv6_modes(admin, demo, network):
    subnet = subnet_on(demo, network, "2001:db8:9::/64", ip_version=6, ipv6_ra_mode="slaac",
                       ipv6_address_mode="slaac")
    refused(admin, lambda: demo.put(f"/v2.0/subnets/{subnet['id']}", json={"subnet": {"enable_dhcp": False}}),
            400, "InvalidInput")


# --- pools and gateways refused ---

@pytest.mark.parametrize("attrs, status, neutron_type", [
    ({"allocation_pools": pools(("10.1.0.2", "10.1.1.10"))}, 400, "OutOfBoundsAllocationPool"),
    ({"allocation_pools": pools(("10.2.0.2", "10.2.0.10"))}, 400, "OutOfBoundsAllocationPool"),
    ({"allocation_pools": pools(("10.1.0.20", "10.1.0.10"))}, 400, "InvalidAllocationPool"),
    ({"allocation_pools": pools(("10.1.0.10", "2001:db8::1"))}, 400, "InvalidAllocationPool"),
    ({"allocation_pools": pools(("10.1.0.10", "10.1.0.30"), ("10.1.0.20", "10.1.0.40"))}, 409,
     "OverlappingAllocationPools"),
    ({"allocation_pools": pools(("10.1.0.1", "10.1.0.30"))}, 409, "GatewayConflictWithAllocationPools"),
    ({"gateway_ip": "10.1.0.50", "allocation_pools": pools(("10.1.0.2", "10.1.0.100"))}, 409,
     "GatewayConflictWithAllocationPools"),
    ({"allocation_pools": [{"start": "10.1.0.2"}]}, 400, "HTTPBadRequest"),
    ({"allocation_pools": [{"start": "10.1.0.2", "end": "10.1.0.x"}]}, 400, "HTTPBadRequest"),
    ({"allocation_pools": "10.1.0.2-10.1.0.9"}, 400, "HTTPBadRequest"),
    ({"gateway_ip": "10.1.0.0"}, 400, "InvalidInput"),
    ({"gateway_ip": "10.1.0.255"}, 400, "InvalidInput"),
    ({"gateway_ip": "2001:db8::1"}, 400, "InvalidInput"),
    ({"gateway_ip": "10.1.0.300"}, 400, "HTTPBadRequest"),
], ids=["pool-beyond", "pool-elsewhere", "pool-inverted", "pool-mixed-versions", "pools-overlap",
        "gateway-in-default-gateway-pool", "gateway-in-explicit-pool", "pool-missing-end", "pool-bad-ip",
        "pools-not-a-list", "gateway-network-address", "gateway-broadcast", "gateway-other-version",
        "gateway-not-an-address"])
def test_bad_pools_and_gateways_are_refused(admin, demo, network, attrs, status, neutron_type):
    refused(admin, lambda: post(demo, network_id=network["id"], ip_version=4, cidr="10.1.0.0/24", **attrs),
            status, neutron_type)
    assert network["id"] not in {s["network_id"] for s in demo.get("/v2.0/subnets").json()["subnets"]}


@pytest.mark.parametrize("attrs, status, neutron_type", [
    ({"gateway_ip": "10.3.0.20"}, 409, "GatewayConflictWithAllocationPools"),
    ({"allocation_pools": pools(("10.3.0.1", "10.3.0.9"))}, 409, "GatewayConflictWithAllocationPools"),
    ({"allocation_pools": pools(("10.3.0.5", "10.3.1.9"))}, 400, "OutOfBoundsAllocationPool"),
    ({"gateway_ip": "10.3.0.255"}, 400, "InvalidInput"),
    ({"cidr": "10.4.0.0/24"}, 400, "HTTPBadRequest"),
    ({"ip_version": 6}, 400, "HTTPBadRequest"),
    ({"network_id": "7c6c4f7e-52b6-4b8c-a8f4-9a1c1f9a9d11"}, 400, "HTTPBadRequest"),
    ({"ipv6_ra_mode": "slaac"}, 400, "HTTPBadRequest"),
    ({"dns_nameservers": ["1.1.1.1", "1.1.1.1"]}, 400, "HTTPBadRequest"),
], ids=["gateway-into-pool", "pool-over-gateway", "pool-beyond", "gateway-broadcast", "cidr", "ip-version",
        "network", "ra-mode", "duplicate-dns"])
def test_bad_updates_are_refused_and_change_nothing(admin, demo, network, attrs, status, neutron_type):
    subnet = subnet_on(demo, network, "10.3.0.0/24", allocation_pools=pools(("10.3.0.10", "10.3.0.50")))
    refused(admin, lambda: demo.put(f"/v2.0/subnets/{subnet['id']}", json={"subnet": attrs}), status, neutron_type)
    assert demo.get(f"/v2.0/subnets/{subnet['id']}").json()["subnet"] == subnet


def test_pools_and_gateway_are_updatable_together(demo, network):
    subnet = subnet_on(demo, network, "10.3.1.0/24")
    response = demo.put(f"/v2.0/subnets/{subnet['id']}", json={"subnet": {
        "gateway_ip": "10.3.1.254", "allocation_pools": pools(("10.3.1.10", "10.3.1.20"))}})
    assert response.status_code == 200, response.text
    updated = response.json()["subnet"]
    assert updated["gateway_ip"] == "10.3.1.254"
    assert updated["allocation_pools"] == pools(("10.3.1.10", "10.3.1.20"))
    no_gateway = demo.put(f"/v2.0/subnets/{subnet['id']}", json={"subnet": {"gateway_ip": None}})
    assert no_gateway.status_code == 200, no_gateway.text
    assert no_gateway.json()["subnet"]["gateway_ip"] is None


# --- CIDRs and versions refused ---

@pytest.mark.parametrize("cidr", ["10.0.0.0/33", "300.1.1.1/24", "not-a-cidr", "10.0.0.0/", "10.0.0.0", "",
                                  "2001:db8::/129", "10.0.0.0/24 "])
def test_bad_cidrs_are_refused(admin, demo, network, cidr):
    version = 6 if ":" in cidr else 4
    refused(admin, lambda: post(demo, network_id=network["id"], ip_version=version, cidr=cidr),
            400, "HTTPBadRequest")


@pytest.mark.parametrize("cidr, network_cidr", [("10.0.0.5/24", "10.0.0.0/24"), ("2001:db8:5::1/64", "2001:db8:5::/64")])
def test_a_cidr_with_host_bits_names_its_network_as_in_neutron(demo, cidr, network_cidr):
    # Neutron validates type:subnet, then "turns the CIDR into a proper subnet" (db_base_plugin_v2).
    network = demo.create("networks", "network")
    subnet = subnet_on(demo, network, cidr, ip_version=6 if ":" in cidr else 4)
    assert subnet["cidr"] == network_cidr


@pytest.mark.parametrize("cidr, version", [("0.0.0.0/0", 4), ("::/0", 6)])
def test_a_subnet_of_prefix_length_zero_is_invalid_input(admin, demo, network, cidr, version):
    refused(admin, lambda: post(demo, network_id=network["id"], ip_version=version, cidr=cidr, enable_dhcp=False),
            400, "InvalidInput")


@pytest.mark.parametrize("cidr", [123, ["10.0.0.0/24"], {"cidr": "10.0.0.0/24"}])
def test_a_cidr_that_is_not_a_string_is_refused(admin, demo, network, cidr):
    refused(admin, lambda: post(demo, network_id=network["id"], ip_version=4, cidr=cidr), 400, "HTTPBadRequest")


@pytest.mark.parametrize("cidr, version", [("10.0.0.0/24", 6), ("2001:db8::/64", 4)])
def test_a_cidr_of_the_other_ip_version_is_invalid_input(admin, demo, network, cidr, version):
    refused(admin, lambda: post(demo, network_id=network["id"], ip_version=version, cidr=cidr), 400, "InvalidInput")


@pytest.mark.parametrize("version", [5, "six", None, 4.5])
def test_an_unknown_ip_version_is_refused(admin, demo, network, version):
    refused(admin, lambda: post(demo, network_id=network["id"], ip_version=version, cidr="10.0.0.0/24"),
            400, "HTTPBadRequest")


@pytest.mark.parametrize("cidr, version", [("10.0.10.0/31", 4), ("10.0.10.0/32", 4), ("2001:db8:2::/127", 6)])
def test_a_subnet_too_small_for_dhcp_is_refused_while_dhcp_is_on(admin, demo, network, cidr, version):
    refused(admin, lambda: post(demo, network_id=network["id"], ip_version=version, cidr=cidr),
            400, "InvalidInput")


@pytest.mark.parametrize("attrs", [{"ip_version": 4}, {"cidr": "10.0.0.0/24"}, {}])
def test_required_attributes_are_required(admin, demo, network, attrs):
    error_type = "BadRequest" if attrs == {"ip_version": 4} else "HTTPBadRequest"
    refused(admin, lambda: post(demo, network_id=network["id"], **attrs), 400, error_type)


def test_a_network_id_is_required(admin, demo):
    refused(admin, lambda: post(demo, ip_version=4, cidr="10.0.0.0/24"), 400, "HTTPBadRequest")


def test_overlapping_subnets_on_one_network_are_refused(admin, demo, network):
    subnet_on(demo, network, "10.5.0.0/24")
    for cidr in ("10.5.0.0/24", "10.5.0.128/25", "10.5.0.0/16"):
        body = refused(admin, lambda c=cidr: post(demo, network_id=network["id"], ip_version=4, cidr=c),
                       400, "InvalidInput")
        assert "overlaps with another subnet" in body["message"]
    assert len(demo.get(f"/v2.0/networks/{network['id']}").json()["network"]["subnets"]) == 1


# --- IPv6 modes ---

@pytest.mark.parametrize("attrs", [
    {"ip_version": 4, "cidr": "10.6.0.0/24", "ipv6_ra_mode": "slaac"},
    {"ip_version": 4, "cidr": "10.6.0.0/24", "ipv6_address_mode": "slaac"},
    {"ip_version": 6, "cidr": "2001:db8:6::/64", "ipv6_ra_mode": "slaac", "ipv6_address_mode": "dhcpv6-stateful"},
    {"ip_version": 6, "cidr": "2001:db8:6::/80", "ipv6_ra_mode": "slaac", "ipv6_address_mode": "slaac"},
    {"ip_version": 6, "cidr": "2001:db8:6::/64", "ipv6_address_mode": "slaac", "enable_dhcp": False},
], ids=["ra-mode-on-v4", "address-mode-on-v4", "modes-disagree", "slaac-not-64", "modes-without-dhcp"])
def test_inconsistent_ipv6_modes_are_invalid_input(admin, demo, network, attrs):
    refused(admin, lambda: post(demo, network_id=network["id"], **attrs), 400, "InvalidInput")


@pytest.mark.parametrize("mode", ["dhcpv6-off", "SLAAC", "auto", 6])
def test_unknown_ipv6_modes_are_refused(admin, demo, network, mode):
    refused(admin, lambda: post(demo, network_id=network["id"], ip_version=6, cidr="2001:db8:7::/64",
                                ipv6_address_mode=mode), 400, "HTTPBadRequest")


# --- DNS servers and host routes refused ---

@pytest.mark.parametrize("attrs, neutron_type", [
    ({"dns_nameservers": ["1.2.3"]}, "HTTPBadRequest"),
    ({"dns_nameservers": "8.8.8.8"}, "HTTPBadRequest"),
    ({"dns_nameservers": ["8.8.8.8", "8.8.8.8"]}, "HTTPBadRequest"),
    ({"dns_nameservers": [f"10.9.9.{i}" for i in range(6)]}, "DNSNameServersExhausted"),
    ({"host_routes": [{"destination": "192.168.0.0/16"}]}, "HTTPBadRequest"),
    ({"host_routes": [{"destination": "192.168.0.0", "nexthop": "10.8.0.1"}]}, "HTTPBadRequest"),
    ({"host_routes": [{"destination": "192.168.0.0/16", "nexthop": "nowhere"}]}, "HTTPBadRequest"),
    ({"host_routes": [{"destination": "2001:db8::/64", "nexthop": "10.8.0.1"}]}, "InvalidInput"),
    ({"host_routes": [{"destination": "192.168.0.0/16", "nexthop": "2001:db8::1"}]}, "InvalidInput"),
    ({"host_routes": [{"destination": f"192.168.{i}.0/24", "nexthop": "10.8.0.1"} for i in range(21)]},
     "HostRoutesExhausted"),
], ids=["dns-bad-ip", "dns-not-list", "dns-duplicate", "dns-too-many", "route-no-nexthop",
        "route-not-a-cidr", "route-bad-nexthop", "route-v6-destination", "route-v6-nexthop", "routes-too-many"])
def test_bad_dns_servers_and_host_routes_are_refused(admin, demo, network, attrs, neutron_type):
    refused(admin, lambda: post(demo, network_id=network["id"], ip_version=4, cidr="10.8.0.0/24", **attrs),
            400, neutron_type)


# --- which network ---

def test_a_missing_network_is_not_found(admin, demo):
    refused(admin, lambda: post(demo, network_id="7c6c4f7e-52b6-4b8c-a8f4-9a1c1f9a9d11", ip_version=4,
                                cidr="10.0.0.0/24"), 404, "NetworkNotFound")


def test_a_network_id_that_is_not_a_uuid_is_refused(admin, demo):
    refused(admin, lambda: post(demo, network_id="net1", ip_version=4, cidr="10.0.0.0/24"), 400, "HTTPBadRequest")


def test_a_member_cannot_add_a_subnet_to_another_projects_network(admin, demo, other):
    private = other.create("networks", "network", name="others")
    refused(admin, lambda: post(demo, network_id=private["id"], ip_version=4, cidr="10.0.0.0/24"),
            404, "NetworkNotFound")
    shared = admin.create("networks", "network", shared=True)
    refused(admin, lambda: post(demo, network_id=shared["id"], ip_version=4, cidr="10.0.0.0/24"),
            403, "PolicyNotAuthorized")
    # Neutron's ownership check answers for a visible network that is not shared.
    external = admin.create("networks", "network", **{"router:external": True})
    refused(admin, lambda: post(demo, network_id=external["id"], ip_version=4, cidr="10.0.0.0/24"),
            403, "HTTPForbidden")


def test_admin_may_add_a_subnet_to_any_network(admin, demo):
    network = demo.create("networks", "network")
    subnet = admin.create("subnets", "subnet", network_id=network["id"], ip_version=4, cidr="10.10.0.0/24",
                          project_id=demo.project_id)
    assert subnet["project_id"] == demo.project_id
    assert subnet["id"] in ids(demo, "subnets")


# --- delete ---

def test_a_subnet_with_allocated_ports_cannot_be_deleted(admin, demo, network):
    subnet = subnet_on(demo, network, "10.11.0.0/24")
    port = demo.create("ports", "port", network_id=network["id"])
    refused(admin, lambda: demo.delete(f"/v2.0/subnets/{subnet['id']}"), 409, "SubnetInUse")
    assert demo.delete(f"/v2.0/ports/{port['id']}").status_code == 204
    assert demo.delete(f"/v2.0/subnets/{subnet['id']}").status_code == 204
    error(demo.get(f"/v2.0/subnets/{subnet['id']}"), 404, "SubnetNotFound")
    assert demo.get(f"/v2.0/networks/{network['id']}").json()["network"]["subnets"] == []


def test_a_missing_subnet_is_not_found_on_every_verb(admin):
    missing = "7c6c4f7e-52b6-4b8c-a8f4-9a1c1f9a9d11"
    with unchanged(admin):
        error(admin.get(f"/v2.0/subnets/{missing}"), 404, "SubnetNotFound")
        error(admin.put(f"/v2.0/subnets/{missing}", json={"subnet": {"name": "x"}}), 404, "SubnetNotFound")
        error(admin.delete(f"/v2.0/subnets/{missing}"), 404, "SubnetNotFound")


# --- bulk ---

def test_bulk_create_is_atomic(admin, demo, network):
    body = {"subnets": [
        {"network_id": network["id"], "ip_version": 4, "cidr": "10.12.0.0/24"},
        {"network_id": network["id"], "ip_version": 6, "cidr": "2001:db8:12::/64"},
        {"network_id": network["id"], "ip_version": 4, "cidr": "10.12.0.128/25"},
    ]}
    refused(admin, lambda: demo.post("/v2.0/subnets", json=body), 400, "InvalidInput")
    assert demo.get(f"/v2.0/networks/{network['id']}").json()["network"]["subnets"] == []
    body["subnets"].pop()
    created = demo.post("/v2.0/subnets", json=body)
    assert created.status_code == 201, created.text
    assert [s["ip_version"] for s in created.json()["subnets"]] == [4, 6]
