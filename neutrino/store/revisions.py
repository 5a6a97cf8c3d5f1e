"""The global revision: each committed write takes the next one and records what it changed.

A ``Transaction`` collects the resources a write touched; ``finish()`` bumps the single feed_head
row (its row lock is held until commit, so revisions become visible in order, with no gaps) and
writes one ``changes`` row per touched resource with its new body, or no body when deleted.

Why that holds on PostgreSQL: a writer waiting for the feed_head lock gets it only once the holder
has committed and become visible to new snapshots, so revision N is visible before N+1 can commit,
and a rolled-back writer leaves no hole (unlike a sequence). Bodies are rendered after the bump, in
READ COMMITTED, so they see every earlier revision: the last body of a resource is its latest state.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime

from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from neutrino.store.tables import Change, FeedHead

# renderer(session, kind, ids) -> {id: body}: the full (admin) view of each resource that still exists.
Renderer = Callable[[Session, str, Iterable[str]], dict[str, dict]]

COMPACT_EVERY = 1000
# Every write runs these two: built once, as plain Core statements (cheaper than ORM-enabled ones).
_HEAD, _CHANGES = FeedHead.__table__, Change.__table__
_NEXT_REVISION = (update(_HEAD).where(_HEAD.c.id == 1).values(revision=_HEAD.c.revision + 1)
                  .returning(_HEAD.c.revision))
_RECORD_CHANGE = insert(_CHANGES)


class Transaction:
    def __init__(self, session: Session, renderer: Renderer | None, retention: int = 100_000):
        self.session = session
        self.renderer = renderer
        self.retention = retention
        self.touched: dict[tuple[str, str], bool] = {}
        self.revision = 0
        # The rendered body of each touched resource, kept for the API's response.
        self.bodies: dict[tuple[str, str], dict] = {}
        # Bodies a service handed over with touch(): nothing else can have changed them since.
        self._known: dict[tuple[str, str], dict] = {}

    def touch(self, kind: str, resource_id: str, body: dict | None = None) -> None:
        """Record a change to the resource. ``body``: its full view when the service has just built
        all of it (a create), which saves reading it back; a later touch without one drops it."""
        self.touched.setdefault((kind, resource_id), False)
        if body is None:
            self._known.pop((kind, resource_id), None)
        else:
            self._known[(kind, resource_id)] = body

    def touch_deleted(self, kind: str, resource_id: str) -> None:
        self.touched[(kind, resource_id)] = True

    def finish(self) -> int:
        if not self.touched:
            return 0
        self.session.flush()
        revision = self.session.execute(_NEXT_REVISION).scalar_one()
        bodies = self.bodies = self._render()
        now = datetime.now(UTC).replace(tzinfo=None)
        rows = [
            {"revision": revision, "seq": seq, "kind": kind, "resource_id": rid,
             "body": None if deleted else bodies.get((kind, rid)), "committed_at": now}
            for seq, ((kind, rid), deleted) in enumerate(self.touched.items())
        ]
        self.session.execute(_RECORD_CHANGE, rows)
        if revision % COMPACT_EVERY == 0:
            compact(self.session, revision - self.retention)
        self.revision = revision
        return revision

    def _render(self) -> dict[tuple[str, str], dict]:
        if self.renderer is None:
            return {}
        by_kind: dict[str, list[str]] = {}
        out = {}
        for (kind, rid), deleted in self.touched.items():
            if deleted:
                continue
            if (kind, rid) in self._known:
                out[(kind, rid)] = self._known[(kind, rid)]
            else:
                by_kind.setdefault(kind, []).append(rid)
        for kind, ids in by_kind.items():
            for rid, body in self.renderer(self.session, kind, ids).items():
                out[(kind, rid)] = body
        return out


def compact(session: Session, before: int) -> None:
    """Forget changes at or below ``before``; watchers older than that must relist."""
    if before <= 0:
        return
    session.execute(delete(Change).where(Change.revision <= before))
    session.execute(update(FeedHead).where(FeedHead.id == 1, FeedHead.compacted < before)
                    .values(compacted=before))


def read_head(session: Session) -> tuple[int, int]:
    row = session.execute(select(FeedHead.revision, FeedHead.compacted).where(FeedHead.id == 1)).one()
    return row.revision, row.compacted
