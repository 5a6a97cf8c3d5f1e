"""Port wiring benchmark (issue 3): prints a table, asserts nothing.

    sudo .venv/bin/python bench/wiring.py [--ports 50] [--restart-ports 500] [--quick]

1. wiring latency: API port create (bound to this host, as Nova does) + plug a namespace the way a
   hypervisor does (veth + ovs-vsctl with iface-id) -> first ping reply from the new instance to a
   peer on the same network; p50/p95 over N ports.
2. restart convergence: an agent restart with M bound, plugged ports: time from start to its first
   complete pass, and pings lost meanwhile (a ping every 20 ms between two instances).
3. flow installation rate: one bundle of K translation flows onto a bridge.

Everything runs on this machine's Open vSwitch with bridges and namespaces named nb-*/nbv-*, all
removed at the end; the API server and the agent run as subprocesses on a free loopback port.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from neutrino.host.runner import RealHost  # noqa: E402
from neutrino.plan.host_plan import Bridge, Flow, HostPlan  # noqa: E402
from neutrino.realize.dhcp import remove_dhcp_servers  # noqa: E402
from neutrino.realize.instances import InstanceSpec, plug_instance, unplug_instance  # noqa: E402
from neutrino.realize.openflow import apply_flows  # noqa: E402

HOST = "bench-host"
INT_BRIDGE, PHYS_BRIDGE = "nb-int", "nb-phys"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


class Bench:
    def __init__(self, workdir: Path, firewall: str = "openvswitch"):
        self.workdir = workdir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.api = httpx.Client(base_url=self.url, timeout=30)
        self.host = RealHost()
        self.processes: dict[str, subprocess.Popen] = {}
        self.instances: list[tuple[str, str]] = []
        self.config = workdir / "agent.toml"
        self.config.write_text(f'''[server]
url = "{self.url}"
auth = "noauth"
[agent]
state_dir = "{workdir / 'agent'}"
resync_seconds = 5
[host]
name = "{HOST}"
integration_bridge = "{INT_BRIDGE}"
firewall_driver = "{firewall}"
bridge_mappings = {{ physnet1 = "{PHYS_BRIDGE}" }}
''')

    def start(self, name: str, argv: list[str]) -> subprocess.Popen:
        log = open(self.workdir / f"{name}.log", "ab")
        process = subprocess.Popen(argv, stdout=log, stderr=log, start_new_session=True)
        self.processes[name] = process
        return process

    def stop(self, name: str) -> None:
        process = self.processes.pop(name, None)
        if process and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def start_server(self) -> None:
        self.start("server", [sys.executable, "-m", "neutrino.cli.main", "serve", "--auth", "noauth",
                              "--state-dir", str(self.workdir / "server"), "--port", str(self.port)])
        for _ in range(200):
            try:
                if self.api.get("/").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.05)
        self.api.put("/v2.0/quotas/admin", json={"quota": {"port": -1, "network": -1, "subnet": -1}})

    def start_agent(self) -> float:
        """Start the agent; returns when its first pass is done, with that pass's reported time (s)."""
        log_path = self.workdir / "agent.log"
        offset = log_path.stat().st_size if log_path.exists() else 0
        started = time.perf_counter()
        self.start("agent", [sys.executable, "-m", "neutrino.cli.main", "agent", "--config", str(self.config)])
        while True:
            text = log_path.read_text()[offset:] if log_path.exists() else ""
            found = re.search(r"converged at revision \d+, (\d+) ports bound here, (\d+) ms after start", text)
            if found:
                return time.perf_counter() - started
            if self.processes["agent"].poll() is not None:
                raise SystemExit(f"agent died:\n{text}")
            time.sleep(0.01)

    def create_network(self) -> tuple[str, str]:
        network = self.api.post("/v2.0/networks", json={"network": {"name": "bench"}}).json()["network"]["id"]
        subnet = self.api.post("/v2.0/subnets", json={"subnet": {
            "network_id": network, "cidr": "10.88.0.0/16", "ip_version": 4}}).json()["subnet"]
        return network, subnet["id"]

    def new_port(self, network: str) -> dict:
        response = self.api.post("/v2.0/ports", json={"port": {"network_id": network, "binding:host_id": HOST}})
        response.raise_for_status()
        return response.json()["port"]

    def plug(self, port: dict, name: str) -> InstanceSpec:
        spec = InstanceSpec(name, port["id"], port["mac_address"], (port["fixed_ips"][0]["ip_address"] + "/16",),
                            None, 1500, INT_BRIDGE)
        plug_instance(self.host, spec)
        self.instances.append((name, port["id"]))
        # The instance re-tries ARP every 10 ms instead of the kernel's 1 s, so a ping sent before the
        # port is wired costs 10 ms, not a second: we measure wiring, not the guest's ARP back-off.
        self.host.run(["ip", "netns", "exec", name, "sysctl", "-qw", "net.ipv4.neigh.eth0.retrans_time_ms=10"])
        return spec

    def ping_until_reply(self, namespace: str, address: str, limit: float = 10.0) -> None:
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            done = subprocess.run(["ip", "netns", "exec", namespace, "ping", "-c1", "-W0.05", "-n", address],
                                  capture_output=True)
            if done.returncode == 0:
                return
        raise SystemExit(f"no reply from {address} in {namespace} within {limit} s")

    def cleanup(self) -> None:
        self.stop("agent")
        remove_dhcp_servers(self.host, self.workdir / "agent" / "dhcp")  # dnsmasq outlives the agent
        for name, port_id in self.instances:
            unplug_instance(self.host, name, port_id, INT_BRIDGE)
        for bridge in (INT_BRIDGE, PHYS_BRIDGE, "nb-flows"):
            self.host.run(["ovs-vsctl", "--if-exists", "del-br", bridge], check=False)
        self.stop("server")


def wiring_latency(bench: Bench, network: str, count: int) -> list[float]:
    peer_port = bench.new_port(network)
    peer = bench.plug(peer_port, "nbv-peer")
    while bench.api.get(f"/v2.0/ports/{peer_port['id']}").json()["port"]["status"] != "ACTIVE":
        time.sleep(0.02)
    peer_ip = peer.addresses[0].split("/")[0]
    times = []
    for index in range(count):
        started = time.perf_counter()
        port = bench.new_port(network)
        bench.plug(port, f"nbv-{index}")
        bench.ping_until_reply(f"nbv-{index}", peer_ip)
        times.append(time.perf_counter() - started)
    return times


def restart_convergence(bench: Bench, network: str, count: int) -> tuple[float, int, int]:
    existing = len(bench.instances)
    for index in range(existing, count):
        bench.plug(bench.new_port(network), f"nbv-{index}")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        ports = bench.api.get("/v2.0/ports", params={"fields": "status", "network_id": network}).json()["ports"]
        if sum(p["status"] == "ACTIVE" for p in ports) >= count:
            break
        time.sleep(0.2)
    first, second = bench.instances[0][0], bench.instances[1][1]
    target = bench.api.get(f"/v2.0/ports/{second}").json()["port"]["fixed_ips"][0]["ip_address"]
    pinger = subprocess.Popen(["ip", "netns", "exec", first, "ping", "-i", "0.02", "-W", "1", "-n", target],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    time.sleep(0.5)
    bench.stop("agent")
    converge = bench.start_agent()
    time.sleep(0.5)
    pinger.send_signal(signal.SIGINT)
    output = pinger.communicate(timeout=10)[0]
    sent, received = map(int, re.search(r"(\d+) packets transmitted, (\d+) received", output).groups())
    return converge, sent, sent - received


def flow_rate(bench: Bench, count: int) -> float:
    bridge = "nb-flows"
    bench.host.run(["ovs-vsctl", "--may-exist", "add-br", bridge, "--", "set", "Bridge", bridge,
                    "datapath_type=netdev", "fail_mode=secure"])
    flows = tuple(Flow(bridge, 0, 3, f"dl_vlan={1 + i % 4000},dl_dst=fa:16:3e:{i >> 16 & 255:02x}:{i >> 8 & 255:02x}:"
                                     f"{i & 255:02x}", "mod_vlan_vid:5,NORMAL") for i in range(count))
    plan = HostPlan("bench", bridges=(Bridge(bridge, "netdev"),), flows=flows)
    started = time.perf_counter()
    apply_flows(bench.host, plan)
    return count / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ports", type=int, default=50)
    parser.add_argument("--restart-ports", type=int, default=500)
    parser.add_argument("--flows", type=int, default=10_000)
    parser.add_argument("--quick", action="store_true", help="10 ports, 50 for the restart, 1,000 flows")
    parser.add_argument("--firewall", default="openvswitch", choices=("openvswitch", "noop"),
                        help="the agent's firewall driver (noop: L2 wiring only)")
    args = parser.parse_args()
    if args.quick:
        args.ports, args.restart_ports, args.flows = 10, 50, 1000
    if os.geteuid() != 0:
        raise SystemExit("bench/wiring.py needs root (it plugs namespaces into Open vSwitch)")
    with tempfile.TemporaryDirectory(prefix="nb-") as tmp:
        Path(tmp).chmod(0o755)  # the agent's DHCP directory is under it, and dnsmasq reads it unprivileged
        bench = Bench(Path(tmp), args.firewall)
        try:
            bench.start_server()
            bench.start_agent()
            network, _ = bench.create_network()
            wiring = wiring_latency(bench, network, args.ports)
            converge, sent, lost = restart_convergence(bench, network, args.restart_ports)
            rate = flow_rate(bench, args.flows)
        finally:
            bench.cleanup()
    rows = [
        ("port create + plug -> first ping (ms)", len(wiring), statistics.median(wiring) * 1000,
         percentile(wiring, 0.95) * 1000, "p50 <= 150, p95 <= 400"),
        (f"agent restart -> converged, {args.restart_ports} ports (ms)", 1, converge * 1000, converge * 1000,
         "<= 5000"),
        ("pings lost during the restart (every 20 ms)", sent, lost, lost, "0"),
        (f"flows installed per second ({args.flows} in one bundle)", args.flows, rate, rate, ""),
    ]
    print(f"firewall driver: {args.firewall}; all instances in their project's default security group")
    print(f"{'measure':58} {'n':>6} {'p50':>10} {'p95':>10}  target")
    for name, n, p50, p95, target in rows:
        print(f"{name:58} {n:>6} {p50:>10.1f} {p95:>10.1f}  {target}")


if __name__ == "__main__":
    main()
