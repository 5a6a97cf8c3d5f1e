"""GET /neutrino/v1/info: what ``neutrino status`` says about the server itself (admins and services only).

    -> 200 {"info": {"version": "0.1.0", "revision": 1234, "store": "sqlite" | "postgresql",
                     "auth": "keystone" | "noauth", "started_at": "2025-01-01T12:00:00Z"}}

``revision`` is the change feed's head: every write moves it on, so two answers with the same revision saw
the same state.
"""

from __future__ import annotations

from datetime import UTC, datetime
from importlib import metadata

from fastapi import FastAPI, Request
from starlette.concurrency import run_in_threadpool

from neutrino.config import Settings
from neutrino.services import errors as e
from neutrino.store.revisions import read_head
from neutrino.store.session import Store


def server_version() -> str:
    try:
        return metadata.version("neutrino")
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


def add_info_routes(app: FastAPI, store: Store, settings: Settings, authenticate) -> None:
    from neutrino.api.app import json_response

    started_at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    version = server_version()

    def revision() -> int:
        with store.read() as session:
            return read_head(session)[0]

    async def get_info(request: Request):
        if not authenticate(request).is_service:
            raise e.PolicyNotAuthorized(action="the server's info is for admins and services")
        return json_response({"info": {
            "version": version, "revision": await run_in_threadpool(revision),
            "store": "sqlite" if store.is_sqlite else "postgresql", "auth": settings.auth,
            "started_at": started_at}})

    app.add_api_route("/neutrino/v1/info", get_info, methods=["GET"])
