"""The agent's side of the API server: a Keystone token for its service account, heartbeats and
port status reports. HTTP only."""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime

import httpx

from neutrino.config import AgentSettings

log = logging.getLogger(__name__)

TOKEN_MARGIN_SECONDS = 300  # refresh a token this long before it expires
AGENT_TYPE = "Open vSwitch agent"
BINARY = "neutrino-agent"


class ServerError(Exception):
    pass


class Credentials:
    """Gets and refreshes a project-scoped token by password (or none with noauth)."""

    def __init__(self, settings: AgentSettings):
        self.settings = settings
        self._token: str | None = None
        self._expires = 0.0
        self._lock = threading.Lock()

    def __call__(self, refresh: bool = False) -> str | None:
        if self.settings.noauth:
            return None
        with self._lock:
            if refresh or self._token is None or time.time() > self._expires - TOKEN_MARGIN_SECONDS:
                self._token, self._expires = self._issue()
            return self._token

    def _issue(self) -> tuple[str, float]:
        s = self.settings
        body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
            "name": s.username, "domain": {"id": "default"}, "password": s.password}}},
            "scope": {"project": {"name": s.project, "domain": {"id": "default"}}}}}
        try:
            response = httpx.post(s.identity_url + "/v3/auth/tokens?nocatalog", json=body, timeout=10)
        except httpx.TransportError as exc:
            raise ServerError(f"cannot get a token for {s.username}: {type(exc).__name__}: {exc}") from exc
        if response.status_code != 201:
            raise ServerError(f"cannot get a token for {s.username}: {response.status_code} {response.text[:300]}")
        expires = response.json()["token"]["expires_at"].replace("Z", "+00:00")
        return response.headers["X-Subject-Token"], datetime.fromisoformat(expires).timestamp()


class ServerApi:
    """Heartbeats, port and floating IP status for one host."""

    def __init__(self, settings: AgentSettings, credentials: Credentials):
        self.settings = settings
        self.credentials = credentials
        self.client = httpx.Client(base_url=settings.server_url, timeout=10)

    def _request(self, method: str, path: str, body: dict) -> dict:
        for refresh in (False, True):
            token = self.credentials(refresh=refresh)
            headers = {"X-Auth-Token": token} if token else {}
            try:
                response = self.client.request(method, path, json=body, headers=headers)
            except httpx.TransportError as exc:  # server away (restarting): the caller retries later
                raise ServerError(f"{method} {path}: {type(exc).__name__}: {exc}") from exc
            if response.status_code != 401:
                break
        if response.status_code >= 400:
            raise ServerError(f"{method} {path}: {response.status_code} {response.text[:300]}")
        return response.json()

    def heartbeat(self, configurations: dict, start_flag: bool = False, agent_type: str = AGENT_TYPE,
                  binary: str = BINARY) -> dict:
        body = {"agent": {"host": self.settings.host.host, "agent_type": agent_type, "binary": binary,
                          "configurations": configurations, "start_flag": start_flag}}
        return self._request("POST", "/neutrino/v1/agents/heartbeat", body)["agent"]

    def report_statuses(self, statuses: dict[str, str]) -> list[str]:
        path = f"/neutrino/v1/hosts/{self.settings.host.host}/ports/status"
        return self._request("PUT", path, {"ports": statuses})["ignored"]

    def report_floatingip_statuses(self, statuses: dict[str, str]) -> list[str]:
        """The floating IPs of the routers this host runs: ACTIVE, DOWN or ERROR. Returns the ignored ids."""
        path = f"/neutrino/v1/hosts/{self.settings.host.host}/floatingips/status"
        return self._request("PUT", path, {"floatingips": statuses})["ignored"]

    def close(self) -> None:
        self.client.close()
