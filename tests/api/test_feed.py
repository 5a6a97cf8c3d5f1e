"""The change feed end to end: one revision per write, list-then-watch, long-poll, resume, compaction,
who may read it, and several API servers sharing one PostgreSQL database.

HTTP behaviour goes through the TestClient fixtures; the real FeedClient talks to real uvicorn servers
that ``ApiServer`` starts in threads on 127.0.0.1 free ports and stops when the test ends.
"""

from __future__ import annotations

import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import replace

import httpx
import pytest
import uvicorn

from neutrino.api.app import create_app
from neutrino.config import Quotas, Settings
from neutrino.feed.change import Change, Snapshot
from neutrino.feed.client import FeedClient, FeedError, FeedGone, backoff_delays, snapshot_from
from neutrino.services.core import Services
from neutrino.store.revisions import compact
from tests.conftest import ADMIN_PASSWORD, DEMO_PASSWORD, Api, issue_token, make_services

COLLECTIONS = {"network": "networks", "subnet": "subnets", "port": "ports",
               "security_group": "security_groups", "security_group_rule": "security_group_rules"}


# --- reading the feed through the TestClient ---

def watch(api, since: int, timeout: float = 0.0) -> tuple[int, list[Change]]:
    response = api.get("/neutrino/v1/changes", params={"since": since, "timeout": timeout})
    assert response.status_code == 200, response.text
    body = response.json()
    return body["revision"], [Change.from_dict(item) for item in body["changes"]]


def snapshot(api) -> Snapshot:
    response = api.get("/neutrino/v1/snapshot")
    assert response.status_code == 200, response.text
    return snapshot_from(response.json())


def by_revision(changes: list[Change]) -> dict[int, Counter]:
    """revision -> how many changes of each kind it carries."""
    out: dict[int, Counter] = {}
    for change in changes:
        out.setdefault(change.revision, Counter())[change.kind] += 1
    return out


def keys(changes: list[Change]) -> list[tuple[int, str, str]]:
    return [(c.revision, c.kind, c.id) for c in changes]


def api_state(api) -> dict[str, dict[str, dict]]:
    """What the Neutron API lists right now, kind -> id -> body, for the kinds it serves."""
    state = {}
    for kind, collection in COLLECTIONS.items():
        response = api.get("/v2.0/" + collection.replace("_", "-"))  # Neutron's paths are hyphenated
        assert response.status_code == 200, response.text
        state[kind] = {item["id"]: item for item in response.json()[collection]}
    return state


# --- revisions ---

def test_each_write_takes_the_next_revision(admin):
    start = snapshot(admin).revision
    network = admin.create("networks", "network", name="feed-net")
    renamed = admin.put(f"/v2.0/networks/{network['id']}", json={"network": {"name": "renamed"}})
    assert renamed.status_code == 200, renamed.text

    revision, changes = watch(admin, start)

    assert revision == start + 2
    assert keys(changes) == [(start + 1, "network", network["id"]), (start + 2, "network", network["id"])]
    assert changes[0].body == network
    assert changes[1].body == renamed.json()["network"]


def test_a_subnet_create_is_one_revision_changing_subnet_and_network(admin):
    network = admin.create("networks", "network", name="net")
    start = snapshot(admin).revision
    subnet = admin.create("subnets", "subnet", network_id=network["id"], cidr="10.1.0.0/24", ip_version=4)

    revision, changes = watch(admin, start)

    assert revision == start + 1
    assert by_revision(changes) == {start + 1: Counter(subnet=1, network=1)}
    bodies = {c.kind: c.body for c in changes}
    assert bodies["subnet"] == subnet
    assert bodies["network"]["subnets"] == [subnet["id"]]


def test_a_port_create_that_creates_the_default_group_is_one_revision(admin):
    network = admin.create("networks", "network", name="net")
    start = snapshot(admin).revision
    port = admin.create("ports", "port", network_id=network["id"])

    revision, changes = watch(admin, start)

    assert revision == start + 1
    groups = [c for c in changes if c.kind == "security_group"]
    assert len(groups) == 1 and groups[0].body["name"] == "default"
    rules = sorted(c.id for c in changes if c.kind == "security_group_rule")
    assert rules and rules == sorted(r["id"] for r in groups[0].body["security_group_rules"])
    assert by_revision(changes) == {revision: Counter(security_group=1, security_group_rule=len(rules), port=1)}
    assert port["security_groups"] == [groups[0].id]


def test_deleting_a_network_is_one_revision_of_bodiless_changes(admin):
    network = admin.create("networks", "network", name="net")
    subnet = admin.create("subnets", "subnet", network_id=network["id"], cidr="10.2.0.0/24", ip_version=4)
    dhcp = admin.create("ports", "port", network_id=network["id"], device_owner="network:dhcp")
    start = snapshot(admin).revision

    assert admin.delete(f"/v2.0/networks/{network['id']}").status_code == 204
    revision, changes = watch(admin, start)

    assert revision == start + 1
    assert sorted((c.revision, c.kind, c.id, c.body) for c in changes) == [
        (start + 1, "network", network["id"], None),
        (start + 1, "port", dhcp["id"], None),
        (start + 1, "subnet", subnet["id"], None),
    ]


def test_reads_and_refused_writes_take_no_revision(admin):
    network = admin.create("networks", "network", name="net")
    start = snapshot(admin).revision
    assert admin.get(f"/v2.0/networks/{network['id']}").status_code == 200
    refused = admin.post("/v2.0/subnets", json={"subnet": {"network_id": network["id"], "cidr": "10.3.0.0/33",
                                                            "ip_version": 4}})
    assert refused.status_code == 400
    assert watch(admin, start) == (start, [])


# --- list, then watch ---

def test_snapshot_plus_changes_after_it_is_the_state_read_afterwards(admin):
    network = admin.create("networks", "network", name="kept")
    subnet = admin.create("subnets", "subnet", network_id=network["id"], cidr="10.4.0.0/24", ip_version=4)
    doomed = admin.create("ports", "port", network_id=network["id"], name="doomed")
    listed = snapshot(admin)

    other = admin.create("networks", "network", name="other")
    admin.create("subnets", "subnet", network_id=other["id"], cidr="10.5.0.0/24", ip_version=4)
    admin.create("ports", "port", network_id=network["id"], fixed_ips=[{"subnet_id": subnet["id"]}])
    assert admin.put(f"/v2.0/ports/{doomed['id']}", json={"port": {"name": "renamed"}}).status_code == 200
    assert admin.delete(f"/v2.0/ports/{doomed['id']}").status_code == 204
    group = admin.create("security_groups", "security_group", name="web")
    rule = admin.create("security_group_rules", "security_group_rule", security_group_id=group["id"],
                        direction="ingress", protocol="tcp", port_range_min=80, port_range_max=80)
    admin.create("security_group_rules", "security_group_rule", security_group_id=group["id"],
                 direction="ingress", protocol="icmp")
    assert admin.delete(f"/v2.0/security-group-rules/{rule['id']}").status_code == 204
    assert admin.put(f"/v2.0/networks/{network['id']}/tags/blue").status_code == 201

    revision, changes = watch(admin, listed.revision)
    for change in changes:
        listed.apply(change)

    assert listed.revision == revision
    assert listed.resources == snapshot(admin).resources
    state = api_state(admin)
    assert {kind: listed.resources[kind] for kind in COLLECTIONS} == state
    assert doomed["id"] not in state["port"] and "blue" in state["network"][network["id"]]["tags"]


# --- long-poll ---

def test_a_watch_returns_as_soon_as_a_write_commits(admin):
    start = snapshot(admin).revision
    answer: dict = {}

    def wait() -> None:
        answer["changes"] = watch(admin, start, timeout=20)
        answer["at"] = time.monotonic()

    waiter = threading.Thread(target=wait)
    began = time.monotonic()
    waiter.start()
    time.sleep(0.3)  # let the watch settle into waiting before the write it waits for
    written = time.monotonic()
    network = admin.create("networks", "network", name="wake")
    waiter.join(10)

    assert answer["at"] - began >= 0.3, "the watch answered before anything was written"
    assert answer["at"] - written < 1.0
    assert answer["changes"] == (start + 1, [Change(start + 1, "network", network["id"], network)])


def test_a_watch_with_nothing_new_answers_empty_at_its_timeout(admin):
    admin.create("networks", "network", name="net")
    start = snapshot(admin).revision
    began = time.monotonic()

    assert watch(admin, start, timeout=0.5) == (start, [])
    assert 0.5 <= time.monotonic() - began < 3.0


def test_a_watch_without_timeout_answers_at_once(admin):
    start = snapshot(admin).revision
    began = time.monotonic()
    assert watch(admin, start) == (start, [])
    assert time.monotonic() - began < 1.0


# --- compaction and bad positions ---

def test_a_watch_from_a_compacted_revision_answers_410(admin, services):
    for name in ("a", "b", "c"):
        admin.create("networks", "network", name=name)
    head = snapshot(admin).revision
    services.store.write(lambda tx: compact(tx.session, head - 1))

    gone = admin.get("/neutrino/v1/changes", params={"since": head - 2})

    assert gone.status_code == 410
    assert gone.json()["NeutronError"]["type"] == "FeedCompacted"
    revision, changes = watch(admin, head - 1)
    assert revision == head and [c.revision for c in changes] == [head]


def test_a_watch_from_beyond_the_head_answers_410(admin):
    head = snapshot(admin).revision
    ahead = admin.get("/neutrino/v1/changes", params={"since": head + 5})
    assert ahead.status_code == 410
    assert ahead.json()["NeutronError"]["type"] == "FeedRevisionUnknown"


@pytest.mark.parametrize("query", [{"since": "abc"}, {"since": "-1"}, {"timeout": "soon"}, {"timeout": "nan"}])
def test_a_malformed_watch_answers_400(admin, query):
    response = admin.get("/neutrino/v1/changes", params=query)
    assert response.status_code == 400
    assert response.json()["NeutronError"]["type"] == "InvalidInput"


def test_a_large_revision_is_never_cut_in_half(services):
    from neutrino.feed.server import Feed

    def touch_many(tx, base: int, count: int) -> None:
        for i in range(count):
            tx.touch_deleted("port", f"port-{base + i}")

    services.store.write(lambda tx: touch_many(tx, 0, 3))
    services.store.write(lambda tx: touch_many(tx, 100, 5))
    services.store.write(lambda tx: touch_many(tx, 200, 2))
    feed = Feed(services)

    assert [c.revision for c in feed.changes_after(0, limit=4)[1]] == [1, 1, 1]
    assert feed.changes_after(0, limit=4)[0] == 1
    assert feed.changes_after(1, limit=4) == (2, feed.changes_after(1)[1][:5])
    assert feed.changes_after(2, limit=4)[0] == 3


# --- who may read it ---

@pytest.mark.parametrize("path", ["/neutrino/v1/snapshot", "/neutrino/v1/changes"])
def test_only_admins_and_services_may_read_the_feed(admin, demo, app_client, path):
    assert admin.get(path).status_code == 200
    refused = demo.get(path)
    assert refused.status_code == 403
    assert refused.json()["NeutronError"]["type"] == "PolicyNotAuthorized"
    assert app_client.get(path).status_code == 401


def test_a_user_with_only_the_service_role_may_read_the_feed(admin, app_client):
    user = admin.post("/identity/v3/users", json={"user": {
        "name": "feed-watcher", "password": "watcher-secret", "domain_id": "default"}})
    assert user.status_code == 201, user.text
    project = admin.get("/identity/v3/projects", params={"name": "service"}).json()["projects"][0]
    role = admin.get("/identity/v3/roles", params={"name": "service"}).json()["roles"][0]
    granted = admin.put(f"/identity/v3/projects/{project['id']}/users/{user.json()['user']['id']}"
                        f"/roles/{role['id']}")
    assert granted.status_code == 204, granted.text
    token, _ = issue_token(app_client, "feed-watcher", "watcher-secret", "service")
    watcher = Api(app_client, token)

    assert watcher.get("/neutrino/v1/snapshot").status_code == 200
    assert watcher.get("/neutrino/v1/changes").status_code == 200


# --- the real client against real servers ---

class ApiServer:
    """A real API server in a thread on 127.0.0.1, with services of its own over ``settings.db_url``
    (already migrated). ``restart()`` stops it and starts a fresh one on the same address, as a new
    process would: nothing survives but the database."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.port = 0  # a free one, chosen at the first start and kept
        self.services: Services | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._listener: socket.socket | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ApiServer:
        self.services = Services(self.settings)
        app = create_app(self.settings, self.services)
        if app.state.identity is not None:
            app.state.identity.bootstrap()
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", self.port))
        self.port = self._listener.getsockname()[1]
        self._server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off"))
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._listener]}, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            assert self._thread.is_alive() and time.monotonic() < deadline, "the API server did not start"
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = self._server.force_exit = True  # drop in-flight watches, like a crash
            self._thread.join(10)
            self._listener.close()
            self.services.store.dispose()
            assert not self._thread.is_alive(), "the API server did not stop"
            self._server = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def __enter__(self) -> ApiServer:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()


def migrated(settings: Settings) -> Settings:
    make_services(settings).store.dispose()
    return settings


def create_network(url: str, name: str) -> str:
    response = httpx.post(f"{url}/v2.0/networks", json={"network": {"name": name}}, timeout=30)
    assert response.status_code == 201, response.text
    return response.json()["network"]["id"]


def follow_until(client: FeedClient, start: Snapshot, done: Callable[[Snapshot], bool],
                 seconds: float = 20.0) -> list[Change]:
    """Follow from ``start`` until ``done(snapshot)``; every change applied, in order."""
    seen: list[Change] = []
    deadline = time.monotonic() + seconds
    for batch in client.follow(start, timeout=1.0):
        assert not batch.relisted
        seen.extend(batch.changes)
        if done(batch.snapshot):
            return seen
        assert time.monotonic() < deadline, f"still at revision {batch.snapshot.revision}"
    raise AssertionError("follow() ended by itself")


class Follower:
    """FeedClient.follow in a thread, recording every change it applies, until stopped."""

    def __init__(self, url: str, start: Snapshot):
        self.client = FeedClient(url)
        self.snapshot = start
        self.changes: list[Change] = []
        self.relists = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        for batch in self.client.follow(self.snapshot, timeout=1.0, stop=self.stop):
            self.relists += batch.relisted
            self.changes.extend(batch.changes)
            self.snapshot = batch.snapshot

    def __enter__(self) -> Follower:
        self.thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop.set()
        self.thread.join(10)
        self.client.close()
        assert not self.thread.is_alive(), "the follower did not stop"

    def wait_for(self, revision: int, seconds: float = 20.0) -> None:
        deadline = time.monotonic() + seconds
        while self.snapshot.revision < revision:
            assert self.thread.is_alive(), "the follower died"
            assert time.monotonic() < deadline, f"follower at {self.snapshot.revision}, wanted {revision}"
            time.sleep(0.02)


def test_client_lists_then_follows_to_the_state_read_afterwards(noauth_settings):
    with ApiServer(migrated(noauth_settings)) as server, FeedClient(server.url) as client:
        create_network(server.url, "before")
        listed = client.snapshot()
        ids = [create_network(server.url, f"after-{i}") for i in range(3)]
        head = listed.revision + 3

        seen = follow_until(client, listed, lambda s: s.revision >= head)

        assert [c.id for c in seen] == ids
        assert listed.revision == head
        assert listed.resources == client.snapshot().resources


def test_client_resumes_from_its_revision_across_a_server_restart(noauth_settings):
    with ApiServer(migrated(noauth_settings)) as server, FeedClient(server.url) as client:
        state = client.snapshot()
        with Follower(server.url, client.snapshot()) as live:
            create_network(server.url, "first")
            follow_until(client, state, lambda s: s.revision >= 1)
            stopped_at = state.revision  # this client now goes away for a while; the live one stays
            for i in range(3):
                create_network(server.url, f"while-away-{i}")
            live.wait_for(stopped_at + 3)  # so that it is in the middle of a watch when the server goes
            server.restart()  # same SQLite file, same address
            ids = [create_network(server.url, f"after-restart-{i}") for i in range(2)]
            head = stopped_at + 5

            resumed = follow_until(client, state, lambda s: s.revision >= head)
            everything = client.changes(0)[1]
            fresh = client.snapshot()
            live.wait_for(head)

    assert keys(resumed) == [key for key in keys(everything) if key[0] > stopped_at]
    assert [c.id for c in resumed][-2:] == ids
    assert keys(live.changes) == keys(everything)
    assert state.resources == fresh.resources == live.snapshot.resources
    assert live.relists == 0


def test_client_relists_when_the_feed_was_compacted_past_its_revision(noauth_settings):
    with ApiServer(migrated(noauth_settings)) as server, FeedClient(server.url) as client:
        old = client.snapshot()
        ids = {create_network(server.url, f"net-{i}") for i in range(3)}
        head = old.revision + 3
        server.services.store.write(lambda tx: compact(tx.session, head))

        with pytest.raises(FeedGone):
            client.changes(old.revision)
        batch = next(client.follow(old, timeout=1.0))

        assert batch.relisted and batch.changes == []
        assert batch.snapshot.revision == head
        assert set(batch.snapshot.resources["network"]) == ids


def test_client_asks_for_a_fresh_token_after_a_401(settings):
    with ApiServer(migrated(settings)) as server:
        def token_for(user: str, password: str) -> str:
            body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
                "name": user, "domain": {"name": "Default"}, "password": password}}},
                "scope": {"project": {"name": user, "domain": {"name": "Default"}}}}}
            response = httpx.post(f"{server.url}/identity/v3/auth/tokens", json=body)
            assert response.status_code == 201, response.text
            return response.headers["X-Subject-Token"]

        asked: list[bool] = []

        def expired_then_fresh(refresh: bool = False) -> str:
            asked.append(refresh)
            return token_for("admin", ADMIN_PASSWORD) if refresh else "expired-token"

        with FeedClient(server.url, expired_then_fresh) as client:
            assert client.snapshot().revision >= 0
        assert asked == [False, True]

        with FeedClient(server.url, lambda refresh=False: token_for("demo", DEMO_PASSWORD)) as member:
            with pytest.raises(FeedError) as refused:
                member.changes(0)
            assert refused.value.status == 403


def test_follow_retries_failures_from_the_same_revision_and_never_applies_one_twice():
    def network(revision: int) -> dict:
        return {"revision": revision, "kind": "network", "id": f"net-{revision}", "body": {"id": f"net-{revision}"}}

    answers = iter([
        httpx.Response(503, json={"NeutronError": {"type": "ServiceUnavailable", "message": "busy"}}),
        httpx.Response(200, json={"revision": 2, "changes": [network(1), network(2)]}),
        httpx.ConnectError("connection refused"),
        httpx.Response(200, json={"revision": 3, "changes": [network(2), network(3)]}),  # 2 again
    ])
    asked_since: list[int] = []

    def feed_server(request: httpx.Request) -> httpx.Response:
        asked_since.append(int(request.url.params["since"]))
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    client = FeedClient("http://feed.test", transport=httpx.MockTransport(feed_server))
    applied: list[Change] = []
    for batch in client.follow(Snapshot(revision=0), timeout=0):
        applied.extend(batch.changes)
        if batch.snapshot.revision == 3:
            break

    assert asked_since == [0, 0, 2, 2]
    assert [c.revision for c in applied] == [1, 2, 3]
    assert set(batch.snapshot.resources["network"]) == {"net-1", "net-2", "net-3"}


def test_backoff_doubles_up_to_its_cap():
    delays = backoff_delays(first=0.1, cap=1.0)
    ceilings = [0.1, 0.2, 0.4, 0.8, 1.0, 1.0, 1.0]
    for ceiling in ceilings:
        assert ceiling / 2 <= next(delays) <= ceiling


# --- several API servers on one PostgreSQL database ---

@pytest.fixture
def shared_pg_settings(noauth_settings, pg_database) -> Settings:
    settings = replace(noauth_settings, db_url=pg_database, quotas=Quotas(network=1000))
    migrated(settings)  # once, as one server would; the servers below only serve
    return settings


def test_a_watcher_on_one_server_sees_writes_through_both_in_order_without_gaps(shared_pg_settings):
    writers, per_writer = 4, 25
    with ApiServer(shared_pg_settings) as a, ApiServer(shared_pg_settings) as b:
        with FeedClient(a.url) as client:
            start = client.snapshot()
        assert start.revision == 0
        created: list[str] = []

        def write(writer: int) -> None:
            with httpx.Client(timeout=30) as http:
                for i in range(per_writer):
                    url = (a, b)[(writer + i) % 2].url
                    # A VLAN of its own: no allocation lock, so the writers' transactions really overlap.
                    network = {"name": f"w{writer}-{i}", "provider:network_type": "vlan",
                               "provider:physical_network": "physnet1",
                               "provider:segmentation_id": 1000 + writer * per_writer + i}
                    response = http.post(f"{url}/v2.0/networks", json={"network": network})
                    assert response.status_code == 201, response.text
                    created.append(response.json()["network"]["id"])

        with Follower(a.url, start) as watcher:
            threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(60)
            total = writers * per_writer
            assert len(created) == total
            watcher.wait_for(total)

    assert [c.revision for c in watcher.changes] == list(range(1, total + 1))
    assert sorted(c.id for c in watcher.changes) == sorted(created)
    assert set(watcher.snapshot.resources["network"]) == set(created)


def test_a_watcher_on_one_server_sees_a_write_through_another_within_a_second(shared_pg_settings):
    with ApiServer(shared_pg_settings) as a, ApiServer(shared_pg_settings) as b:
        with FeedClient(b.url) as watcher:
            start = watcher.snapshot().revision
            answer: dict = {}

            def wait() -> None:
                answer["changes"] = watcher.changes(start, timeout=20)
                answer["at"] = time.monotonic()

            waiting = threading.Thread(target=wait)
            waiting.start()
            time.sleep(0.3)  # the watch is waiting on server B before server A takes the write
            written = time.monotonic()
            network_id = create_network(a.url, "through-a")
            waiting.join(10)

    revision, changes = answer["changes"]
    assert revision == start + 1 and [c.id for c in changes] == [network_id]
    assert answer["at"] - written < 1.0
