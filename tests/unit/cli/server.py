"""A real server for the CLI's tests: uvicorn on a free 127.0.0.1 port (keystone auth) in a thread, found as a
user finds it, through the clouds.yaml it writes (``Running.env``: OS_CLIENT_CONFIG_FILE and OS_CLOUD)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import httpx
import uvicorn

from tests.conftest import ADMIN_PASSWORD, Api, issue_token, make_services


@dataclass
class Running:
    url: str
    env: dict[str, str]
    services: object
    admin: Api  # an admin's token on an httpx client of the server


@contextmanager
def running_server(directory: Path) -> Iterator[Running]:
    from neutrino.api.app import create_app
    from tests.api.cloud import settings_in

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    settings = replace(settings_in(directory, wide=False), host="127.0.0.1", port=sock.getsockname()[1])
    services = make_services(settings)
    app = create_app(settings, services)
    app.state.identity.bootstrap()
    clouds = app.state.identity.write_clouds_yaml(directory / "clouds.yaml")
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.01)
        assert server.started
        with httpx.Client(base_url=settings.url) as client:
            admin = Api(client, *issue_token(client, "admin", ADMIN_PASSWORD, "admin"))
            yield Running(settings.url, {"OS_CLIENT_CONFIG_FILE": str(clouds), "OS_CLOUD": "neutrino-admin"},
                          services, admin)
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
        services.store.dispose()
