"""How an operator's ``neutrino`` command reaches the API: as the ``openstack`` CLI does, with a cloud of a
clouds.yaml (``--os-cloud`` or ``OS_CLOUD``; the file from ``OS_CLIENT_CONFIG_FILE``, else ./clouds.yaml,
~/.config/openstack/clouds.yaml, /etc/openstack/clouds.yaml): a Keystone v3 password token, and the network
endpoint of its catalog. ``--url`` instead talks to a server started with ``--auth noauth``, without a token.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx
import yaml

SEARCH_PATH = ("clouds.yaml", "~/.config/openstack/clouds.yaml", "/etc/openstack/clouds.yaml")
TIMEOUT = 30.0


class CloudError(Exception):
    pass


@dataclass(frozen=True)
class Cloud:
    name: str
    auth: dict  # clouds.yaml's auth: auth_url, username, password, project_name, user/project_domain_name ...
    interface: str = "public"
    region: str | None = None


def load_cloud(name: str | None, environ: Mapping[str, str] = os.environ) -> Cloud:
    """The named cloud (else OS_CLOUD, else the file's only cloud) of the clouds.yaml found."""
    path = _clouds_yaml(environ)
    clouds = (yaml.safe_load(path.read_text()) or {}).get("clouds") or {}
    name = name or environ.get("OS_CLOUD") or (next(iter(clouds)) if len(clouds) == 1 else None)
    if name is None:
        raise CloudError(f"{path} has clouds {', '.join(clouds) or 'none'}: choose one with --os-cloud or OS_CLOUD")
    if name not in clouds:
        raise CloudError(f"no cloud {name!r} in {path}")
    cloud = clouds[name]
    return Cloud(name, dict(cloud.get("auth") or {}), cloud.get("interface", "public"), cloud.get("region_name"))


def _clouds_yaml(environ: Mapping[str, str]) -> Path:
    given = environ.get("OS_CLIENT_CONFIG_FILE")
    candidates = [Path(given)] if given else [Path(p).expanduser() for p in SEARCH_PATH]
    for path in candidates:
        if path.is_file():
            return path
    raise CloudError(f"no clouds.yaml ({', '.join(str(p) for p in candidates)}): set OS_CLIENT_CONFIG_FILE, or "
                     "give --url for a server without authentication")


class ApiClient:
    """A token (or none) and the network endpoint; ``post`` answers (status, JSON body)."""

    def __init__(self, base_url: str, token: str | None = None, transport: httpx.BaseTransport | None = None):
        headers = {"X-Auth-Token": token} if token else {}
        self.http = httpx.Client(base_url=base_url.rstrip("/"), headers=headers, timeout=TIMEOUT, transport=transport)

    @classmethod
    def for_cloud(cls, cloud: Cloud, transport: httpx.BaseTransport | None = None) -> ApiClient:
        token, catalog = _token(cloud, transport)
        return cls(_network_endpoint(cloud, catalog), token, transport)

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *exc_info) -> None:
        self.http.close()

    def post(self, path: str, body: dict) -> tuple[int, dict]:
        return self._call("POST", path, json=body)

    def get(self, path: str, params: dict | None = None) -> tuple[int, dict]:
        return self._call("GET", path, params=params)

    def put(self, path: str, body: dict) -> tuple[int, dict]:
        return self._call("PUT", path, json=body)

    def delete(self, path: str) -> tuple[int, dict]:
        return self._call("DELETE", path)

    def _call(self, method: str, path: str, **kwargs) -> tuple[int, dict]:
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.TransportError as error:
            raise CloudError(f"cannot reach {self.http.base_url}: {type(error).__name__}: {error}") from error
        try:
            return response.status_code, response.json()
        except ValueError:
            return response.status_code, {}


def _token(cloud: Cloud, transport: httpx.BaseTransport | None) -> tuple[str, list]:
    auth = cloud.auth
    if not auth.get("auth_url") or not auth.get("username"):
        raise CloudError(f"cloud {cloud.name!r} has no auth_url or username")
    user = {"name": auth["username"], "password": auth.get("password", ""),
            "domain": _domain(auth, "user")}
    project = {"id": auth["project_id"]} if auth.get("project_id") else \
        {"name": auth.get("project_name", ""), "domain": _domain(auth, "project")}
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": user}},
                     "scope": {"project": project}}}
    url = auth["auth_url"].rstrip("/")
    url = url if url.endswith("/v3") else url + "/v3"
    try:
        with httpx.Client(timeout=TIMEOUT, transport=transport) as client:
            response = client.post(url + "/auth/tokens", json=body)
    except httpx.TransportError as error:
        raise CloudError(f"cannot reach Keystone at {url}: {type(error).__name__}: {error}") from error
    if response.status_code != 201:
        raise CloudError(f"Keystone at {url} refused the credentials of cloud {cloud.name!r}: "
                         f"{response.status_code} {response.text[:200]}")
    return response.headers["X-Subject-Token"], response.json()["token"].get("catalog", [])


def _domain(auth: dict, who: str) -> dict:
    if auth.get(f"{who}_domain_id"):
        return {"id": auth[f"{who}_domain_id"]}
    return {"name": auth.get(f"{who}_domain_name", "Default")}


def _network_endpoint(cloud: Cloud, catalog: list) -> str:
    for service in catalog:
        if service.get("type") != "network":
            continue
        for endpoint in service.get("endpoints", ()):
            if endpoint.get("interface") == cloud.interface and \
                    (cloud.region is None or endpoint.get("region_id", endpoint.get("region")) == cloud.region):
                return endpoint["url"]
    raise CloudError(f"the catalog of cloud {cloud.name!r} has no {cloud.interface} network endpoint")
