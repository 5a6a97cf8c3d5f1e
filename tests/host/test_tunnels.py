"""Tunnelled networks across simulated hosts (issue 8): VXLAN and GRE through br-tun, between hosts whose
agents put their tunnel endpoint on the physical bridge's internal port (reference/multi-host.md §3).

One scenario, checked step by step: instances of a VXLAN and a GRE network on two hosts reach each other
and move full-size TCP (the network's MTU leaves room for the encapsulation); the fabric carries only
VXLAN with the network's VNI and GRE with its key; a second VXLAN network, the GRE network and a VLAN
network stay apart; a third host that joins gets tunnels and reaches the others, and when it leaves (its
agents deleted) the others drop their tunnels to it; a restarted ovs-vswitchd on one host is re-converged
by its agent while the other host's switch is left as it was.
"""

from __future__ import annotations

import random
import re
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from neutrino.model import names
from tests.host.l3_lab import L3, OUTSIDE, WHOAMI_PORT, Outside, ask, create_external, serve
from tests.host.simhost import eventually, stop_process
from tests.host.tunnel_lab import UNDERLAY, tunnel_host, tunnel_network, tunnel_ports

CIDR = "10.9.0.0/24"
TRANSFER_BYTES = 4 * 1024 * 1024

# Runs in an instance: accept one connection, count what arrives until EOF, answer with the count.
SINK = """
import socket, sys
server = socket.socket(); server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("0.0.0.0", 9100)); server.listen(1); print("listening", flush=True)
connection, _ = server.accept(); total = 0
while chunk := connection.recv(65536): total += len(chunk)
connection.sendall(str(total).encode()); connection.close()
"""
# Runs in an instance: send argv[2] bytes to argv[1]:9100, print what the sink counted.
SOURCE = """
import socket, sys
connection = socket.create_connection((sys.argv[1], 9100), timeout=15)
connection.sendall(b"x" * int(sys.argv[2])); connection.shutdown(socket.SHUT_WR)
print(connection.recv(64).decode())
"""


def transfer(source_host, source_ns: str, sink_host, sink_ns: str, address: str) -> int:
    """Bytes that arrived at the sink of a TRANSFER_BYTES TCP stream from source to sink."""
    sink = sink_host.popen(sink_host.in_instance(sink_ns, [sys.executable, "-c", SINK]), stdout=-1, text=True)
    try:
        assert sink.stdout.readline().strip() == "listening"
        sent = source_host.run(source_host.in_instance(source_ns, [sys.executable, "-c", SOURCE, address,
                                                                    str(TRANSFER_BYTES)]), timeout=30)
        return int(sent.stdout.strip())
    finally:
        stop_process(sink, grace=1.0)


def test_tunnelled_networks_across_hosts(make_host, cloud, fabric, tmp_path):
    a, b = make_host(tunnel_host(UNDERLAY.format(11))), make_host(tunnel_host(UNDERLAY.format(12)))
    vni = random.randrange(10_000, 2**24 - 1)
    vxlan, gre = tunnel_network(cloud, "tv", "vxlan", vni, CIDR), tunnel_network(cloud, "tg", "gre", vni, CIDR)
    other_vxlan = tunnel_network(cloud, "tw", "vxlan", vni + 1, CIDR)
    vlan = cloud.create_network("tl", cidr=CIDR)
    assert (vxlan["mtu"], gre["mtu"], vlan["mtu"]) == (1450, 1458, 1500)
    instances = {  # namespace -> (host, network, address): one CIDR for all, so only L2 isolation decides
        "v1": (a, vxlan, "10.9.0.11"), "v2": (b, vxlan, "10.9.0.12"),
        "g1": (a, gre, "10.9.0.21"), "g2": (b, gre, "10.9.0.22"),
        "w2": (b, other_vxlan, "10.9.0.42"), "l1": (a, vlan, "10.9.0.31"),
    }
    ports = {ns: cloud.create_port(network, address, host=host.name) for ns, (host, network, address)
             in instances.items()}
    with ThreadPoolExecutor(len(instances)) as pool:
        list(pool.map(lambda ns: instances[ns][0].plug(ports[ns]["id"], ns), instances))

    # Each host tunnels to the other, named as Neutron names the tunnel; the endpoint is on br-phys.
    assert tunnel_ports(a) == {"vxlan-c633640c", "gre-c633640c"}
    assert tunnel_ports(b) == {"vxlan-c633640b", "gre-c633640b"}
    # The server's trace follows v1 -> v2 through both br-tuns, encapsulated with the network's VNI between the
    # endpoints (delivered once both ports are reported ACTIVE).
    answer = eventually(lambda: (t := cloud.trace(ports["v1"]["id"], ports["v2"]["id"]))["verdict"]["reason"]
                        == "delivered" and t, timeout=10, what="trace v1 -> v2 delivered")
    fabric_hops = [h for h in answer["hops"] if h["element"] == "fabric"]
    assert [h["stage"] for h in fabric_hops] == [f"VXLAN VNI {vni}"], answer["hops"]
    assert fabric_hops[0]["matched"].startswith(f"{a.name} 198.51.100.11 -> {b.name} 198.51.100.12")
    assert [(h["host"], h["name"], h["stage"]) for h in answer["hops"] if h["name"] == "br-tun"] == [
        (a.name, "br-tun", "table 20 priority 2"), (b.name, "br-tun", "table 0 priority 1"),
        (b.name, "br-tun", "table 4 priority 1"), (b.name, "br-tun", "table 10 priority 1")]
    assert "198.51.100.11/24" in a.run(["ip", "-4", "-o", "addr", "show", "dev", "br-phys"]).stdout
    options = a.show()["br-tun"]["ports"]["vxlan-c633640c"]["interfaces"]["vxlan-c633640c"]["options"]
    assert all(f'{key}="{value}"' in options or f"{key}={value}" in options for key, value in (
        ("remote_ip", "198.51.100.12"), ("local_ip", "198.51.100.11"), ("in_key", "flow"), ("out_key", "flow")))

    wire = tmp_path / "fabric.txt"
    capture = fabric.capture(fabric.uplink_name(a, "eth1"), wire, ["udp", "port", "4789", "or", "ip", "proto", "gre"])
    try:
        assert a.ping("v1", "10.9.0.12", count=3), "VXLAN across hosts"
        assert a.ping("g1", "10.9.0.22", count=3), "GRE across hosts"
        # Full-size frames: the instance's MTU (the network's) leaves room for the headers: no black hole.
        assert a.run(a.in_instance("v1", ["ping", "-c", "1", "-W", "2", "-M", "do", "-s", "1422", "10.9.0.12"]),
                     check=False).returncode == 0
        assert transfer(a, "v1", b, "v2", "10.9.0.12") == TRANSFER_BYTES
        assert transfer(b, "g2", a, "g1", "10.9.0.21") == TRANSFER_BYTES
        blocked = [(a, "v1", "10.9.0.42"), (a, "v1", "10.9.0.22"), (b, "g2", "10.9.0.11"),
                   (b, "w2", "10.9.0.11"), (a, "l1", "10.9.0.12"), (a, "l1", "10.9.0.22")]
        with ThreadPoolExecutor(len(blocked)) as pool:
            reached = list(pool.map(lambda case: case[0].ping(case[1], case[2], count=2), blocked))
        assert reached == [False] * len(blocked), f"reached across networks: {blocked}"
    finally:
        stop_process(capture)
    lines = packets(wire.read_text())
    vxlan_pings = [line for line in lines if "10.9.0.11 > 10.9.0.12: ICMP echo request" in line]
    gre_pings = [line for line in lines if "10.9.0.21 > 10.9.0.22: ICMP echo request" in line]
    assert len(vxlan_pings) >= 3 and all(f"vni {vni}" in line for line in vxlan_pings), "\n".join(lines[:20])
    assert len(gre_pings) >= 3 and all(f"key={vni:#x}" in line for line in gre_pings), "\n".join(lines[:20])
    assert all("198.51.100.11" in line and "198.51.100.12" in line for line in vxlan_pings + gre_pings)
    # The other VXLAN network's VNI never went to host b's... nor anywhere: w2 has no peer on host a.
    assert not [line for line in lines if f"vni {vni + 1}" in line]

    # A third host joins: the others tunnel to it (VXLAN only, as it says), and it reaches them; it answers
    # its instances' ARP requests for the others' ports itself.
    joined = time.monotonic()
    c = make_host(tunnel_host(UNDERLAY.format(13), ("vxlan",), arp_responder=True))
    for host in (a, b):
        eventually(lambda h=host: "vxlan-c633640d" in tunnel_ports(h), timeout=10, what=f"{host} tunnels to c")
    ready = time.monotonic() - joined
    assert tunnel_ports(c) == {"vxlan-c633640b", "vxlan-c633640c"}
    v3 = cloud.create_port(vxlan, "10.9.0.13", host=c.name)
    c.plug(v3["id"], "v3")
    assert c.ping("v3", "10.9.0.11", count=2) and c.ping("v3", "10.9.0.12", count=2)
    assert a.ping("v1", "10.9.0.13", count=2)
    answered = next(line for line in c.flows("br-tun", stats=True) if "arp_tpa=10.9.0.11" in line)
    assert not re.search(r"n_packets=0,", answered), answered
    flood = next(line for line in a.flows("br-tun") if "table=22" in line and "priority=1" in line
                 and "vxlan-c633640d" in line)
    assert "vxlan-c633640c" in flood  # net tv floods to both other hosts now

    # It leaves: its agents stop and are deleted; the others drop their tunnels and flows to it.
    c.stop_agent()
    for agent in cloud.agents(c.name):
        assert cloud.http.delete(f"/v2.0/agents/{agent['id']}").status_code == 204
    for host in (a, b):
        eventually(lambda h=host: tunnel_ports(h) == {"vxlan-c633640" + ("c" if h is a else "b"),
                                                      "gre-c633640" + ("c" if h is a else "b")},
                   timeout=10, what=f"{host} drops its tunnel to c")
        assert not [line for line in host.flows("br-tun") if "c633640d" in line]
    assert a.ping("v1", "10.9.0.12", count=1)

    # Host b's switch restarts (all its flows lost, br-phys re-created without the endpoint address): its
    # agent re-converges it; host a's switch is not touched.
    a_pid = (a.dir / "run/ovs-vswitchd.pid").read_text()
    a_flows = a.flows("br-tun")
    b.restart_vswitchd()
    eventually(lambda: a.ping("v1", "10.9.0.12", count=1), timeout=15, what="VXLAN again after b's restart")
    assert b.ping("g2", "10.9.0.21", count=1)
    assert "198.51.100.12/24" in b.run(["ip", "-4", "-o", "addr", "show", "dev", "br-phys"]).stdout
    assert (a.dir / "run/ovs-vswitchd.pid").read_text() == a_pid
    assert _without_learnt(a.flows("br-tun")) == _without_learnt(a_flows)
    # Converged, each agent's passes find nothing to change (OVSDB, flows as OVS prints them, the address).
    for host in (a, b):
        host.wait_for_pass()
    logged = [changes_logged(host) for host in (a, b)]
    for host in (a, b):
        host.wait_for_pass()
    assert [changes_logged(host) for host in (a, b)] == logged, a.log_tail(6) + "\n" + b.log_tail(6)
    routes_between_a_tunnel_and_a_vlan(make_host, cloud, a, b, vni + 2)
    print(f"third host's tunnels up on both others {ready:.2f} s after it was made")


def routes_between_a_tunnel_and_a_vlan(make_host, cloud, a, b, vni: int) -> None:
    """A router on host a with interfaces on a VXLAN and a VLAN network routes between an instance of the
    VXLAN network on host b (through the tunnel) and one of the VLAN network on host a; a floating IP of
    the VXLAN instance answers the outside host (l3_lab.Outside, on the external VLAN)."""
    api = L3(cloud)
    external = create_external(cloud, "tun-public")
    upstream = Outside(make_host(agent=False), external.vlan)
    vxlan, vxlan_subnet = api.network("tr-vxlan", "10.9.1.0/24", **{
        "provider:network_type": "vxlan", "provider:physical_network": None, "provider:segmentation_id": vni})
    vlan, vlan_subnet = api.network("tr-vlan", "10.9.2.0/24")
    group = api.group("tr")
    api.rule(group, protocol="icmp", remote_ip_prefix="0.0.0.0/0")
    api.rule(group, protocol="tcp", port_range_min=WHOAMI_PORT, port_range_max=WHOAMI_PORT,
             remote_ip_prefix="0.0.0.0/0")
    r1 = cloud.create_port(vxlan, "10.9.1.10", host=b.name, security_groups=[group["id"]])
    r2 = cloud.create_port(vlan, "10.9.2.10", host=a.name, security_groups=[group["id"]])
    b.plug(r1["id"], "r1")
    a.plug(r2["id"], "r2")
    router = api.router("tr", a)
    router = api.update_router(router, external_gateway_info={"network_id": external.network["id"]})
    api.interface(router, vxlan_subnet)
    api.interface(router, vlan_subnet)
    eventually(lambda: b.ping("r1", "10.9.2.10", wait=0.2), timeout=15, what="VXLAN r1 (b) -> router (a) -> VLAN r2")
    assert a.ping("r2", "10.9.1.10")
    qr = names.router_port_name(api.ports_of(router)[vxlan_subnet["id"]]["id"])
    assert "mtu 1450 " in a.run(["ip", "-n", names.router_namespace(router["id"]), "link", "show", qr]).stdout
    fip = api.floating_ip(external.network)
    fip_ip = fip["floating_ip_address"]
    api.associate(fip, r1)
    serve(b, "r1")
    eventually(lambda: upstream.ping(fip_ip, wait=0.2) == fip_ip, timeout=15, what="the VXLAN instance's floating IP")
    assert upstream.ask(fip_ip) == OUTSIDE
    assert ask(b, "r1", OUTSIDE) == fip_ip


def packets(capture: str) -> list[str]:
    """One line per captured packet: tcpdump prints a VXLAN packet's inner frame on a line of its own."""
    out: list[str] = []
    for line in filter(str.strip, capture.splitlines()):
        if re.match(r"\d\d:\d\d:\d\d\.\d+ ", line) or not out:
            out.append(line)
        else:
            out[-1] += " " + line.strip()
    return out


def changes_logged(host) -> int:
    """How many passes of the host's agent changed something (each logs one "revision N: ..." line)."""
    return host.agent_log.read_text().count("neutrino.agent.loop: revision ")


def _without_learnt(flows: list[str]) -> list[str]:
    return [line for line in flows if not re.search(r"cookie=0x6e65756c", line)]
