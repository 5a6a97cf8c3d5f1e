"""Agent side of the feed: list the whole state, then follow the changes after its revision.

HTTP only (httpx): this module imports nothing from store, services or api. ``follow()`` resumes
from the last revision it applied after any failure, so a caller sees every change once, in order;
a 410 (compacted, or a store that is not the one listed) makes it relist.

    FeedError                 the feed refused us: nothing to retry
    ├── FeedUnauthorized      401 even with a fresh token
    FeedUnavailable           connection failures and 5xx: retried with backoff by follow()
    FeedGone                  410: relist
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable, Iterator
from typing import NamedTuple

import httpx

from neutrino.feed.change import KINDS, Change, Snapshot

log = logging.getLogger(__name__)

# token_provider(refresh=False) -> X-Auth-Token, or None without auth; refresh=True after a 401.
TokenProvider = Callable[..., str | None]

CONNECT_SECONDS = 5.0
SNAPSHOT_SECONDS = 60.0  # listing everything can take a while on a big store
# The server holds a watch for up to its timeout; allow the reply this much longer to arrive.
REPLY_GRACE_SECONDS = 10.0
FIRST_BACKOFF_SECONDS = 0.1
MAX_BACKOFF_SECONDS = 5.0


class FeedError(Exception):
    """The feed answered with an error that retrying will not fix (400, 403, 404)."""

    def __init__(self, status: int, body: str):
        super().__init__(f"feed answered {status}: {body[:500]}")
        self.status = status


class FeedUnauthorized(FeedError):
    """401 even after asking the token provider for a fresh token."""


class FeedUnavailable(Exception):
    """The server could not be reached or failed (5xx): try again from the same revision."""


class FeedGone(Exception):
    """410: the feed cannot continue from this revision; list the whole state again."""


class Batch(NamedTuple):
    """What ``follow()`` yields: the snapshot after ``changes``. ``relisted``: the snapshot was listed
    afresh (after a 410), so ``changes`` is empty and anything may have changed."""

    snapshot: Snapshot
    changes: list[Change]
    relisted: bool = False


def snapshot_from(data: dict) -> Snapshot:
    resources: dict[str, dict[str, dict]] = {kind: {} for kind in KINDS}
    for kind, views in data["resources"].items():
        resources[kind] = {view["id"]: view for view in views}
    return Snapshot(revision=data["revision"], resources=resources)


class FeedClient:
    def __init__(self, base_url: str, token_provider: TokenProvider | None = None,
                 transport: httpx.BaseTransport | None = None):
        self.token_provider = token_provider or (lambda refresh=False: None)
        self.http = httpx.Client(base_url=base_url.rstrip("/"), transport=transport)

    def __enter__(self) -> FeedClient:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        self.http.close()

    def snapshot(self) -> Snapshot:
        """The whole state at one revision."""
        return snapshot_from(self._get("/neutrino/v1/snapshot", {}, SNAPSHOT_SECONDS))

    def changes(self, since: int, timeout: float = 0.0) -> tuple[int, list[Change]]:
        """(revision, changes after ``since`` up to it), waiting up to ``timeout`` s for the first one."""
        data = self._get("/neutrino/v1/changes", {"since": since, "timeout": timeout},
                         timeout + REPLY_GRACE_SECONDS)
        return data["revision"], [Change.from_dict(item) for item in data["changes"]]

    def follow(self, snapshot: Snapshot, timeout: float = 30.0,
               stop: threading.Event | None = None) -> Iterator[Batch]:
        """Long-poll from ``snapshot.revision``, applying each answer to ``snapshot`` (in place) and
        yielding it; an empty batch means a watch timed out with nothing new. Runs until ``stop`` is set
        (checked between watches, so allow up to ``timeout`` s for it to end)."""
        stop = stop or threading.Event()
        delays = backoff_delays()
        while not stop.is_set():
            try:
                batch = self._next_batch(snapshot, timeout)
            except FeedUnavailable as exc:
                delay = next(delays)
                log.warning("feed unavailable (%s); retrying from revision %d in %.1fs",
                            exc, snapshot.revision, delay)
                stop.wait(delay)
                continue
            delays = backoff_delays()
            snapshot = batch.snapshot
            yield batch

    def _next_batch(self, snapshot: Snapshot, timeout: float) -> Batch:
        try:
            revision, changes = self.changes(snapshot.revision, timeout)
        except FeedGone as exc:
            log.warning("relisting: %s", exc)
            return Batch(self.snapshot(), [], relisted=True)
        # A reply can only hold later revisions; the guard keeps "never twice" true whatever happens.
        fresh = [change for change in changes if change.revision > snapshot.revision]
        for change in fresh:
            snapshot.apply(change)
        snapshot.revision = max(snapshot.revision, revision)
        return Batch(snapshot, fresh)

    def _get(self, path: str, params: dict, read_timeout: float) -> dict:
        timeout = httpx.Timeout(read_timeout, connect=CONNECT_SECONDS)
        response = self._send(path, params, timeout, refresh=False)
        if response.status_code == 401:
            response = self._send(path, params, timeout, refresh=True)
        return _body_of(response)

    def _send(self, path: str, params: dict, timeout: httpx.Timeout, refresh: bool) -> httpx.Response:
        try:
            token = self.token_provider(refresh=refresh)  # may itself call Keystone over HTTP
            headers = {"X-Auth-Token": token} if token else {}
            return self.http.get(path, params=params, headers=headers, timeout=timeout)
        except httpx.TransportError as exc:
            raise FeedUnavailable(f"{type(exc).__name__}: {exc}") from exc


def _body_of(response: httpx.Response) -> dict:
    status = response.status_code
    if status == 200:
        return response.json()
    if status == 410:
        raise FeedGone(_message_of(response))
    if status >= 500 or status == 429:
        raise FeedUnavailable(f"{status}: {_message_of(response)}")
    if status == 401:
        raise FeedUnauthorized(status, response.text)
    raise FeedError(status, response.text)


def _message_of(response: httpx.Response) -> str:
    try:
        return response.json()["NeutronError"]["message"]
    except (ValueError, KeyError, TypeError):
        return response.text[:200]


def backoff_delays(first: float = FIRST_BACKOFF_SECONDS, cap: float = MAX_BACKOFF_SECONDS) -> Iterator[float]:
    """Doubling delays up to ``cap``, each jittered down by up to half, so that agents reconnecting
    to a restarted server do not all arrive at once."""
    delay = first
    while True:
        yield delay * random.uniform(0.5, 1.0)
        delay = min(cap, delay * 2)
