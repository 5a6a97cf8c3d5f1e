"""``neutrino doctor`` and ``neutrino trace --live`` on a real host (issue 6): a deployment of one host with a
router between two networks, DHCP on one of them and two instances, run as an operator runs them (the CLI
inside the host, with the agent's configuration). Healthy, the doctor finds nothing and a live probe agrees
with the model. Then, with the agent stopped so that it repairs nothing, things break one at a time behind
its back, and the doctor names each: a flow deleted, a router leg's address deleted, dnsmasq killed, a port
re-tagged 4095; and with the flow gone the live probe fails where the model says delivered, and is localized
to the hop whose flows are missing.

Its own API server: the doctor also checks the whole deployment (dead agents, ports bound to hosts without
one), which the session's shared server would fill with other tests' hosts.
"""

from __future__ import annotations

import json
import os
import signal

import pytest

from neutrino.model import names
from tests.host.control import Cloud
from tests.host.l3_lab import L3
from tests.host.simhost import eventually, is_running

ALLOWED_DRIFT = {"agent-heartbeat-stale"}  # the agent is stopped: its heartbeat ages as the test goes on


def doctor(host) -> tuple[int, list[dict]]:
    done = host.neutrino("doctor", "--json", check=False)
    assert done.returncode in (0, 3), done.stderr
    return done.returncode, json.loads(done.stdout)["findings"]


def live(host, *args: str) -> tuple[int, dict]:
    done = host.neutrino("trace", *args, "--live", "--json", check=False)
    assert done.returncode in (0, 3), done.stderr
    return done.returncode, json.loads(done.stdout)


def named(findings: list[dict], code: str) -> dict:
    found = [f for f in findings if f["code"] == code]
    assert found, f"no {code} in {[f['code'] for f in findings]}"
    return found[0]


@pytest.fixture
def cloud(own_api_server):
    client = Cloud(own_api_server.url)
    yield client
    client.close()


def test_doctor_names_what_breaks_behind_the_agents_back_and_live_trace_finds_the_hop(make_host, own_api_server,
                                                                                     cloud):
    host = make_host(server=own_api_server)
    api = L3(cloud)
    net_a = api.call("POST", "/v2.0/networks", 201, network={
        "name": "doc-a", "provider:network_type": "vlan", "provider:physical_network": "physnet1",
        "provider:segmentation_id": cloud.next_vlan()})["network"]
    sub_a = api.call("POST", "/v2.0/subnets", 201, subnet={
        "network_id": net_a["id"], "cidr": "10.61.1.0/24", "ip_version": 4, "gateway_ip": "10.61.1.1",
        "name": "doc-a"})["subnet"]  # DHCP on: dnsmasq serves it
    net_b, sub_b = api.network("doc-b", "10.61.2.0/24")
    group = api.call("POST", "/v2.0/security-groups", 201, security_group={"name": "doc"})["security_group"]
    api.rule(group, protocol="icmp", remote_ip_prefix="10.61.0.0/16")
    port_a = cloud.create_port(net_a, "10.61.1.10", name="vm-a", security_groups=[group["id"]])
    port_b = cloud.create_port(net_b, "10.61.2.10", name="vm-b", security_groups=[group["id"]])
    router = api.router("doc", host)
    api.interface(router, sub_a)
    api.interface(router, sub_b)
    for port, namespace in ((port_a, "vm-a"), (port_b, "vm-b")):
        host.neutrino("plug", port["id"], "--name", namespace, "--static")
    eventually(lambda: host.ping("vm-a", "10.61.2.10", wait=0.2), what="vm-a reaches vm-b through the router")
    dhcp_dir = host.dhcp_dir / net_a["id"]
    eventually(lambda: (dhcp_dir / "pid").exists() and is_running(int((dhcp_dir / "pid").read_text())),
               what="dnsmasq serves doc-a")
    ports = cloud._call("GET", "/v2.0/ports", 200)["ports"]
    eventually(lambda: all(cloud.port(p["id"])["status"] == "ACTIVE" for p in ports), what="every port ACTIVE")
    host.wait_for_pass()

    # --- healthy: nothing to say, and the probe agrees with the model ---
    status, findings = doctor(host)
    assert (status, findings) == (0, []), findings
    status, answer = live(host, "vm-a", "10.61.2.10")
    assert status == 0 and answer["verdict"]["reason"] == "delivered"
    assert answer["live"]["probe"]["answered"] and answer["live"]["agree"], answer["live"]
    assert answer["live"]["namespace"] == "vm-a" and answer["live"]["findings"] == []
    assert answer["live"]["message"].endswith("a ping of the full MTU (1500 bytes) with DF set gets through too")
    status, answer = live(host, "vm-a", "10.61.2.10", "--protocol", "tcp", "--port", "22")
    assert status == 3 and answer["verdict"]["reason"] == "dropped-by-security-group"
    assert answer["live"]["agree"] and not answer["live"]["probe"]["answered"]

    # --- the agent stops; a flow of vm-b's ingress rule goes: named, and the live probe stops there ---
    host.stop_agent()
    tap_b = names.tap_name(port_b["id"])
    ofport_b = int(host.vsctl("get", "Interface", tap_b, "ofport"))
    host.run(["ovs-ofctl", "del-flows", "br-int", f"table=82,icmp,reg5={ofport_b:#x}"])
    status, findings = doctor(host)
    assert status == 3 and {f["code"] for f in findings} - ALLOWED_DRIFT == {"flows-missing"}, findings
    missing = named(findings, "flows-missing")
    assert missing["element"] == "bridge br-int" and "table=82" in missing["message"]
    assert {o["type"] for o in missing["objects"]} == {"security_group_rule"}
    assert missing["fix"] == f"neutrino agent --config {host.config_path}"

    status, answer = live(host, "vm-a", "10.61.2.10")
    assert status == 3 and answer["verdict"]["reason"] == "delivered"
    checked = answer["live"]
    assert not checked["probe"]["answered"] and checked["agree"] is False
    stop = checked["stopped_at"]
    where = (stop["path"], stop["element"], stop["name"], stop["stage"])
    assert where == ("request", "firewall", "br-int", "table 82")
    assert stop["installed"] == 0 and stop["planned"] > 0
    passed = [c for c in checked["checks"] if c["path"] == "request" and c["passed"]]
    assert [c["stage"] for c in passed] == ["sent", "table 71", "table 72", "in", "routing"]
    assert checked["findings"][0]["code"] == "live-flows-missing"
    assert "flows-missing" in [f["code"] for f in checked["findings"][1:]]  # the doctor's word on that bridge

    # --- a router leg loses its address ---
    namespace = names.router_namespace(router["id"])
    qr_b = names.router_port_name(api.ports_of(router)[sub_b["id"]]["id"])
    host.run(["ip", "-n", namespace, "addr", "del", "10.61.2.1/24", "dev", qr_b])
    status, findings = doctor(host)
    leg = named(findings, "router-leg-address-missing")
    assert leg["element"] == f"namespace {namespace} leg {qr_b}" and "10.61.2.1/24" in leg["message"]
    assert [o["id"] for o in leg["objects"]] == [api.ports_of(router)[sub_b["id"]]["id"]]

    # --- dnsmasq is killed ---
    pid = int((dhcp_dir / "pid").read_text())
    os.kill(pid, signal.SIGKILL)
    eventually(lambda: not is_running(pid), what="dnsmasq is gone")
    status, findings = doctor(host)
    dead = named(findings, "dnsmasq-not-running")
    assert dead["found"] == f"pid {pid} runs nothing" and net_a["id"] in [o["id"] for o in dead["objects"]]

    # --- vm-a's port is re-tagged onto the dead VLAN ---
    tap_a = names.tap_name(port_a["id"])
    tag = host.tag(tap_a)
    host.vsctl("set", "Port", tap_a, "tag=4095")
    status, findings = doctor(host)
    retagged = named(findings, "port-tag-differs")
    assert retagged["element"] == f"port {tap_a} on br-int" and retagged["found"] == "tag 4095"
    assert retagged["fix"] == f"ovs-vsctl set Port {tap_a} tag={tag}"
    assert [o["id"] for o in retagged["objects"]] == [port_a["id"]]
    assert {f["code"] for f in findings} - ALLOWED_DRIFT == {"flows-missing", "router-leg-address-missing",
                                                              "dnsmasq-not-running", "port-tag-differs"}

    # --- the router's namespace is removed ---
    host.run(["ip", "netns", "delete", namespace])
    status, findings = doctor(host)
    gone = named(findings, "router-namespace-missing")
    assert status == 3 and gone["element"] == f"namespace {namespace}" and gone["found"] == "no namespace"
    assert [o["id"] for o in gone["objects"]] == [router["id"]]
    assert gone["fix"] == f"neutrino agent --config {host.config_path}"

    # --- the agent's configuration no longer maps physnet1 (it names it physnet9): a config against the API ---
    config = host.config_path.read_text()
    assert 'physnet1 = "br-phys"' in config
    host.config_path.write_text(config.replace('physnet1 = "br-phys"', 'physnet9 = "br-phys"'))
    status, findings = doctor(host)
    unmapped = [f for f in findings if f["code"] == "no-bridge-mapping"]
    assert status == 3 and {f["element"] for f in unmapped} == {"[host] bridge_mappings"}
    assert {o["id"] for f in unmapped for o in f["objects"] if o["type"] == "network"} == {net_a["id"], net_b["id"]}, unmapped
    assert {port_a["id"], port_b["id"]} <= {o["id"] for f in unmapped for o in f["objects"] if o["type"] == "port"}
    assert all("physnet 'physnet1'" in f["message"] and "physnet9" in f["found"] for f in unmapped), unmapped
    assert all("physnet1" in f["fix"] and str(host.config_path) in f["fix"] for f in unmapped), unmapped
