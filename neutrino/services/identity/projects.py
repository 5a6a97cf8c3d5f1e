"""Projects and the one domain: Keystone's /v3/projects, /v3/domains and the projects a user may use.
Method names are Keystone's policy names, which also name the action in a 403."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from sqlalchemy import delete, false, select

from neutrino.services.context import Context
from neutrino.services.identity.common import (
    DOMAIN_ID,
    DOMAIN_NAME,
    bool_field,
    check_domain_id,
    is_true,
    list_links,
    member_of,
    new_identity_id,
    require_admin,
    require_admin_or_self,
    string_field,
)
from neutrino.services.identity.errors import Conflict, NotFound, ValidationError
from neutrino.store.session import Store
from neutrino.store.tables import Project, RoleAssignment


class Projects:
    def __init__(self, store: Store, links_base: str, on_access_reduced: Callable[[], None]):
        self.store = store
        self.links_base = links_base
        # Called after a change that can end tokens (disable, delete, revoke), so validated-token
        # caches drop them at once.
        self.on_access_reduced = on_access_reduced

    def list_projects(self, context: Context, filters: Mapping[str, str]) -> dict:
        require_admin(context, "list_projects")
        query = select(Project).order_by(Project.name)
        if "name" in filters:
            query = query.where(Project.name == filters["name"])
        if "domain_id" in filters:
            query = query.where(Project.domain_id == filters["domain_id"])
        if "enabled" in filters:
            query = query.where(Project.enabled == is_true(filters["enabled"]))
        if is_true(filters.get("is_domain", "false")):
            query = query.where(false())  # domains are not stored as projects here
        with self.store.read() as session:
            rows = session.execute(query).scalars().all()
        return self._collection(rows, "/projects")

    def get_project(self, context: Context, project_id: str) -> dict:
        if context.project_id != project_id:  # anyone may read the project its token is scoped to
            require_admin(context, "get_project")
        with self.store.read() as session:
            return {"project": self._view(self._row(session, project_id))}

    def create_project(self, context: Context, body: dict) -> dict:
        require_admin(context, "create_project")
        attrs = project_attrs(member_of(body, "project"), creating=True)

        def work(tx):
            self._check_name_free(tx.session, attrs["name"])
            row = Project(id=new_identity_id(), domain_id=DOMAIN_ID, **attrs)
            tx.session.add(row)
            return {"project": self._view(row)}

        return self.store.write(work)

    def update_project(self, context: Context, project_id: str, body: dict) -> dict:
        require_admin(context, "update_project")
        attrs = project_attrs(member_of(body, "project"), creating=False)

        def work(tx):
            row = self._row(tx.session, project_id)
            if attrs.get("name", row.name) != row.name:
                self._check_name_free(tx.session, attrs["name"])
            for key, value in attrs.items():
                setattr(row, key, value)
            return {"project": self._view(row)}

        view = self.store.write(work)
        self.on_access_reduced()
        return view

    def delete_project(self, context: Context, project_id: str) -> None:
        require_admin(context, "delete_project")

        def work(tx):
            row = self._row(tx.session, project_id)
            tx.session.execute(delete(RoleAssignment).where(RoleAssignment.project_id == project_id))
            tx.session.delete(row)

        self.store.write(work)
        self.on_access_reduced()

    def list_user_projects(self, context: Context, user_id: str) -> dict:
        """The enabled projects where the user holds any role (``/v3/users/{id}/projects``,
        and ``/v3/auth/projects`` for the caller itself)."""
        require_admin_or_self(context, user_id, "list_user_projects")
        query = (select(Project).join(RoleAssignment, RoleAssignment.project_id == Project.id)
                 .where(RoleAssignment.user_id == user_id, Project.enabled).distinct().order_by(Project.name))
        with self.store.read() as session:
            rows = session.execute(query).scalars().all()
        return self._collection(rows, f"/users/{user_id}/projects")

    def list_domains(self, context: Context, filters: Mapping[str, str]) -> dict:
        require_admin(context, "list_domains")
        matches = filters.get("name", DOMAIN_NAME) == DOMAIN_NAME and is_true(filters.get("enabled", "true"))
        domains = [self._domain_view()] if matches else []
        return {"domains": domains, "links": list_links(self.links_base + "/domains")}

    def get_domain(self, context: Context, domain_id: str) -> dict:
        # Everyone's project lives in the default domain, which Keystone lets its members read.
        if domain_id != DOMAIN_ID:
            raise NotFound.for_kind("domain", domain_id)
        return {"domain": self._domain_view()}

    def _row(self, session, project_id: str) -> Project:
        row = session.get(Project, project_id)
        if row is None:
            raise NotFound.for_kind("project", project_id)
        return row

    @staticmethod
    def _check_name_free(session, name: str) -> None:
        query = select(Project.id).where(Project.domain_id == DOMAIN_ID, Project.name == name)
        taken = session.execute(query)
        if taken.first() is not None:
            raise Conflict.for_name("project", name)

    def _collection(self, rows, path: str) -> dict:
        return {"projects": [self._view(row) for row in rows], "links": list_links(self.links_base + path)}

    def _view(self, row: Project) -> dict:
        return {
            "id": row.id,
            "name": row.name,
            "domain_id": row.domain_id,
            "description": row.description or "",
            "enabled": row.enabled,
            "parent_id": row.domain_id,
            "is_domain": False,
            "tags": [],
            "options": {},
            "links": {"self": f"{self.links_base}/projects/{row.id}"},
        }

    def _domain_view(self) -> dict:
        return {"id": DOMAIN_ID, "name": DOMAIN_NAME, "description": "The default domain", "enabled": True,
                "tags": [], "options": {}, "links": {"self": f"{self.links_base}/domains/{DOMAIN_ID}"}}


def project_attrs(project: dict, creating: bool) -> dict:
    """The columns a create or update sets, checked; only the keys given (plus defaults when creating)."""
    if project.get("is_domain"):
        raise ValidationError("Only the default domain exists; domains cannot be created.")
    domain_id = check_domain_id(project.get("domain_id"))
    if project.get("parent_id") not in (None, domain_id):
        raise ValidationError("Projects cannot be nested; parent_id must be the domain.")
    attrs = {
        "name": string_field(project, "name", 64, required=creating or "name" in project),
        "description": string_field(project, "description", 65535),
        "enabled": bool_field(project, "enabled"),
    }
    if creating:
        attrs["description"] = attrs["description"] or ""
        attrs["enabled"] = True if attrs["enabled"] is None else attrs["enabled"]
    return {key: value for key, value in attrs.items() if value is not None}
