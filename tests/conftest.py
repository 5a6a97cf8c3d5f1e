"""Shared fixtures: a store on SQLite or PostgreSQL, and the API app with admin and member clients.

PostgreSQL tests use the server at NEUTRINO_TEST_PG_URL (``make test`` starts one); each test gets
a database of its own, dropped afterwards. Without the variable they are skipped, never faked.
"""

from __future__ import annotations

import os
import uuid
import warnings
from dataclasses import replace

import pytest

from neutrino.config import Settings

warnings.filterwarnings("ignore", message=".*httpx.*", category=DeprecationWarning)
# Cheap password hashes for the hundreds of identities tests bootstrap (servers started by tests inherit it).
os.environ.setdefault("NEUTRINO_BCRYPT_ROUNDS", "4")

PG_URL = os.environ.get("NEUTRINO_TEST_PG_URL", "")
ADMIN_PASSWORD = "admin-secret"
DEMO_PASSWORD = "demo-secret"


def _pg_admin_url(database: str) -> str:
    base, _, _ = PG_URL.rpartition("/")
    return f"{base}/{database}"


@pytest.fixture
def pg_database():
    """A fresh PostgreSQL database URL for one test, dropped afterwards."""
    if not PG_URL:
        pytest.skip("NEUTRINO_TEST_PG_URL is not set (make test starts PostgreSQL and sets it)")
    import sqlalchemy as sa

    name = "neutrino_t_" + uuid.uuid4().hex[:12]
    admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield _pg_admin_url(name)
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(
                f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'")
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"')
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    """Parametrizes a test over both supported stores."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'neutrino.db'}"
    return request.getfixturevalue("pg_database")


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(db_url=f"sqlite:///{tmp_path / 'neutrino.db'}", state_dir=tmp_path,
                    admin_password=ADMIN_PASSWORD, demo_password=DEMO_PASSWORD)


def make_services(settings: Settings):
    from neutrino.services.core import Services

    services = Services(settings)
    services.store.migrate()
    return services


@pytest.fixture
def services(settings):
    services = make_services(settings)
    yield services
    services.store.dispose()


class Api:
    """A TestClient that sends one identity's token with every request."""

    def __init__(self, client, token: str | None, project_id: str | None = None):
        self.client = client
        self.token = token
        self.project_id = project_id

    def request(self, method: str, path: str, **kwargs):
        headers = dict(kwargs.pop("headers", {}) or {})
        if self.token:
            headers.setdefault("X-Auth-Token", self.token)
        return self.client.request(method, path, headers=headers, **kwargs)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, **kw):
        return self.request("POST", path, **kw)

    def put(self, path, **kw):
        return self.request("PUT", path, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)

    def create(self, collection: str, member: str, **attrs) -> dict:
        response = self.post(f"/v2.0/{collection}", json={member: attrs})
        assert response.status_code == 201, response.text
        return response.json()[member]


def issue_token(client, user: str, password: str, project: str) -> tuple[str, str]:
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": user, "domain": {"name": "Default"}, "password": password}}},
        "scope": {"project": {"name": project, "domain": {"name": "Default"}}}}}
    response = client.post("/identity/v3/auth/tokens", json=body)
    assert response.status_code == 201, response.text
    return response.headers["X-Subject-Token"], response.json()["token"]["project"]["id"]


@pytest.fixture
def app_client(services, settings):
    from fastapi.testclient import TestClient

    from neutrino.api.app import create_app

    app = create_app(settings, services)
    app.state.identity.bootstrap()
    with TestClient(app) as client:
        yield client


@pytest.fixture
def admin(app_client) -> Api:
    token, project = issue_token(app_client, "admin", ADMIN_PASSWORD, "admin")
    return Api(app_client, token, project)


@pytest.fixture
def demo(app_client) -> Api:
    token, project = issue_token(app_client, "demo", DEMO_PASSWORD, "demo")
    return Api(app_client, token, project)


@pytest.fixture
def other(app_client, admin) -> Api:
    """A member of a second project, created through the identity API."""
    project = admin.post("/identity/v3/projects", json={"project": {"name": "other", "domain_id": "default"}})
    assert project.status_code == 201, project.text
    user = admin.post("/identity/v3/users", json={"user": {
        "name": "other-user", "password": "other-secret", "domain_id": "default"}})
    assert user.status_code == 201, user.text
    roles = admin.get("/identity/v3/roles", params={"name": "member"}).json()["roles"]
    project_id, user_id = project.json()["project"]["id"], user.json()["user"]["id"]
    granted = admin.put(f"/identity/v3/projects/{project_id}/users/{user_id}/roles/{roles[0]['id']}")
    assert granted.status_code == 204, granted.text
    token, project_id = issue_token(app_client, "other-user", "other-secret", "other")
    return Api(app_client, token, project_id)


@pytest.fixture
def noauth_settings(settings) -> Settings:
    return replace(settings, auth="noauth")
