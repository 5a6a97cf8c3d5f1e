"""How a resource is declared: its attribute map as data (neutron-lib style) plus the service behind it.

Adding an attribute to a resource is one ``Attribute(...)`` line in its module under ``resources/``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from neutrino.api.validators import Validator


class _Marker:
    def __init__(self, name: str):
        self.name = name

    def __repr__(self) -> str:
        return self.name


REQUIRED = _Marker("REQUIRED")  # must be given on POST
UNSET = _Marker("UNSET")  # optional; the service fills it in

# JSON schemas of Neutron's typed strings, for ``Attribute.schema`` (the formats: see api/openapi.py).
UUID = {"type": "string", "format": "uuid"}
CIDR = {"type": "string", "format": "cidr"}
IP_ADDRESS = {"type": "string", "format": "ip-address"}
MAC_ADDRESS = {"type": "string", "format": "mac-address"}


@dataclass(frozen=True)
class Attribute:
    name: str
    post: bool = False
    put: bool = False
    default: Any = UNSET
    validate: Validator | None = None
    visible: bool = True
    admin_only: bool = False  # only admin may set or see it (provider:*, binding:*)
    admin_write: bool = False  # everybody sees it, only admin sets it (shared, router:external)
    filter: bool = True
    sort: bool = True
    # How a filter value matches the attribute's value, when plain equality is not the rule.
    match: Callable[[Any, list[str]], bool] | None = None
    schema: dict = field(default_factory=dict)  # JSON schema for the OpenAPI document


class CollectionService(Protocol):
    """What the generic controller needs from a resource's service (see neutrino.services)."""

    kind: str

    def views(self, session, context, ids: list[str] | None = None) -> list[dict]: ...

    def create(self, tx, context, attrs: dict) -> str: ...

    def update(self, tx, context, resource_id: str, attrs: dict) -> None: ...

    def delete(self, tx, context, resource_id: str) -> None: ...

    def not_found(self, resource_id: str) -> Exception: ...


@dataclass(frozen=True)
class Resource:
    collection: str  # wire name, e.g. "security_group_rules"
    member: str  # e.g. "security_group_rule"
    attributes: tuple[Attribute, ...]
    service: CollectionService
    tags: bool = True
    updatable: bool = True
    bulk: bool = True

    def attribute(self, name: str) -> Attribute | None:
        return self.by_name.get(name)

    @property
    def path(self) -> str:
        """Where Neutron serves the collection: the wire name with hyphens (``/v2.0/security-groups``)."""
        return "/v2.0/" + self.collection.replace("_", "-")

    @property
    def by_name(self) -> dict[str, Attribute]:
        cache = self.__dict__.get("_by_name")
        if cache is None:
            cache = {a.name: a for a in self.attributes}
            object.__setattr__(self, "_by_name", cache)
        return cache


def standard_attributes(filterable_name: bool = True) -> tuple[Attribute, ...]:
    """The attributes every standard-attr resource has (ids, project, timestamps, revision)."""
    from neutrino.api import validators as v

    return (
        Attribute("id", validate=v.uuid_like, schema={"type": "string", "format": "uuid"}),
        Attribute("name", post=True, put=True, default="", validate=v.string(255), filter=filterable_name,
                  schema={"type": "string", "maxLength": 255}),
        Attribute("description", post=True, put=True, default="", validate=v.string(255),
                  schema={"type": "string", "maxLength": 255}),
        Attribute("tenant_id", post=True, validate=v.string(255), schema={"type": "string", "maxLength": 255}),
        Attribute("project_id", post=True, validate=v.string(255), schema={"type": "string", "maxLength": 255}),
        Attribute("created_at", schema={"type": "string"}),
        Attribute("updated_at", schema={"type": "string"}),
        Attribute("revision_number", schema={"type": "integer"}),
        Attribute("tags", filter=False, sort=False, schema={"type": "array", "items": {"type": "string"}}),
    )
