"""Routers on real hosts (issue 5): a ``qrouter-`` namespace with ``qr-`` legs on two tenant networks and a
``qg-`` leg on an external provider network, SNAT, a floating IP and its security group, the agent restarting
under a ping, and taking the router apart again; then the seed's layout (``qg-`` on br-ex, patched into
br-bond0 as an access port of the external VLAN).

The outside world is a host of its own on the fabric (``upstream``, l3_lab.Outside): namespace ``outside``
on an access port of the external VLAN, holding the external subnet's gateway address, where ``whoami.py``
says which address a connection came from, so SNAT and floating IPs are seen at work. Times (router up, floating IP association to the first reply) are printed: run with ``-s`` to read them.
"""

from __future__ import annotations

import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from neutrino.model import names
from tests.host.l3_lab import (
    DENY_WAIT,
    L3,
    OUTSIDE,
    WHOAMI_PORT,
    External,
    Outside,
    addresses,
    ask,
    create_external,
    first_reply,
    namespace_links,
    namespaces,
    pings,
    ruleset,
    serve,
)
from tests.host.simhost import eventually, stop_process


@pytest.fixture(scope="module")
def external(cloud) -> External:
    return create_external(cloud)


@pytest.fixture
def upstream(make_host, external) -> Outside:
    return Outside(make_host(agent=False), external.vlan)


def router_state(host, namespace: str) -> tuple:
    """The router as the kernel, nft and OVS hold it: its links (by ifindex), addresses and rules (with their
    handles: a table written again has new ones), and the switch."""
    links = {name: (link["ifindex"], link["address"], link["mtu"], addresses(link))
             for name, link in namespace_links(host, namespace).items()}
    return links, ruleset(host, namespace), host.vsctl("show")


def test_router_routes_snats_and_floats_through_an_agent_restart(make_host, cloud, fabric, external, upstream,
                                                                 tmp_path):
    api = L3(cloud)
    compute = make_host()
    (net_a, sub_a), (net_b, sub_b) = api.network("l3-a", "10.30.1.0/24"), api.network("l3-b", "10.30.2.0/24")
    group = api.group("l3-members")
    port_a = cloud.create_port(net_a, "10.30.1.10", security_groups=[group["id"]])
    port_b = cloud.create_port(net_b, "10.30.2.10", security_groups=[group["id"]])
    compute.plug(port_a["id"], "vm-a")
    compute.plug(port_b["id"], "vm-b")
    assert not pings(compute, "vm-a", "10.30.2.10", wait=DENY_WAIT)  # no router yet

    # --- the router comes up: both subnets routed, the rest SNATed to its gateway address ---
    router = api.router("l3-router", compute)
    started = time.monotonic()
    router = api.update_router(router, external_gateway_info={"network_id": external.network["id"]})
    api.interface(router, sub_a)
    api.interface(router, sub_b)
    router_up = first_reply(lambda: pings(compute, "vm-a", "10.30.2.10", wait=0.1),
                            "vm-a reaches vm-b through the router", since=started, timeout=15)
    gateway_ip = router["external_gateway_info"]["external_fixed_ips"][0]["ip_address"]
    namespace = names.router_namespace(router["id"])
    ports = api.ports_of(router)
    qr_a, qr_b = (names.router_port_name(ports[s["id"]]["id"]) for s in (sub_a, sub_b))
    qg = names.gateway_port_name(ports["gateway"]["id"])
    links = namespace_links(compute, namespace)
    assert {name: addresses(link) for name, link in links.items()} == {
        qr_a: {"10.30.1.1/24"}, qr_b: {"10.30.2.1/24"}, qg: {f"{gateway_ip}/24"}}
    assert links[qg]["address"] == ports["gateway"]["mac_address"]
    show = compute.show()["br-int"]["ports"]
    assert {show[qr_a]["tag"], show[qr_b]["tag"], show[qg]["tag"]} == {
        str(compute.tag(qr_a)), str(compute.tag(qr_b)), str(compute.tag(qg))}
    assert len({show[name]["tag"] for name in (qr_a, qr_b, qg)}) == 3  # three networks, three local VLANs
    assert compute.vsctl("get", "Interface", qg, "external_ids:iface-id").strip('"') == ports["gateway"]["id"]
    assert f"default via {OUTSIDE} dev {qg}" in compute.run(["ip", "-n", namespace, "route"]).stdout
    assert ask(compute, "vm-a", OUTSIDE) == gateway_ip  # SNAT
    assert upstream.ping(gateway_ip) == gateway_ip
    assert {cloud.port(p["id"])["status"] for p in ports.values()} == {"ACTIVE"}
    another_projects_router_is_apart(api, compute, external)

    # --- a floating IP: announced, translated both ways, reachable once a rule admits it ---
    fip = api.floating_ip(external.network)
    fip_ip = fip["floating_ip_address"]
    capture = fabric.capture(fabric.uplink_name(compute, "eth1"), tmp_path / "arp.txt",
                             ["vlan", str(external.vlan), "and", "arp"])
    try:
        api.associate(fip, port_a)
        eventually(lambda: api.fip_status(fip) == "ACTIVE", what="the floating IP reported ACTIVE")
        eventually(lambda: f"Request who-has {fip_ip} tell {fip_ip}" in (tmp_path / "arp.txt").read_text(),
                   what=f"a gratuitous ARP for {fip_ip} on the fabric")
    finally:
        stop_process(capture)
    rules = ruleset(compute, namespace)
    assert f'comment "floating IP {fip["id"]} {fip_ip} -> 10.30.1.10"' in rules
    assert f"ip daddr {fip_ip} dnat to 10.30.1.10" in rules and f"ip saddr 10.30.1.10 snat to {fip_ip}" in rules
    assert ask(compute, "vm-a", OUTSIDE) == fip_ip  # what the instance starts leaves from its floating IP
    assert ask(compute, "vm-b", OUTSIDE) == gateway_ip
    assert upstream.ping(fip_ip, wait=DENY_WAIT) is None  # no security group rule admits the outside yet
    api.rule(group, protocol="icmp", remote_ip_prefix="0.0.0.0/0")
    api.rule(group, protocol="tcp", port_range_min=WHOAMI_PORT, port_range_max=WHOAMI_PORT,
             remote_ip_prefix="0.0.0.0/0")
    serve(compute, "vm-a")
    eventually(lambda: upstream.ping(fip_ip, wait=0.2) == fip_ip, what="the outside reaches the floating IP")
    assert upstream.ask(fip_ip) == OUTSIDE  # the instance sees who called (no SNAT inbound)
    assert pings(compute, "vm-b", fip_ip)  # hairpin: from inside, through the router, to the floating IP
    assert ask(compute, "vm-b", fip_ip) == gateway_ip  # ... SNATed to the gateway, so the reply returns

    # --- association to the first reply from outside ---
    api.associate(fip, None)
    eventually(lambda: upstream.ping(fip_ip, wait=0.2) is None, what="a disassociated floating IP is dead")
    assert ask(compute, "vm-a", OUTSIDE) == gateway_ip
    assert fip_ip not in ruleset(compute, namespace)
    assert f"{fip_ip}/32" not in addresses(namespace_links(compute, namespace)[qg])
    started = time.monotonic()
    api.associate(fip, port_a)
    association = first_reply(lambda: upstream.ping(fip_ip, wait=0.05) == fip_ip, "the floating IP answers again",
                              since=started)

    # --- the agent restarts under a ping through the floating IP: nothing is touched, nothing lost ---
    before = router_state(compute, namespace)
    ping = upstream.host.popen(upstream.host.in_instance(upstream.namespace, [
        "ping", "-n", "-q", "-i", "0.02", "-c", "200", "-W", "1", fip_ip]), stdout=subprocess.PIPE, text=True)
    time.sleep(0.3)
    compute.stop_agent()
    compute.start_agent()
    compute.wait_for_pass()
    out, _ = ping.communicate(timeout=30)
    assert " 200 received" in out, out
    assert router_state(compute, namespace) == before

    # --- taken apart: an interface, the gateway, the router: exactly their parts go ---
    api.associate(fip, None)
    api.interface(router, sub_b, add=False)
    eventually(lambda: set(namespace_links(compute, namespace)) == {qr_a, qg}, what=f"{qr_b} removed")
    assert qr_b not in compute.show()["br-int"]["ports"]
    assert not pings(compute, "vm-a", "10.30.2.10", wait=DENY_WAIT)
    assert ask(compute, "vm-a", OUTSIDE) == gateway_ip
    api.update_router(router, external_gateway_info=None)
    eventually(lambda: set(namespace_links(compute, namespace)) == {qr_a}, what=f"{qg} removed")
    assert "table ip neutrino" not in ruleset(compute, namespace)
    assert compute.run(["ip", "-n", namespace, "route", "show", "default"]).stdout.strip() == ""
    assert pings(compute, "vm-a", "10.30.1.1")
    api.interface(router, sub_a, add=False)
    eventually(lambda: namespace not in namespaces(compute), what="the router's namespace removed")
    assert not [p for p in compute.show()["br-int"]["ports"] if p.startswith(("qr-", "qg-"))]
    api.call("DELETE", f"/v2.0/routers/{router['id']}", 204)
    errors = [line for line in compute.agent_log.read_text().splitlines() if " ERROR " in line]
    assert not errors, "\n".join(errors)  # every change went through at its first pass
    print(f"\nrouter up (gateway + 2 interfaces set -> first routed reply): {router_up * 1000:.0f} ms; "
          f"floating IP association -> first reply from outside: {association * 1000:.0f} ms")


def another_projects_router_is_apart(api: L3, compute, external: External) -> None:
    """Another project's router on the same host, with its own SNAT, on a subnet that overlaps one of ours
    (10.30.2.0/24): its instance is reached through its own router only; ours do not reach it, though it
    admits ICMP from anywhere, and it does not reach ours."""
    other = L3(api.cloud, project="l3-other-project")
    net, sub = other.network("l3-other", "10.30.2.0/24")
    group = other.group("l3-other")
    other.rule(group, protocol="icmp", remote_ip_prefix="0.0.0.0/0")
    port = other.port(net, "10.30.2.20", security_groups=[group["id"]])
    compute.plug(port["id"], "vm-x")
    router = other.router("l3-other", compute)
    router = other.update_router(router, external_gateway_info={"network_id": external.network["id"]})
    other.interface(router, sub)
    gateway_ip = router["external_gateway_info"]["external_fixed_ips"][0]["ip_address"]
    eventually(lambda: pings(compute, "vm-x", "10.30.2.1", wait=0.2), what="vm-x reaches its own router")
    assert ask(compute, "vm-x", OUTSIDE) == gateway_ip  # SNAT by its own router
    namespace = names.router_namespace(router["id"])
    assert compute.run(["ip", "netns", "exec", namespace, "ping", "-c", "1", "-W", "1", "10.30.2.20"],
                       check=False).returncode == 0
    blocked = [("vm-a", "10.30.2.20"), ("vm-b", "10.30.2.20"), ("vm-x", "10.30.1.10"), ("vm-x", "10.30.2.10")]
    with ThreadPoolExecutor(len(blocked)) as pool:
        reached = list(pool.map(lambda case: pings(compute, *case, wait=DENY_WAIT), blocked))
    assert reached == [False] * len(blocked), f"reached across projects' routers: {blocked}"
    assert pings(compute, "vm-a", "10.30.2.10")  # ours still route
    other.interface(router, sub, add=False)
    other.call("DELETE", f"/v2.0/routers/{router['id']}", 204)
    eventually(lambda: namespace not in namespaces(compute), what="the other project's router removed")


SEED_LAYOUT = """\
[host]
bridge_mappings = {{ physnet1 = "br-bond0" }}
external_network_bridge = "br-ex"

[host.bridges.br-bond0]
uplinks = ["eth1"]

[[host.patch_links]]
bridge = "br-ex"
port = "patch-bond0"
peer_bridge = "br-bond0"
peer_port = "patch-ex"
peer_tag = {vlan}
"""


def test_seed_layout_puts_the_gateway_on_br_ex_and_cleanup_removes_the_router(make_host, cloud, external,
                                                                              upstream):
    api = L3(cloud)
    compute = make_host(SEED_LAYOUT.format(vlan=external.vlan))
    net, sub = api.network("l3-seed", "10.30.3.0/24")
    group = api.group("l3-seed")
    api.rule(group, protocol="icmp", remote_ip_prefix="0.0.0.0/0")
    port = cloud.create_port(net, "10.30.3.10", security_groups=[group["id"]])
    compute.plug(port["id"], "vm-c")
    router = api.router("l3-seed", compute)
    router = api.update_router(router, external_gateway_info={"network_id": external.network["id"]})
    api.interface(router, sub)
    fip = api.floating_ip(external.network)
    api.associate(fip, port)
    fip_ip = fip["floating_ip_address"]
    eventually(lambda: upstream.ping(fip_ip, wait=0.2) == fip_ip, timeout=15, what="the floating IP answers")
    gateway_ip = router["external_gateway_info"]["external_fixed_ips"][0]["ip_address"]
    assert ask(compute, "vm-c", OUTSIDE) == fip_ip
    ports = api.ports_of(router)
    qg, qr = names.gateway_port_name(ports["gateway"]["id"]), names.router_port_name(ports[sub["id"]]["id"])
    show = compute.show()
    assert set(show["br-ex"]["ports"]) == {"br-ex", "patch-bond0", qg}
    assert "tag" not in show["br-ex"]["ports"][qg]
    assert show["br-bond0"]["ports"]["patch-ex"]["tag"] == str(external.vlan)
    assert show["br-int"]["ports"][qr]["tag"] == str(compute.tag(qr))
    assert qg not in show["br-int"]["ports"]
    assert cloud.port(ports["gateway"]["id"])["status"] == "ACTIVE"
    api.associate(fip, None)
    eventually(lambda: ask(compute, "vm-c", OUTSIDE) == gateway_ip, what="SNAT to the gateway again")

    compute.stop_agent()
    removed = compute.neutrino("agent", "--cleanup").stdout
    assert f"namespace {names.router_namespace(router['id'])}" in removed
    assert namespaces(compute) == []  # the router's, and the instance's
    assert not [line for line in compute.run(["ip", "-o", "link"]).stdout.splitlines() if qg in line or qr in line]

