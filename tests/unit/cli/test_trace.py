"""``neutrino trace`` against a real server (uvicorn on a free 127.0.0.1 port, keystone auth), found as a user
finds it: through the clouds.yaml the server writes and OS_CLOUD."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from neutrino.cli.main import main
from neutrino.cli.trace import NOT_DELIVERED
from neutrino.model.host_config import configurations_for
from tests.conftest import Api
from tests.unit.cli.server import running_server
from tests.unit.seed import SEED

HOST = SEED.host


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A running server with two instances of project demo on one network, plugged on compute1."""
    with running_server(tmp_path_factory.mktemp("cli-trace")) as running:
        _populate(running.services, running.admin)
        yield running.env


def _populate(services, admin: Api) -> None:
    services.store.write(lambda tx: services.agents.heartbeat(
        tx, "Open vSwitch agent", "neutrino-agent", HOST, {**configurations_for(SEED), "tunnel_types": []}, True))
    network = admin.create("networks", "network", name="app")
    admin.create("subnets", "subnet", network_id=network["id"], cidr="10.30.0.0/24", ip_version=4, enable_dhcp=False)
    ports = [admin.create("ports", "port", network_id=network["id"], name=name) for name in ("vm1", "vm2")]
    for port in ports:
        response = admin.put(f"/v2.0/ports/{port['id']}", json={"port": {"binding:host_id": HOST}})
        assert response.status_code == 200, response.text
    response = admin.put(f"/neutrino/v1/hosts/{HOST}/ports/status", json={"ports": {p["id"]: "ACTIVE" for p in ports}})
    assert response.status_code == 200 and response.json() == {"ignored": []}, response.text


def neutrino(env: dict, *args: str):
    return CliRunner().invoke(main, ["trace", *args], env=env, catch_exceptions=False)


def test_a_delivered_trace_prints_its_hops_verdict_rules_and_reply(server):
    done = neutrino(server, "vm1", "vm2")
    assert done.exit_code == 0, done.output
    assert done.output.startswith("trace icmp from vm1 (10.30.0.")
    assert "✓ delivered: delivered to port vm2" in done.output
    assert "\x1b[" not in done.output  # no colour when the output is no terminal
    assert "\nreply\n" in done.output


def test_summary_and_json(server):
    summary = neutrino(server, "vm1", "vm2", "--protocol", "tcp", "--port", "22", "--summary")
    assert summary.exit_code == 0, summary.output
    assert summary.output.splitlines()[0].startswith("compute1 port tap")
    assert any(line.startswith("✓ delivered") for line in summary.output.splitlines())
    answer = json.loads(neutrino(server, "vm1", "vm2", "--json").output)
    assert answer["schema"] == "neutrino.trace/1" and answer["verdict"]["reason"] == "delivered"
    assert [a["direction"] for a in answer["verdict"]["admitted"]] == ["egress", "ingress"]


def test_a_packet_not_delivered_exits_3_with_the_fix(server):
    done = neutrino(server, "198.51.100.7", "vm2")
    assert done.exit_code == NOT_DELIVERED, done.output
    assert "✗ no-floating-ip-association: port vm2" in done.output
    assert "fix: openstack floating ip create --port vm2 <external network>" in done.output


def test_what_the_server_refuses_is_an_error(server):
    done = CliRunner().invoke(main, ["trace", "nosuch", "vm2"], env=server)
    assert done.exit_code == 1
    assert "TraceEndpointNotFound: 'nosuch' is no port id or name" in done.output
    no_cloud = CliRunner().invoke(main, ["trace", "vm1", "vm2"], env={**server, "OS_CLOUD": "elsewhere"})
    assert no_cloud.exit_code == 1 and "no cloud 'elsewhere'" in no_cloud.output
