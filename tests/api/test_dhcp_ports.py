"""DHCP ports as Neutron's server keeps them: one ``network:dhcp`` port per network with a DHCP-enabled
subnet, bound to a live DHCP agent's host (fewest networks wins), with an address on each DHCP-enabled
subnet, in step as subnets come, change and go, scheduled at a DHCP agent's heartbeat when none was
there, and removed with the network without keeping it in use.

Each test has a server of its own: which agents are alive decides where a network goes.
"""

from __future__ import annotations

import uuid

import pytest

from neutrino.services.agents import OVS_AGENT
from neutrino.services.dhcp import DHCP_AGENT
from tests.api.cloud import cloud_in
from tests.api.expect import ok

DHCP = {"device_owner": "network:dhcp"}


@pytest.fixture
def cloud(tmp_path):
    with cloud_in(tmp_path, with_other=False) as built:
        yield built


def heartbeat(api, host: str, agent_type: str, configurations: dict | None = None) -> str:
    """An agent's report, as tests/api/test_misc.py sends it: straight to the service in one write."""
    services = api.client.app.state.services
    return services.store.write(lambda tx: services.agents.heartbeat(
        tx, agent_type, "neutrino-agent", host, configurations or {}, start_flag=True))


def host_up(api, host: str, physnets: tuple[str, ...] = ("physnet1",)) -> str:
    """A host whose agent process reports as the OVS agent (mapping ``physnets``) and the DHCP agent;
    returns the DHCP agent's id."""
    heartbeat(api, host, OVS_AGENT, {"bridge_mappings": {p: "br-phys" for p in physnets}})
    return heartbeat(api, host, DHCP_AGENT, {"dhcp_driver": "dnsmasq"})


def network_with_subnet(api, cidr: str = "10.1.0.0/24", **subnet) -> tuple[dict, dict]:
    network = api.create("networks", "network", name="net")
    made = api.create("subnets", "subnet", network_id=network["id"], cidr=cidr, ip_version=4, **subnet)
    return network, made


def dhcp_ports(api, network: dict) -> list[dict]:
    return ok(api.get("/v2.0/ports", params={**DHCP, "network_id": network["id"]}))["ports"]


def the_dhcp_port(api, network: dict) -> dict:
    """The network's one DHCP port; an admin's view shows its binding (a member sees none)."""
    ports = dhcp_ports(api, network)
    assert len(ports) == 1, ports
    return ports[0]


def binding_of(cloud, port: dict) -> tuple[str, str]:
    shown = ok(cloud.admin.get(f"/v2.0/ports/{port['id']}"))["port"]
    return shown["binding:host_id"], shown["binding:vif_type"]


def subnets_of(port: dict) -> list[str]:
    return sorted(f["subnet_id"] for f in port["fixed_ips"])


def test_a_dhcp_subnet_gets_the_network_a_dhcp_port_as_neutron_makes_it(cloud):
    host_up(cloud.admin, "compute-1.example.org")
    network, subnet = network_with_subnet(cloud.demo)

    port = the_dhcp_port(cloud.demo, network)  # `openstack port list --device-owner network:dhcp`
    host_uuid = uuid.uuid5(uuid.NAMESPACE_DNS, "compute-1")  # the short host name, as Neutron's
    assert port["device_id"] == f"dhcp{host_uuid}-{network['id']}"
    assert binding_of(cloud, port) == ("compute-1.example.org", "ovs")
    assert (port["project_id"], port["name"], port["security_groups"], port["admin_state_up"]) == \
        (cloud.demo.project_id, "", [], True)
    assert subnets_of(port) == [subnet["id"]]
    address = port["fixed_ips"][0]["ip_address"]
    assert address.startswith("10.1.0.") and address != subnet["gateway_ip"]
    assert ok(cloud.demo.get(f"/v2.0/ports/{port['id']}"))["port"]["device_owner"] == "network:dhcp"


def test_the_port_has_an_address_on_each_dhcp_enabled_subnet_only(cloud):
    host_up(cloud.admin, "compute-1")
    network, first = network_with_subnet(cloud.demo)
    second = cloud.demo.create("subnets", "subnet", network_id=network["id"], cidr="10.2.0.0/24", ip_version=4)
    cloud.demo.create("subnets", "subnet", network_id=network["id"], cidr="10.3.0.0/24", ip_version=4,
                      enable_dhcp=False)
    port = the_dhcp_port(cloud.demo, network)
    assert subnets_of(port) == sorted([first["id"], second["id"]])

    ok(cloud.demo.put(f"/v2.0/subnets/{second['id']}", json={"subnet": {"enable_dhcp": False}}))
    kept = the_dhcp_port(cloud.demo, network)
    assert kept["id"] == port["id"] and subnets_of(kept) == [first["id"]]
    assert kept["fixed_ips"][0]["ip_address"] == \
        next(f["ip_address"] for f in port["fixed_ips"] if f["subnet_id"] == first["id"])

    ok(cloud.demo.put(f"/v2.0/subnets/{second['id']}", json={"subnet": {"enable_dhcp": True}}))
    assert subnets_of(the_dhcp_port(cloud.demo, network)) == sorted([first["id"], second["id"]])


def test_the_port_goes_when_no_subnet_has_dhcp(cloud):
    host_up(cloud.admin, "compute-1")
    network, subnet = network_with_subnet(cloud.demo)
    ok(cloud.demo.put(f"/v2.0/subnets/{subnet['id']}", json={"subnet": {"enable_dhcp": False}}))
    assert dhcp_ports(cloud.demo, network) == []
    ok(cloud.demo.put(f"/v2.0/subnets/{subnet['id']}", json={"subnet": {"enable_dhcp": True}}))
    assert subnets_of(the_dhcp_port(cloud.demo, network)) == [subnet["id"]]


def test_deleting_a_subnet_drops_the_ports_address_there_and_the_last_one_the_port(cloud):
    host_up(cloud.admin, "compute-1")
    network, first = network_with_subnet(cloud.demo)
    second = cloud.demo.create("subnets", "subnet", network_id=network["id"], cidr="10.2.0.0/24", ip_version=4)
    port = the_dhcp_port(cloud.demo, network)

    ok(cloud.demo.delete(f"/v2.0/subnets/{second['id']}"), 204)  # the DHCP port's address keeps no subnet
    kept = the_dhcp_port(cloud.demo, network)
    assert (kept["id"], subnets_of(kept)) == (port["id"], [first["id"]])

    ok(cloud.demo.delete(f"/v2.0/subnets/{first['id']}"), 204)
    assert dhcp_ports(cloud.demo, network) == []
    ok(cloud.demo.get(f"/v2.0/ports/{port['id']}"), 404)


def test_deleting_the_network_deletes_its_dhcp_port(cloud):
    host_up(cloud.admin, "compute-1")
    network, _ = network_with_subnet(cloud.demo)
    port = the_dhcp_port(cloud.demo, network)
    ok(cloud.demo.delete(f"/v2.0/networks/{network['id']}"), 204)  # no NetworkInUse for its own port
    ok(cloud.admin.get(f"/v2.0/ports/{port['id']}"), 404)
    assert ok(cloud.admin.get("/v2.0/ports", params=DHCP))["ports"] == []


def test_a_network_waits_for_a_dhcp_agent_and_gets_one_at_its_heartbeat(cloud):
    heartbeat(cloud.admin, "compute-1", OVS_AGENT, {"bridge_mappings": {"physnet1": "br-phys"}})
    network, subnet = network_with_subnet(cloud.demo)
    assert dhcp_ports(cloud.demo, network) == []  # an OVS agent alone serves no DHCP

    heartbeat(cloud.admin, "compute-1", DHCP_AGENT)
    port = the_dhcp_port(cloud.demo, network)
    assert (binding_of(cloud, port), subnets_of(port)) == (("compute-1", "ovs"), [subnet["id"]])
    heartbeat(cloud.admin, "compute-1", DHCP_AGENT)  # later heartbeats find nothing waiting
    assert [p["id"] for p in dhcp_ports(cloud.demo, network)] == [port["id"]]


def test_the_agent_serving_fewest_networks_that_can_bind_one_gets_it(cloud):
    def host_of(network: dict) -> str:
        return binding_of(cloud, the_dhcp_port(cloud.demo, network))[0]

    busy = host_up(cloud.admin, "compute-a")
    first, _ = network_with_subnet(cloud.demo)
    assert host_of(first) == "compute-a"
    host_up(cloud.admin, "compute-b")
    host_up(cloud.admin, "compute-c", physnets=("physnet3",))  # cannot bind physnet1 networks
    hosts = [host_of(network_with_subnet(cloud.demo)[0]) for _ in range(3)]
    assert hosts == ["compute-b", "compute-a", "compute-b"]

    ok(cloud.admin.put(f"/v2.0/agents/{busy}", json={"agent": {"admin_state_up": False}}))
    later = [host_of(network_with_subnet(cloud.demo)[0]) for _ in range(2)]
    assert later == ["compute-b", "compute-b"]


def test_a_project_at_its_port_quota_still_gets_its_dhcp_port(cloud):
    host_up(cloud.admin, "compute-1")
    network = cloud.demo.create("networks", "network", name="net")
    ok(cloud.admin.put(f"/v2.0/quotas/{cloud.demo.project_id}", json={"quota": {"port": 0}}))
    cloud.demo.create("subnets", "subnet", network_id=network["id"], cidr="10.1.0.0/24", ip_version=4)
    assert the_dhcp_port(cloud.demo, network)["project_id"] == cloud.demo.project_id
