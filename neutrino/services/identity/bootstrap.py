"""First start: the token key, the roles, the admin/demo/service projects and users with their grants,
and their passwords (from Settings, or generated once and kept in the store so restarts and other API
servers agree). Safe to run on every start, and on several servers at once."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from neutrino.config import Settings
from neutrino.services.identity.common import DOMAIN_ID, DOMAIN_NAME, new_identity_id
from neutrino.services.identity.passwords import hash_password
from neutrino.services.identity.roles import ROLE_NAMES
from neutrino.services.identity.tokens import TokenCodec
from neutrino.store.tables import Project, Role, RoleAssignment, Secret, User

TOKEN_KEY = "fernet_key"
PASSWORD_PREFIX = "password:"


@dataclass(frozen=True)
class Account:
    """A built-in user, the project it works in, and the roles it holds there."""

    user: str
    project: str
    roles: tuple[str, ...]


ACCOUNTS = (
    Account("admin", "admin", ("admin",)),  # member and reader come implied
    Account("demo", "demo", ("member",)),
    Account("neutrino-agent", "service", ("service", "admin")),  # host agents report status and bind ports
)


def bootstrap_identity(session: Session, configured_passwords: dict[str, str]) -> None:
    """Create whatever is missing; a password given in Settings replaces the stored one."""
    _secret(session, TOKEN_KEY, TokenCodec.new_key)
    role_ids = {name: _role_id(session, name) for name in ROLE_NAMES}
    for account in ACCOUNTS:
        project_id = _project_id(session, account.project)
        user_id = _user_id(session, account, project_id, configured_passwords.get(account.user, ""))
        for role in account.roles:
            if session.get(RoleAssignment, (user_id, project_id, role_ids[role])) is None:
                session.add(RoleAssignment(user_id=user_id, project_id=project_id, role_id=role_ids[role]))
    session.flush()


def token_key(session: Session) -> str | None:
    row = session.get(Secret, TOKEN_KEY)
    return row.value if row else None


def stored_passwords(session: Session) -> dict[str, str]:
    rows = session.execute(select(Secret).where(Secret.name.startswith(PASSWORD_PREFIX))).scalars()
    return {row.name.removeprefix(PASSWORD_PREFIX): row.value for row in rows}


def write_clouds_yaml(path: Path, settings: Settings, passwords: dict[str, str]) -> Path:
    """A clouds.yaml with ``neutrino-admin`` and ``neutrino-demo``, readable by its owner only."""
    clouds = {f"neutrino-{user}": _cloud(settings, user, user, passwords[user]) for user in ("admin", "demo")}
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(path.name + ".tmp")
    fd = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        yaml.safe_dump({"clouds": clouds}, out, sort_keys=False)
    os.chmod(staging, 0o600)  # O_CREAT's mode does not apply to a leftover file
    os.replace(staging, path)
    return path


def _cloud(settings: Settings, user: str, project: str, password: str) -> dict:
    return {
        "auth": {
            "auth_url": settings.url + "/identity",
            "username": user,
            "password": password,
            "project_name": project,
            "user_domain_name": DOMAIN_NAME,
            "project_domain_name": DOMAIN_NAME,
        },
        "region_name": settings.region,
        "identity_api_version": 3,
        "interface": "public",
    }


def _secret(session: Session, name: str, make) -> tuple[str, bool]:
    """The stored value, created with ``make()`` if missing; and whether it was just created."""
    row = session.get(Secret, name)
    if row is not None:
        return row.value, False
    value = make()
    session.add(Secret(name=name, value=value))
    session.flush()
    return value, True


def _role_id(session: Session, name: str) -> str:
    role_id = session.execute(select(Role.id).where(Role.name == name)).scalar_one_or_none()
    if role_id is None:
        role_id = new_identity_id()
        session.add(Role(id=role_id, name=name))
        session.flush()
    return role_id


def _project_id(session: Session, name: str) -> str:
    query = select(Project.id).where(Project.domain_id == DOMAIN_ID, Project.name == name)
    project_id = session.execute(query).scalar_one_or_none()
    if project_id is None:
        project_id = new_identity_id()
        session.add(Project(id=project_id, name=name, domain_id=DOMAIN_ID, description="", enabled=True))
        session.flush()
    return project_id


def _user_id(session: Session, account: Account, project_id: str, configured: str) -> str:
    secret_name = PASSWORD_PREFIX + account.user
    password, created = _secret(session, secret_name, lambda: configured or secrets.token_urlsafe(16))
    changed = created
    if configured and configured != password:
        session.get(Secret, secret_name).value = password = configured
        changed = True
    user = session.execute(
        select(User).where(User.domain_id == DOMAIN_ID, User.name == account.user)
    ).scalar_one_or_none()
    if user is None:
        user = User(id=new_identity_id(), name=account.user, domain_id=DOMAIN_ID, enabled=True,
                    password_hash=hash_password(password), default_project_id=project_id)
        session.add(user)
        session.flush()
    elif changed:
        user.password_hash = hash_password(password)
    return user.id
