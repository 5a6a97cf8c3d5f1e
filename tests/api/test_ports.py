"""POST/GET/PUT/DELETE /v2.0/ports as Neutron answers them: fixed IPs through IPAM, MAC addresses,
security groups, port security and allowed address pairs, binding, filters, and bad input of every
kind refused with the store unchanged."""

from __future__ import annotations

import ipaddress

import pytest

from tests.api.cloud import module_cloud
from tests.api.expect import error
from tests.api.refusal import ids, refused, unchanged

MISSING = "7c6c4f7e-52b6-4b8c-a8f4-9a1c1f9a9d11"


cloud, admin, demo, other = module_cloud("ports")


@pytest.fixture
def network(demo) -> dict:
    return demo.create("networks", "network", name="port-tests")


@pytest.fixture
def subnet(demo, network) -> dict:
    return demo.create("subnets", "subnet", network_id=network["id"], ip_version=4, cidr="10.0.0.0/24")


def post(api, **attrs):
    return api.post("/v2.0/ports", json={"port": attrs})


def put(api, port: dict, **attrs):
    return api.put(f"/v2.0/ports/{port['id']}", json={"port": attrs})


def show(api, port: dict) -> dict:
    response = api.get(f"/v2.0/ports/{port['id']}")
    assert response.status_code == 200, response.text
    return response.json()["port"]


def addresses(port: dict) -> list[str]:
    return [entry["ip_address"] for entry in port["fixed_ips"]]


def default_group(api) -> str:
    groups = api.get("/v2.0/security_groups", params={"name": "default"}).json()["security_groups"]
    return next(g["id"] for g in groups if g["project_id"] == api.project_id)


# --- defaults and automatic addresses ---

def test_a_new_port_gets_an_address_from_the_pool_and_neutrons_defaults(demo, network, subnet):
    port = demo.create("ports", "port", network_id=network["id"], name="p1")
    [fixed] = port["fixed_ips"]
    assert fixed["subnet_id"] == subnet["id"]
    assert ipaddress.ip_address("10.0.0.2") <= ipaddress.ip_address(fixed["ip_address"]) <= \
        ipaddress.ip_address("10.0.0.254")
    assert port["mac_address"].startswith("fa:16:3e:")
    assert port["status"] == "DOWN"
    assert port["admin_state_up"] is True
    assert (port["device_id"], port["device_owner"]) == ("", "")
    assert port["security_groups"] == [default_group(demo)]
    assert port["port_security_enabled"] is True
    assert port["allowed_address_pairs"] == []
    assert port["binding:vnic_type"] == "normal"
    assert port["project_id"] == port["tenant_id"] == demo.project_id
    assert show(demo, port) == port


def test_binding_details_are_for_admin_eyes_only(admin, demo, network, subnet):
    port = demo.create("ports", "port", network_id=network["id"])
    for hidden in ("binding:host_id", "binding:vif_type", "binding:vif_details", "binding:profile"):
        assert hidden not in port and hidden not in show(demo, port)
    as_admin = show(admin, port)
    assert (as_admin["binding:host_id"], as_admin["binding:vif_type"]) == ("", "unbound")


def test_a_dual_stack_network_gives_one_address_of_each_version(demo, network, subnet):
    v6 = demo.create("subnets", "subnet", network_id=network["id"], ip_version=6, cidr="2001:db8::/64")
    port = demo.create("ports", "port", network_id=network["id"])
    by_subnet = {entry["subnet_id"]: entry["ip_address"] for entry in port["fixed_ips"]}
    assert set(by_subnet) == {subnet["id"], v6["id"]}
    assert ipaddress.ip_address(by_subnet[v6["id"]]) in ipaddress.ip_network("2001:db8::/64")


def test_a_port_on_a_network_without_subnets_has_no_address(demo, network):
    assert demo.create("ports", "port", network_id=network["id"])["fixed_ips"] == []


def test_a_network_device_port_gets_no_security_group(admin, network, subnet):
    port = admin.create("ports", "port", network_id=network["id"], device_owner="network:dhcp")
    assert port["security_groups"] == []


# --- requested addresses ---

def test_an_explicit_ip_address_is_given_on_the_subnet_holding_it(demo, network, subnet):
    port = demo.create("ports", "port", network_id=network["id"], fixed_ips=[{"ip_address": "10.0.0.5"}])
    assert port["fixed_ips"] == [{"subnet_id": subnet["id"], "ip_address": "10.0.0.5"}]


def test_an_address_outside_the_pools_but_inside_the_subnet_may_be_asked_for(demo, network):
    subnet = demo.create("subnets", "subnet", network_id=network["id"], ip_version=4, cidr="10.0.0.0/24",
                         allocation_pools=[{"start": "10.0.0.100", "end": "10.0.0.110"}])
    port = demo.create("ports", "port", network_id=network["id"], fixed_ips=[{"ip_address": "10.0.0.7"}])
    assert port["fixed_ips"] == [{"subnet_id": subnet["id"], "ip_address": "10.0.0.7"}]


def test_an_explicit_subnet_id_picks_the_subnet(demo, network, subnet):
    second = demo.create("subnets", "subnet", network_id=network["id"], ip_version=4, cidr="10.0.1.0/24")
    port = demo.create("ports", "port", network_id=network["id"], fixed_ips=[{"subnet_id": second["id"]}])
    [fixed] = port["fixed_ips"]
    assert fixed["subnet_id"] == second["id"]
    assert ipaddress.ip_address(fixed["ip_address"]) in ipaddress.ip_network("10.0.1.0/24")
    wanted = "10.0.1.9" if fixed["ip_address"] != "10.0.1.9" else "10.0.1.10"  # the first pick was random
    both = demo.create("ports", "port", network_id=network["id"],
                       fixed_ips=[{"subnet_id": second["id"], "ip_address": wanted}, {"subnet_id": subnet["id"]}])
    assert {e["subnet_id"] for e in both["fixed_ips"]} == {subnet["id"], second["id"]}
    assert wanted in addresses(both)


@pytest.mark.parametrize("fixed_ip, neutron_type", [
    ({"ip_address": "10.1.0.5"}, "InvalidIpForNetwork"),
    ({"ip_address": "2001:db8::5"}, "InvalidIpForNetwork"),
    ({"ip_address": "10.0.0.0"}, "InvalidIpForNetwork"),
    ({"ip_address": "10.0.0.255"}, "InvalidIpForNetwork"),
    ({"subnet": True, "ip_address": "10.1.0.5"}, "InvalidIpForSubnet"),
    ({"subnet": True, "ip_address": "10.0.0.0"}, "InvalidIpForSubnet"),
    ({"subnet": True, "ip_address": "10.0.0.255"}, "InvalidIpForSubnet"),
])
def test_an_address_the_subnet_cannot_hold_is_refused(admin, demo, network, subnet, fixed_ip, neutron_type):
    entry = {"ip_address": fixed_ip["ip_address"]}
    if fixed_ip.get("subnet"):
        entry["subnet_id"] = subnet["id"]
    refused(admin, lambda: post(demo, network_id=network["id"], fixed_ips=[entry]), 400, neutron_type)
    assert ids(demo, "ports", network_id=network["id"]) == set()


def test_a_subnet_of_another_network_is_invalid_input(admin, demo, network, subnet):
    elsewhere = demo.create("networks", "network")
    refused(admin, lambda: post(demo, network_id=elsewhere["id"], fixed_ips=[{"subnet_id": subnet["id"]}]),
            400, "InvalidInput")


def test_a_missing_subnet_is_not_found(admin, demo, network, subnet):
    refused(admin, lambda: post(demo, network_id=network["id"], fixed_ips=[{"subnet_id": MISSING}]),
            404, "SubnetNotFound")


def test_an_address_in_use_is_a_conflict(admin, demo, network, subnet):
    demo.create("ports", "port", network_id=network["id"], fixed_ips=[{"ip_address": "10.0.0.5"}])
    refused(admin, lambda: post(demo, network_id=network["id"], fixed_ips=[{"ip_address": "10.0.0.5"}]),
            409, "IpAddressInUse")
    refused(admin, lambda: post(demo, network_id=network["id"],
                                fixed_ips=[{"subnet_id": subnet["id"], "ip_address": "10.0.0.5"}]),
            409, "IpAddressInUse")
    assert len(ids(demo, "ports", network_id=network["id"])) == 1


def test_the_same_address_on_another_network_is_fine(demo, network, subnet):
    elsewhere = demo.create("networks", "network")
    demo.create("subnets", "subnet", network_id=elsewhere["id"], ip_version=4, cidr="10.0.0.0/24")
    one = demo.create("ports", "port", network_id=network["id"], fixed_ips=[{"ip_address": "10.0.0.5"}])
    two = demo.create("ports", "port", network_id=elsewhere["id"], fixed_ips=[{"ip_address": "10.0.0.5"}])
    assert addresses(one) == addresses(two) == ["10.0.0.5"]


@pytest.mark.parametrize("fixed_ips, neutron_type", [
    ([{"ip_address": "10.0.0.5"}, {"ip_address": "10.0.0.5"}], "HTTPBadRequest"),
    ([{"ip_address": "10.0.0.300"}], "HTTPBadRequest"),
    ([{"subnet_id": "not-a-uuid"}], "HTTPBadRequest"),
    (["10.0.0.5"], "HTTPBadRequest"),
    ({"ip_address": "10.0.0.5"}, "HTTPBadRequest"),
    ([{}], "InvalidInput"),
], ids=["duplicate", "bad-ip", "bad-subnet-id", "not-a-dict", "not-a-list", "empty-entry"])
def test_malformed_fixed_ips_are_refused(admin, demo, network, subnet, fixed_ips, neutron_type):
    refused(admin, lambda: post(demo, network_id=network["id"], fixed_ips=fixed_ips), 400, neutron_type)


def test_a_full_subnet_cannot_give_another_address(admin, demo, network):
    # A /29 holds .1 (gateway) to .6: five addresses for ports.
    demo.create("subnets", "subnet", network_id=network["id"], ip_version=4, cidr="10.9.0.0/29")
    taken = {addresses(demo.create("ports", "port", network_id=network["id"]))[0] for _ in range(5)}
    assert taken == {f"10.9.0.{i}" for i in range(2, 7)}
    refused(admin, lambda: post(demo, network_id=network["id"]), 409, "IpAddressGenerationFailure")


def test_deleting_a_port_frees_its_address_for_reuse(demo, network, subnet):
    port = demo.create("ports", "port", network_id=network["id"], fixed_ips=[{"ip_address": "10.0.0.77"}])
    assert demo.delete(f"/v2.0/ports/{port['id']}").status_code == 204
    error(demo.get(f"/v2.0/ports/{port['id']}"), 404, "PortNotFound")
    again = demo.create("ports", "port", network_id=network["id"], fixed_ips=[{"ip_address": "10.0.0.77"}])
    assert addresses(again) == ["10.0.0.77"]


def test_a_freed_address_of_a_full_subnet_is_given_again(admin, demo, network):
    demo.create("subnets", "subnet", network_id=network["id"], ip_version=4, cidr="10.9.1.0/30")
    only = demo.create("ports", "port", network_id=network["id"])
    assert addresses(only) == ["10.9.1.2"]
    error(post(demo, network_id=network["id"]), 409, "IpAddressGenerationFailure")
    assert demo.delete(f"/v2.0/ports/{only['id']}").status_code == 204
    assert addresses(demo.create("ports", "port", network_id=network["id"])) == ["10.9.1.2"]


# --- updating addresses ---

def test_fixed_ips_can_be_added_replaced_and_removed(demo, network, subnet):
    second = demo.create("subnets", "subnet", network_id=network["id"], ip_version=4, cidr="10.0.1.0/24")
    port = demo.create("ports", "port", network_id=network["id"], fixed_ips=[{"ip_address": "10.0.0.10"}])

    added = put(demo, port, fixed_ips=[{"ip_address": "10.0.0.10"}, {"subnet_id": second["id"]}])
    assert added.status_code == 200, added.text
    by_subnet = {e["subnet_id"]: e["ip_address"] for e in added.json()["port"]["fixed_ips"]}
    assert by_subnet[subnet["id"]] == "10.0.0.10" and second["id"] in by_subnet

    replaced = put(demo, port, fixed_ips=[{"ip_address": "10.0.0.20"}])
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["port"]["fixed_ips"] == [{"subnet_id": subnet["id"], "ip_address": "10.0.0.20"}]

    removed = put(demo, port, fixed_ips=[])
    assert removed.status_code == 200, removed.text
    assert removed.json()["port"]["fixed_ips"] == []
    # The addresses went back to the subnet.
    reuse = demo.create("ports", "port", network_id=network["id"],
                        fixed_ips=[{"ip_address": "10.0.0.10"}, {"ip_address": "10.0.0.20"}])
    assert sorted(addresses(reuse)) == ["10.0.0.10", "10.0.0.20"]


def test_naming_only_the_subnet_of_an_address_keeps_the_address(demo, network, subnet):
    port = demo.create("ports", "port", network_id=network["id"], fixed_ips=[{"ip_address": "10.0.0.30"}])
    kept = put(demo, port, fixed_ips=[{"subnet_id": subnet["id"]}])
    assert kept.status_code == 200, kept.text
    assert kept.json()["port"]["fixed_ips"] == [{"subnet_id": subnet["id"], "ip_address": "10.0.0.30"}]


def test_updating_to_an_address_in_use_changes_nothing(admin, demo, network, subnet):
    demo.create("ports", "port", network_id=network["id"], fixed_ips=[{"ip_address": "10.0.0.40"}])
    port = demo.create("ports", "port", network_id=network["id"], fixed_ips=[{"ip_address": "10.0.0.41"}])
    refused(admin, lambda: put(demo, port, fixed_ips=[{"ip_address": "10.0.0.40"}]), 409, "IpAddressInUse")
    refused(admin, lambda: put(demo, port, fixed_ips=[{"ip_address": "10.5.0.1"}]), 400, "InvalidIpForNetwork")
    assert show(demo, port) == port


# --- MAC addresses ---

def test_an_explicit_mac_address_is_kept_in_canonical_form(demo, network):
    port = demo.create("ports", "port", network_id=network["id"], mac_address="FA-16-3E-12-34-56")
    assert port["mac_address"] == "fa:16:3e:12:34:56"


def test_a_mac_address_is_unique_within_its_network_only(admin, demo, network):
    demo.create("ports", "port", network_id=network["id"], mac_address="fa:16:3e:aa:bb:cc")
    refused(admin, lambda: post(demo, network_id=network["id"], mac_address="FA:16:3E:AA:BB:CC"),
            409, "MacAddressInUse")
    elsewhere = demo.create("networks", "network")
    assert demo.create("ports", "port", network_id=elsewhere["id"],
                       mac_address="fa:16:3e:aa:bb:cc")["mac_address"] == "fa:16:3e:aa:bb:cc"


def test_changing_to_a_mac_in_use_is_a_conflict(admin, demo, network):
    demo.create("ports", "port", network_id=network["id"], mac_address="fa:16:3e:aa:bb:01")
    port = demo.create("ports", "port", network_id=network["id"], mac_address="fa:16:3e:aa:bb:02")
    refused(admin, lambda: put(demo, port, mac_address="fa:16:3e:aa:bb:01"), 409, "MacAddressInUse")
    assert show(demo, port)["mac_address"] == "fa:16:3e:aa:bb:02"


@pytest.mark.parametrize("mac", ["zz:16:3e:00:00:01", "fa:16:3e:00:00", "fa:16:3e:00:00:01:02", "00:00:00:00:00:00",
                                 "ff:ff:ff:ff:ff:ff", 12345, None, "", "fa:16:3e:00:00:1"])
def test_an_invalid_mac_address_is_refused(admin, demo, network, mac):
    refused(admin, lambda: post(demo, network_id=network["id"], mac_address=mac), 400, "HTTPBadRequest")


# --- security groups and port security ---

def test_explicit_security_groups_replace_the_default(demo, network, subnet):
    group = demo.create("security_groups", "security_group", name="web")
    port = demo.create("ports", "port", network_id=network["id"], security_groups=[group["id"]])
    assert port["security_groups"] == [group["id"]]
    both = put(demo, port, security_groups=[group["id"], default_group(demo)])
    assert both.status_code == 200, both.text
    assert sorted(both.json()["port"]["security_groups"]) == sorted([group["id"], default_group(demo)])
    none = demo.create("ports", "port", network_id=network["id"], security_groups=[])
    assert none["security_groups"] == []


def test_an_unknown_or_foreign_security_group_is_not_found(admin, demo, other, network, subnet):
    foreign = other.create("security_groups", "security_group", name="theirs")
    for group_id in (MISSING, foreign["id"]):
        refused(admin, lambda g=group_id: post(demo, network_id=network["id"], security_groups=[g]),
                404, "SecurityGroupNotFound")
    port = demo.create("ports", "port", network_id=network["id"])
    refused(admin, lambda: put(demo, port, security_groups=[foreign["id"]]), 404, "SecurityGroupNotFound")
    assert show(demo, port) == port


@pytest.mark.parametrize("groups", ["default", ["not-a-uuid"], [MISSING, MISSING], [None]])
def test_malformed_security_groups_are_refused(admin, demo, network, groups):
    refused(admin, lambda: post(demo, network_id=network["id"], security_groups=groups), 400, "HTTPBadRequest")


def test_a_port_without_port_security_gets_no_groups(demo, network, subnet):
    port = demo.create("ports", "port", network_id=network["id"], port_security_enabled=False)
    assert (port["port_security_enabled"], port["security_groups"]) == (False, [])


def test_a_network_without_port_security_gives_ports_none(demo):
    network = demo.create("networks", "network", port_security_enabled=False)
    port = demo.create("ports", "port", network_id=network["id"])
    assert (port["port_security_enabled"], port["security_groups"]) == (False, [])


def test_security_groups_need_port_security(admin, demo, network, subnet):
    refused(admin, lambda: post(demo, network_id=network["id"], port_security_enabled=False,
                                security_groups=[default_group(demo)]),
            400, "PortSecurityAndIPRequiredForSecurityGroups")


def test_port_security_cannot_be_disabled_while_groups_are_attached(admin, demo, network, subnet):
    port = demo.create("ports", "port", network_id=network["id"])
    refused(admin, lambda: put(demo, port, port_security_enabled=False), 409, "PortSecurityPortHasSecurityGroup")
    assert show(demo, port)["port_security_enabled"] is True
    off = put(demo, port, port_security_enabled=False, security_groups=[])
    assert off.status_code == 200, off.text
    assert (off.json()["port"]["port_security_enabled"], off.json()["port"]["security_groups"]) == (False, [])
    refused(admin, lambda: put(demo, port, security_groups=[default_group(demo)]),
            400, "PortSecurityAndIPRequiredForSecurityGroups")


# --- allowed address pairs ---

def test_allowed_address_pairs_take_the_port_mac_unless_given(demo, network, subnet):
    port = demo.create("ports", "port", network_id=network["id"], allowed_address_pairs=[
        {"ip_address": "10.0.0.200"},
        {"ip_address": "10.0.0.201", "mac_address": "fa:16:3e:01:02:03"},
        {"ip_address": "192.168.0.0/24"}])
    pairs = {p["ip_address"]: p["mac_address"] for p in port["allowed_address_pairs"]}
    assert pairs == {"10.0.0.200": port["mac_address"], "10.0.0.201": "fa:16:3e:01:02:03",
                     "192.168.0.0/24": port["mac_address"]}
    cleared = put(demo, port, allowed_address_pairs=[])
    assert cleared.status_code == 200, cleared.text
    assert cleared.json()["port"]["allowed_address_pairs"] == []


def test_allowed_address_pairs_need_port_security(admin, demo, network, subnet):
    refused(admin, lambda: post(demo, network_id=network["id"], port_security_enabled=False,
                                allowed_address_pairs=[{"ip_address": "10.0.0.200"}]),
            409, "AddressPairAndPortSecurityRequired")
    port = demo.create("ports", "port", network_id=network["id"], port_security_enabled=False)
    refused(admin, lambda: put(demo, port, allowed_address_pairs=[{"ip_address": "10.0.0.200"}]),
            409, "AddressPairAndPortSecurityRequired")
    paired = demo.create("ports", "port", network_id=network["id"], security_groups=[],
                         allowed_address_pairs=[{"ip_address": "10.0.0.201"}])
    refused(admin, lambda: put(demo, paired, port_security_enabled=False), 409, "AddressPairAndPortSecurityRequired")


@pytest.mark.parametrize("pairs, neutron_type", [
    ([{"ip_address": "10.0.0.9"}, {"ip_address": "10.0.0.9"}], "DuplicateAddressPairInRequest"),
    ([{"mac_address": "fa:16:3e:01:02:03"}], "AllowedAddressPairsMissingIP"),
    ([{"ip_address": f"10.0.1.{i}"} for i in range(11)], "AllowedAddressPairExhausted"),
    ([{"ip_address": "10.0.0.300"}], "HTTPBadRequest"),
    ([{"ip_address": "10.0.0.9", "mac_address": "nope"}], "HTTPBadRequest"),
    ([{"ip_address": "10.0.0.9", "colour": "red"}], "HTTPBadRequest"),
    ("10.0.0.9", "HTTPBadRequest"),
], ids=["duplicate", "missing-ip", "too-many", "bad-ip", "bad-mac", "unknown-key", "not-a-list"])
def test_malformed_address_pairs_are_refused(admin, demo, network, pairs, neutron_type):
    refused(admin, lambda: post(demo, network_id=network["id"], allowed_address_pairs=pairs), 400, neutron_type)


# --- binding ---

def test_only_admin_binds_a_port_to_a_host(admin, demo, network, subnet):
    refused(admin, lambda: post(demo, network_id=network["id"], **{"binding:host_id": "compute1"}),
            403, "PolicyNotAuthorized")
    port = demo.create("ports", "port", network_id=network["id"])
    refused(admin, lambda: put(demo, port, **{"binding:host_id": "compute1"}), 403, "PolicyNotAuthorized")
    refused(admin, lambda: put(demo, port, **{"binding:profile": {"a": 1}}), 403, "PolicyNotAuthorized")
    bound = put(admin, port, **{"binding:host_id": "compute1"})
    assert bound.status_code == 200, bound.text
    assert bound.json()["port"]["binding:host_id"] == "compute1"


def test_binding_to_a_host_without_an_agent_fails_as_in_ml2(admin, network, subnet):
    port = admin.create("ports", "port", network_id=network["id"], **{"binding:host_id": "no-such-host"})
    assert port["binding:vif_type"] == "binding_failed"
    unbound = put(admin, port, **{"binding:host_id": ""})
    assert unbound.status_code == 200, unbound.text
    assert unbound.json()["port"]["binding:vif_type"] == "unbound"


@pytest.mark.parametrize("attrs", [{"status": "ACTIVE"}, {"binding:vif_type": "ovs"}, {"id": MISSING},
                                   {"binding:vif_details": {}}, {"ip_allocation": "deferred"}])
def test_read_only_port_attributes_are_refused(admin, network, attrs):
    refused(admin, lambda: post(admin, network_id=network["id"], **attrs), 400, "HTTPBadRequest")


def test_the_network_of_a_port_cannot_change(admin, demo, network):
    port = demo.create("ports", "port", network_id=network["id"])
    elsewhere = demo.create("networks", "network")
    refused(admin, lambda: put(demo, port, network_id=elsewhere["id"]), 400, "HTTPBadRequest")


# --- which network ---

def test_a_missing_network_is_not_found(admin, demo):
    refused(admin, lambda: post(demo, network_id=MISSING), 404, "NetworkNotFound")


@pytest.mark.parametrize("attrs", [{}, {"network_id": "net1"}, {"network_id": None}])
def test_a_network_id_is_required(admin, demo, attrs):
    refused(admin, lambda: post(demo, **attrs), 400, "HTTPBadRequest")


def test_a_missing_port_is_not_found_on_every_verb(admin):
    with unchanged(admin):
        error(admin.get(f"/v2.0/ports/{MISSING}"), 404, "PortNotFound")
        error(admin.put(f"/v2.0/ports/{MISSING}", json={"port": {"name": "x"}}), 404, "PortNotFound")
        error(admin.delete(f"/v2.0/ports/{MISSING}"), 404, "PortNotFound")


# --- filters ---

def test_ports_filter_by_device_and_fixed_ips(demo, network, subnet):
    vm = demo.create("ports", "port", network_id=network["id"], device_id="vm-1", device_owner="compute:nova",
                     fixed_ips=[{"ip_address": "10.0.0.5"}])
    other_vm = demo.create("ports", "port", network_id=network["id"], device_id="vm-2",
                           device_owner="compute:nova", fixed_ips=[{"ip_address": "10.0.0.55"}])
    second = demo.create("subnets", "subnet", network_id=network["id"], ip_version=4, cidr="10.0.1.0/24")
    on_second = demo.create("ports", "port", network_id=network["id"], fixed_ips=[{"subnet_id": second["id"]}])
    assert ids(demo, "ports", device_id="vm-1") >= {vm["id"]}
    assert vm["id"] in ids(demo, "ports", device_owner="compute:nova")
    assert other_vm["id"] not in ids(demo, "ports", device_id="vm-1")
    assert ids(demo, "ports", network_id=network["id"], fixed_ips="ip_address=10.0.0.5") == {vm["id"]}
    assert ids(demo, "ports", network_id=network["id"], fixed_ips=f"subnet_id={second['id']}") == {on_second["id"]}
    assert ids(demo, "ports", network_id=network["id"], fixed_ips=f"subnet_id={subnet['id']}") == \
        {vm["id"], other_vm["id"]}
    assert ids(demo, "ports", network_id=network["id"], fixed_ips="ip_address_substr=10.0.0.5") == \
        {vm["id"], other_vm["id"]}
    response = demo.get("/v2.0/ports", params=[("network_id", network["id"]), ("device_id", "vm-1"),
                                               ("device_id", "vm-2")])
    assert {p["id"] for p in response.json()["ports"]} == {vm["id"], other_vm["id"]}


def test_an_unknown_filter_is_refused(demo):
    error(demo.get("/v2.0/ports", params={"colour": "red"}), 400, "HTTPBadRequest")


# --- bulk ---

def test_bulk_create_is_atomic(admin, demo, network, subnet):
    body = {"ports": [{"network_id": network["id"], "fixed_ips": [{"ip_address": "10.0.0.90"}]},
                      {"network_id": network["id"]},
                      {"network_id": network["id"], "fixed_ips": [{"ip_address": "10.0.0.90"}]}]}
    refused(admin, lambda: demo.post("/v2.0/ports", json=body), 409, "IpAddressInUse")
    assert ids(demo, "ports", network_id=network["id"]) == set()
    body["ports"][2] = {"network_id": network["id"], "mac_address": "fa:16:3e:00:00:90"}
    body["ports"][1] = {"network_id": network["id"], "mac_address": "fa:16:3e:00:00:90"}
    refused(admin, lambda: demo.post("/v2.0/ports", json=body), 409, "MacAddressInUse")
    body["ports"].pop()
    created = demo.post("/v2.0/ports", json=body)
    assert created.status_code == 201, created.text
    made = created.json()["ports"]
    assert len(made) == 2 and len({addresses(p)[0] for p in made}) == 2
