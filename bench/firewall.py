"""Security group firewall benchmark (issue 4): prints a table, asserts nothing.

    sudo .venv/bin/python bench/firewall.py [--driver openvswitch|iptables_hybrid] [--ports 100] [--repeat 20]
        [--quick]

1. full apply: 1,000 rules across 100 ports (100 groups of 10 rules, each port plugged as an instance
   with ``realize.instances.plug_instance``), br-int's flows deleted, then (a) observe + plan + apply
   timed in this process, and (b) a restarted agent's first pass, as the agent logs it.
2. one rule change: from the API call adding (or deleting) an ingress rule of a plugged port's group
   until its flow is in (or gone from) br-int, as ``ovs-ofctl monitor br watch:`` reports it (with
   ``--driver iptables_hybrid``: until its iptables rule is in or gone, as ``nft monitor`` reports it).
3. remote group membership: from the API call putting a port into a group that the group's own rule
   names as its remote, until a member port on this host has a flow (rule) admitting the new address.
4. iperf3 TCP throughput between two instances on this host, the receiver's port holding 100 rules,
   with the firewall and then with ``firewall_driver = "noop"`` (the agent restarted with it; for
   iptables_hybrid, our chains removed too, since driver noop leaves iptables alone).

Runs on this machine's Open vSwitch with bridges, namespaces and a host name carrying a random
``nf<hex>`` prefix, all removed at the end; the API server and the agent run as subprocesses on a
free loopback port.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import selectors
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.wiring import free_port, percentile  # noqa: E402
from neutrino.agent.facts import facts_from  # noqa: E402
from neutrino.feed.client import FeedClient  # noqa: E402
from neutrino.host.runner import RealHost  # noqa: E402
from neutrino.model.host_config import HostConfig  # noqa: E402
from neutrino.model.state import state_from_resources  # noqa: E402
from neutrino.plan.build import build_plan  # noqa: E402
from neutrino.realize.dhcp import remove_dhcp_servers  # noqa: E402
from neutrino.realize.instances import InstanceSpec, plug_instance, unplug_instance  # noqa: E402
from neutrino.realize.iptables import apply_iptables, observe_filter, remove_filter  # noqa: E402
from neutrino.realize.openflow import apply_flows, observe_flows_of  # noqa: E402
from neutrino.realize.ovsdb import apply_ovsdb, observe_ovs  # noqa: E402

CIDR, PREFIX_LENGTH = "10.91.0.0/16", 16
IPERF_PORT = 5201
SETTLE_SECONDS = 0.3  # between changes: the previous change's pass is over


class Bench:
    def __init__(self, workdir: Path, prefix: str, driver: str = "openvswitch"):
        self.workdir, self.prefix, self.driver = workdir, prefix, driver
        self.host_name = f"bench-{prefix}"
        self.int_bridge, self.phys_bridge = f"{prefix}-int", f"{prefix}-phys"
        self.url = f"http://127.0.0.1:{free_port()}"
        self.api = httpx.Client(base_url=self.url, timeout=60)
        self.host = RealHost()
        self.processes: dict[str, subprocess.Popen] = {}
        self.instances: list[tuple[str, str]] = []  # (namespace, port id)
        self.configs = {name: self._write_config(name) for name in (driver, "noop")}

    def _write_config(self, driver: str) -> Path:
        path = self.workdir / f"agent-{driver}.toml"
        path.write_text(f'''[server]
url = "{self.url}"
auth = "noauth"
[agent]
state_dir = "{self.workdir / 'agent'}"
resync_seconds = 30
[host]
name = "{self.host_name}"
integration_bridge = "{self.int_bridge}"
bridge_mappings = {{ physnet1 = "{self.phys_bridge}" }}
firewall_driver = "{driver}"
''')
        return path

    @property
    def config(self) -> HostConfig:
        return HostConfig(host=self.host_name, integration_bridge=self.int_bridge,
                          bridge_mappings={"physnet1": self.phys_bridge}, firewall_driver=self.driver)

    @property
    def hybrid(self) -> bool:
        return self.driver == "iptables_hybrid"

    # --- processes ---

    def start(self, name: str, argv: list[str]) -> subprocess.Popen:
        log = open(self.workdir / f"{name}.log", "ab")
        process = subprocess.Popen(argv, stdout=log, stderr=log, start_new_session=True, cwd=ROOT)
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
        port = self.url.rsplit(":", 1)[1]
        self.start("server", [sys.executable, "-m", "neutrino.cli.main", "serve", "--auth", "noauth",
                              "--state-dir", str(self.workdir / "server"), "--port", port])
        for _ in range(400):
            try:
                if self.api.get("/").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.05)
        self.call("PUT", "/v2.0/quotas/admin", {"quota": {key: -1 for key in (
            "port", "network", "subnet", "security_group", "security_group_rule")}})

    def start_agent(self, driver: str | None = None) -> float | None:
        """Start the agent; return when its first pass is done, with that pass's own time (s)."""
        driver = driver or self.driver
        log_path = self.workdir / "agent.log"
        offset = log_path.stat().st_size if log_path.exists() else 0
        self.start("agent", [sys.executable, "-m", "neutrino.cli.main", "agent", "--config",
                             str(self.configs[driver])])
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            text = log_path.read_text()[offset:] if log_path.exists() else ""
            if re.search(r"converged at revision \d+", text):
                passes = re.findall(r"revision \d+: .*\((\d+) ms\)", text)
                return int(passes[0]) / 1000 if passes else None
            if self.processes["agent"].poll() is not None:
                raise SystemExit(f"agent died:\n{text}")
            time.sleep(0.01)
        raise SystemExit("the agent did not converge within 120 s")

    # --- the API ---

    def call(self, method: str, path: str, body: dict | None = None) -> dict:
        response = self.api.request(method, path, json=body)
        if response.status_code >= 400:
            raise SystemExit(f"{method} {path}: {response.status_code} {response.text[:300]}")
        return response.json() if response.content else {}

    def create_network(self) -> str:
        network = self.call("POST", "/v2.0/networks", {"network": {"name": f"{self.prefix}-net"}})["network"]
        self.call("POST", "/v2.0/subnets", {"subnet": {"network_id": network["id"], "cidr": CIDR, "ip_version": 4}})
        return network["id"]

    def create_group(self, name: str, rules: list[dict]) -> str:
        group = self.call("POST", "/v2.0/security-groups", {"security_group": {"name": name}})["security_group"]
        if rules:
            self.call("POST", "/v2.0/security-group-rules", {"security_group_rules": [
                {"security_group_id": group["id"], "direction": "ingress", "ethertype": "IPv4", **rule}
                for rule in rules]})
        return group["id"]

    def create_port(self, network: str, groups: list[str], host: str | None = None) -> dict:
        body = {"network_id": network, "security_groups": groups, "binding:host_id": host or self.host_name}
        return self.call("POST", "/v2.0/ports", {"port": body})["port"]

    def plug(self, port: dict, namespace: str) -> InstanceSpec:
        address = port["fixed_ips"][0]["ip_address"]
        spec = InstanceSpec(namespace, port["id"], port["mac_address"], (f"{address}/{PREFIX_LENGTH}",),
                            None, 1500, self.int_bridge, hybrid=self.hybrid)
        plug_instance(self.host, spec)
        self.instances.append((namespace, port["id"]))
        return spec

    def wait_active(self, port_ids: list[str], limit: float = 120.0) -> None:
        deadline = time.monotonic() + limit
        wanted = set(port_ids)
        while time.monotonic() < deadline:
            ports = self.call("GET", "/v2.0/ports?fields=id&fields=status")["ports"]
            if wanted <= {p["id"] for p in ports if p["status"] == "ACTIVE"}:
                return
            time.sleep(0.1)
        raise SystemExit(f"ports not ACTIVE within {limit} s")

    # --- the switch ---

    def watch_rule(self, tcp_port: int) -> FlowWatch | RuleWatch:
        """Until an ingress rule admitting TCP to ``tcp_port`` is in (out of) the data plane."""
        if self.hybrid:
            return RuleWatch(f"tcp dport {tcp_port} ", self.prefix)
        return FlowWatch(self.int_bridge, f"table=82,tcp,tp_dst={tcp_port}")

    def watch_source(self, address: str) -> FlowWatch | RuleWatch:
        """Until an ingress rule admitting ``address`` is in the data plane."""
        if self.hybrid:
            return RuleWatch(f"ip saddr {address} ", self.prefix)
        return FlowWatch(self.int_bridge, f"table=82,ip,nw_src={address}")

    def cleanup(self) -> None:
        self.stop("agent")
        remove_dhcp_servers(self.host, self.workdir / "agent" / "dhcp")  # dnsmasq outlives the agent
        for namespace, port_id in self.instances:
            unplug_instance(self.host, namespace, port_id, self.int_bridge)
        if self.hybrid:
            remove_filter(self.host)
        for bridge in (self.int_bridge, self.phys_bridge):
            self.host.run(["ovs-vsctl", "--if-exists", "del-br", bridge], check=False)
        self.stop("server")


class FlowWatch:
    """``ovs-ofctl monitor BR watch:MATCH``: the switch itself reports each flow matching MATCH that is
    added or deleted, so the time a change takes is seen without polling (which would load the CPU
    the agent needs)."""

    def __init__(self, bridge: str, match: str):
        # Found by trial on OVS 3.1: with stderr on /dev/null ``ovs-ofctl monitor`` reports nothing after
        # its initial reply, so stderr shares the pipe (its log lines cannot look like an event).
        self.process = subprocess.Popen(["stdbuf", "-oL", "ovs-ofctl", "monitor", bridge, f"watch:!initial,{match}"],
                                        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.process.stdout, selectors.EVENT_READ)
        self.seen = ""
        if not self._read_until("reply", 10.0):  # the (empty) initial reply: from now on it reports
            raise SystemExit(f"ovs-ofctl monitor {bridge} did not start")

    def __enter__(self) -> FlowWatch:
        return self

    def __exit__(self, *exc_info) -> None:
        self.process.kill()
        self.process.wait()
        self.process.stdout.close()
        self.selector.close()

    def wait(self, event: str, limit: float = 10.0) -> bool:
        """Until the switch reports ``event`` (ADDED, DELETED) for a matching flow; False after ``limit`` s."""
        return self._read_until(f"event={event}", limit)

    def _read_until(self, text: str, limit: float) -> bool:
        deadline = time.monotonic() + limit
        while text not in self.seen:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self.selector.select(remaining):
                return False
            chunk = os.read(self.process.stdout.fileno(), 65536).decode()
            if not chunk:
                return False
            self.seen += chunk
        self.seen = self.seen.split(text, 1)[1]  # what came after it is still to be read
        return True


class RuleWatch:
    """``nft -a monitor rules``: the kernel reports each rule added or deleted (iptables here is the nf_tables
    backend), so an iptables_hybrid change is seen without polling. A rule added whose text contains
    ``text`` is ADDED; the deletion of that rule (by its handle) is DELETED."""

    def __init__(self, text: str, prefix: str):
        self.text, self.handle = text, None
        self.process = subprocess.Popen(["stdbuf", "-oL", "nft", "-a", "monitor"],
                                        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.process.stdout, selectors.EVENT_READ)
        self.lines: list[str] = []
        self.partial = ""
        # nft monitor says nothing when it is ready: a table of our own, added and deleted, says it
        marker = f"{prefix}-ready"
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            subprocess.run(["nft", "add", "table", "ip", marker], check=True)
            subprocess.run(["nft", "delete", "table", "ip", marker], check=True)
            if self._line_with(f"delete table ip {marker}", 0.2):
                return
        raise SystemExit("nft monitor did not start")

    def __enter__(self) -> RuleWatch:
        return self

    def __exit__(self, *exc_info) -> None:
        self.process.kill()
        self.process.wait()
        self.process.stdout.close()
        self.selector.close()

    def wait(self, event: str, limit: float = 10.0) -> bool:
        if event == "ADDED":
            line = self._line_with(self.text, limit, prefix="add rule ")
            if line:
                self.handle = line.rsplit("# handle ", 1)[1].strip()
            return line is not None
        return self.handle is not None and self._line_with(f" handle {self.handle}", limit,
                                                           prefix="delete rule ", at_end=True) is not None

    def _line_with(self, text: str, limit: float, prefix: str = "", at_end: bool = False) -> str | None:
        deadline = time.monotonic() + limit
        while True:
            while self.lines:
                line = self.lines.pop(0).rstrip()
                if line.startswith(prefix) and (line.endswith(text) if at_end else text in line):
                    return line
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self.selector.select(remaining):
                return None
            chunk = os.read(self.process.stdout.fileno(), 65536).decode()
            if not chunk:
                return None
            *complete, self.partial = (self.partial + chunk).split("\n")
            self.lines += complete


def port_rules(index: int) -> list[dict]:
    """Eight ingress rules for port ``index`` (its group has Neutron's two default egress rules too)."""
    return [
        {"protocol": "tcp", "port_range_min": 22, "port_range_max": 22, "remote_ip_prefix": "10.0.0.0/8"},
        {"protocol": "tcp", "port_range_min": 80, "port_range_max": 80},
        {"protocol": "tcp", "port_range_min": 443, "port_range_max": 443},
        {"protocol": "udp", "port_range_min": 1000, "port_range_max": 1999},
        {"protocol": "icmp", "port_range_min": 8, "port_range_max": 0},
        {"protocol": "tcp", "port_range_min": IPERF_PORT, "port_range_max": IPERF_PORT},
        {"protocol": "tcp", "port_range_min": 8000 + index, "port_range_max": 8000 + index,
         "remote_ip_prefix": f"192.168.{index % 256}.0/24"},
        {"protocol": "tcp", "port_range_min": 9000, "port_range_max": 9000, "remote_ip_prefix": "172.16.0.0/12"},
    ]


def setup_ports(bench: Bench, network: str, count: int) -> list[tuple[str, dict]]:
    """``count`` ports, each in its own group of 10 rules, plugged; returns (group id, port)."""
    made = []
    for index in range(count):
        group = bench.create_group(f"{bench.prefix}-g{index}", port_rules(index))
        port = bench.create_port(network, [group])
        bench.plug(port, f"{bench.prefix}-v{index}")
        made.append((group, port))
    bench.wait_active([port["id"] for _, port in made])
    return made


def full_apply_in_process(bench: Bench) -> tuple[float, float, int]:
    """br-int's flows deleted (agent stopped), then (plan seconds, apply seconds, flows installed)."""
    with FeedClient(bench.url) as feed:
        snapshot = feed.snapshot()
    state = state_from_resources(snapshot.revision, snapshot.resources)
    remove_firewall(bench)
    started = time.perf_counter()
    config = bench.config
    observed = observe_ovs(bench.host)
    installed = observe_flows_of(bench.host, [config.integration_bridge, bench.phys_bridge])
    filters = observe_filter(bench.host) if bench.hybrid else None
    zones = filters.conntrack_zones if filters is not None else None
    plan = build_plan(state, config, facts_from(observed, config, zones))
    planned = time.perf_counter()
    apply_ovsdb(bench.host, plan, observed)
    report = apply_flows(bench.host, plan, observed=installed)
    added = len(report.added)
    if filters is not None:
        added += len(plan.filter_rules)
        apply_iptables(bench.host, plan, filters)
    done = time.perf_counter()
    return planned - started, done - planned, added


def remove_firewall(bench: Bench) -> None:
    """br-int's flows deleted, and with iptables_hybrid our chains too (the agent is stopped)."""
    bench.host.run(["ovs-ofctl", "del-flows", bench.int_bridge])
    if bench.hybrid:
        remove_filter(bench.host)


def rule_changes(bench: Bench, group: str, repeat: int) -> tuple[list[float], list[float], list[float], int]:
    """Seconds from the API call until the flow is installed (add) / removed (delete); how long the API
    took to answer the add; misses."""
    added, removed, answered, misses = [], [], [], 0
    for index in range(repeat):
        tcp_port = 30000 + index
        with bench.watch_rule(tcp_port) as watch:
            started = time.perf_counter()
            rule = bench.call("POST", "/v2.0/security-group-rules", {"security_group_rule": {
                "security_group_id": group, "direction": "ingress", "ethertype": "IPv4", "protocol": "tcp",
                "port_range_min": tcp_port, "port_range_max": tcp_port}})["security_group_rule"]
            answered.append(time.perf_counter() - started)
            if watch.wait("ADDED"):
                added.append(time.perf_counter() - started)
            else:
                misses += 1
            time.sleep(SETTLE_SECONDS)
            started = time.perf_counter()
            bench.call("DELETE", f"/v2.0/security-group-rules/{rule['id']}")
            if watch.wait("DELETED"):
                removed.append(time.perf_counter() - started)
            else:
                misses += 1
        time.sleep(SETTLE_SECONDS)
    return added, removed, answered, misses


def membership_changes(bench: Bench, network: str, repeat: int) -> tuple[list[float], list[float], int]:
    """A group whose rule admits its own members, one member plugged here; each time a new port (bound
    elsewhere) is put into the group: seconds until the member here admits the new port's address."""
    group = bench.create_group(f"{bench.prefix}-members", [])
    bench.call("POST", "/v2.0/security-group-rules", {"security_group_rule": {
        "security_group_id": group, "direction": "ingress", "ethertype": "IPv4", "remote_group_id": group}})
    member = bench.create_port(network, [group])
    bench.plug(member, f"{bench.prefix}-member")
    bench.wait_active([member["id"]])
    times, answered, misses = [], [], 0
    for _ in range(repeat):
        newcomer = bench.create_port(network, [], host=f"{bench.prefix}-elsewhere")
        address = newcomer["fixed_ips"][0]["ip_address"]
        time.sleep(SETTLE_SECONDS)  # the creation's own pass is over before the clock starts
        with bench.watch_source(address) as watch:
            started = time.perf_counter()
            bench.call("PUT", f"/v2.0/ports/{newcomer['id']}", {"port": {"security_groups": [group]}})
            answered.append(time.perf_counter() - started)
            if watch.wait("ADDED"):
                times.append(time.perf_counter() - started)
            else:
                misses += 1
    return times, answered, misses


def iperf_pair(bench: Bench, network: str) -> tuple[str, str, str]:
    """Two instances: a receiver whose port holds 100 rules (98 ingress + 2 egress), and a sender."""
    rules = [{"protocol": "tcp", "port_range_min": 10000 + n, "port_range_max": 10000 + n} for n in range(97)]
    rules.append({"protocol": "tcp", "port_range_min": IPERF_PORT, "port_range_max": IPERF_PORT})
    receiver_group = bench.create_group(f"{bench.prefix}-iperf", rules)
    sender_group = bench.create_group(f"{bench.prefix}-sender", [])
    receiver = bench.create_port(network, [receiver_group])
    sender = bench.create_port(network, [sender_group])
    bench.plug(receiver, f"{bench.prefix}-rx")
    bench.plug(sender, f"{bench.prefix}-tx")
    bench.wait_active([receiver["id"], sender["id"]])
    return f"{bench.prefix}-rx", f"{bench.prefix}-tx", receiver["fixed_ips"][0]["ip_address"]


def iperf(receiver: str, sender: str, address: str, seconds: int) -> float:
    """TCP throughput sender -> receiver, bits per second (as the receiver counts them)."""
    server = subprocess.Popen(["ip", "netns", "exec", receiver, "iperf3", "-s", "-1", "-p", str(IPERF_PORT)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            listening = subprocess.run(["ip", "netns", "exec", receiver, "ss", "-ltn", f"sport = :{IPERF_PORT}"],
                                       capture_output=True, text=True).stdout
            if f":{IPERF_PORT}" in listening:
                break
            time.sleep(0.02)
        done = subprocess.run(["ip", "netns", "exec", sender, "iperf3", "-c", address, "-p", str(IPERF_PORT),
                               "-t", str(seconds), "-J"], capture_output=True, text=True, timeout=seconds + 30)
        result = json.loads(done.stdout)
        if "error" in result:
            raise SystemExit(f"iperf3: {result['error']}")
        return result["end"]["sum_received"]["bits_per_second"]
    finally:
        if server.poll() is None:
            server.kill()
        server.wait(10)


def throughput(bench: Bench, pair: tuple[str, str, str], rounds: int, seconds: int) -> tuple[float, float]:
    """Median bits/s with the OVS firewall and with driver noop, the agent restarted with each in turn
    (alternating, so that other load on the machine weighs on both alike)."""
    with_firewall, without_firewall = [], []
    for _ in range(rounds):
        with_firewall.append(iperf(*pair, seconds))
        bench.stop("agent")
        bench.start_agent("noop")  # its first pass removes every firewall flow
        if bench.hybrid:
            remove_filter(bench.host)  # ...and leaves iptables as it is
        without_firewall.append(iperf(*pair, seconds))
        bench.stop("agent")
        bench.start_agent()
    return statistics.median(with_firewall), statistics.median(without_firewall)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--driver", choices=("openvswitch", "iptables_hybrid"), default="openvswitch")
    parser.add_argument("--ports", type=int, default=100, help="ports of 10 rules each (100: 1,000 rules)")
    parser.add_argument("--repeat", type=int, default=20, help="rule and membership changes measured")
    parser.add_argument("--seconds", type=int, default=5, help="each iperf3 run")
    parser.add_argument("--rounds", type=int, default=3, help="iperf3 runs with and without the firewall")
    parser.add_argument("--quick", action="store_true", help="20 ports, 5 changes, 1 round of 3 s of iperf3")
    parser.add_argument("--logs", help="keep the server's and the agent's logs (and the store) in this directory")
    args = parser.parse_args()
    if args.quick:
        args.ports, args.repeat, args.seconds, args.rounds = 20, 5, 3, 1
    if os.geteuid() != 0:
        raise SystemExit("bench/firewall.py needs root (it plugs namespaces into Open vSwitch)")
    prefix = "nf" + secrets.token_hex(2)
    with tempfile.TemporaryDirectory(prefix=f"{prefix}-") as tmp:
        workdir = Path(args.logs or tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        workdir.chmod(0o755)  # the agent's DHCP directory is under it, and dnsmasq reads it unprivileged
        bench = Bench(workdir, prefix, args.driver)
        try:
            rows = run(bench, args)
        finally:
            bench.cleanup()
    print(f"firewall_driver = {args.driver!r}")
    print_table(rows)


def run(bench: Bench, args) -> list[tuple]:
    bench.start_server()
    bench.start_agent()
    network = bench.create_network()
    made = setup_ports(bench, network, args.ports)
    receiver, sender, address = iperf_pair(bench, network)
    bench.stop("agent")
    plan_s, apply_s, flows = full_apply_in_process(bench)
    remove_firewall(bench)
    agent_first = bench.start_agent()
    added, removed, rule_answers, rule_misses = rule_changes(bench, made[0][0], args.repeat)
    joined, member_answers, member_misses = membership_changes(bench, network, args.repeat)
    with_firewall, without_firewall = throughput(bench, (receiver, sender, address), args.rounds, args.seconds)
    rules = args.ports * 10
    return [
        (f"full apply, {rules} rules / {args.ports} ports: plan (ms)", 1, plan_s * 1000, plan_s * 1000, ""),
        (f"full apply: observe+plan+apply, {flows} {'flows+rules' if bench.hybrid else 'flows'} (ms)", 1, (plan_s + apply_s) * 1000,
         (plan_s + apply_s) * 1000, "<= 2000"),
        ("full apply: agent's first pass after restart (ms)", 1, (agent_first or 0) * 1000,
         (agent_first or 0) * 1000, "<= 2000"),
        (f"rule added: API call -> {'rule' if bench.hybrid else 'flow'} installed (ms)", len(added), _p50(added), _p95(added), "<= 100"),
        ("  of which the API answering the add (ms)", len(rule_answers), _p50(rule_answers), _p95(rule_answers), ""),
        (f"rule deleted: API call -> {'rule' if bench.hybrid else 'flow'} removed (ms)", len(removed), _p50(removed), _p95(removed), "<= 100"),
        ("remote group member added -> peer admits it (ms)", len(joined), _p50(joined), _p95(joined), "<= 200"),
        ("  of which the API answering the port update (ms)", len(member_answers), _p50(member_answers),
         _p95(member_answers), ""),
        ("changes not seen within 10 s", rule_misses + member_misses, rule_misses + member_misses,
         rule_misses + member_misses, "0"),
        ("iperf3 TCP, receiver with 100 rules (Gbit/s, median)", args.rounds, with_firewall / 1e9,
         with_firewall / 1e9, ""),
        ("iperf3 TCP, firewall_driver noop (Gbit/s, median)", args.rounds, without_firewall / 1e9,
         without_firewall / 1e9, ""),
        ("throughput with firewall / without (%)", args.rounds, 100 * with_firewall / without_firewall,
         100 * with_firewall / without_firewall, ">= 90"),
    ]


def _p50(values: list[float]) -> float:
    return statistics.median(values) * 1000 if values else float("nan")


def _p95(values: list[float]) -> float:
    return percentile(values, 0.95) * 1000 if values else float("nan")


def print_table(rows: list[tuple]) -> None:
    print(f"{'measure':58} {'n':>6} {'p50':>10} {'p95':>10}  target")
    for name, n, p50, p95, target in rows:
        print(f"{name:58} {n:>6} {p50:>10.1f} {p95:>10.1f}  {target}")


if __name__ == "__main__":
    main()
