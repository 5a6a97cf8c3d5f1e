"""``neutrino status``: from literal API state and a literal host, the status and its text and JSON; then the
command against a real server, found through its clouds.yaml."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from click.testing import CliRunner
from rich.console import Console

from neutrino.cli.main import main
from neutrino.cli.status import read_api
from neutrino.cli.status_view import (
    BridgeStatus,
    LocalHost,
    OvsStatus,
    ServerStatus,
    render_status,
    status_for,
    status_json,
)
from neutrino.model.host_config import configurations_for
from neutrino.model.resources import Agent, FixedIp, FloatingIp, Network, Port, Router, Subnet
from neutrino.model.state import ApiState
from tests.unit.cli.server import running_server
from tests.unit.seed import SEED

NOW = datetime(2026, 11, 26, 12, 0, 0, tzinfo=UTC)
R1, R2, NET, EXT = "11111111-aaaa-4000-8000-000000000001", "22222222-aaaa-4000-8000-000000000002", \
    "33333333-aaaa-4000-8000-000000000003", "44444444-aaaa-4000-8000-000000000004"
STRAY = "99999999-aaaa-4000-8000-000000000009"
SERVER = ServerStatus("http://127.0.0.1:9696", True, "0.1.0", 42, "sqlite", "keystone")
OVS = OvsStatus(True, (BridgeStatus("br-int", "netdev", 7), BridgeStatus("br-phys1", "netdev", 2)))


def _state() -> ApiState:
    networks = {NET: Network(NET, "app"), EXT: Network(EXT, "public", external=True)}
    subnets = {"s1": Subnet("s1", NET, "10.0.0.0/24", gateway_ip="10.0.0.1")}
    ports = [
        Port("p-vm1", NET, "fa:16:3e:00:00:01", status="ACTIVE", device_owner="compute:nova", host_id="compute1",
             fixed_ips=(FixedIp("s1", "10.0.0.5"),)),
        Port("p-vm2", NET, "fa:16:3e:00:00:02", status="DOWN", host_id="compute1"),
        Port("p-r1", NET, "fa:16:3e:00:00:03", status="ACTIVE", device_owner="network:router_interface",
             device_id=R1, host_id="compute1"),
        Port("p-dhcp", NET, "fa:16:3e:00:00:04", status="ACTIVE", device_owner="network:dhcp",
             device_id="dhcp-x", host_id="compute1"),
        Port("p-r2", NET, "fa:16:3e:00:00:05", status="DOWN", device_owner="network:router_interface",
             device_id=R2, host_id=""),  # no L3 agent took router r2
    ]
    agents = {
        "a1": Agent("a1", "compute1", "Open vSwitch agent", True, "2026-11-26T11:59:55Z"),
        "a2": Agent("a2", "compute1", "L3 agent", True, "2026-11-26T11:59:50Z"),
        "a3": Agent("a3", "compute2", "Open vSwitch agent", False, "2026-11-26T11:50:00Z"),
    }
    fips = {"f1": FloatingIp("f1", "203.0.113.20", EXT, status="ACTIVE", router_id=R1),
            "f2": FloatingIp("f2", "203.0.113.21", EXT, status="ERROR", router_id=R1)}
    return ApiState(42, networks, subnets, {p.id: p for p in ports}, {}, agents,
                    {R1: Router(R1, "r1"), R2: Router(R2, "r2")}, fips)


def _status(namespaces=(f"qrouter-{R1}", f"qrouter-{STRAY}", "vm1", "neutrino-fabric"), ovs=OVS):
    return status_for(SERVER, _state(), LocalHost("compute1", ovs, namespaces), NOW)


def _text(status) -> str:
    console = Console(width=140, record=True, color_system=None)
    console.print(render_status(status), end="")
    return console.export_text()


def test_namespaces_are_named_by_their_router_or_network_and_checked_against_the_bindings():
    found = {n.name: (n.kind, n.object_name, n.present, n.expected) for n in _status().namespaces}
    assert found == {
        f"qrouter-{R1}": ("router", "r1", True, True),
        f"qrouter-{STRAY}": ("router", "", True, False),  # no such router: left over
        f"qdhcp-{NET}": ("dhcp", "app", False, True),  # its DHCP port is bound here: missing
    }


def test_agents_ports_and_floating_ips_are_counted_and_what_is_wrong_is_said():
    status = _status()
    assert [(a.host, a.agent_type, a.alive, a.heartbeat_age) for a in status.agents] == [
        ("compute1", "L3 agent", True, 10.0), ("compute1", "Open vSwitch agent", True, 5.0),
        ("compute2", "Open vSwitch agent", False, 600.0)]
    assert status.ports == {"ACTIVE": 3, "DOWN": 2} and status.floating_ips == {"ACTIVE": 1, "ERROR": 1}
    assert status.problems == (
        "Open vSwitch agent on compute2 is not alive (last heartbeat 10 min ago)",
        f"qdhcp-{NET} is missing: network app is hosted here (is the agent running?)",
        f"qrouter-{STRAY} is left over: no router {STRAY} is hosted here",
        "router r2 has no L3 agent (none alive?)",
        "floating IP 203.0.113.21 is ERROR (its router's agent could not set it up)",
    )
    assert not status.healthy


def test_the_screen_shows_server_agents_ovs_namespaces_counts_and_problems():
    text = _text(_status())
    assert text.startswith("✓ server http://127.0.0.1:9696  neutrino 0.1.0, revision 42, sqlite store, "
                           "auth keystone\n")
    assert "    ✗ Open vSwitch agent   compute2             dead   heartbeat 10 min ago\n" in text
    assert "✓ Open vSwitch on compute1: running, datapath netdev, 2 bridges\n    br-int         7 ports\n" in text
    assert f"    ✓ qrouter-{R1}  router r1\n" in text
    assert f"    ✗ qdhcp-{NET}  DHCP of network app  missing\n" in text
    assert "  ports        3 ACTIVE, 2 DOWN\n  floating IPs 1 ACTIVE, 1 ERROR\n! 5 problems:\n" in text


def test_a_host_without_ovs_and_a_server_that_cannot_be_read_say_so():
    down = ServerStatus("http://127.0.0.1:9696", False, error="cannot reach http://127.0.0.1:9696: ConnectError")
    status = status_for(down, None, LocalHost("compute1", OvsStatus(False, error="not running"), None), NOW)
    assert status.problems == ("Open vSwitch does not answer here: not running",)
    text = _text(status)
    assert text.startswith("✗ server http://127.0.0.1:9696  cannot reach http://127.0.0.1:9696: ConnectError\n")
    assert "✗ Open vSwitch on compute1: no answer: not running\n" in text
    assert "ports" not in text


def test_json_carries_the_same_status_with_a_schema():
    status = _status()
    body = json.loads(json.dumps(status_json(status)))
    assert body["schema"] == "neutrino.status/1" and body["healthy"] is False
    assert body["server"]["revision"] == 42 and body["ovs"]["bridges"][0] == {
        "name": "br-int", "datapath_type": "netdev", "ports": 7}
    assert body["problems"] == list(status.problems)


# --- against a real server ---

@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with running_server(tmp_path_factory.mktemp("cli-status")) as running:
        admin = running.admin
        configurations = {**configurations_for(replace(SEED, host="status-host")), "tunnel_types": []}
        for agent_type in ("Open vSwitch agent", "L3 agent", "DHCP agent"):
            response = admin.post("/neutrino/v1/agents/heartbeat", json={"agent": {
                "host": "status-host", "agent_type": agent_type, "configurations": configurations}})
            assert response.status_code == 200, response.text
        network = admin.create("networks", "network", name="app")
        subnet = admin.create("subnets", "subnet", network_id=network["id"], cidr="10.40.0.0/24", ip_version=4)
        router = admin.create("routers", "router", name="edge")
        response = admin.put(f"/v2.0/routers/{router['id']}/add_router_interface", json={"subnet_id": subnet["id"]})
        assert response.status_code == 200, response.text
        running.ids = {"network": network["id"], "router": router["id"]}
        yield running


def test_the_server_and_its_state_are_read_through_the_clouds_yaml(server):
    status, state = read_api(None, None, server.env)
    assert (status.url, status.answers, status.store, status.auth, status.error) == (
        server.url, True, "sqlite", "keystone", "")
    assert status.version and status.revision == state.revision > 0
    assert {a.agent_type for a in state.agents.values()} == {"Open vSwitch agent", "L3 agent", "DHCP agent"}
    assert state.routers[server.ids["router"]].name == "edge"


def test_a_member_is_told_the_status_needs_an_admin(server):
    status, state = read_api("neutrino-demo", None, server.env)
    assert state is None and status.answers
    assert status.error.startswith("GET /neutrino/v1/info: 403 PolicyNotAuthorized"), status.error


def test_the_command_prints_json_and_says_by_its_exit_status_that_something_is_wrong(server):
    done = CliRunner().invoke(main, ["status", "--json", "--host", "status-host"], env=server.env,
                              catch_exceptions=False)
    body = json.loads(done.output)
    assert done.exit_code == 2, done.output  # the router and DHCP server hosted here have no namespace here
    assert body["server"]["url"] == server.url and body["host"] == "status-host"
    assert f"qrouter-{server.ids['router']} is missing: router edge is hosted here (is the agent running?)" \
        in body["problems"]
    assert f"qdhcp-{server.ids['network']} is missing: network app is hosted here (is the agent running?)" \
        in body["problems"]
    assert body["ports"] == {"DOWN": 2}


def test_without_a_server_the_command_says_why_and_exits_1():
    done = CliRunner().invoke(main, ["status", "--url", "http://127.0.0.1:9"], catch_exceptions=False)
    assert done.exit_code == 1
    assert done.output.startswith("✗ server http://127.0.0.1:9  cannot reach http://127.0.0.1:9"), done.output
