"""IdentityService: password and token logins, token validation (cached: every API request needs it)
and revocation, over the directory of projects, users and roles. The HTTP edge is api/identity.py."""

from __future__ import annotations

import secrets
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from neutrino.config import Settings
from neutrino.services.context import Context
from neutrino.services.identity import bootstrap
from neutrino.services.identity.common import DOMAIN, DOMAIN_ID, is_default_domain, member_of
from neutrino.services.identity.errors import Forbidden, NotFound, Unauthorized, ValidationError
from neutrino.services.identity.passwords import PasswordChecks
from neutrino.services.identity.projects import Projects
from neutrino.services.identity.roles import Roles, effective_roles
from neutrino.services.identity.tokens import TokenCodec, TokenPayload
from neutrino.services.identity.users import Users
from neutrino.store.session import Store
from neutrino.store.tables import Project, Secret, User

# How long a validated token skips the database. Revoking a token here takes effect at once; a
# revocation, role change or deletion made through another API server, within this many seconds.
CACHE_SECONDS = 10.0
CACHE_LIMIT = 100_000
# Keystone's allow_expired_window: a service may still validate a user token this long after expiry.
ALLOW_EXPIRED_SECONDS = 48 * 3600
REVOKED_PREFIX = "revoked:"  # Secret rows: revoked:<audit id> -> expiry, zero-padded to sort as text
TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
INTERFACES = ("public", "internal", "admin")


@dataclass(frozen=True)
class Token:
    """A genuine token's payload, with the names and roles it stands for looked up."""

    payload: TokenPayload
    user_name: str
    project_name: str = ""
    roles: tuple[tuple[str, str], ...] = ()  # (id, name), implied roles included

    def context(self) -> Context:
        return Context(user_id=self.payload.user_id, project_id=self.payload.project_id or "",
                       roles=tuple(name for _, name in self.roles), user_name=self.user_name,
                       project_name=self.project_name)


class IdentityService:
    def __init__(self, store: Store, settings: Settings):
        self.store = store
        self.settings = settings
        links_base = settings.url + "/identity/v3"
        self.projects = Projects(store, links_base, self._forget_validated)
        self.users = Users(store, links_base, self._forget_validated)
        self.roles = Roles(store, links_base, self._forget_validated)
        self._catalog = catalog_for(settings)
        self._password_checks = PasswordChecks()
        self._codec: TokenCodec | None = None
        self._validated: dict[str, tuple[float, Token, Context]] = {}  # token -> (cached until, ...)
        self._validated_lock = threading.Lock()

    # --- setup ---

    def bootstrap(self) -> None:
        configured = {"admin": self.settings.admin_password, "demo": self.settings.demo_password}
        self.store.write(lambda tx: bootstrap.bootstrap_identity(tx.session, configured))

    def passwords(self) -> dict[str, str]:
        """The built-in users' passwords: admin, demo, neutrino-agent."""
        with self.store.read() as session:
            return bootstrap.stored_passwords(session)

    def write_clouds_yaml(self, path: str | Path) -> Path:
        return bootstrap.write_clouds_yaml(Path(path), self.settings, self.passwords())

    # --- tokens ---

    def issue_token(self, auth_request: dict, include_catalog: bool = True) -> tuple[str, dict]:
        """POST /v3/auth/tokens: the sealed token and its body."""
        auth = member_of(auth_request, "auth")
        user_id, methods, audit_ids, expires_at = self._login(member_of(auth, "identity"))
        with self.store.read() as session:
            project_id = self._project_for_scope(session, user_id, auth.get("scope"))
            payload = TokenPayload(user_id, project_id, methods, audit_ids, int(time.time()), expires_at)
            token = self._resolve(session, payload)
        sealed = self._token_codec().seal(token.payload)
        self._remember(sealed, token)
        return sealed, self._body(token, include_catalog)

    def context_for_token(self, token: str) -> Context:
        """Who an API request's X-Auth-Token speaks for; Unauthorized if bad, expired or revoked."""
        hit = self._validated.get(token)
        if hit is not None and hit[0] > time.time():
            return hit[2]
        return self._validated_token(token).context()

    def validate_token(self, caller: Context, subject_token: str, allow_expired: bool = False,
                       include_catalog: bool = True) -> dict:
        """GET /v3/auth/tokens: the subject token's body, for a service, an admin or the token's user."""
        token = self._subject(subject_token, allow_expired)
        if not caller.is_service and caller.user_id != token.payload.user_id:
            raise Forbidden.for_action("validate_token")
        return self._body(token, include_catalog)

    def revoke_token(self, caller: Context, subject_token: str) -> None:
        """DELETE /v3/auth/tokens: the token, and every token re-scoped from it, stops working."""
        payload = self._subject(subject_token).payload
        if not caller.is_service and caller.user_id != payload.user_id:
            raise Forbidden.for_action("revoke_token")
        self.store.write(lambda tx: _record_revocation(tx.session, payload))
        audit_id = payload.audit_ids[0]
        with self._validated_lock:
            self._validated = {key: entry for key, entry in self._validated.items()
                               if audit_id not in entry[1].payload.audit_ids}

    # --- how ---

    def _subject(self, subject_token: str, allow_expired: bool = False) -> Token:
        try:
            return self._validated_token(subject_token, allow_expired)
        except Unauthorized:
            raise NotFound("Failed to validate token") from None

    def _validated_token(self, sealed: str, allow_expired: bool = False) -> Token:
        now = time.time()
        hit = self._validated.get(sealed)
        if hit is not None and hit[0] > now:
            return hit[1]
        payload = self._token_codec().open(sealed)
        recently_expired = now < payload.expires_at + ALLOW_EXPIRED_SECONDS
        if payload.is_expired(now) and not (allow_expired and recently_expired):
            raise Unauthorized("The token has expired.")
        with self.store.read() as session:
            token = self._resolve(session, payload)
        self._remember(sealed, token)
        return token

    @staticmethod
    def _resolve(session: Session, payload: TokenPayload) -> Token:
        """The token's names and roles, now; Unauthorized if its user, project or grants are gone."""
        user = session.get(User, payload.user_id)
        if user is None or not user.enabled:
            raise Unauthorized("The token's user does not exist or is disabled.")
        revoked = [REVOKED_PREFIX + audit_id for audit_id in payload.audit_ids]
        if session.execute(select(Secret.name).where(Secret.name.in_(revoked))).first() is not None:
            raise Unauthorized("The token has been revoked.")
        if payload.project_id is None:
            return Token(payload, user.name)
        project = session.get(Project, payload.project_id)
        roles = effective_roles(session, user.id, payload.project_id) if project and project.enabled else ()
        if not roles:
            raise Unauthorized(f"User {user.id} has no access to project {payload.project_id}.")
        return Token(payload, user.name, project.name, roles)

    def _login(self, identity: dict) -> tuple[str, tuple[str, ...], tuple[str, ...], int]:
        """Check the credentials: (user id, methods, audit ids, expiry) for the new token."""
        methods = identity.get("methods")
        if not isinstance(methods, list) or not methods:
            raise ValidationError("'methods' is a required property.")
        audit_id = secrets.token_urlsafe(16)  # 22 characters, as Keystone's
        if "password" in methods:
            user_id = self._user_for_password(member_of(identity, "password"))
            return user_id, ("password",), (audit_id,), int(time.time()) + self.settings.token_ttl_seconds
        if "token" in methods:
            # Re-scoping keeps the original login's methods and expiry, and chains its audit id.
            parent = self._validated_token(str(member_of(identity, "token").get("id") or "")).payload
            return parent.user_id, parent.methods, (audit_id, parent.audit_ids[0]), parent.expires_at
        raise Unauthorized("Attempted to authenticate with an unsupported method.")

    def _user_for_password(self, password_method: dict) -> str:
        user_ref = member_of(password_method, "user")
        password = user_ref.get("password")
        if not isinstance(password, str):
            raise ValidationError("'password' is a required property.")
        with self.store.read() as session:
            if "id" in user_ref:
                user = session.get(User, str(user_ref["id"]))
            elif "name" in user_ref:
                domain = member_of(user_ref, "domain")
                query = select(User).where(User.domain_id == DOMAIN_ID, User.name == str(user_ref["name"]))
                user = session.execute(query).scalar_one_or_none() if is_default_domain(domain) else None
            else:
                raise ValidationError("Expecting to find id or name in user.")
        if user is None or not user.enabled or \
                not self._password_checks.is_correct(user.id, user.password_hash, password):
            raise Unauthorized()
        return user.id

    @staticmethod
    def _project_for_scope(session: Session, user_id: str, scope: object) -> str | None:
        """The project a login asks for: none when unscoped; without a scope, the user's default
        project if the user may still use it (as Keystone does)."""
        if scope is None:
            default = session.get(User, user_id).default_project_id
            return default if default and effective_roles(session, user_id, default) else None
        if scope == "unscoped" or (isinstance(scope, dict) and "unscoped" in scope):
            return None
        if not isinstance(scope, dict):
            raise ValidationError("Invalid scope.")
        if "project" not in scope:
            raise Unauthorized("Only project scope is supported: there are no domain or system roles.")
        project = member_of(scope, "project")
        if "id" in project:
            row = session.get(Project, str(project["id"]))
        elif "name" in project:
            domain = member_of(project, "domain")
            name = str(project["name"])
            query = select(Project).where(Project.domain_id == DOMAIN_ID, Project.name == name)
            row = session.execute(query).scalar_one_or_none() if is_default_domain(domain) else None
        else:
            raise ValidationError("Expecting to find id or name in project.")
        if row is None:
            raise Unauthorized(f"Could not find project: {project.get('id') or project.get('name')}.")
        return row.id

    def _remember(self, sealed: str, token: Token) -> None:
        now = time.time()
        until = min(now + CACHE_SECONDS, token.payload.expires_at)
        if until <= now:
            return
        with self._validated_lock:
            if len(self._validated) >= CACHE_LIMIT:
                self._validated = {k: v for k, v in self._validated.items() if v[0] > now}
                if len(self._validated) >= CACHE_LIMIT:
                    self._validated = {}
            self._validated[sealed] = (until, token, token.context())

    def _forget_validated(self) -> None:
        with self._validated_lock:
            self._validated = {}

    def _token_codec(self) -> TokenCodec:
        if self._codec is None:
            with self.store.read() as session:
                key = bootstrap.token_key(session)
            if key is None:
                raise RuntimeError("identity is not bootstrapped: call IdentityService.bootstrap() first")
            self._codec = TokenCodec(key)
        return self._codec

    def _body(self, token: Token, include_catalog: bool) -> dict:
        payload = token.payload
        body = {
            "methods": list(payload.methods),
            "user": {"domain": dict(DOMAIN), "id": payload.user_id, "name": token.user_name,
                     "password_expires_at": None},
            "audit_ids": list(payload.audit_ids),
            "expires_at": wire_time(payload.expires_at),
            "issued_at": wire_time(payload.issued_at),
        }
        if payload.project_id is not None:
            body["project"] = {"domain": dict(DOMAIN), "id": payload.project_id, "name": token.project_name}
            body["is_domain"] = False
            body["roles"] = [{"id": role_id, "name": name} for role_id, name in token.roles]
            if include_catalog:
                body["catalog"] = self._catalog
        return {"token": body}


def _record_revocation(session: Session, payload: TokenPayload) -> None:
    expires = f"{payload.expires_at + ALLOW_EXPIRED_SECONDS:012d}"
    if session.get(Secret, REVOKED_PREFIX + payload.audit_ids[0]) is None:
        session.add(Secret(name=REVOKED_PREFIX + payload.audit_ids[0], value=expires))
    # Forget revocations of tokens that can no longer be validated anyway.
    session.execute(delete(Secret).where(Secret.name.startswith(REVOKED_PREFIX),
                                         Secret.value < f"{int(time.time()):012d}"))


def wire_time(epoch_seconds: int) -> str:
    return datetime.fromtimestamp(epoch_seconds, UTC).strftime(TIME_FORMAT)


def catalog_for(settings: Settings) -> list[dict]:
    """Two services, each at one URL on three interfaces; ids are stable, derived from the URL."""
    def service(service_type: str, name: str, url: str) -> dict:
        endpoints = [{"id": _stable_id(service_type, interface, url), "interface": interface,
                      "region_id": settings.region, "url": url, "region": settings.region}
                     for interface in INTERFACES]
        return {"endpoints": endpoints, "id": _stable_id(service_type, url), "type": service_type,
                "name": name}

    return [service("network", "neutron", settings.url),
            service("identity", "keystone", settings.url + "/identity/v3")]


def _stable_id(*parts: str) -> str:
    return uuid.uuid5(uuid.NAMESPACE_URL, "/".join(parts)).hex
