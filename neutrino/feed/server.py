"""Server side of the feed: a consistent snapshot with its revision, and changes after a revision.

Watchers long-poll: they are woken by commits in this process and also poll the database, so a
watcher on one API server sees writes made through another sharing the same PostgreSQL.
"""

from __future__ import annotations

import asyncio
import logging
import threading

from sqlalchemy import select
from sqlalchemy.orm import Session

from neutrino.feed.change import KINDS, Change
from neutrino.services.context import ADMIN
from neutrino.services.core import Services
from neutrino.services.errors import NeutronError
from neutrino.store.revisions import read_head
from neutrino.store.tables import Change as ChangeRow

log = logging.getLogger(__name__)

POLL_SECONDS = 0.25
MAX_CHANGES = 2000


class FeedGone(NeutronError):
    """HTTP 410: the feed cannot continue from the client's revision; the client must relist."""


class FeedCompacted(FeedGone):
    message = "Changes up to revision {compacted} were compacted; revision {since} is too old, relist."


class FeedRevisionUnknown(FeedGone):
    # The store was replaced (a purged SQLite file, a restored backup): the client's state belongs to
    # another history, and waiting for the head to catch up would splice two histories together.
    message = "Revision {since} is ahead of the feed's head {head}; relist."


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
            resources = {kind: self.services.by_kind[kind].views(session, ADMIN)
                         for kind in KINDS if kind in self.services.by_kind}
        return {"revision": revision, "resources": resources}

    def changes_after(self, since: int, limit: int = MAX_CHANGES) -> tuple[int, list[Change]]:
        """(revision, changes after ``since`` up to it): whole revisions only; ``revision`` is where the
        answer ends, the head unless ``limit`` cut it short. FeedGone when the client must relist."""
        with self.store.read() as session:
            head, compacted = read_head(session)
            if since < compacted:
                raise FeedCompacted(compacted=compacted, since=since)
            if since > head:
                raise FeedRevisionUnknown(since=since, head=head)
            if since == head:
                return head, []
            rows = _change_rows(session, since, limit)
        changes = [Change(r.revision, r.kind, r.resource_id, r.body) for r in rows]
        # Every revision has at least one change row, so the last one says how far this answer goes.
        return (changes[-1].revision if changes else head), changes

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
                revision, changes = await asyncio.to_thread(self.changes_after, since)
                remaining = deadline - loop.time()
                if changes or remaining <= 0:
                    return revision, changes
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
            # Runs in the writer's thread after its commit: a watcher whose loop has just closed must
            # not turn an acknowledged write into an error.
            if not loop.is_closed():
                try:
                    loop.call_soon_threadsafe(event.set)
                except RuntimeError:
                    log.debug("feed watcher's event loop closed before it could be woken")


def _change_rows(session: Session, since: int, limit: int) -> list[ChangeRow]:
    """Change rows after ``since``, at most about ``limit`` of them, never cutting a revision in half
    (a revision larger than ``limit`` comes whole)."""
    in_order = select(ChangeRow).order_by(ChangeRow.revision, ChangeRow.seq)
    rows = session.execute(in_order.where(ChangeRow.revision > since).limit(limit)).scalars().all()
    if len(rows) < limit:
        return rows
    last = rows[-1].revision
    if rows[0].revision == last:
        return session.execute(in_order.where(ChangeRow.revision == last)).scalars().all()
    return [r for r in rows if r.revision < last]
