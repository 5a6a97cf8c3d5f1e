"""Crash safety: a server killed with SIGKILL in the middle of a burst of writes comes back with
every acknowledged write, a consistent store, and serves as before.

The server is the real ``neutrino serve`` (noauth, SQLite in a temporary state dir) in a process of
its own; the store's invariants are read from the SQLite file directly, not through the API.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from neutrino.store import tables as t

WRITERS = 6
ACKS_BEFORE_KILL = 150
START_TIMEOUT = 30.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """One ``neutrino serve`` process on a state dir; stopped only by the pid it started."""

    def __init__(self, state_dir: Path):
        self.state_dir = state_dir
        self.process: subprocess.Popen | None = None
        self.url = ""

    def start(self) -> None:
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        log = open(self.state_dir / "server.log", "ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "neutrino.cli.main", "serve", "--auth", "noauth",
             "--state-dir", str(self.state_dir), "--port", str(port)],
            stdout=log, stderr=log, cwd=Path(__file__).resolve().parents[2])
        log.close()
        deadline = time.monotonic() + START_TIMEOUT
        while not self._answers():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"server did not start:\n{self.log()}")
            time.sleep(0.05)

    def _answers(self) -> bool:
        try:
            return httpx.get(self.url + "/", timeout=1.0).status_code == 200
        except httpx.TransportError:
            return False

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, 9)  # SIGKILL: no shutdown handler runs
            self.process.wait(timeout=10)

    def log(self) -> str:
        return (self.state_dir / "server.log").read_text(errors="replace")


@pytest.fixture
def server(tmp_path):
    server = Server(tmp_path / "state")
    server.state_dir.mkdir()
    yield server
    server.kill()


@dataclass
class Ledger:
    """What the clients were told: acknowledged creates, deletes asked for, deletes acknowledged."""

    created: list[tuple[str, str]] = field(default_factory=list)
    deleting: set[tuple[str, str]] = field(default_factory=set)
    deleted: set[tuple[str, str]] = field(default_factory=set)
    unexpected: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def acks(self) -> int:
        return len(self.created) + len(self.deleted)

    def present(self) -> list[tuple[str, str]]:
        return [item for item in self.created if item not in self.deleting]


class ServerGone(Exception):
    pass


class Writer:
    """One client thread: networks with a subnet and ports, some ports deleted, some networks torn down."""

    def __init__(self, url: str, number: int, ledger: Ledger, stop: threading.Event):
        self.client = httpx.Client(base_url=url, timeout=20.0)
        self.number = number
        self.ledger = ledger
        self.stop = stop

    def run(self) -> None:
        try:
            for round_ in range(10_000):
                if self.stop.is_set():
                    return
                self.one_round(round_)
        except ServerGone:
            return
        finally:
            self.client.close()

    def one_round(self, round_: int) -> None:
        network = self.create("networks", "network", name=f"crash-{self.number}-{round_}")
        subnet = self.create("subnets", "subnet", network_id=network, ip_version=4,
                             cidr=f"10.{self.number}.{round_ % 250}.0/24")
        ports = [self.create("ports", "port", network_id=network) for _ in range(3)]
        self.delete("ports", ports.pop())
        if round_ % 2:
            for port in ports:
                self.delete("ports", port)
            self.delete("subnets", subnet)
            self.delete("networks", network)

    def create(self, collection: str, member: str, **attrs) -> str:
        response = self.send("POST", f"/v2.0/{collection}", json={member: attrs})
        if response.status_code != 201:
            self.fail(response)
        resource_id = response.json()[member]["id"]
        with self.ledger.lock:
            self.ledger.created.append((collection, resource_id))
        return resource_id

    def delete(self, collection: str, resource_id: str) -> None:
        with self.ledger.lock:
            self.ledger.deleting.add((collection, resource_id))
        response = self.send("DELETE", f"/v2.0/{collection}/{resource_id}")
        if response.status_code != 204:
            self.fail(response)
        with self.ledger.lock:
            self.ledger.deleted.add((collection, resource_id))

    def send(self, method: str, path: str, **kwargs) -> httpx.Response:
        try:
            return self.client.request(method, path, **kwargs)
        except httpx.TransportError:
            raise ServerGone() from None

    def fail(self, response: httpx.Response) -> None:
        with self.ledger.lock:
            self.ledger.unexpected.append(f"{response.request.method} {response.request.url.path}: "
                                          f"{response.status_code} {response.text}")
        raise ServerGone()


def burst_then_kill(server: Server) -> Ledger:
    ledger, stop = Ledger(), threading.Event()
    writers = [Writer(server.url, n + 1, ledger, stop) for n in range(WRITERS)]
    threads = [threading.Thread(target=w.run) for w in writers]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 60
    while ledger.acks() < ACKS_BEFORE_KILL and time.monotonic() < deadline and not ledger.unexpected:
        time.sleep(0.01)
    server.kill()
    stop.set()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads)
    return ledger


def invariant_violations(db_path: Path) -> list[str]:
    """Everything wrong with the store, read straight from the SQLite file."""
    engine = create_engine(f"sqlite:///{db_path}")
    try:
        with Session(engine) as session:
            return (_orphans(session) + _misplaced_addresses(session) + _feed_gaps(session)
                    + _feed_disagrees_with_tables(session))
    finally:
        engine.dispose()


def _orphans(session: Session) -> list[str]:
    networks = set(session.scalars(select(t.Network.id)))
    subnets = dict(session.execute(select(t.Subnet.id, t.Subnet.network_id)).all())
    ports = dict(session.execute(select(t.Port.id, t.Port.network_id)).all())
    groups = set(session.scalars(select(t.SecurityGroup.id)))
    problems = [f"port {p} without network {n}" for p, n in ports.items() if n not in networks]
    problems += [f"subnet {s} without network {n}" for s, n in subnets.items() if n not in networks]
    problems += [f"pool of missing subnet {s}" for s in session.scalars(select(t.AllocationPool.subnet_id))
                 if s not in subnets]
    problems += [f"security group binding of missing port {p} or group {g}" for p, g in session.execute(
        select(t.PortSecurityGroup.port_id, t.PortSecurityGroup.security_group_id)) if p not in ports or g not in groups]
    for subnet_id, address, port_id, network_id in session.execute(select(
            t.IpAllocation.subnet_id, t.IpAllocation.ip_address, t.IpAllocation.port_id, t.IpAllocation.network_id)):
        if port_id not in ports:
            problems.append(f"allocation {address} without port {port_id}")
        elif subnet_id not in subnets:
            problems.append(f"allocation {address} without subnet {subnet_id}")
        elif not ports[port_id] == subnets[subnet_id] == network_id:
            problems.append(f"allocation {address} of port {port_id} on another network's subnet")
    return problems


def _misplaced_addresses(session: Session) -> list[str]:
    cidrs = {s: ipaddress.ip_network(c) for s, c in session.execute(select(t.Subnet.id, t.Subnet.cidr))}
    held = session.execute(select(t.IpAllocation.subnet_id, t.IpAllocation.ip_address,
                                  t.IpAllocation.network_id)).all()
    problems = [f"allocation {a} outside its subnet {cidrs[s]}" for s, a, _ in held
                if s in cidrs and ipaddress.ip_address(a) not in cidrs[s]]
    twice = Counter((n, a) for _, a, n in held)
    problems += [f"address {a} held twice on network {n}" for (n, a), count in twice.items() if count > 1]
    return problems


def _feed_gaps(session: Session) -> list[str]:
    head, compacted = session.execute(select(t.FeedHead.revision, t.FeedHead.compacted)).one()
    revisions = set(session.scalars(select(t.Change.revision).distinct()))
    missing = sorted(set(range(compacted + 1, head + 1)) - revisions)
    beyond = sorted(r for r in revisions if r > head or r <= compacted)
    problems = [f"no change rows for revisions {missing[:10]}"] if missing else []
    problems += [f"change rows outside (compacted, head]: {beyond[:10]}"] if beyond else []
    return problems


def _feed_disagrees_with_tables(session: Session) -> list[str]:
    """Replaying the feed gives the tables: a resource exists iff its last change has a body."""
    last: dict[tuple[str, str], bool] = {}
    for kind, resource_id, body in session.execute(
            select(t.Change.kind, t.Change.resource_id, t.Change.body).order_by(t.Change.revision, t.Change.seq)):
        last[(kind, resource_id)] = body is not None
    problems = []
    for kind, table in (("network", t.Network), ("subnet", t.Subnet), ("port", t.Port)):
        rows = set(session.scalars(select(table.id)))
        fed = {rid for (k, rid), alive in last.items() if k == kind and alive}
        problems += [f"{kind} {rid} in the table but not alive in the feed" for rid in rows - fed]
        problems += [f"{kind} {rid} alive in the feed but not in the table" for rid in fed - rows]
    return problems


def test_sigkill_mid_burst_loses_no_acknowledged_write_and_leaves_a_consistent_store(server):
    server.start()
    ledger = burst_then_kill(server)
    assert ledger.unexpected == [], ledger.unexpected
    assert ledger.acks() >= ACKS_BEFORE_KILL, "the server was killed before the burst got going"

    db_path = server.state_dir / "neutrino.db"
    assert invariant_violations(db_path) == []

    server.start()
    with httpx.Client(base_url=server.url, timeout=10.0) as client:
        for collection, resource_id in ledger.present():
            response = client.get(f"/v2.0/{collection}/{resource_id}")
            assert response.status_code == 200, f"acknowledged {collection} {resource_id} lost: {response.text}"
        for collection, resource_id in sorted(ledger.deleted):
            response = client.get(f"/v2.0/{collection}/{resource_id}")
            assert response.status_code == 404, f"deleted {collection} {resource_id} is back: {response.text}"
        assert_serves_normally(client)
    assert invariant_violations(db_path) == []


def assert_serves_normally(client: httpx.Client) -> None:
    network = client.post("/v2.0/networks", json={"network": {"name": "after-crash"}})
    assert network.status_code == 201, network.text
    network_id = network.json()["network"]["id"]
    subnet = client.post("/v2.0/subnets", json={"subnet": {
        "network_id": network_id, "ip_version": 4, "cidr": "192.168.77.0/24"}})
    assert subnet.status_code == 201, subnet.text
    port = client.post("/v2.0/ports", json={"port": {"network_id": network_id}})
    assert port.status_code == 201, port.text
    assert port.json()["port"]["fixed_ips"][0]["ip_address"].startswith("192.168.77.")
    listed = client.get("/v2.0/ports", params={"network_id": network_id})
    assert [p["id"] for p in listed.json()["ports"]] == [port.json()["port"]["id"]]
    assert client.delete(f"/v2.0/ports/{port.json()['port']['id']}").status_code == 204
    assert client.delete(f"/v2.0/networks/{network_id}").status_code == 204


def test_the_consistency_check_reports_orphans_and_feed_gaps(services, settings):
    """The check above must be able to fail: break a store by hand and it says what is wrong."""
    from neutrino.services.context import ADMIN

    network_id = services.store.write(lambda tx: services.networks.create(tx, ADMIN, {"name": "n"}))
    db_path = Path(settings.db_url.split("///", 1)[1])
    assert invariant_violations(db_path) == []

    engine = create_engine(f"sqlite:///{db_path}")
    with engine.begin() as connection:  # SQLite enforces foreign keys only when asked to, per connection
        connection.execute(t.IpAllocation.__table__.insert().values(
            subnet_id="no-such-subnet", ip_address="10.0.0.9", port_id="no-such-port", network_id=network_id))
        connection.execute(t.Change.__table__.delete().where(t.Change.revision == 1))
    engine.dispose()

    problems = invariant_violations(db_path)
    assert "allocation 10.0.0.9 without port no-such-port" in problems
    assert "no change rows for revisions [1]" in problems
