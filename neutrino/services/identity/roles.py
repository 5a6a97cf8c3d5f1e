"""Roles, their implications, and role assignments of users on projects (Keystone's /v3/roles,
/v3/projects/{p}/users/{u}/roles/{r} and /v3/role_assignments)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from sqlalchemy import false, select
from sqlalchemy.orm import Session

from neutrino.services.context import Context
from neutrino.services.identity.common import DOMAIN, is_true, list_links, require_admin
from neutrino.services.identity.errors import NotFound
from neutrino.store.session import Store
from neutrino.store.tables import Project, Role, RoleAssignment, User

ROLE_NAMES = ("admin", "member", "reader", "service")
# Keystone's default implied roles: whoever holds admin also acts as member, and member as reader.
IMPLIES = {"admin": "member", "member": "reader"}


def with_implied(names: Iterable[str]) -> list[str]:
    """The given roles, then every role they imply, each once (admin -> admin, member, reader)."""
    out = list(dict.fromkeys(names))
    for name in out:  # the list grows while we walk it, so chains are followed to their end
        implied = IMPLIES.get(name)
        if implied and implied not in out:
            out.append(implied)
    return out


def effective_roles(session: Session, user_id: str, project_id: str) -> tuple[tuple[str, str], ...]:
    """(id, name) of every role the user holds on the project, implied ones included."""
    ids = dict(session.execute(select(Role.name, Role.id)).all())
    assigned = session.execute(
        select(Role.name).join(RoleAssignment, RoleAssignment.role_id == Role.id)
        .where(RoleAssignment.user_id == user_id, RoleAssignment.project_id == project_id)
    ).scalars().all()
    return tuple((ids[name], name) for name in with_implied(sorted(assigned)) if name in ids)


class Roles:
    def __init__(self, store: Store, links_base: str, on_access_reduced: Callable[[], None]):
        self.store = store
        self.links_base = links_base
        # Called after a change that can end tokens (disable, delete, revoke), so validated-token
        # caches drop them at once.
        self.on_access_reduced = on_access_reduced

    def list_roles(self, context: Context, filters: Mapping[str, str]) -> dict:
        require_admin(context, "list_roles")
        query = select(Role).order_by(Role.name)
        if "name" in filters:
            query = query.where(Role.name == filters["name"])
        with self.store.read() as session:
            rows = session.execute(query).scalars().all()
        return {"roles": [self._view(row) for row in rows], "links": list_links(self.links_base + "/roles")}

    def get_role(self, context: Context, role_id: str) -> dict:
        require_admin(context, "get_role")
        with self.store.read() as session:
            return {"role": self._view(_existing(session, Role, role_id, "role"))}

    def list_grants(self, context: Context, project_id: str, user_id: str) -> dict:
        """The roles assigned directly (not implied) to the user on the project."""
        require_admin(context, "list_grants")
        with self.store.read() as session:
            _existing(session, Project, project_id, "project")
            _existing(session, User, user_id, "user")
            rows = session.execute(
                select(Role).join(RoleAssignment, RoleAssignment.role_id == Role.id)
                .where(RoleAssignment.user_id == user_id, RoleAssignment.project_id == project_id)
                .order_by(Role.name)
            ).scalars().all()
        path = f"/projects/{project_id}/users/{user_id}/roles"
        return {"roles": [self._view(row) for row in rows], "links": list_links(self.links_base + path)}

    def create_grant(self, context: Context, project_id: str, user_id: str, role_id: str) -> None:
        """Assign the role; assigning it again changes nothing."""
        require_admin(context, "create_grant")

        def work(tx):
            _existing(tx.session, Project, project_id, "project")
            _existing(tx.session, User, user_id, "user")
            _existing(tx.session, Role, role_id, "role")
            if tx.session.get(RoleAssignment, (user_id, project_id, role_id)) is None:
                tx.session.add(RoleAssignment(user_id=user_id, project_id=project_id, role_id=role_id))

        self.store.write(work)

    def check_grant(self, context: Context, project_id: str, user_id: str, role_id: str) -> None:
        require_admin(context, "check_grant")
        with self.store.read() as session:
            if session.get(RoleAssignment, (user_id, project_id, role_id)) is None:
                raise _assignment_not_found(project_id, user_id, role_id)

    def revoke_grant(self, context: Context, project_id: str, user_id: str, role_id: str) -> None:
        require_admin(context, "revoke_grant")

        def work(tx):
            row = tx.session.get(RoleAssignment, (user_id, project_id, role_id))
            if row is None:
                raise _assignment_not_found(project_id, user_id, role_id)
            tx.session.delete(row)

        self.store.write(work)
        self.on_access_reduced()

    def list_role_assignments(self, context: Context, filters: Mapping[str, str]) -> dict:
        """``/v3/role_assignments`` filtered by ``user.id``, ``role.id``, ``scope.project.id``; with
        ``effective`` implied roles are listed too, with ``include_names`` the names."""
        require_admin(context, "list_role_assignments")
        query = (select(RoleAssignment, Role, User, Project)
                 .join(Role, Role.id == RoleAssignment.role_id)
                 .join(User, User.id == RoleAssignment.user_id)
                 .join(Project, Project.id == RoleAssignment.project_id))
        if any(key in filters for key in ("group.id", "scope.domain.id", "scope.system")):
            query = query.where(false())  # only user-on-project assignments exist here
        if "user.id" in filters:
            query = query.where(RoleAssignment.user_id == filters["user.id"])
        if "scope.project.id" in filters:
            query = query.where(RoleAssignment.project_id == filters["scope.project.id"])
        with self.store.read() as session:
            rows = session.execute(query.order_by(User.name, Project.name, Role.name)).all()
            role_ids = dict(session.execute(select(Role.name, Role.id)).all())
        effective = "effective" in filters and is_true(filters["effective"])
        names = "include_names" in filters and is_true(filters["include_names"])
        entries = []
        for _, role, user, project in rows:
            implied = with_implied([role.name])[1:] if effective else []
            for name in [role.name, *implied]:
                if name not in role_ids or filters.get("role.id", role_ids[name]) != role_ids[name]:
                    continue
                entries.append(self._assignment_view(role_ids[name], name, role, user, project, names))
        return {"role_assignments": entries, "links": list_links(self.links_base + "/role_assignments")}

    def _assignment_view(self, role_id: str, role_name: str, prior: Role, user: User, project: Project,
                         include_names: bool) -> dict:
        links = {"assignment": f"{self.links_base}/projects/{project.id}/users/{user.id}/roles/{prior.id}"}
        if role_id != prior.id:
            links["prior_role"] = f"{self.links_base}/roles/{prior.id}"
        entry = {"role": {"id": role_id}, "user": {"id": user.id}, "scope": {"project": {"id": project.id}},
                 "links": links}
        if include_names:
            entry["role"]["name"] = role_name
            entry["user"].update(name=user.name, domain=dict(DOMAIN))
            entry["scope"]["project"].update(name=project.name, domain=dict(DOMAIN))
        return entry

    def _view(self, row: Role) -> dict:
        return {"id": row.id, "name": row.name, "domain_id": None, "description": None, "options": {},
                "links": {"self": f"{self.links_base}/roles/{row.id}"}}


def _existing(session: Session, table, key: str, kind: str):
    row = session.get(table, key)
    if row is None:
        raise NotFound.for_kind(kind, key)
    return row


def _assignment_not_found(project_id: str, user_id: str, role_id: str) -> NotFound:
    return NotFound(f"Could not find role assignment with role: {role_id}, user or group: {user_id}, "
                    f"project, domain, or system: {project_id}.")
