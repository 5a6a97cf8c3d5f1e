"""One API server per test module, shared by its tests: admin, demo and other clients over one store.

Building a server (migrations, identity bootstrap, three logins) costs far more than the requests of
most behaviour tests, so a module builds it once. Its tests therefore never assume an empty store:
each makes the resources it talks about and asserts on those. The VLAN range and quotas are wide, so
a module's tests never run out; physnet2 and physnet3 carry no VLAN range (flat/provider only).
Tests about the default range (physnet1:100:199) build a fresh server of their own.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from neutrino.config import Quotas, Settings
from neutrino.model.ranges import parse_vlan_ranges
from tests.conftest import ADMIN_PASSWORD, DEMO_PASSWORD, Api, issue_token, make_services

WIDE = dict(network_vlan_ranges=tuple(parse_vlan_ranges("physnet1:100:3999,physnet2,physnet3")),
            quotas=Quotas(network=10_000, subnet=10_000, port=50_000, security_group=1000,
                          security_group_rule=10_000, router=1000, floatingip=1000))


@dataclass(frozen=True)
class Cloud:
    admin: Api
    demo: Api
    other: Api | None  # a member of a third project, made only when asked for
    services: object


def settings_in(directory: Path, wide: bool = True, **overrides) -> Settings:
    """Settings of a server in ``directory``: the wide ones, or Neutron's defaults when not ``wide``."""
    return Settings(db_url=f"sqlite:///{directory / 'neutrino.db'}", state_dir=directory,
                    admin_password=ADMIN_PASSWORD, demo_password=DEMO_PASSWORD,
                    **{**(WIDE if wide else {}), **overrides})


def member_of_new_project(client, admin: Api, name: str) -> Api:
    """A member of a project made for it through the identity API."""
    project = admin.post("/identity/v3/projects", json={"project": {"name": name, "domain_id": "default"}})
    assert project.status_code == 201, project.text
    user = admin.post("/identity/v3/users", json={"user": {
        "name": f"{name}-user", "password": f"{name}-secret", "domain_id": "default"}})
    assert user.status_code == 201, user.text
    role = admin.get("/identity/v3/roles", params={"name": "member"}).json()["roles"][0]["id"]
    project_id, user_id = project.json()["project"]["id"], user.json()["user"]["id"]
    granted = admin.put(f"/identity/v3/projects/{project_id}/users/{user_id}/roles/{role}")
    assert granted.status_code == 204, granted.text
    token, project_id = issue_token(client, f"{name}-user", f"{name}-secret", name)
    return Api(client, token, project_id)


@contextmanager
def cloud_in(directory: Path, wide: bool = True, with_other: bool = True, **overrides) -> Iterator[Cloud]:
    from fastapi.testclient import TestClient

    from neutrino.api.app import create_app

    settings = settings_in(directory, wide, **overrides)
    services = make_services(settings)
    app = create_app(settings, services)
    app.state.identity.bootstrap()
    try:
        with TestClient(app) as client:
            admin = Api(client, *issue_token(client, "admin", ADMIN_PASSWORD, "admin"))
            demo = Api(client, *issue_token(client, "demo", DEMO_PASSWORD, "demo"))
            other = member_of_new_project(client, admin, "other") if with_other else None
            yield Cloud(admin, demo, other, services)
    finally:
        services.store.dispose()


def module_cloud(name: str, with_other: bool = True):
    """The module-scoped fixtures a test module assigns to its own names:

        cloud, admin, demo, other = module_cloud("ports")
    """

    @pytest.fixture(scope="module")
    def cloud(tmp_path_factory):
        with cloud_in(tmp_path_factory.mktemp(name), with_other=with_other) as built:
            yield built

    @pytest.fixture(scope="module")
    def admin(cloud):
        return cloud.admin

    @pytest.fixture(scope="module")
    def demo(cloud):
        return cloud.demo

    @pytest.fixture(scope="module")
    def other(cloud):
        return cloud.other

    return cloud, admin, demo, other
