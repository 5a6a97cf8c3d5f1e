"""Routers and floating IPs benchmark (issue 5): prints a table, asserts nothing.

    sudo .venv/bin/python bench/l3.py [--fips 50] [--subnets 20] [--many-fips 200] [--seconds 5]

1. floating IP association (API PUT) -> first reply from outside: p50/p95 over N new floating IPs, each
   associated with the same instance and then disassociated (a continuous ``ping -D -i 0.005`` from the
   outside host times the first reply);
2. router convergence after an agent restart, for a router with S subnets and F associated floating IPs:
   time from the agent's start to its first complete pass, and whether the router was touched;
3. throughput (iperf3, one TCP stream) from the outside host to an instance through its floating IP, next
   to the same path without the router (an instance on the external network itself) and a bare veth pair.

It runs on simulated hosts (tests/host: each with its own ovsdb-server and ovs-vswitchd in namespaces
named after a random prefix, all removed at the end): an API server, a compute host running the agent and
an upstream host holding the outside world on the external VLAN.
"""

from __future__ import annotations

import argparse
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
from neutrino.model import names  # noqa: E402
from tests.host.l3_lab import L3, OUTSIDE, Outside, create_external  # noqa: E402
from tests.host.simhost import SimHost, standard_host, stop_process  # noqa: E402

IPERF_PORT = 5201


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


class Lab(SimLab):
    def __init__(self, base: Path):
        super().__init__(base, "nb3")
        self.fip: dict | None = None  # associated with the instance, for the throughput measure
        self.group: dict | None = None  # admits ICMP and iperf3 from anywhere

    def up(self) -> None:
        super().up()
        self.cloud._call("PUT", "/v2.0/quotas/admin", 200, json={"quota": {
            "port": -1, "network": -1, "subnet": -1, "floatingip": -1, "router": -1}})

    def host(self, name: str, agent: bool) -> SimHost:
        return self.add_host(name, standard_host(), agent)


def first_reply_after_association(api: L3, outside: Outside, fip: dict, port: dict) -> float:
    """Seconds from the association request to the first echo reply the outside gets from the floating IP."""
    argv = outside.host.in_instance(outside.namespace, ["ping", "-D", "-n", "-i", "0.005", "-W", "1",
                                                        fip["floating_ip_address"]])
    pinger = outside.host.popen(argv, stdout=subprocess.PIPE, text=True)
    try:
        time.sleep(0.05)  # pinging, unanswered
        started = time.time()
        api.associate(fip, port)
        for line in pinger.stdout:
            found = re.match(r"\[(\d+\.\d+)\] \d+ bytes from", line)
            if found:
                return float(found[1]) - started
        raise SystemExit("ping ended without a reply")
    finally:
        stop_process(pinger)


def measure_association(lab: Lab, api: L3, external, outside: Outside, compute: SimHost, count: int) -> list[float]:
    network, subnet = api.network("bench-fip", "10.40.1.0/24")
    group = api.group("bench-fip")
    api.rule(group, protocol="icmp", remote_ip_prefix="0.0.0.0/0")
    api.rule(group, protocol="tcp", port_range_min=IPERF_PORT, port_range_max=IPERF_PORT, remote_ip_prefix="0.0.0.0/0")
    port = lab.cloud.create_port(network, "10.40.1.10", security_groups=[group["id"]])
    compute.plug(port["id"], "vm")
    router = api.router("bench-fip", compute)
    api.update_router(router, external_gateway_info={"network_id": external.network["id"]})
    api.interface(router, subnet)
    times = []
    for _ in range(count):
        fip = api.floating_ip(external.network)
        times.append(first_reply_after_association(api, outside, fip, port))
        api.associate(fip, None)
        api.call("DELETE", f"/v2.0/floatingips/{fip['id']}", 204)  # 50 of them would fill the /24
    lab.fip = api.floating_ip(external.network)  # kept for the throughput measure
    api.associate(lab.fip, port)
    lab.group = group
    return times


def measure_restart(lab: Lab, api: L3, external, compute: SimHost, subnets: int, fips: int) -> tuple[float, str]:
    router = api.router("bench-big", compute)
    api.update_router(router, external_gateway_info={"network_id": external.network["id"]})
    ports = []
    for index in range(subnets):
        network, subnet = api.network(f"bench-big-{index}", f"10.41.{index}.0/24")
        api.interface(router, subnet)
        ports += [lab.cloud.create_port(network, f"10.41.{index}.{10 + k}") for k in range(fips // subnets)]
    for port in ports:
        api.associate(api.floating_ip(external.network), port)
    wanted = len(ports)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        listed = api.call("GET", "/v2.0/floatingips")["floatingips"]
        if sum(1 for f in listed if f["router_id"] == router["id"] and f["status"] == "ACTIVE") >= wanted:
            break
        time.sleep(0.2)
    namespace = names.router_namespace(router["id"])
    before = compute.run(["ip", "netns", "exec", namespace, "nft", "-a", "list", "table", "ip", "neutrino"]).stdout
    log = compute.agent_log
    compute.stop_agent()
    offset = len(log.read_text())
    compute.start_agent()
    found = re.search(r"converged at revision \d+, \d+ ports bound here, (\d+) ms after start", log.read_text()[offset:])
    after = compute.run(["ip", "netns", "exec", namespace, "nft", "-a", "list", "table", "ip", "neutrino"]).stdout
    return float(found[1]) / 1000, "untouched" if before == after else "NAT table replaced"


def iperf(host: SimHost, client_namespace: str, server_host: SimHost, server_namespace: str, address: str,
          seconds: int) -> float:
    server = server_host.popen(server_host.in_instance(server_namespace, ["iperf3", "-s", "-1", "-p", str(IPERF_PORT)]),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.3)
        out = host.run(host.in_instance(client_namespace, ["iperf3", "-c", address, "-p", str(IPERF_PORT), "-t",
                                                           str(seconds), "-f", "m"]), timeout=seconds + 30).stdout
        return float(re.findall(r"([\d.]+) Mbits/sec\s+\d*\s*sender", out)[-1]) / 1000
    finally:
        stop_process(server)


def measure_throughput(lab: Lab, api: L3, external, outside: Outside, compute: SimHost, seconds: int
                       ) -> list[tuple[str, float]]:
    results = [("outside -> instance through its floating IP",
                iperf(outside.host, outside.namespace, compute, "vm", lab.fip["floating_ip_address"], seconds))]
    direct = lab.cloud.create_port(external.network, security_groups=[lab.group["id"]])
    compute.plug(direct["id"], "vm-ext")
    results.append(("outside -> instance on the external network (no router)",
                    iperf(outside.host, outside.namespace, compute, "vm-ext", direct["fixed_ips"][0]["ip_address"],
                          seconds)))
    host = outside.host
    host.run(["ip", "netns", "add", "veth-a"])
    host.run(["ip", "netns", "add", "veth-b"])
    host.run(["ip", "-n", "veth-a", "link", "add", "va", "type", "veth", "peer", "name", "vb", "netns", "veth-b"])
    for namespace, device, address in (("veth-a", "va", "10.99.0.1/24"), ("veth-b", "vb", "10.99.0.2/24")):
        host.run(["ip", "-n", namespace, "-b", "-"], input=f"addr add {address} dev {device}\nlink set {device} up\n")
    results.append(("bare veth pair", iperf(host, "veth-a", host, "veth-b", "10.99.0.2", seconds)))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fips", type=int, default=50)
    parser.add_argument("--subnets", type=int, default=20)
    parser.add_argument("--many-fips", type=int, default=200)
    parser.add_argument("--seconds", type=int, default=5)
    args = parser.parse_args()
    lab = Lab(Path(tempfile.mkdtemp(prefix="bench-l3-")))
    try:
        lab.up()
        api = L3(lab.cloud)
        external = create_external(lab.cloud, "bench-public")
        compute = lab.host("c1", agent=True)
        outside = Outside(lab.host("u1", agent=False), external.vlan)
        outside.run("sysctl", "-qw", "net.ipv4.neigh.eth0.retrans_time_ms=10")  # time the router, not ARP back-off
        association = measure_association(lab, api, external, outside, compute, args.fips)
        convergence, touched = measure_restart(lab, api, external, compute, args.subnets, args.many_fips)
        throughput = measure_throughput(lab, api, external, outside, compute, args.seconds)
    finally:
        errors = lab.down()
    print(f"{'measure':62} {'n':>5} {'p50':>9} {'p95':>9}  target")
    print(f"{'floating IP association -> first reply from outside (ms)':62} {len(association):>5} "
          f"{percentile(association, 0.5) * 1000:>9.1f} {percentile(association, 0.95) * 1000:>9.1f}  p50 <= 200")
    print(f"{'  (mean, ms)':62} {'':>5} {statistics.mean(association) * 1000:>9.1f}")
    print(f"router with {args.subnets} subnets, {args.many_fips} floating IPs: agent restart to converged "
          f"{convergence:.2f} s (router {touched}; target <= 3 s)")
    for what, gbits in throughput:
        print(f"{what:62} {gbits:>6.2f} Gbit/s")
    print(f"floating IP path / path without the router: {throughput[0][1] / throughput[1][1]:.0%} (target >= 80 %)")
    print(f"gateway of the outside: {OUTSIDE}; everything removed: {'yes' if not errors else errors}")


if __name__ == "__main__":
    main()
