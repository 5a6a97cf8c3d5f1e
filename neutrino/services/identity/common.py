"""What the identity modules share: the one domain, ids, Keystone's default policy, body fields."""

from __future__ import annotations

import uuid

from neutrino.services.context import Context
from neutrino.services.identity.errors import Forbidden, NotFound, ValidationError

# Keystone's implicit domain; neutrino has no other, so every project and user lives in it.
DOMAIN_ID = "default"
DOMAIN_NAME = "Default"
DOMAIN = {"id": DOMAIN_ID, "name": DOMAIN_NAME}


def new_identity_id() -> str:
    """Keystone's id shape: 32 hex digits, no dashes."""
    return uuid.uuid4().hex


def is_default_domain(domain: dict) -> bool:
    """A ``{"id"}`` or ``{"name"}`` reference to the default domain. Names compare without case,
    as on Keystone's usual MySQL collation, where ``user_domain_name: default`` works too."""
    if "id" in domain:
        return domain["id"] == DOMAIN_ID
    return str(domain.get("name", "")).lower() == DOMAIN_NAME.lower()


def check_domain_id(domain_id: object) -> str:
    if domain_id not in (None, DOMAIN_ID):
        raise NotFound.for_kind("domain", str(domain_id))
    return DOMAIN_ID


def require_admin(context: Context, action: str) -> None:
    if not context.is_admin:
        raise Forbidden.for_action(action)


def require_admin_or_self(context: Context, user_id: str, action: str) -> None:
    if not context.is_admin and context.user_id != user_id:
        raise Forbidden.for_action(action)


def member_of(body: object, key: str) -> dict:
    """``body[key]`` as a dict: the ``{"project": {...}}`` envelope Keystone expects."""
    value = body.get(key) if isinstance(body, dict) else None
    if not isinstance(value, dict):
        raise ValidationError(f"Expecting to find {key} in request body.")
    return value


def string_field(attrs: dict, key: str, max_length: int, required: bool = False) -> str | None:
    value = attrs.get(key)
    if value is None:
        if required:
            raise ValidationError(f"'{key}' is a required property.")
        return None
    if not isinstance(value, str) or (required and not value.strip()) or len(value) > max_length:
        raise ValidationError(f"Invalid input for field '{key}': expected a string of at most "
                              f"{max_length} characters.")
    return value


def bool_field(attrs: dict, key: str) -> bool | None:
    value = attrs.get(key)
    if value is not None and not isinstance(value, bool):
        raise ValidationError(f"Invalid input for field '{key}': {value!r} is not of type 'boolean'.")
    return value


def is_true(query_value: str) -> bool:
    """A query-string flag as Keystone reads it: present and not '0'/'false' means true."""
    return query_value.lower() not in ("0", "false", "no", "off")


def list_links(self_url: str) -> dict:
    return {"self": self_url, "previous": None, "next": None}
