"""Tags on any standard-attr resource (Neutron's standard-attr-tag): replace, add, remove, clear."""

from __future__ import annotations

from sqlalchemy import delete, select

from neutrino.services.common import touch_row
from neutrino.services.errors import TagNotFound
from neutrino.store import tables as t
from neutrino.store.revisions import Transaction

TABLES = {
    "network": t.Network, "subnet": t.Subnet, "port": t.Port,
    "security_group": t.SecurityGroup, "security_group_rule": t.SecurityGroupRule,
    "router": t.Router, "floatingip": t.FloatingIp,
}


def current(session, resource_id: str) -> list[str]:
    return sorted(session.execute(select(t.Tag.tag).where(t.Tag.resource_id == resource_id)).scalars())


def _changed(tx: Transaction, kind: str, resource_id: str) -> None:
    row = tx.session.get(TABLES[kind], resource_id)
    if row is not None:
        touch_row(row)
    tx.touch(kind, resource_id)


def replace(tx: Transaction, kind: str, resource_id: str, tags: list[str]) -> list[str]:
    tx.session.execute(delete(t.Tag).where(t.Tag.resource_id == resource_id))
    tx.session.add_all(t.Tag(resource_id=resource_id, tag=tag, kind=kind) for tag in dict.fromkeys(tags))
    _changed(tx, kind, resource_id)
    return sorted(set(tags))


def add(tx: Transaction, kind: str, resource_id: str, tag: str) -> None:
    if tx.session.get(t.Tag, (resource_id, tag)) is None:
        tx.session.add(t.Tag(resource_id=resource_id, tag=tag, kind=kind))
        _changed(tx, kind, resource_id)


def remove(tx: Transaction, kind: str, resource_id: str, tag: str) -> None:
    row = tx.session.get(t.Tag, (resource_id, tag))
    if row is None:
        raise TagNotFound(tag=tag, resource=kind, resource_id=resource_id)
    tx.session.delete(row)
    _changed(tx, kind, resource_id)


def clear(tx: Transaction, kind: str, resource_id: str) -> None:
    tx.session.execute(delete(t.Tag).where(t.Tag.resource_id == resource_id))
    _changed(tx, kind, resource_id)
