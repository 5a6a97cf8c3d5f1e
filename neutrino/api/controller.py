"""One generic list/show/create/update/delete, driven by a resource's attribute map.

Every handler is synchronous (FastAPI runs it in its thread pool) and returns (status, body). Input
is checked against the attribute map before any service runs, so bad input never reaches the store.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from neutrino.api import query as q
from neutrino.api import validators as v
from neutrino.api.definition import REQUIRED, UNSET, Attribute, Resource
from neutrino.api.errors import HTTPNotFound, MalformedRequestBody
from neutrino.services import errors as e
from neutrino.services import tags as tag_service
from neutrino.services.context import Context
from neutrino.store.session import Store

ALWAYS_VISIBLE = ("id",)


def parse_json(raw: bytes) -> Any:
    if not raw:
        raise MalformedRequestBody(reason="the body is empty")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise MalformedRequestBody(reason=str(exc).split(":")[0]) from None


def _policy_action(verb: str, resource: Resource, attribute: Attribute) -> str:
    return f"rule:{verb}_{resource.member}:{attribute.name}"


class Controller:
    def __init__(self, resource: Resource, store: Store):
        self.resource = resource
        self.store = store
        self.service = resource.service

    # --- input ---

    def _member_body(self, raw: bytes, allow_bulk: bool) -> list[dict] | dict:
        data = parse_json(raw)
        member, collection = self.resource.member, self.resource.collection
        if not isinstance(data, dict):
            # Well-formed JSON of the wrong shape: Neutron's "Unable to find" 400, not a malformed body.
            raise e.HTTPBadRequest(f"Unable to find '{member}' in request body")
        if allow_bulk and self.resource.bulk and collection in data and member not in data:
            items = data[collection]
            if not isinstance(items, list) or not items or not all(isinstance(i, dict) for i in items):
                raise e.HTTPBadRequest(f"Resources required: '{collection}' must be a non-empty list of objects")
            return items
        body = data.get(member)
        if not isinstance(body, dict) or len(data) != 1:
            raise e.HTTPBadRequest(f"Unable to find '{member}' in request body")
        return body

    def _check(self, attrs: dict, context: Context, creating: bool) -> dict:
        resource = self.resource
        unknown = sorted(name for name in attrs if resource.attribute(name) is None)
        if unknown:
            raise e.HTTPBadRequest(f"Unrecognized attribute(s) '{', '.join(unknown)}'")
        verb = "create" if creating else "update"
        checked = {}
        for name, value in attrs.items():
            attribute = resource.attribute(name)
            if not (attribute.post if creating else attribute.put):
                if creating:
                    raise e.HTTPBadRequest(f"Attribute '{name}' not allowed in POST")
                raise e.HTTPBadRequest(f"Cannot update read-only attribute {name}")
            if attribute.validate is not None:
                try:
                    value = attribute.validate(value)
                except v.Invalid as exc:
                    raise e.HTTPBadRequest(f"Invalid input for {name}. Reason: {exc}.") from None
            if (attribute.admin_only or attribute.admin_write) and not context.is_admin:
                explicit = not creating or attribute.default in (UNSET, REQUIRED) or value != attribute.default
                if explicit:
                    raise e.PolicyNotAuthorized(action=_policy_action(verb, resource, attribute))
            checked[name] = value
        if creating:
            for attribute in resource.attributes:
                if attribute.name in checked or not attribute.post:
                    continue
                if attribute.default is REQUIRED:
                    raise e.HTTPBadRequest(
                        f"Failed to parse request. Required attribute '{attribute.name}' not specified")
                if attribute.default is not UNSET:
                    checked[attribute.name] = attribute.default
        return checked

    # --- output ---

    def present(self, view: dict, context: Context, fields: tuple[str, ...] = ()) -> dict:
        if not context.is_admin:
            hidden = [a.name for a in self.resource.attributes if a.admin_only]
            if hidden:
                view = {k: val for k, val in view.items() if k not in hidden}
        return q.select_fields(view, fields)

    # --- handlers ---

    def list(self, context: Context, params: list[tuple[str, str]], base_url: str) -> dict:
        query = q.parse_query(self.resource, params, context.is_admin)
        with self.store.read() as session:
            views = self.service.views(session, context)
        views = q.apply_filters(self.resource, views, query.filters)
        views = q.apply_sort(views, query.sort) if (query.sort or query.limit or query.marker) else views
        page, links = q.paginate(self.resource, views, query, base_url, params)
        body = {self.resource.collection: [self.present(view, context, query.fields) for view in page]}
        if links:
            body[self.resource.collection + "_links"] = links
        return body

    def show(self, context: Context, resource_id: str, fields: tuple[str, ...]) -> dict:
        return {self.resource.member: self.present(self.view(context, resource_id), context, fields)}

    def view(self, context: Context, resource_id: str) -> dict:
        with self.store.read() as session:
            views = self.service.views(session, context, [resource_id])
        if not views:
            raise self.service.not_found(resource_id)
        return views[0]

    def create(self, context: Context, raw: bytes) -> dict:
        body = self._member_body(raw, allow_bulk=True)
        bulk = isinstance(body, list)
        items = [self._check(item, context, creating=True) for item in (body if bulk else [body])]

        def work(tx):
            many = getattr(self.service, "create_many", None)
            if many is not None and len(items) > 1:
                return tx, many(tx, context, items)
            return tx, [self.service.create(tx, context, item) for item in items]

        tx, ids = self.store.write(work)
        views = [self.present(tx.bodies[(self.service.kind, rid)], context) for rid in ids]
        if bulk:
            return {self.resource.collection: views}
        return {self.resource.member: views[0]}

    def update(self, context: Context, resource_id: str, raw: bytes, if_match: str | None) -> dict:
        attrs = self._check(self._member_body(raw, allow_bulk=False), context, creating=False)
        expected = _revision_constraint(if_match)

        def work(tx):
            self._check_revision(tx, context, resource_id, expected)
            if attrs:
                self.service.update(tx, context, resource_id, attrs)
            else:
                if not self.service.views(tx.session, context, [resource_id]):
                    raise self.service.not_found(resource_id)
            return tx

        tx = self.store.write(work)
        body = tx.bodies.get((self.service.kind, resource_id))
        view = body if body is not None else self.view(context, resource_id)
        return {self.resource.member: self.present(view, context)}

    def delete(self, context: Context, resource_id: str, if_match: str | None = None) -> None:
        expected = _revision_constraint(if_match)

        def work(tx):
            self._check_revision(tx, context, resource_id, expected)
            self.service.delete(tx, context, resource_id)

        self.store.write(work)

    def _check_revision(self, tx, context: Context, resource_id: str, expected: int | None) -> None:
        """Neutron's revision-if-match: the write goes ahead only at the revision the caller saw."""
        if expected is None:
            return
        current = self.service.views(tx.session, context, [resource_id])
        if not current:
            raise self.service.not_found(resource_id)
        if current[0].get("revision_number") != expected:
            raise e.RevisionNumberConstraintFailed(expected=expected, current=current[0].get("revision_number"))

    # --- tags (standard-attr-tag) ---

    def _tagged(self, tx, context: Context, resource_id: str) -> None:
        if not self.resource.tags:
            raise HTTPNotFound()
        views = self.service.views(tx.session, context, [resource_id])
        if not views:
            raise self.service.not_found(resource_id)
        if not context.is_admin and views[0].get("project_id") not in (context.project_id, None):
            raise e.PolicyNotAuthorized(action=f"rule:update_{self.resource.member}_tags")

    def tags(self, context: Context, resource_id: str) -> dict:
        if not self.resource.tags:
            raise HTTPNotFound()
        return {"tags": self.view(context, resource_id).get("tags", [])}

    def has_tag(self, context: Context, resource_id: str, tag: str) -> None:
        if tag not in self.tags(context, resource_id)["tags"]:
            raise e.TagNotFound(tag=tag, resource=self.resource.member, resource_id=resource_id)

    def replace_tags(self, context: Context, resource_id: str, raw: bytes) -> dict:
        data = parse_json(raw)
        if not isinstance(data, dict) or set(data) != {"tags"}:
            raise e.InvalidInput(error_message="Invalid tags body")
        try:
            tags = v.tags(data["tags"])
        except v.Invalid as exc:
            raise e.InvalidInput(error_message=str(exc)) from None

        def work(tx):
            self._tagged(tx, context, resource_id)
            return tag_service.replace(tx, self.service.kind, resource_id, tags)

        return {"tags": self.store.write(work)}

    def add_tag(self, context: Context, resource_id: str, tag: str) -> None:
        try:
            v.tag(tag)
        except v.Invalid as exc:
            raise e.InvalidInput(error_message=str(exc)) from None

        def work(tx):
            self._tagged(tx, context, resource_id)
            tag_service.add(tx, self.service.kind, resource_id, tag)

        self.store.write(work)

    def remove_tag(self, context: Context, resource_id: str, tag: str | None) -> None:
        def work(tx):
            self._tagged(tx, context, resource_id)
            if tag is None:
                tag_service.clear(tx, self.service.kind, resource_id)
            else:
                tag_service.remove(tx, self.service.kind, resource_id, tag)

        self.store.write(work)


_REVISION = re.compile(r"revision_number=(\d+)")


def _revision_constraint(if_match: str | None) -> int | None:
    """The N of an ``If-Match: revision_number=N`` entity tag. As Neutron's
    ``check_request_for_revision_constraint``: other tags (``*``, ``"abc"``) are ignored, and a
    malformed or repeated revision_number tag is a 400."""
    found = None
    for tag in (if_match or "").split(","):
        tag = tag.strip().removeprefix("W/").strip('"')
        if not tag.startswith("revision_number="):
            continue
        if found is not None:
            raise e.HTTPBadRequest("Multiple revision_number etags are not supported.")
        number = _REVISION.fullmatch(tag)
        if number is None:
            raise e.HTTPBadRequest("Revision number etag must be in the format of revision_number=<int>")
        found = int(number.group(1))
    return found
