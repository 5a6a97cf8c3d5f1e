"""Per-project quotas: defaults from Settings, overrides in the store, checked before each create."""

from __future__ import annotations

from functools import cache

from sqlalchemy import bindparam, delete, func, select
from sqlalchemy.orm import Session

from neutrino.config import Quotas
from neutrino.services.errors import OverQuota
from neutrino.store import tables as t

COUNTED = {
    "network": t.Network,
    "subnet": t.Subnet,
    "port": t.Port,
    "security_group": t.SecurityGroup,
    "security_group_rule": t.SecurityGroupRule,
    "router": t.Router,
    "floatingip": t.FloatingIp,
}


# Built once, run with bound values: a quota check precedes every create.
_LIMITS = select(t.Quota.__table__.c.resource, t.Quota.__table__.c.limit).where(
    t.Quota.__table__.c.project_id == bindparam("project_id"))


@cache
def _count_of(resource: str):
    table = COUNTED[resource].__table__
    return select(func.count()).select_from(table).where(table.c.project_id == bindparam("project_id"))


class QuotaBook:
    def __init__(self, defaults: Quotas):
        self.defaults = defaults

    def limits(self, session: Session, project_id: str) -> dict[str, int]:
        limits = self.defaults.as_dict()
        for resource, limit in session.execute(_LIMITS, {"project_id": project_id}):
            limits[resource] = limit
        return limits

    def used(self, session: Session, project_id: str, resource: str) -> int:
        if resource not in COUNTED:
            return 0
        return session.execute(_count_of(resource), {"project_id": project_id}).scalar_one()

    def check(self, session: Session, project_id: str, resource: str, adding: int = 1) -> None:
        """Raise OverQuota when ``adding`` more of ``resource`` would pass the project's limit (-1: none)."""
        limit = self.limits(session, project_id).get(resource, -1)
        if limit < 0:
            return
        session.flush()  # count what this transaction already added (a bulk create's earlier items)
        if self.used(session, project_id, resource) + adding > limit:
            raise OverQuota(overs=[resource])

    def set(self, session: Session, project_id: str, values: dict[str, int]) -> None:
        for resource, limit in values.items():
            row = session.get(t.Quota, (project_id, resource))
            if row is None:
                session.add(t.Quota(project_id=project_id, resource=resource, limit=limit))
            else:
                row.limit = limit

    def reset(self, session: Session, project_id: str) -> None:
        session.execute(delete(t.Quota).where(t.Quota.project_id == project_id))

    def projects_with_overrides(self, session: Session) -> list[str]:
        return list(session.execute(select(t.Quota.project_id).distinct()).scalars())
