"""Assertions on Neutron's wire shapes shared by the API behaviour tests: the NeutronError body, a
refused request that leaves the store unchanged, and the ids a caller can list."""

from __future__ import annotations

import re
from contextlib import contextmanager

from neutrino.store.revisions import read_head

TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")  # e.g. 2026-11-26T05:02:31Z


def error(response, status: int, error_type: str | None = None) -> dict:
    """The response is a NeutronError body with this status (and type); returns its NeutronError."""
    assert response.status_code == status, f"{response.status_code} {response.text}"
    body = response.json()
    assert set(body) == {"NeutronError"}, body
    neutron_error = body["NeutronError"]
    assert set(neutron_error) == {"type", "message", "detail"}, neutron_error
    assert neutron_error["message"], neutron_error
    if error_type is not None:
        assert neutron_error["type"] == error_type, neutron_error
    return neutron_error


def ok(response, status: int = 200):
    """The response has this status; returns its JSON body (None when it has none)."""
    assert response.status_code == status, f"{response.status_code} {response.text}"
    return response.json() if response.content else None


def feed_revision(api) -> int:
    """The store's global revision: it moves with every committed write, and only then."""
    store = api.client.app.state.services.store
    with store.read() as session:
        return read_head(session)[0]


@contextmanager
def unchanged(api):
    """Everything inside commits nothing: the global revision does not move."""
    before = feed_revision(api)
    yield
    assert feed_revision(api) == before, "a refused request changed the store"


def refused(api, call, status: int, error_type: str | None = None) -> dict:
    """``call()`` answers this NeutronError and commits nothing; returns the NeutronError."""
    with unchanged(api):
        return error(call(), status, error_type)


def ids(api, collection: str, **params) -> set[str]:
    """The ids of ``collection`` that ``api`` can list."""
    body = ok(api.get(f"/v2.0/{collection}", params=params))
    return {item["id"] for item in body[collection]}
