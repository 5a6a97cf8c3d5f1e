"""Small shared pieces of the services: ids, timestamps, standard attributes, tags, scoping."""

from __future__ import annotations

import uuid
from collections import namedtuple
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from functools import cache, lru_cache

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from neutrino.services.context import Context
from neutrino.services.errors import PolicyNotAuthorized
from neutrino.store.tables import Tag

TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def new_id() -> str:
    return str(uuid.uuid4())


def now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0)


@lru_cache(maxsize=4096)  # a list shows thousands, mostly of the same few seconds
def timestamp(value: datetime | None) -> str | None:
    """Neutron's wire form, e.g. 2026-11-26T05:02:31Z (stored values have no microseconds)."""
    return value.isoformat(timespec="seconds") + "Z" if value else None


def standard_view(row, tags: dict[str, list[str]]) -> dict:
    """Neutron's standard attributes of one row, in wire form."""
    return {
        "id": row.id,
        "name": row.name,
        "description": row.description,
        "tenant_id": row.project_id,
        "project_id": row.project_id,
        "created_at": timestamp(row.created_at),
        "updated_at": timestamp(row.updated_at),
        "revision_number": row.revision_number,
        "tags": tags.get(row.id, []),
    }


def plain_rows(result) -> Iterator:
    """The rows of ``result``, one at a time, as named tuples. SQLAlchemy's Row looks an attribute up
    by name on each access, ten times slower than a named tuple, and a list view reads some twenty
    per row."""
    return map(_row_type(tuple(result.keys()))._make, result)


@cache
def _row_type(columns: tuple[str, ...]):
    return namedtuple("Row", columns, rename=True)


def tags_for(session: Session, kind: str, ids: Iterable[str] | None) -> dict[str, list[str]]:
    if ids is not None:
        ids = list(ids)
        if not ids:
            return {}
        if len(ids) > 500:
            ids = None  # as cheap to read them all
    out: dict[str, list[str]] = {}
    for resource_id, tag in session.execute(_tags_query(ids is not None), {"kind": kind, "ids": ids}):
        out.setdefault(resource_id, []).append(tag)
    for tags in out.values():
        tags.sort()
    return out


@cache
def _tags_query(by_ids: bool):
    """Built once, run with bound values (building a statement costs more than running it)."""
    tags = Tag.__table__
    query = select(tags.c.resource_id, tags.c.tag).where(tags.c.kind == bindparam("kind"))
    return query.where(tags.c.resource_id.in_(bindparam("ids", expanding=True))) if by_ids else query


def new_standard_row(table, context: Context, attrs: dict, **columns):
    """A new resource row with its standard attributes filled in."""
    moment = now()
    return table(
        id=attrs.get("id") or new_id(),
        project_id=owner_of(context, attrs),
        name=attrs.get("name", "") or "",
        description=attrs.get("description", "") or "",
        created_at=moment,
        updated_at=moment,
        revision_number=0,
        **columns,
    )


def owner_of(context: Context, attrs: dict) -> str:
    """The project a new resource belongs to: the caller's, unless an admin names another."""
    requested = attrs.get("project_id") or attrs.get("tenant_id")
    if requested and attrs.get("project_id") and attrs.get("tenant_id") and \
            attrs["project_id"] != attrs["tenant_id"]:
        from neutrino.services.errors import HTTPBadRequest

        raise HTTPBadRequest("'project_id' and 'tenant_id' do not match")
    if requested and requested != context.project_id and not context.is_admin:
        raise PolicyNotAuthorized(action="create with another project's id")
    return requested or context.project_id


def touch_row(row) -> None:
    """Mark an update: bump revision_number and updated_at."""
    row.revision_number = (row.revision_number or 0) + 1
    row.updated_at = now()


def chunks(items: list, size: int = 500):
    for start in range(0, len(items), size):
        yield items[start:start + size]
