"""List requests: filters, ``fields``, ``sort_key``/``sort_dir``, ``limit``/``marker`` -> one Query value,
and its application to a list of views.

Filtering happens on views (the Neutron-shaped dicts), so any visible attribute can be a filter,
including computed ones such as a port's ``fixed_ips`` or a network's ``subnets``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlencode

from neutrino.api import validators as v
from neutrino.api.definition import Attribute, Resource
from neutrino.services.errors import HTTPBadRequest

RESERVED = {"fields", "sort_key", "sort_dir", "limit", "marker", "page_reverse", "verbose"}
TAG_FILTERS = ("tags", "tags-any", "not-tags", "not-tags-any")


@dataclass(frozen=True)
class Query:
    filters: dict[str, list[str]] = field(default_factory=dict)
    fields: tuple[str, ...] = ()
    sort: tuple[tuple[str, bool], ...] = ()  # (key, ascending)
    limit: int | None = None
    marker: str | None = None
    page_reverse: bool = False


def parse_query(resource: Resource, items: list[tuple[str, str]], is_admin: bool) -> Query:
    filters: dict[str, list[str]] = {}
    fields: list[str] = []
    sort_keys: list[str] = []
    sort_dirs: list[str] = []
    limit = marker = None
    page_reverse = False
    for key, value in items:
        if key == "fields":
            fields.extend(f for f in value.split(",") if f)
        elif key == "sort_key":
            sort_keys.append(value)
        elif key == "sort_dir":
            sort_dirs.append(value)
        elif key == "limit":
            limit = _limit(value)
        elif key == "marker":
            marker = value
        elif key == "page_reverse":
            page_reverse = _bool_param("page_reverse", value)
        elif key == "verbose":
            continue
        elif key in TAG_FILTERS and resource.tags:
            filters.setdefault(key, []).extend(t for t in value.split(",") if t)
        else:
            attribute = resource.attribute(key)
            if attribute is None or not attribute.filter or (attribute.admin_only and not is_admin):
                raise HTTPBadRequest(f"[{key}] is invalid attribute for filtering")
            filters.setdefault(key, []).append(_filter_value(attribute, value))
    return Query(filters, tuple(fields), _sort(resource, sort_keys, sort_dirs), limit, marker, page_reverse)


def _filter_value(attribute: Attribute, value: str) -> str:
    """Neutron converts a filter value as it converts the attribute (convert_to_boolean), and refuses
    what does not convert; a boolean filter becomes 'true' or 'false'."""
    if attribute.validate is not v.boolean:
        return value
    try:
        return "true" if v.boolean(value) else "false"
    except v.Invalid as exc:
        raise HTTPBadRequest(f"Invalid input for {attribute.name}. Reason: {exc}.") from None


def _limit(value: str) -> int | None:
    try:
        limit = int(value)
    except ValueError:
        raise HTTPBadRequest(f"Limit must be an integer 0 or greater and not '{value}'") from None
    if limit < 0:
        raise HTTPBadRequest(f"Limit must be an integer 0 or greater and not '{value}'")
    return limit or None


def _bool_param(name: str, value: str) -> bool:
    try:
        return v.boolean(value)
    except v.Invalid:
        raise HTTPBadRequest(f"Invalid value '{value}' for {name}") from None


def _sort(resource: Resource, keys: list[str], dirs: list[str]) -> tuple[tuple[str, bool], ...]:
    if len(keys) != len(dirs):
        raise HTTPBadRequest("The number of sort_keys and sort_dirs must be same")
    out = []
    for index, key in enumerate(keys):
        attribute = resource.attribute(key)
        if attribute is None or not attribute.sort:
            raise HTTPBadRequest(f"{key} is an invalid attribute for sort_keys")
        direction = dirs[index]
        if direction not in ("asc", "desc"):
            raise HTTPBadRequest(f"{direction} is an invalid value for sort_dirs, valid values are 'asc' and 'desc'")
        out.append((key, direction == "asc"))
    return tuple(out)


def _equal(value, wanted: list[str]) -> bool:
    if isinstance(value, bool):
        return any(w.lower() in (("true", "1") if value else ("false", "0")) for w in wanted)
    if value is None:
        return any(w in ("", "None", "null") for w in wanted)
    if isinstance(value, list):
        return any(_equal(item, wanted) for item in value)
    return str(value) in wanted


def _tags_match(tags: list[str], name: str, wanted: list[str]) -> bool:
    have = set(tags)
    if name == "tags":
        return set(wanted) <= have
    if name == "tags-any":
        return bool(have & set(wanted))
    if name == "not-tags":
        return not set(wanted) <= have
    return not (have & set(wanted))


def apply_filters(resource: Resource, views: list[dict], filters: dict[str, list[str]]) -> list[dict]:
    for name, wanted in filters.items():
        if name in TAG_FILTERS:
            views = [view for view in views if _tags_match(view.get("tags", []), name, wanted)]
            continue
        attribute = resource.attribute(name)
        match = attribute.match if attribute and attribute.match else _equal
        views = [view for view in views if match(view.get(name), wanted)]
    return views


def _sort_value(value):
    # None sorts first, as SQL NULLs do ascending in Neutron's MySQL backend
    if value is None:
        return (0, "")
    if isinstance(value, bool | int | float):
        return (1, value)
    return (2, str(value))


def apply_sort(views: list[dict], sort: tuple[tuple[str, bool], ...]) -> list[dict]:
    keys = list(sort)
    if not any(key == "id" for key, _ in keys):
        keys.append(("id", keys[-1][1] if keys else True))
    for key, ascending in reversed(keys):
        views = sorted(views, key=lambda view, k=key: _sort_value(view.get(k)), reverse=not ascending)
    return views


def paginate(resource: Resource, views: list[dict], query: Query, base_url: str,
             params: list[tuple[str, str]]) -> tuple[list[dict], list[dict]]:
    """Cut one page; returns (page, links) with Neutron's ``next``/``previous`` links."""
    if query.limit is None and query.marker is None:
        return views, []
    start = 0
    if query.marker is not None:
        ids = [view["id"] for view in views]
        if query.marker not in ids:
            raise resource.service.not_found(query.marker)
        position = ids.index(query.marker)
        if query.page_reverse:
            end = position
            start = max(0, end - query.limit) if query.limit else 0
            page = views[start:end]
            return page, _links(page, query, base_url, params, more_before=start > 0, more_after=True)
        start = position + 1
    end = start + query.limit if query.limit else len(views)
    page = views[start:end]
    return page, _links(page, query, base_url, params, more_before=query.marker is not None,
                        more_after=end < len(views))


def _links(page, query, base_url, params, more_before, more_after) -> list[dict]:
    if not page:
        return []
    kept = [(k, v) for k, v in params if k not in ("marker", "page_reverse")]
    links = []
    if more_after and query.limit:
        links.append({"rel": "next", "href": f"{base_url}?{urlencode(kept + [('marker', page[-1]['id'])])}"})
    if more_before:
        previous = kept + [("marker", page[0]["id"]), ("page_reverse", "True")]
        links.append({"rel": "previous", "href": f"{base_url}?{urlencode(previous)}"})
    return links


def select_fields(view: dict, fields: tuple[str, ...]) -> dict:
    if not fields:
        return view
    return {k: view[k] for k in fields if k in view}
