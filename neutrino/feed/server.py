"""Server side of the feed: a consistent snapshot with its revision, and changes after a revision.

Watchers long-poll: they are woken by commits in this process and also poll the database, so a
watcher on one API server sees writes made through another sharing the same PostgreSQL.
"""

from __future__ import annotations

import asyncio
import threading

from sqlalchemy import select

from neutrino.feed.change import KINDS, Change
from neutrino.services.context import ADMIN
from neutrino.services.core import Services
from neutrino.services.errors import NeutronError
from neutrino.store.revisions import read_head
from neutrino.store.tables import Change as ChangeRow

POLL_SECONDS = 0.25
MAX_CHANGES = 2000


class FeedCompacted(NeutronError):
    message = "Changes up to revision {compacted} were compacted; revision {since} is too old, relist."


class Feed:
    def __init__(self, services: Services):
        self.services = services
        self.store = services.store
        self._waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()
        self._lock = threading.Lock()
        self.store.listeners.append(self._wake)

    def snapshot(self) -> dict:
        with self.store.read() as session:
            revision, _ = read_head(session)
            resources = {kind: self.services.by_kind[kind].views(session, ADMIN) for kind in KINDS}
        return {"revision": revision, "resources": resources}

    def changes_after(self, since: int, limit: int = MAX_CHANGES) -> tuple[int, list[Change]]:
        """(head, changes with revision > since), whole revisions only; FeedCompacted when too old."""
        with self.store.read() as session:
            head, compacted = read_head(session)
            if since < compacted:
                raise FeedCompacted(compacted=compacted, since=since)
            if since >= head:
                return head, []
            rows = session.execute(
                select(ChangeRow).where(ChangeRow.revision > since)
                .order_by(ChangeRow.revision, ChangeRow.seq).limit(limit)
            ).scalars().all()
        changes = [Change(r.revision, r.kind, r.resource_id, r.body) for r in rows]
        if len(rows) == limit:  # do not cut a revision in half
            last = changes[-1].revision
            changes = [c for c in changes if c.revision < last] or changes
        return head, changes

    async def watch(self, since: int, timeout: float) -> tuple[int, list[Change]]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        event = asyncio.Event()
        waiter = (loop, event)
        with self._lock:
            self._waiters.add(waiter)
        try:
            while True:
                event.clear()
                head, changes = await asyncio.to_thread(self.changes_after, since)
                remaining = deadline - loop.time()
                if changes or remaining <= 0:
                    return head, changes
                try:
                    await asyncio.wait_for(event.wait(), min(POLL_SECONDS, remaining))
                except TimeoutError:
                    pass
        finally:
            with self._lock:
                self._waiters.discard(waiter)

    def _wake(self, revision: int) -> None:
        with self._lock:
            waiters = list(self._waiters)
        for loop, event in waiters:
            loop.call_soon_threadsafe(event.set)
