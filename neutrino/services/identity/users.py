"""Users: Keystone's /v3/users. Passwords are stored only as bcrypt hashes."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from sqlalchemy import delete, select

from neutrino.services.context import Context
from neutrino.services.identity.common import (
    DOMAIN_ID,
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
from neutrino.services.identity.passwords import hash_password
from neutrino.store.session import Store
from neutrino.store.tables import RoleAssignment, User


class Users:
    def __init__(self, store: Store, links_base: str, on_access_reduced: Callable[[], None]):
        self.store = store
        self.links_base = links_base
        # Called after a change that can end tokens (disable, delete, revoke), so validated-token
        # caches drop them at once.
        self.on_access_reduced = on_access_reduced

    def list_users(self, context: Context, filters: Mapping[str, str]) -> dict:
        require_admin(context, "list_users")
        query = select(User).order_by(User.name)
        if "name" in filters:
            query = query.where(User.name == filters["name"])
        if "domain_id" in filters:
            query = query.where(User.domain_id == filters["domain_id"])
        if "enabled" in filters:
            query = query.where(User.enabled == is_true(filters["enabled"]))
        with self.store.read() as session:
            rows = session.execute(query).scalars().all()
        return {"users": [self._view(row) for row in rows], "links": list_links(self.links_base + "/users")}

    def get_user(self, context: Context, user_id: str) -> dict:
        require_admin_or_self(context, user_id, "get_user")
        with self.store.read() as session:
            return {"user": self._view(self._row(session, user_id))}

    def create_user(self, context: Context, body: dict) -> dict:
        require_admin(context, "create_user")
        attrs = user_attrs(member_of(body, "user"), creating=True)

        def work(tx):
            self._check_name_free(tx.session, attrs["name"])
            row = User(id=new_identity_id(), domain_id=DOMAIN_ID, **attrs)
            tx.session.add(row)
            return {"user": self._view(row)}

        return self.store.write(work)

    def update_user(self, context: Context, user_id: str, body: dict) -> dict:
        require_admin(context, "update_user")
        attrs = user_attrs(member_of(body, "user"), creating=False)

        def work(tx):
            row = self._row(tx.session, user_id)
            if attrs.get("name", row.name) != row.name:
                self._check_name_free(tx.session, attrs["name"])
            for key, value in attrs.items():
                setattr(row, key, value)
            return {"user": self._view(row)}

        view = self.store.write(work)
        self.on_access_reduced()
        return view

    def delete_user(self, context: Context, user_id: str) -> None:
        require_admin(context, "delete_user")

        def work(tx):
            row = self._row(tx.session, user_id)
            tx.session.execute(delete(RoleAssignment).where(RoleAssignment.user_id == user_id))
            tx.session.delete(row)

        self.store.write(work)
        self.on_access_reduced()

    @staticmethod
    def _row(session, user_id: str) -> User:
        row = session.get(User, user_id)
        if row is None:
            raise NotFound.for_kind("user", user_id)
        return row

    @staticmethod
    def _check_name_free(session, name: str) -> None:
        taken = session.execute(select(User.id).where(User.domain_id == DOMAIN_ID, User.name == name))
        if taken.first() is not None:
            raise Conflict.for_name("user", name)

    def _view(self, row: User) -> dict:
        view = {
            "id": row.id,
            "name": row.name,
            "domain_id": row.domain_id,
            "enabled": row.enabled,
            "password_expires_at": None,
            "options": {},
            "links": {"self": f"{self.links_base}/users/{row.id}"},
        }
        if row.default_project_id:
            view["default_project_id"] = row.default_project_id
        return view


def user_attrs(user: dict, creating: bool) -> dict:
    """The columns a create or update sets, checked. Hashing happens here, outside any transaction,
    so a slow bcrypt never holds the write lock."""
    check_domain_id(user.get("domain_id"))
    password = user.get("password")
    if password is not None and not isinstance(password, str):
        raise ValidationError("Invalid input for field 'password': expected a string.")
    attrs = {
        "name": string_field(user, "name", 255, required=creating or "name" in user),
        "enabled": bool_field(user, "enabled"),
        "default_project_id": string_field(user, "default_project_id", 64),
    }
    if password is not None:
        attrs["password_hash"] = hash_password(password)
    elif creating:
        attrs["password_hash"] = ""  # no password: this user cannot log in with one
    if creating and attrs["enabled"] is None:
        attrs["enabled"] = True
    return {key: value for key, value in attrs.items() if value is not None}
