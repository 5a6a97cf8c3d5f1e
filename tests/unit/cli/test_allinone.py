"""``neutrino up``'s parts that need no host: the external network it keeps (against a real server, through the
clouds.yaml as ``up`` reaches it) and what it prints last. tests/host/test_allinone.py runs the whole of it."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from neutrino.cli.allinone import INTERNET_HOST, UPSTREAM, ensure_external_network, usage
from neutrino.cli.cloud import ApiClient, load_cloud
from neutrino.config import Settings
from tests.unit.cli.server import running_server


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with running_server(tmp_path_factory.mktemp("cli-allinone")) as running:
        yield running


def test_the_external_network_is_made_once_and_whole_and_never_over_someone_elses(server):
    admin = server.admin
    with ApiClient.for_cloud(load_cloud(None, server.env)) as client:
        mine = admin.create("networks", "network", name="public")  # an ordinary network of that name
        assert ensure_external_network(client) == (
            None, "a network named public exists and is not external: left as it is")
        assert admin.delete(f"/v2.0/networks/{mine['id']}").status_code == 204

        said = "external network public (flat on physnet1, 203.0.113.0/24, gateway the upstream router)"
        assert ensure_external_network(client) == (True, f"{said} created (network and subnet)")
        assert ensure_external_network(client) == (True, f"{said} already there")
        [network] = admin.get("/v2.0/networks", params={"name": "public"}).json()["networks"]
        assert (network["router:external"], network["provider:network_type"],
                network["provider:physical_network"], network["shared"]) == (True, "flat", "physnet1", False)
        [subnet] = admin.get("/v2.0/subnets", params={"network_id": network["id"]}).json()["subnets"]
        assert (subnet["cidr"], subnet["gateway_ip"], subnet["enable_dhcp"], subnet["allocation_pools"]) == (
            "203.0.113.0/24", UPSTREAM.gateway.split("/")[0], False,
            [{"start": "203.0.113.10", "end": "203.0.113.250"}])
        fip = admin.create("floatingips", "floatingip", floating_network_id=network["id"])
        assert ipaddress.ip_address(fip["floating_ip_address"]) in ipaddress.ip_network("203.0.113.0/24")

        assert admin.delete(f"/v2.0/floatingips/{fip['id']}").status_code == 204
        assert admin.delete(f"/v2.0/subnets/{subnet['id']}").status_code == 204
        assert ensure_external_network(client) == (True, f"{said} created (subnet)")


def test_a_refused_external_network_is_said_not_raised(server):
    """physnet1 has one flat network at most: someone else's takes it (and the name is free)."""
    with ApiClient.for_cloud(load_cloud(None, server.env)) as client:
        [public] = server.admin.get("/v2.0/networks", params={"name": "public"}).json()["networks"]
        assert server.admin.put(f"/v2.0/networks/{public['id']}",
                                json={"network": {"name": "renamed"}}).status_code == 200
        mark, line = ensure_external_network(client)
    assert mark is None and line.startswith("external network public refused: 409 "), line


def test_up_ends_with_the_clouds_yaml_the_cloud_and_three_commands():
    text = usage(Settings(state_dir=Path("/srv/n")))
    assert "  export OS_CLIENT_CONFIG_FILE=/srv/n/clouds.yaml\n" in text
    assert "  export OS_CLOUD=neutrino-admin" in text
    commands = [line.strip() for line in text.splitlines() if line.startswith("  openstack ")]
    assert commands == [
        "openstack network create net1 && openstack subnet create --network net1 --subnet-range 10.0.0.0/24 sub1",
        "openstack router create --external-gateway public router1 && openstack router add subnet router1 sub1",
        "openstack port create --network net1 port1 && neutrino plug --config /srv/n/agent.toml port1 --name vm1",
    ]
    assert f"ip netns exec vm1 ping {INTERNET_HOST}" in text
    assert "neutrino down --state-dir /srv/n" in text


def test_without_authentication_up_says_so_instead_of_a_clouds_yaml():
    text = usage(Settings(state_dir=Path("/srv/n"), auth="noauth"))
    assert "clouds.yaml" not in text and "OS_CLOUD" not in text
    assert "--auth noauth: no token, every caller is admin" in text
