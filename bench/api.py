"""API benchmark: a real neutrino server driven through openstacksdk with a Keystone token, like a user.

It starts its own server (``neutrino serve``, keystone auth, SQLite) in a temporary state dir, lifts
the admin project's quotas through the API, then times network, subnet and port create (1 client
and 8 concurrent clients), get, update and delete, port listing with 200, 2,000 and 10,000 ports
present, and reads the server's memory from /proc. It prints the figures and how they compare with
the targets of issue 2; the numbers are reported, never asserted.

The 8 concurrent clients are 8 processes (multiprocessing, fork), each with its own openstacksdk
Connection, so that one client process's GIL does not cap the figures; they share the machine's
cores with the server. Bulk population (to 2,000 and 10,000 ports) uses the raw API (bulk POST from
a few threads) because it is set-up, not a measurement. Each row also shows the CPU the server and
the clients spent per call, which says where the time went better than latency on a shared machine.

Listing is timed twice: through openstacksdk, and as a plain GET whose body httpx decodes. The SDK
builds a Resource per port at about 0.8 ms of client CPU each (1.6 s for 2,000, whatever the server
does), so the 2,000-port target is read from the plain GET: the server's answer, sent and decoded.

    .venv/bin/python bench/api.py            # the full run, about a minute on a quiet machine
    .venv/bin/python bench/api.py --quick    # smaller counts and no 10,000-port step, about 15 s
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import httpx
import openstack
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
CLOUD = "neutrino-admin"
CLIENTS = 8
PORT_CIDR = "10.64.0.0/16"  # room for the 10,000-port step
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Sizes:
    networks_1: int  # networks (and one subnet each) created by one client
    networks_8: int  # ... and by 8 concurrent clients, in all
    ports_1: int  # ports created by one client; then ports_1 - 200 are deleted, leaving 200
    ports_8: int  # ports created by 8 concurrent clients, in all
    reads: int  # gets and updates of each kind
    lists_small: int  # repetitions of each list
    lists_large: int
    overhead: int  # calls for the SDK-versus-raw comparison
    ten_thousand: bool


FULL = Sizes(networks_1=60, networks_8=160, ports_1=300, ports_8=800, reads=200, lists_small=10,
             lists_large=3, overhead=200, ten_thousand=True)
QUICK = Sizes(networks_1=20, networks_8=48, ports_1=240, ports_8=240, reads=60, lists_small=5,
              lists_large=2, overhead=60, ten_thousand=False)


# --- what a client does, by name (the same functions run in this process and in the client processes) ---

def _create_network(conn, name):
    return conn.network.create_network(name=name).id


def _create_subnet(conn, arg):
    network_id, cidr = arg
    return conn.network.create_subnet(network_id=network_id, cidr=cidr, ip_version=4).id


def _create_port(conn, network_id):
    return conn.network.create_port(network_id=network_id).id


OPERATIONS = {
    "network create": _create_network,
    "network get": lambda conn, rid: conn.network.get_network(rid).id,
    "network update": lambda conn, rid: conn.network.update_network(rid, name="renamed-" + rid[:8]).id,
    "network delete": lambda conn, rid: conn.network.delete_network(rid, ignore_missing=False),
    "subnet create": _create_subnet,
    "subnet get": lambda conn, rid: conn.network.get_subnet(rid).id,
    "subnet update": lambda conn, rid: conn.network.update_subnet(rid, name="renamed-" + rid[:8]).id,
    "subnet delete": lambda conn, rid: conn.network.delete_subnet(rid, ignore_missing=False),
    "port create": _create_port,
    "port get": lambda conn, rid: conn.network.get_port(rid).id,
    "port update": lambda conn, rid: conn.network.update_port(rid, name="renamed-" + rid[:8]).id,
    "port delete": lambda conn, rid: conn.network.delete_port(rid, ignore_missing=False),
    "port list": lambda conn, _: len(list(conn.network.ports())),
}


class Timing(NamedTuple):
    latencies: list[float]  # seconds, one per call
    began: float  # time.monotonic(): comparable across processes
    ended: float
    client_cpu: float  # seconds of CPU the client process spent
    results: list


def run_operation(conn, name: str, args: list) -> Timing:
    operation = OPERATIONS[name]
    latencies, results = [], []
    began, cpu = time.monotonic(), time.process_time()
    for arg in args:
        start = time.perf_counter()
        results.append(operation(conn, arg))
        latencies.append(time.perf_counter() - start)
    return Timing(latencies, began, time.monotonic(), time.process_time() - cpu, results)


def _client_process(inbox, outbox) -> None:
    conn = openstack.connect(cloud=CLOUD)
    list(conn.network.extensions())  # token, catalog and version discovery, outside every timing
    outbox.put(("ready", None))
    while (task := inbox.get()) is not None:
        name, args, start_at = task
        time.sleep(max(0.0, start_at - time.monotonic()))
        try:
            outbox.put(("done", run_operation(conn, name, args)))
        except Exception as exc:  # reported to the parent, which stops the run
            outbox.put(("failed", f"{name}: {type(exc).__name__}: {exc}"))


class Clients:
    """Concurrent clients: one process and one openstacksdk Connection each."""

    def __init__(self, count: int):
        context = multiprocessing.get_context("fork")
        self.outbox = context.Queue()
        self.inboxes = [context.Queue() for _ in range(count)]
        self.processes = [context.Process(target=_client_process, args=(inbox, self.outbox), daemon=True)
                          for inbox in self.inboxes]
        for process in self.processes:
            process.start()
        for _ in self.processes:
            self._receive("ready")

    def _receive(self, expected: str):
        kind, value = self.outbox.get(timeout=300)
        if kind != expected:
            raise RuntimeError(f"a client process failed: {value}")
        return value

    def run(self, name: str, args: list) -> Timing:
        """Split ``args`` over the clients, start them together, and merge what they measured."""
        start_at = time.monotonic() + 0.05
        for index, inbox in enumerate(self.inboxes):
            inbox.put((name, args[index::len(self.inboxes)], start_at))
        parts = [Timing(*self._receive("done")) for _ in self.inboxes]
        return Timing([value for part in parts for value in part.latencies], min(p.began for p in parts),
                      max(p.ended for p in parts), sum(p.client_cpu for p in parts),
                      [value for part in parts for value in part.results])

    def close(self) -> None:
        for inbox in self.inboxes:
            inbox.put(None)
        for process in self.processes:
            process.join(timeout=5)
            if process.is_alive():
                process.kill()


# --- the server under test ---

def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    """``neutrino serve`` in a state dir of its own; stopped by its PID."""

    def __init__(self, state_dir: Path):
        self.state_dir = state_dir
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = state_dir / "server.log"
        argv = [sys.executable, "-m", "neutrino.cli.main", "serve", "--state-dir", str(state_dir),
                "--port", str(self.port), "--auth", "keystone", "--vlan-ranges", "physnet1:1:4094"]
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(argv, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        try:
            self._wait_until_ready()
        except BaseException:
            self.stop()
            raise

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited ({self.process.returncode}):\n{self.log.read_text()}")
            try:
                if httpx.get(self.url + "/", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass  # not listening yet
            time.sleep(0.1)
        raise RuntimeError(f"the server did not answer within 60 s:\n{self.log.read_text()}")

    def memory(self) -> tuple[int, int]:
        """(VmRSS, VmHWM) in bytes: resident now, and the peak so far."""
        values = {}
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0]) * 1024
        return values["VmRSS"], values["VmHWM"]

    def cpu_seconds(self) -> float:
        """User + system CPU time the server has used so far."""
        stat = Path(f"/proc/{self.process.pid}/stat").read_text()
        fields = stat.rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


# --- measuring ---

@dataclass
class Row:
    operation: str
    clients: int
    latencies: list[float]
    elapsed: float
    server_cpu: float  # seconds
    client_cpu: float  # seconds, all client processes together

    @property
    def n(self) -> int:
        return len(self.latencies)

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[max(0, math.ceil(q * len(ordered)) - 1)]

    @property
    def rate(self) -> float:
        return self.n / self.elapsed if self.elapsed else 0.0


@dataclass
class Bench:
    conn: object
    clients: Clients
    server: Server
    rows: list[Row] = field(default_factory=list)
    memory: dict[str, tuple[int, int]] = field(default_factory=dict)

    def single(self, name: str, args: list, label: str | None = None) -> list:
        return self._measure(label or name, 1, lambda: run_operation(self.conn, name, args))

    def parallel(self, name: str, args: list) -> list:
        return self._measure(name, len(self.clients.inboxes), lambda: self.clients.run(name, args))

    def _measure(self, label, clients, work) -> list:
        cpu = self.server.cpu_seconds()
        timing = work()
        self.rows.append(Row(label, clients, timing.latencies, timing.ended - timing.began,
                             self.server.cpu_seconds() - cpu, timing.client_cpu))
        return timing.results

    def list_ports(self, raw: RawApi, repetitions: int, raw_repetitions: int) -> None:
        """``list(conn.network.ports())``, and the same GET over plain httpx: the server's share of it."""
        present = raw.count_ports()
        self.single("port list", [None] * repetitions, label=f"port list ({present:,} ports)")
        self._measure(f"port list ({present:,} ports), raw GET", 1,
                      lambda: raw.list_ports(raw_repetitions))

    def note_memory(self, moment: str) -> None:
        self.memory[moment] = self.server.memory()


class RawApi:
    """The network API over plain httpx with the SDK's token: bulk population and the overhead probe."""

    def __init__(self, conn):
        endpoint = conn.network.get_endpoint().rstrip("/")
        self.base = endpoint if endpoint.endswith("/v2.0") else endpoint + "/v2.0"
        self.http = httpx.Client(headers={"X-Auth-Token": conn.auth_token}, timeout=120)

    def create_ports(self, network_id: str, count: int, threads: int = 4, per_request: int = 100) -> None:
        sizes = [min(per_request, count - start) for start in range(0, count, per_request)]

        def post(size: int) -> None:
            body = {"ports": [{"network_id": network_id} for _ in range(size)]}
            self.http.post(self.base + "/ports", json=body).raise_for_status()

        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(post, sizes))

    def count_ports(self) -> int:
        return len(self._get("/ports?fields=id")["ports"])

    def list_ports(self, repetitions: int) -> Timing:
        """Like run_operation: a GET of every port, its body decoded (as any client must)."""
        latencies = []
        began, cpu = time.monotonic(), time.process_time()
        for _ in range(repetitions):
            start = time.perf_counter()
            self._get("/ports")
            latencies.append(time.perf_counter() - start)
        return Timing(latencies, began, time.monotonic(), time.process_time() - cpu, [])

    def _get(self, path: str) -> dict:
        response = self.http.get(self.base + path)
        response.raise_for_status()
        return response.json()

    def get_port(self, port_id: str) -> dict:
        response = self.http.get(f"{self.base}/ports/{port_id}")
        response.raise_for_status()
        return response.json()

    def close(self) -> None:
        self.http.close()


def client_overhead(conn, raw: RawApi, port_id: str, calls: int) -> tuple[float, float]:
    """p50 seconds of conn.network.get_port and of a raw GET of the same port with the same token."""
    def p50(work) -> float:
        times = []
        for _ in range(calls):
            start = time.perf_counter()
            work()
            times.append(time.perf_counter() - start)
        return sorted(times)[len(times) // 2]

    return p50(lambda: conn.network.get_port(port_id)), p50(lambda: raw.get_port(port_id))


def run(bench: Bench, raw: RawApi, sizes: Sizes) -> tuple[float, float]:
    conn = bench.conn
    nets_1 = bench.single("network create", [f"bench-1-{i}" for i in range(sizes.networks_1)])
    nets_8 = bench.parallel("network create", [f"bench-8-{i}" for i in range(sizes.networks_8)])
    bench.single("subnet create", [(n, "10.1.0.0/24") for n in nets_1])
    subnets_8 = bench.parallel("subnet create", [(n, "10.1.0.0/24") for n in nets_8])
    networks = (nets_1 + nets_8) * math.ceil(sizes.reads / len(nets_1 + nets_8))
    bench.single("network get", networks[:sizes.reads])
    bench.single("network update", networks[:sizes.reads])
    bench.single("subnet get", (subnets_8 * 2)[:sizes.reads])
    bench.single("subnet update", (subnets_8 * 2)[:sizes.reads])

    port_network = _create_network(conn, "bench-ports")
    _create_subnet(conn, (port_network, PORT_CIDR))
    conn.network.delete_port(_create_port(conn, port_network))  # the project's default group is made here
    ports_1 = bench.single("port create", [port_network] * sizes.ports_1)
    bench.single("port get", (ports_1 * 2)[:sizes.reads])
    bench.single("port update", (ports_1 * 2)[:sizes.reads])
    bench.single("port delete", ports_1[:sizes.ports_1 - 200])
    bench.list_ports(raw, sizes.lists_small, sizes.lists_small * 2)
    bench.parallel("port create", [port_network] * sizes.ports_8)

    present = 200 + sizes.ports_8
    raw.create_ports(port_network, 2000 - present)
    bench.list_ports(raw, sizes.lists_large, sizes.lists_large * 3)
    bench.note_memory("2,000 ports")
    overhead = client_overhead(conn, raw, ports_1[-1], sizes.overhead)

    bench.single("subnet delete", subnets_8)
    bench.single("network delete", nets_1 + nets_8)  # those of nets_1 still have their subnet
    if sizes.ten_thousand:
        raw.create_ports(port_network, 8000)
        bench.list_ports(raw, 1, 5)
        bench.note_memory("10,000 ports")
    return overhead


# --- reporting ---

TARGETS = (
    # (what, neutron-server 29 on this machine class, target, how to read it from the results)
    ("port create, 8 clients", "8 ports/s", "≥ 200 ports/s", "rate"),
    ("port create p50, 1 client", "164 ms", "≤ 10 ms", "p50"),
    ("port list, 2,000 ports", "2.9 s", "≤ 100 ms", "list"),
    ("server RSS, 10,000 ports", "400–490 MB", "≤ 150 MB", "rss"),
)


def _row(rows: list[Row], operation: str, clients: int) -> Row | None:
    return next((r for r in rows if r.operation == operation and r.clients == clients), None)


def target_results(bench: Bench) -> list[tuple[str, str, str, str, bool | None]]:
    rows = bench.rows
    out = []
    for what, neutron, target, key in TARGETS:
        value, met = "not measured", None
        if key == "rate" and (row := _row(rows, "port create", CLIENTS)):
            value, met = f"{row.rate:.0f} ports/s", row.rate >= 200
        elif key == "p50" and (row := _row(rows, "port create", 1)):
            value, met = f"{row.percentile(0.5) * 1000:.1f} ms", row.percentile(0.5) <= 0.010
        elif key == "list" and (row := _row(rows, "port list (2,000 ports), raw GET", 1)):
            sdk = _row(rows, "port list (2,000 ports)", 1)
            value, met = f"{row.percentile(0.5) * 1000:.0f} ms raw GET", row.percentile(0.5) <= 0.100
            if sdk:
                value += f" ({sdk.percentile(0.5) * 1000:.0f} ms through openstacksdk)"
        elif key == "rss" and "10,000 ports" in bench.memory:
            rss = bench.memory["10,000 ports"][0]
            value, met = f"{rss / 2**20:.0f} MB", rss <= 150 * 2**20
        out.append((what, neutron, target, value, met))
    return out


def report(console: Console, bench: Bench, overhead: tuple[float, float], seconds: float, load: str) -> None:
    table = Table(title="neutrino API through openstacksdk (SQLite, keystone token)")
    for column in ("operation", "clients", "n", "p50 ms", "p95 ms", "ops/s", "server CPU ms/op",
                   "client CPU ms/op"):
        table.add_column(column, justify="left" if column == "operation" else "right")
    for row in bench.rows:
        table.add_row(row.operation, str(row.clients), str(row.n), f"{row.percentile(0.5) * 1000:.1f}",
                      f"{row.percentile(0.95) * 1000:.1f}", f"{row.rate:.0f}",
                      f"{row.server_cpu / row.n * 1000:.1f}", f"{row.client_cpu / row.n * 1000:.1f}")
    console.print(table)

    memory = Table(title="server memory (/proc/PID/status)")
    for column in ("after", "RSS MB", "peak RSS MB"):
        memory.add_column(column, justify="left" if column == "after" else "right")
    for moment, (rss, peak) in bench.memory.items():
        memory.add_row(moment, f"{rss / 2**20:.0f}", f"{peak / 2**20:.0f}")
    console.print(memory)

    targets = Table(title="targets (issue 2)")
    for column in ("measure", "neutron-server 29", "target", "neutrino", "met"):
        targets.add_column(column)
    for what, neutron, target, value, met in target_results(bench):
        verdict = "—" if met is None else ("[green]met[/]" if met else "[red]not met[/]")
        targets.add_row(what, neutron, target, value, verdict)
    console.print(targets)

    sdk, plain = overhead
    console.print(f"client overhead: conn.network.get_port p50 {sdk * 1000:.2f} ms, raw httpx GET with the same "
                  f"token p50 {plain * 1000:.2f} ms: the SDK adds {(sdk - plain) * 1000:.2f} ms per call")
    console.print(f"clients: {CLIENTS} concurrent = {CLIENTS} processes (multiprocessing, fork), one openstacksdk "
                  f"Connection each; server: one uvicorn process; {os.cpu_count()} CPUs shared by all; "
                  f"run took {seconds:.0f} s; load average {load}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller counts and no 10,000-port step")
    parser.add_argument("--keep", action="store_true", help="keep the state dir (store and server log)")
    args = parser.parse_args()
    sizes = QUICK if args.quick else FULL
    console = Console(width=max(Console().width, 120))  # the tables stay readable when piped to a file
    started = time.monotonic()
    load_before = os.getloadavg()[0]
    state_dir = Path(tempfile.mkdtemp(prefix="neutrino-bench-"))
    server = None
    try:
        server = Server(state_dir)
        os.environ["OS_CLIENT_CONFIG_FILE"] = str(state_dir / "clouds.yaml")
        clients = Clients(CLIENTS)  # forked before this process opens any connection
        try:
            conn = openstack.connect(cloud=CLOUD)
            conn.network.update_quota(conn.current_project_id, networks=-1, subnets=-1, ports=-1,
                                      security_groups=-1, security_group_rules=-1)
            bench = Bench(conn, clients, server)
            bench.note_memory("the server started")
            raw = RawApi(conn)
            try:
                overhead = run(bench, raw, sizes)
            finally:
                raw.close()
        finally:
            clients.close()
    finally:
        if server is not None:
            server.stop()
        if args.keep:
            console.print(f"state dir kept: {state_dir}")
        else:
            shutil.rmtree(state_dir, ignore_errors=True)
    load = f"{load_before:.1f} before, {os.getloadavg()[0]:.1f} after"
    report(console, bench, overhead, time.monotonic() - started, load)


if __name__ == "__main__":
    main()
