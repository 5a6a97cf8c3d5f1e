"""``neutrino topology``: from literal API state and the plan of the seed's host, the tree (networks -> subnets
-> ports with their host objects, routers -> legs -> namespace, the host as ``ovs-vsctl show`` lists it) and
the Graphviz picture, with a real trace drawn on it; rendered to SVG and PNG by ``dot``; then the command
against a real server."""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from dataclasses import replace

import pytest
from click.testing import CliRunner
from rich.console import Console

from neutrino.cli.main import main
from neutrino.cli.topology_dot import dot_source
from neutrino.cli.topology_view import render_tree, topology_for
from neutrino.model.host_config import configurations_for
from neutrino.model.resources import Agent, FixedIp, FloatingIp, Network, Port, Router, Subnet
from neutrino.model.state import ApiState
from neutrino.plan.build import build_plan
from neutrino.trace.hosts import facts_from_api
from neutrino.trace.render import trace_json
from neutrino.trace.resolve import resolve_probe
from neutrino.trace.walk import trace
from tests.unit.cli.server import running_server
from tests.unit.seed import SEED, SEED_L2

APP, PUBLIC = "aaaaaaaa-0000-4000-8000-00000000000a", "bbbbbbbb-0000-4000-8000-00000000000b"
R1, R2 = "cccccccc-0000-4000-8000-00000000000c", "dddddddd-0000-4000-8000-00000000000d"
VM1, VM2, QR, QG, DHCP = "d1d1d1d1d1d1-0000", "b5b5b5b5b5b5-0000", "e2e2e2e2e2e2-0000", "f3f3f3f3f3f3-0000", \
    "a4a4a4a4a4a4-0000"
HOST = SEED.host


def _state() -> ApiState:
    networks = {APP: Network(APP, "app", segmentation_id=101, physical_network="physnet1"),
                PUBLIC: Network(PUBLIC, "public", network_type="flat", physical_network="physnet1", external=True)}
    subnets = {"s-app": Subnet("s-app", APP, "10.0.0.0/24", gateway_ip="10.0.0.1", name="app-sub"),
               "s-pub": Subnet("s-pub", PUBLIC, "203.0.113.0/24", gateway_ip="203.0.113.1", enable_dhcp=False,
                               name="public-subnet")}
    bound = dict(status="ACTIVE", host_id=HOST, vif_type="ovs")
    ports = [
        Port(VM1, APP, "fa:16:3e:00:00:01", name="vm1", device_owner="compute:nova", device_id="server-1",
             fixed_ips=(FixedIp("s-app", "10.0.0.5"),), **bound),
        Port(VM2, APP, "fa:16:3e:00:00:05", name="vm2", fixed_ips=(FixedIp("s-app", "10.0.0.6"),)),  # unbound
        Port(QR, APP, "fa:16:3e:00:00:02", device_owner="network:router_interface", device_id=R1,
             fixed_ips=(FixedIp("s-app", "10.0.0.1"),), **bound),
        Port(QG, PUBLIC, "fa:16:3e:00:00:03", device_owner="network:router_gateway", device_id=R1,
             fixed_ips=(FixedIp("s-pub", "203.0.113.15"),), **bound),
        Port(DHCP, APP, "fa:16:3e:00:00:04", device_owner="network:dhcp", device_id="dhcp-x",
             fixed_ips=(FixedIp("s-app", "10.0.0.2"),), **bound),
    ]
    routers = {R1: Router(R1, "r1", gateway_network_id=PUBLIC,
                          external_fixed_ips=(FixedIp("s-pub", "203.0.113.15"),)),
               R2: Router(R2, "lonely")}
    fips = {"fip-1": FloatingIp("fip-1", "203.0.113.20", PUBLIC, router_id=R1, port_id=VM1,
                                fixed_ip_address="10.0.0.5", status="ACTIVE"),
            "fip-2": FloatingIp("fip-2", "203.0.113.21", PUBLIC)}
    agents = {t: Agent(t, HOST, t, True, "2026-11-26T12:00:00Z") for t in ("Open vSwitch agent", "L3 agent")}
    return ApiState(7, networks, subnets, {p.id: p for p in ports}, {}, agents, routers, fips)


STATE = _state()
PLANS = {HOST: build_plan(STATE, SEED_L2, facts_from_api(STATE, SEED_L2))}


def _text(renderable) -> str:
    console = Console(width=200, record=True, color_system=None)
    console.print(renderable, end="")
    return console.export_text()


def _traced(source: str, destination: str):
    probe = resolve_probe(STATE, source=source, destination=destination, protocol="icmp", port=None, source_ip=None)
    return trace(STATE, {HOST: SEED_L2}, probe)


def test_the_tree_shows_each_port_under_its_subnet_with_its_host_objects():
    text = _text(render_tree(topology_for(STATE, PLANS)))
    assert text.startswith("neutrino topology at revision 7\n"
                           f"network app  vlan 101 on physnet1  local VLAN 1 on compute1  ({APP})\n"
                           "    subnet app-sub 10.0.0.0/24  gateway 10.0.0.1  DHCP\n"
                           "        port vm1  ACTIVE  10.0.0.5  floating IP 203.0.113.20  instance server-1\n"
                           "            tapd1d1d1d1d1d on br-int VLAN 1 @ compute1\n"
                           "        port vm2  DOWN  10.0.0.6\n"  # bound nowhere: no host objects
                           "        port DHCP  ACTIVE  10.0.0.2\n"
                           f"            tapa4a4a4a4a4a on br-int VLAN 1 @ compute1 · qdhcp-{APP}\n"
                           "        port router r1 interface  ACTIVE  10.0.0.1\n"
                           f"            qr-e2e2e2e2e2e on br-int VLAN 1 @ compute1 · qrouter-{R1}\n"
                           f"network public  flat on physnet1, external  local VLAN 2 on compute1  ({PUBLIC})\n"), text
    assert (f"router lonely  ACTIVE  hosted nowhere (no L3 agent)  ({R2})\n"
            f"router r1  ACTIVE  on compute1  namespace qrouter-{R1}  gateway on public, SNAT  ({R1})\n"
            "    qr-e2e2e2e2e2e  10.0.0.1/24  on app  (br-int VLAN 1)\n"
            "    qg-f3f3f3f3f3f  203.0.113.15/24, 203.0.113.20/32  on public  (br-int VLAN 2)\n"
            "    floating IP 203.0.113.20 -> 10.0.0.5 (port vm1)  ACTIVE\n"
            "floating IPs not associated: 203.0.113.21\n") in text


def test_the_host_is_listed_as_ovs_vsctl_show_lists_it_with_the_api_object_behind_each_port():
    text = _text(render_tree(topology_for(STATE, PLANS)))
    host = text[text.index("host compute1\n"):]
    assert re.sub(r"  datapath [^\n]*", "", host) == (
        "host compute1\n"
        "    Bridge br-int\n"
        "        Port int-br-bond0  patch to phy-br-bond0\n"
        "        Port qg-f3f3f3f3f3f  tag 2  port router r1 gateway of network public\n"
        "        Port qr-e2e2e2e2e2e  tag 1  port router r1 interface of network app\n"
        "        Port tapa4a4a4a4a4a  tag 1  port DHCP of network app\n"
        "        Port tapd1d1d1d1d1d  tag 1  port vm1 of network app\n"
        "    Bridge br-bond0\n"
        "        Port bond0  OVS bond of p1p1 + p1p2\n"
        "        Port patch-ex  tag 201  patch to patch-bond0\n"
        "        Port phy-br-bond0  patch to int-br-bond0\n"
        "    Bridge br-ex\n"
        "        Port patch-bond0  patch to patch-ex\n"
        f"    Namespace qdhcp-{APP}  DHCP of network app\n"
        f"    Namespace qrouter-{R1}  router r1\n")
    assert "    Bridge br-bond0  datapath netdev, physical bridge of physnet1\n" in host


def test_an_instance_plugged_by_neutrino_plug_is_named_by_its_namespace():
    found = topology_for(STATE, PLANS, {VM1: "web1"})
    [vm1] = [p for p in found.networks[0].subnets[0].ports if p.id == VM1]
    assert (vm1.instance, vm1.wiring.namespace, vm1.wiring.device, vm1.wiring.local_vlan) == (
        "web1", "web1", "tapd1d1d1d1d1d", 1)


def test_the_picture_names_api_objects_and_the_host_objects_behind_them():
    source = dot_source(topology_for(STATE, PLANS))
    for line in (f'"network:{APP}" [label="network app\\nvlan 101 on physnet1\\nlocal VLAN 1 on compute1"',
                 '"subnet:s-app" [label="subnet app-sub\\n10.0.0.0/24\\ngateway 10.0.0.1, DHCP"',
                 f'"port:{VM1}" [label="port vm1\\n10.0.0.5  ACTIVE\\ntapd1d1d1d1d1d on br-int VLAN 1\\n@ compute1"',
                 f'"port:{VM1}" -> "bridge:compute1:br-int" [style="dashed", arrowhead="none", '
                 'label="tapd1d1d1d1d1d"];',
                 f'"instance:{VM1}" [label="instance server-1"',
                 f'"router:{R1}" [label="router r1\\non compute1\\nqrouter-{R1}\\ngateway on public, SNAT"',
                 f'"router:{R1}" -> "port:{QG}" [arrowhead="none", label="qg-f3f3f3f3f3f\\n203.0.113.15/24, '
                 '203.0.113.20/32"];',
                 f'"fip:fip-1" -> "port:{VM1}" [label="DNAT to 10.0.0.5"',
                 f'"fip:fip-2" -> "network:{PUBLIC}" [label=""',
                 'subgraph "cluster_host_compute1" {',
                 '"bridge:compute1:br-bond0" -> "physnet:physnet1" [label="uplink bond0", dir="none"];',
                 '"bridge:compute1:br-bond0" -> "bridge:compute1:br-ex" [label="patch-ex / patch-bond0", dir="none"];',
                 f'"ns:compute1:qdhcp-{APP}" [label="qdhcp-{APP}\\nDHCP of network app"'):
        assert line in source, line


def test_a_trace_is_drawn_as_a_numbered_path_ending_at_the_deciding_hop():
    delivered = dot_source(topology_for(STATE, PLANS), _traced("198.51.100.10", "203.0.113.20"))
    path = re.findall(r'"([^"]+)" -> "([^"]+)" \[color="#d62728", penwidth="2.5", label="(\d+)"', delivered)
    assert path == [("outside", "physnet:physnet1", "1"), ("physnet:physnet1", "bridge:compute1:br-bond0", "2"),
                    ("bridge:compute1:br-bond0", "bridge:compute1:br-int", "3"),
                    ("bridge:compute1:br-int", f"router:{R1}", "4"), (f"router:{R1}", "bridge:compute1:br-int", "5"),
                    ("bridge:compute1:br-int", f"port:{VM1}", "6")]
    assert f'"port:{VM1}" [color="#2ca02c", penwidth=4, fillcolor="#c8f0c8", xlabel="✓ delivered to port vm1 ' \
           'on compute1"];' in delivered
    assert '"fip:fip-1" [color="#d62728", penwidth=3];' in delivered  # the floating IP the router translated
    assert '"outside" [label="outside\\n198.51.100.10", shape="doublecircle"' in delivered

    stopped = dot_source(topology_for(STATE, PLANS), _traced("vm1", "vm2"))
    assert f'"port:{VM1}" [color="#d62728", penwidth=4, fillcolor="#f8c8c8", xlabel="✗ port vm2 has no ' \
           'binding:host_id' in stopped  # vm2 is the deciding object, but the packet stopped at vm1's port
    assert f'"port:{VM2}" [color="#d62728", penwidth=3];' in stopped


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
def test_the_picture_renders_to_svg_and_png_with_every_object(tmp_path):
    source = dot_source(topology_for(STATE, PLANS), _traced("198.51.100.10", "203.0.113.20"))
    svg = html.unescape(subprocess.run(["dot", "-Tsvg"], input=source, capture_output=True, text=True,
                                       check=True).stdout)  # dot writes "-" as &#45;
    for text in ("network app", "subnet app-sub", "port vm1", "tapd1d1d1d1d1d on br-int VLAN 1", "instance server-1",
                 "router r1", f"qrouter-{R1}", "floating IP 203.0.113.20", "br-bond0", "physnet physnet1",
                 "host compute1", "✓ delivered to port vm1"):
        assert text in svg, text
    subprocess.run(["dot", "-Tpng", "-o", str(tmp_path / "t.png")], input=source, text=True, check=True)
    assert (tmp_path / "t.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# --- the command, against a real server ---

@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with running_server(tmp_path_factory.mktemp("cli-topology")) as running:
        admin = running.admin
        configurations = {**configurations_for(replace(SEED, host="topo-host")), "tunnel_types": []}
        for agent_type in ("Open vSwitch agent", "L3 agent"):
            response = admin.post("/neutrino/v1/agents/heartbeat", json={"agent": {
                "host": "topo-host", "agent_type": agent_type, "configurations": configurations}})
            assert response.status_code == 200, response.text
        network = admin.create("networks", "network", name="app")
        subnet = admin.create("subnets", "subnet", network_id=network["id"], cidr="10.50.0.0/24", ip_version=4,
                              enable_dhcp=False)
        router = admin.create("routers", "router", name="edge")
        response = admin.put(f"/v2.0/routers/{router['id']}/add_router_interface", json={"subnet_id": subnet["id"]})
        assert response.status_code == 200, response.text
        running.ids = {"router": router["id"]}
        yield running


def test_the_command_prints_the_tree_of_what_the_server_holds(server):
    done = CliRunner().invoke(main, ["topology"], env=server.env, catch_exceptions=False)
    assert done.exit_code == 0, done.output
    assert "network app  vlan 1" in done.output and "    subnet 10.50.0.0/24  gateway 10.50.0.1\n" in done.output
    assert f"router edge  ACTIVE  on topo-host  namespace qrouter-{server.ids['router']}" in done.output
    assert "host topo-host\n    Bridge br-int" in done.output


def test_the_command_draws_a_trace_from_its_json_and_refuses_png_without_a_file(server, tmp_path):
    trace_file = tmp_path / "trace.json"
    trace_file.write_text(json.dumps(trace_json(_traced("vm1", "vm2"))))
    done = CliRunner().invoke(main, ["topology", "--format", "dot", "--trace-json", str(trace_file)],
                              env=server.env, catch_exceptions=False)
    assert done.exit_code == 0 and done.output.startswith("digraph neutrino {"), done.output
    assert 'xlabel="✗ port vm2 has no binding:host_id' not in done.output  # that trace's ports are not here
    refused = CliRunner().invoke(main, ["topology", "--format", "png"], env=server.env)
    assert refused.exit_code == 2 and "give --output FILE.png" in refused.output
