"""A refused request leaves the store as it was: the change feed's revision does not move.

``refused`` sends one request that must fail as Neutron fails it (status and NeutronError type,
checked by ``tests.api.expect.error``) and asserts that nothing was committed meanwhile.
"""

from __future__ import annotations

from contextlib import contextmanager
from weakref import WeakKeyDictionary

from tests.api.expect import error

# The last revision read per client: one answer of the feed holds at most a page of changes, so the
# head is found by reading on from where the previous look ended (revisions only grow).
_seen: WeakKeyDictionary = WeakKeyDictionary()


def feed_revision(admin) -> int:
    """The store's global revision (the feed's head), as the change feed reports it to an admin."""
    since = _seen.get(admin.client, 0)
    while True:
        response = admin.get("/neutrino/v1/changes", params={"since": since})
        assert response.status_code == 200, response.text
        revision = response.json()["revision"]
        if revision == since:
            _seen[admin.client] = revision
            return revision
        since = revision


@contextmanager
def unchanged(admin):
    """Asserts that nothing inside the block committed a write."""
    before = feed_revision(admin)
    yield
    assert feed_revision(admin) == before, "a refused request changed the store"


def refused(admin, response_of, status: int, neutron_type: str) -> dict:
    """Send one request (``response_of()``) that must fail with this status and type, writing nothing."""
    with unchanged(admin):
        response = response_of()
    return error(response, status, neutron_type)


def ids(api, collection: str, **params) -> set[str]:
    response = api.get(f"/v2.0/{collection}", params=params)
    assert response.status_code == 200, response.text
    return {item["id"] for item in response.json()[collection]}
