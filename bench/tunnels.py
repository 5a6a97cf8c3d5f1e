"""Tunnelled networks benchmark (issue 8): prints a table, asserts nothing.

    sudo .venv/bin/python bench/tunnels.py [--seconds 5] [--rounds 2] [--resolutions 20]

1. throughput (iperf3, one TCP stream) between instances on two hosts over a VLAN, a VXLAN and a GRE
   network, interleaved in one run (``--rounds`` times each), and VXLAN / VLAN;
2. a new host: from the start of its agent (its instance already plugged) to the other hosts' tunnel
   ports to it, its own tunnel ports and flood flows, and the first ping from its instance across;
3. flooding: tunnelled ARP requests on the wire per address resolution (an instance forgets its
   neighbours and pings its network's two other instances), from a host without and one with the ARP
   responder.

It runs on simulated hosts (tests/host: each with its own ovsdb-server and ovs-vswitchd in namespaces
named after a random prefix, all removed at the end) joined by a Linux bridge; the tunnel endpoints sit on
each host's br-phys (198.51.100.0/24), the VLAN network on physnet1 over the same wire.
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.simlab import SimLab  # noqa: E402
from tests.host.simhost import SimHost, stop_process  # noqa: E402
from tests.host.tunnel_lab import UNDERLAY, tunnel_host, tunnel_network, tunnel_ports  # noqa: E402

IPERF_PORT = 5201
CIDR = "10.9.0.0/24"


class Lab(SimLab):
    def __init__(self, base: Path):
        super().__init__(base, "nb8")

    def host(self, name: str, number: int, agent: bool = True, **tunnels) -> SimHost:
        return self.add_host(name, tunnel_host(UNDERLAY.format(number), **tunnels), agent)


def iperf(client: SimHost, client_ns: str, server: SimHost, server_ns: str, address: str, seconds: int) -> float:
    """Gbit/s the receiver saw of one TCP stream."""
    daemon = server.popen(server.in_instance(server_ns, ["iperf3", "-s", "-1", "-p", str(IPERF_PORT)]),
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.3)
        out = client.run(client.in_instance(client_ns, ["iperf3", "-c", address, "-p", str(IPERF_PORT), "-t",
                                                        str(seconds), "-f", "m"]), timeout=seconds + 30).stdout
        return float(re.findall(r"([\d.]+) Mbits/sec\s+\d*\s*receiver", out)[-1]) / 1000
    finally:
        stop_process(daemon)


def measure_throughput(a: SimHost, b: SimHost, seconds: int, rounds: int) -> dict[str, list[float]]:
    pairs = {"VLAN": ("l1", "l2", "10.9.0.32"), "VXLAN": ("v1", "v2", "10.9.0.12"), "GRE": ("g1", "g2", "10.9.0.22")}
    results: dict[str, list[float]] = {kind: [] for kind in pairs}
    for _ in range(rounds):
        for kind, (client, server, address) in pairs.items():
            results[kind].append(iperf(a, client, b, server, address, seconds))
    return results


def measure_new_host(lab: Lab, vxlan: dict, a: SimHost, b: SimHost) -> dict[str, float]:
    """Seconds from the new host's agent start to each milestone."""
    c = lab.host("c", 13, agent=False)
    c.vsctl("add-br", "br-int", "--", "set", "bridge", "br-int", "datapath_type=netdev")  # a hypervisor's own
    port = lab.cloud.create_port(vxlan, "10.9.0.13", host=c.name)
    c.plug(port["id"], "v3", wait=False)
    to_c = "vxlan-c633640d"
    milestones: dict[str, float] = {}
    checks = {
        "agent registered in the API": lambda: bool(lab.cloud.agents(c.name)),
        "tunnel ports to it on both other hosts": lambda: to_c in tunnel_ports(a) and to_c in tunnel_ports(b),
        "its own tunnel ports and flood flow": lambda: {"vxlan-c633640b", "vxlan-c633640c"} <= tunnel_ports(c)
        and any("table=22" in f and "priority=1" in f for f in c.flows("br-tun")),
        "its instance's port ACTIVE": lambda: lab.cloud.status_is(port["id"], "ACTIVE"),
        "first ping from its instance across": lambda: c.ping("v3", "10.9.0.11", count=1, wait=0.2),
    }
    started = time.monotonic()
    c.start_agent(wait=False)
    deadline = started + 30
    while len(milestones) < len(checks) and time.monotonic() < deadline:
        for what, check in checks.items():
            if what not in milestones and _quietly(check):
                milestones[what] = time.monotonic() - started
        time.sleep(0.02)
    return milestones


def _quietly(check) -> bool:
    try:
        return bool(check())
    except AssertionError:  # a command on a host that is still coming up
        return False


def measure_flooding(lab: Lab, a: SimHost, c: SimHost, resolutions: int) -> dict[str, float]:
    """Tunnelled ARP requests on a host's uplink per address resolution by its instance."""
    out = {}
    cases = ((a, 11, "v1", ("10.9.0.12", "10.9.0.13"), "without ARP responder (host a)"),
             (c, 13, "v3", ("10.9.0.11", "10.9.0.12"), "with ARP responder (host c)"))
    for host, number, namespace, peers, label in cases:
        wire = lab.base / f"flood-{host.name}.txt"
        sent = ["udp", "port", "4789", "and", "src", "host", UNDERLAY.format(number)]  # what the host sends
        capture = lab.fabric.capture(lab.fabric.uplink_name(host, "eth1"), wire, sent)
        try:
            for _ in range(resolutions // len(peers)):
                host.run(host.in_instance(namespace, ["ip", "neigh", "flush", "all"]))
                for peer in peers:
                    host.ping(namespace, peer, count=1, wait=1.0)
        finally:
            time.sleep(0.3)
            stop_process(capture)
        text = wire.read_text()
        requests = len(re.findall(r"Request who-has 10\.9\.0\.\d+ tell", text))
        out[label] = requests / (resolutions // len(peers) * len(peers))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--resolutions", type=int, default=20)
    args = parser.parse_args()
    lab = Lab(Path(tempfile.mkdtemp(prefix="bench-tunnels-")))
    try:
        lab.up()
        a, b = lab.host("a", 11), lab.host("b", 12)
        vni = random.randrange(10_000, 2**24 - 1)
        vxlan = tunnel_network(lab.cloud, "bv", "vxlan", vni, CIDR)
        gre = tunnel_network(lab.cloud, "bg", "gre", vni, CIDR)
        vlan = lab.cloud.create_network("bl", cidr=CIDR)
        for host, namespace, network, address in (
                (a, "v1", vxlan, "10.9.0.11"), (b, "v2", vxlan, "10.9.0.12"), (a, "g1", gre, "10.9.0.21"),
                (b, "g2", gre, "10.9.0.22"), (a, "l1", vlan, "10.9.0.31"), (b, "l2", vlan, "10.9.0.32")):
            host.plug(lab.cloud.create_port(network, address, host=host.name)["id"], namespace)
        throughput = measure_throughput(a, b, args.seconds, args.rounds)
        new_host = measure_new_host(lab, vxlan, a, b)
        c = lab.hosts[-1]
        c.stop_agent()  # restarted with the ARP responder on
        c.write_config(lab.server.url, tunnel_host(UNDERLAY.format(13), arp_responder=True), resync_seconds=5.0)
        c.start_agent()
        flooding = measure_flooding(lab, a, c, args.resolutions)
    finally:
        errors = lab.down()
    print(f"{'throughput between instances on two hosts (iperf3, 1 stream)':62} {'mean':>7} {'runs':>16}")
    for kind, values in throughput.items():
        runs = " ".join(f"{v:.2f}" for v in values)
        print(f"{'  ' + kind + ' (Gbit/s)':62} {statistics.mean(values):>7.2f} {runs:>16}")
    ratio = statistics.mean(throughput["VXLAN"]) / statistics.mean(throughput["VLAN"])
    print(f"{'  VXLAN / VLAN':62} {ratio:>7.0%}   (target >= 80 %)")
    print("a new host, from its agent's start (its instance plugged before):")
    for what, seconds in new_host.items():
        print(f"{'  ' + what + ' (s)':62} {seconds:>7.2f}")
    print("tunnelled ARP requests on the wire per address resolution (3 hosts with ports on the network):")
    for what, per in flooding.items():
        print(f"{'  ' + what:62} {per:>7.2f}")
    print(f"everything removed: {'yes' if not errors else errors}")


if __name__ == "__main__":
    main()
