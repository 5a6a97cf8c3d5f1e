"""Routers and floating IPs through the real ``openstack`` CLI and openstacksdk, as admin (who makes the
external network) and as a member of project demo (who runs a router to it and a floating IP on an
instance's port), against a real neutrino server."""

from __future__ import annotations

import pytest
from openstack import exceptions

from tests.compat.conftest import ADMIN, DEMO, unique

pytestmark = pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")


def test_member_runs_a_router_and_a_floating_ip_with_the_cli(cli):
    public, public_subnet = unique("public"), unique("public-sub")
    network, subnet, port, router = unique("net"), unique("sub"), unique("vm"), unique("router")
    public_id = cli(ADMIN, "network", "create", "--external", public)["id"]
    cli(ADMIN, "subnet", "create", "--network", public, "--subnet-range", "203.0.113.0/24", "--no-dhcp",
        public_subnet)
    cli(DEMO, "network", "create", network)
    subnet_id = cli(DEMO, "subnet", "create", "--network", network, "--subnet-range", "10.30.0.0/24", subnet)["id"]
    port_id = cli(DEMO, "port", "create", "--network", network, port)["id"]

    created = cli(DEMO, "router", "create", router)
    assert (created["status"], created["admin_state_up"], created["external_gateway_info"]) == ("ACTIVE", True, None)
    cli(DEMO, "router", "set", "--external-gateway", public, router)
    cli(DEMO, "router", "add", "subnet", router, subnet)
    shown = cli(DEMO, "router", "show", router)
    assert shown["external_gateway_info"]["network_id"] == public_id
    assert [(i["subnet_id"], i["ip_address"]) for i in shown["interfaces_info"]] == [(subnet_id, "10.30.0.1")]

    floating = cli(DEMO, "floating", "ip", "create", public)
    assert floating["status"] == "DOWN" and floating["port_id"] is None
    cli(DEMO, "floating", "ip", "set", "--port", port, floating["id"])
    [row] = [r for r in cli(DEMO, "floating", "ip", "list") if r["ID"] == floating["id"]]
    assert (row["Floating IP Address"], row["Port"], row["Floating Network"]) == (
        floating["floating_ip_address"], port_id, public_id)
    assert row["Fixed IP Address"].startswith("10.30.0.")
    assert "required by one or more floating IPs" in cli.fails(DEMO, "router", "remove", "subnet", router, subnet)
    assert "has ports still attached" in cli.fails(DEMO, "router", "delete", router)

    cli(DEMO, "floating", "ip", "unset", "--port", floating["floating_ip_address"])
    assert cli(DEMO, "floating", "ip", "show", floating["id"])["port_id"] is None
    cli(DEMO, "router", "remove", "subnet", router, subnet)
    cli(DEMO, "router", "unset", "--external-gateway", router)
    cli(DEMO, "floating", "ip", "delete", floating["id"])
    cli(DEMO, "router", "delete", router)
    assert cli(DEMO, "router", "list", "--name", router) == []


@pytest.fixture(scope="module")
def admin(sdk):
    return sdk(ADMIN)


@pytest.fixture(scope="module")
def demo(sdk):
    return sdk(DEMO)


@pytest.fixture
def public(admin):
    network = admin.network.create_network(name=unique("public"), is_router_external=True)
    admin.network.create_subnet(network_id=network.id, ip_version=4, cidr="198.51.100.0/24", is_dhcp_enabled=False)
    yield network
    for ip in admin.network.ips(floating_network_id=network.id):
        admin.network.delete_ip(ip)
    admin.network.delete_network(network)


def test_member_runs_a_router_and_a_floating_ip_with_the_sdk(demo, public):
    network = demo.network.create_network(name=unique("net"))
    subnet = demo.network.create_subnet(network_id=network.id, ip_version=4, cidr="10.40.0.0/24")
    port = demo.network.create_port(network_id=network.id)
    router = demo.network.create_router(name=unique("router"), external_gateway_info={"network_id": public.id})
    assert router.external_gateway_info["network_id"] == public.id and router.status == "ACTIVE"
    assert demo.network.find_router(router.name).id == router.id

    ip = demo.network.create_ip(floating_network_id=public.id)
    with pytest.raises(exceptions.NotFoundException, match=f"is not reachable from subnet {subnet.id}"):
        demo.network.update_ip(ip, port_id=port.id)
    interface = demo.network.add_interface_to_router(router, subnet_id=subnet.id)
    assert (interface["subnet_id"], interface["id"]) == (subnet.id, router.id)
    with pytest.raises(exceptions.BadRequestException, match="Router already has a port on subnet"):
        demo.network.add_interface_to_router(router, subnet_id=subnet.id)
    associated = demo.network.update_ip(ip, port_id=port.id)
    assert (associated.port_id, associated.router_id, associated.fixed_ip_address) == (
        port.id, router.id, port.fixed_ips[0]["ip_address"])
    assert demo.network.find_ip(ip.floating_ip_address).id == ip.id
    assert [i.id for i in demo.network.ips(port_id=port.id)] == [ip.id]

    routed = demo.network.add_extra_routes_to_router(router, body={"router": {"routes": [
        {"destination": "192.168.50.0/24", "nexthop": "10.40.0.50"}]}})
    assert routed.routes == [{"destination": "192.168.50.0/24", "nexthop": "10.40.0.50"}]
    demo.network.remove_extra_routes_from_router(router, body={"router": {"routes": routed.routes}})
    with pytest.raises(exceptions.ConflictException, match="has ports still attached"):
        demo.network.delete_router(router)
    with pytest.raises(exceptions.ConflictException, match="required by one or more floating IPs"):
        demo.network.remove_interface_from_router(router, subnet_id=subnet.id)

    # the cloud layer (what Ansible's openstack.cloud modules call)
    assert [p["id"] for p in demo.list_router_interfaces(demo.get_router(router.id), "internal")] == [
        interface["port_id"]]
    demo.network.update_ip(ip, port_id=None)
    demo.network.remove_interface_from_router(router, subnet_id=subnet.id)
    demo.network.delete_ip(ip)
    demo.network.delete_router(router)
    assert demo.network.find_router(router.id) is None
    demo.network.delete_port(port)
    demo.network.delete_network(network)
