"""The built-in Keystone v3 subset, through HTTP as clients see it; the last tests drive it with the
real keystoneauth1 and openstacksdk against a real uvicorn server."""

from __future__ import annotations

import re
import shutil
import socket
import stat
import threading
import time
from pathlib import Path

import pytest
import uvicorn
import yaml
from fastapi import FastAPI
from fastapi.testclient import TestClient

from neutrino.api.identity import identity_router
from neutrino.config import Settings
from neutrino.services.identity import IdentityService, Unauthorized
from neutrino.store.session import Store

PUBLIC_URL = "http://neutrino.test:9696"
TOKENS = "/v3/auth/tokens"
WIRE_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000000Z$")


def new_store(path: Path) -> Store:
    """An empty store with every table, made by the Alembic migrations as the server does."""
    store = Store("sqlite:///" + str(path))
    store.migrate()
    return store


def new_identity(tmp_path: Path, template: Path, **settings) -> IdentityService:
    """A bootstrapped identity over a copy of ``template``; bootstrapping again finds nothing to do
    unless ``settings`` ask for something new."""
    shutil.copy(template, tmp_path / "neutrino.db")
    settings.setdefault("public_url", PUBLIC_URL)
    store = Store("sqlite:///" + str(tmp_path / "neutrino.db"))
    identity = IdentityService(store, Settings(state_dir=tmp_path, **settings))
    identity.bootstrap()
    return identity


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    """One freshly bootstrapped database, copied by each test: its bcrypt hashes are the slow part."""
    path = tmp_path_factory.mktemp("template") / "neutrino.db"
    store = new_store(path)
    IdentityService(store, Settings(public_url=PUBLIC_URL)).bootstrap()
    store.dispose()  # closing the last connection folds the WAL into the file we copy
    return path


def client_for(identity: IdentityService) -> TestClient:
    app = FastAPI()
    app.include_router(identity_router(identity), prefix="/identity")
    return TestClient(app, base_url="http://testserver/identity")  # paths below start at /v3


def password_auth(user: str, password: str, project: str | None = None) -> dict:
    auth = {"identity": {"methods": ["password"], "password": {
        "user": {"name": user, "domain": {"name": "Default"}, "password": password}}}}
    if project:
        auth["scope"] = {"project": {"name": project, "domain": {"name": "Default"}}}
    return {"auth": auth}


@pytest.fixture
def identity(tmp_path, template) -> IdentityService:
    return new_identity(tmp_path, template)


@pytest.fixture
def client(identity) -> TestClient:
    return client_for(identity)


def post_login(client: TestClient, identity: IdentityService, user: str, project: str | None = None):
    return client.post(TOKENS, json=password_auth(user, identity.passwords()[user], project))


def login(client: TestClient, identity: IdentityService, user: str, project: str | None = None) -> str:
    response = post_login(client, identity, user, project or user)
    assert response.status_code == 201, response.text
    return response.headers["X-Subject-Token"]


def test_root_answers_300_with_the_v3_version(client):
    for url in ("http://testserver/identity", "http://testserver/identity/"):
        response = client.get(url)
        assert response.status_code == 300
        (version,) = response.json()["versions"]["values"]
        assert version["id"] == "v3.14" and version["status"] == "stable"
        assert version["links"] == [{"rel": "self", "href": "http://testserver/identity/v3/"}]


def test_v3_document_links_to_itself(client):
    for path in ("/v3", "/v3/"):
        version = client.get(path).json()["version"]
        assert version["links"][0]["href"] == "http://testserver/identity/v3/"
        assert version["media-types"][0]["type"] == "application/vnd.openstack.identity-v3+json"


def test_password_login_by_names_returns_keystone_token_body(client, identity):
    response = post_login(client, identity, "demo", "demo")
    assert response.status_code == 201
    assert 100 < len(response.headers["X-Subject-Token"]) < 400
    token = response.json()["token"]
    assert set(token) == {"methods", "user", "audit_ids", "expires_at", "issued_at", "project", "is_domain",
                          "roles", "catalog"}
    assert token["methods"] == ["password"]
    assert token["user"]["name"] == "demo" and token["user"]["domain"] == {"id": "default", "name": "Default"}
    assert token["user"]["password_expires_at"] is None and len(token["user"]["id"]) == 32
    assert token["project"]["name"] == "demo" and token["is_domain"] is False
    assert [role["name"] for role in token["roles"]] == ["member", "reader"]
    assert WIRE_TIME.match(token["expires_at"]) and WIRE_TIME.match(token["issued_at"])
    assert len(token["audit_ids"]) == 1 and len(token["audit_ids"][0]) == 22
    catalog = {service["type"]: service for service in token["catalog"]}
    assert catalog["network"]["name"] == "neutron" and catalog["identity"]["name"] == "keystone"
    assert {e["interface"] for e in catalog["network"]["endpoints"]} == {"public", "internal", "admin"}
    assert {e["url"] for e in catalog["network"]["endpoints"]} == {PUBLIC_URL}
    assert {e["url"] for e in catalog["identity"]["endpoints"]} == {PUBLIC_URL + "/identity/v3"}
    assert {e["region_id"] for e in catalog["network"]["endpoints"]} == {"RegionOne"}


def test_password_login_by_ids(client, identity):
    demo = post_login(client, identity, "demo", "demo").json()["token"]
    body = {"auth": {"identity": {"methods": ["password"], "password": {
        "user": {"id": demo["user"]["id"], "password": identity.passwords()["demo"]}}},
        "scope": {"project": {"id": demo["project"]["id"]}}}}
    response = client.post(TOKENS, json=body)
    assert response.status_code == 201
    assert response.json()["token"]["project"]["id"] == demo["project"]["id"]


def test_wrong_password_is_401_in_keystone_shape(client):
    response = client.post(TOKENS, json=password_auth("demo", "wrong", "demo"))
    assert response.status_code == 401
    assert response.json()["error"]["code"] == 401 and response.json()["error"]["title"] == "Unauthorized"
    assert response.headers["WWW-Authenticate"].startswith("Keystone uri=")


def test_unknown_user_and_malformed_body(client):
    assert client.post(TOKENS, json=password_auth("nobody", "x", "demo")).status_code == 401
    malformed = client.post(TOKENS, content=b"{not json", headers={"Content-Type": "application/json"})
    assert malformed.status_code == 400 and malformed.json()["error"]["title"] == "Bad Request"
    assert client.post(TOKENS, json={"auth": {}}).status_code == 400


def test_admin_role_implies_member_and_reader(client, identity):
    response = post_login(client, identity, "admin", "admin")
    assert [role["name"] for role in response.json()["token"]["roles"]] == ["admin", "member", "reader"]
    context = identity.context_for_token(response.headers["X-Subject-Token"])
    assert context.is_admin and context.project_name == "admin" and context.user_name == "admin"


def test_agent_account_holds_service_and_admin_in_service_project(client, identity):
    token = login(client, identity, "neutrino-agent", "service")
    assert set(identity.context_for_token(token).roles) == {"admin", "member", "reader", "service"}


def test_validate_returns_the_same_body(client, identity):
    admin, demo = login(client, identity, "admin"), login(client, identity, "demo")
    headers = {"X-Auth-Token": admin, "X-Subject-Token": demo}
    response = client.get(TOKENS, headers=headers)
    assert response.status_code == 200 and response.headers["X-Subject-Token"] == demo
    assert response.json()["token"]["project"]["name"] == "demo"
    assert "catalog" not in client.get(TOKENS + "?nocatalog", headers=headers).json()["token"]
    head = client.head(TOKENS, headers=headers)
    assert head.status_code == 200


def test_validate_answers_404_for_bad_subject_and_401_for_bad_caller(client, identity):
    admin = login(client, identity, "admin")
    bad_subject = client.get(TOKENS, headers={"X-Auth-Token": admin, "X-Subject-Token": "junk"})
    assert bad_subject.status_code == 404
    bad_caller = client.get(TOKENS, headers={"X-Auth-Token": "junk", "X-Subject-Token": admin})
    assert bad_caller.status_code == 401


def test_user_may_validate_own_token_but_not_anothers(client, identity):
    admin, demo = login(client, identity, "admin"), login(client, identity, "demo")
    own = client.get(TOKENS, headers={"X-Auth-Token": demo, "X-Subject-Token": demo})
    assert own.status_code == 200
    other = client.get(TOKENS, headers={"X-Auth-Token": demo, "X-Subject-Token": admin})
    assert other.status_code == 403


def test_expired_token_is_rejected(tmp_path, template):
    # issued_at counts whole seconds, so these tokens live between one and two seconds.
    short_lived = new_identity(tmp_path, template, token_ttl_seconds=2)
    token = login(client_for(short_lived), short_lived, "demo")
    assert short_lived.context_for_token(token).project_name == "demo"
    time.sleep(2.1)
    with pytest.raises(Unauthorized):
        short_lived.context_for_token(token)
    # Validated by a server with the usual lifetime sharing the store, so the caller's token is current.
    identity = IdentityService(short_lived.store, Settings(state_dir=tmp_path, public_url=PUBLIC_URL))
    client = client_for(identity)
    headers = {"X-Auth-Token": login(client, identity, "admin"), "X-Subject-Token": token}
    assert client.get(TOKENS, headers=headers).status_code == 404
    # A service may still look at a recently expired token, as keystonemiddleware asks with allow_expired.
    assert client.get(TOKENS + "?allow_expired=1", headers=headers).status_code == 200


def test_tampered_token_is_rejected(client, identity):
    token = login(client, identity, "demo")
    middle = len(token) // 2
    tampered = token[:middle] + ("A" if token[middle] != "A" else "B") + token[middle + 1:]
    with pytest.raises(Unauthorized):
        identity.context_for_token(tampered)
    with pytest.raises(Unauthorized):
        identity.context_for_token("")


def test_revoked_token_stops_working(client, identity):
    admin, demo = login(client, identity, "admin"), login(client, identity, "demo")
    response = client.delete(TOKENS, headers={"X-Auth-Token": admin, "X-Subject-Token": demo})
    assert response.status_code == 204
    with pytest.raises(Unauthorized):
        identity.context_for_token(demo)
    # Another server sharing the store, with a cold cache, refuses it too.
    with pytest.raises(Unauthorized):
        IdentityService(identity.store, identity.settings).context_for_token(demo)


def test_unscoped_login_uses_the_default_project(client, identity):
    response = post_login(client, identity, "demo")
    assert response.json()["token"]["project"]["name"] == "demo"


def test_explicitly_unscoped_token_rescoped_with_the_token_method(client, identity):
    body = password_auth("demo", identity.passwords()["demo"])
    body["auth"]["scope"] = "unscoped"
    response = client.post(TOKENS, json=body)
    unscoped, unscoped_id = response.json()["token"], response.headers["X-Subject-Token"]
    assert "project" not in unscoped and "catalog" not in unscoped
    rescope = {"auth": {"identity": {"methods": ["token"], "token": {"id": unscoped_id}},
                        "scope": {"project": {"name": "demo", "domain": {"id": "default"}}}}}
    response = client.post(TOKENS, json=rescope)
    assert response.status_code == 201
    token = response.json()["token"]
    assert token["project"]["name"] == "demo" and token["expires_at"] == unscoped["expires_at"]
    assert token["audit_ids"][1] == unscoped["audit_ids"][0]


def test_scope_to_a_project_without_roles_is_401(client, identity):
    response = post_login(client, identity, "demo", "admin")
    assert response.status_code == 401


def test_admin_creates_project_and_user_who_then_logs_in(client, identity):
    admin = {"X-Auth-Token": login(client, identity, "admin")}
    project = client.post("/v3/projects", headers=admin,
                          json={"project": {"name": "tenant-1", "description": "d", "domain_id": "default"}})
    assert project.status_code == 201
    project = project.json()["project"]
    assert len(project["id"]) == 32 and project["domain_id"] == "default" and project["enabled"] is True
    user = client.post("/v3/users", headers=admin,
                       json={"user": {"name": "alice", "password": "s3cret", "domain_id": "default"}})
    assert user.status_code == 201
    user = user.json()["user"]
    member = client.get("/v3/roles?name=member", headers=admin).json()["roles"][0]
    grant = f"/v3/projects/{project['id']}/users/{user['id']}/roles/{member['id']}"
    assert client.put(grant, headers=admin).status_code == 204
    assert client.head(grant, headers=admin).status_code == 204
    response = client.post(TOKENS, json=password_auth("alice", "s3cret", "tenant-1"))
    assert response.status_code == 201
    assert [role["name"] for role in response.json()["token"]["roles"]] == ["member", "reader"]
    alice = {"X-Auth-Token": response.headers["X-Subject-Token"]}
    assert [p["name"] for p in client.get("/v3/auth/projects", headers=alice).json()["projects"]] == \
        ["tenant-1"]
    listed = client.get(f"/v3/projects/{project['id']}/users/{user['id']}/roles", headers=admin)
    assert [role["name"] for role in listed.json()["roles"]] == ["member"]
    assert client.delete(grant, headers=admin).status_code == 204
    assert client.head(grant, headers=admin).status_code == 404
    assert client.get("/v3/auth/projects", headers=alice).status_code == 401  # no roles left: token ends


def test_member_cannot_administer(client, identity):
    demo = {"X-Auth-Token": login(client, identity, "demo")}
    response = client.post("/v3/projects", headers=demo, json={"project": {"name": "mine"}})
    assert response.status_code == 403 and response.json()["error"]["title"] == "Forbidden"
    assert client.get("/v3/users", headers=demo).status_code == 403
    assert client.get("/v3/projects").status_code == 401


def test_duplicate_project_name_is_409(client, identity):
    admin = {"X-Auth-Token": login(client, identity, "admin")}
    response = client.post("/v3/projects", headers=admin, json={"project": {"name": "demo"}})
    assert response.status_code == 409 and response.json()["error"]["code"] == 409


def test_project_found_by_name_after_id_lookup_misses(client, identity):
    admin = {"X-Auth-Token": login(client, identity, "admin")}
    assert client.get("/v3/projects/demo", headers=admin).status_code == 404
    (demo,) = client.get("/v3/projects?name=demo", headers=admin).json()["projects"]
    assert client.get(f"/v3/projects/{demo['id']}", headers=admin).json()["project"]["name"] == "demo"


def test_domains_list_is_filtered_by_name(client, identity):
    admin = {"X-Auth-Token": login(client, identity, "admin")}
    assert [d["id"] for d in client.get("/v3/domains?name=Default", headers=admin).json()["domains"]] == \
        ["default"]
    assert client.get("/v3/domains?name=Other", headers=admin).json()["domains"] == []
    assert client.get("/v3/domains/default", headers=admin).json()["domain"]["name"] == "Default"


def test_deleting_project_and_user(client, identity):
    admin = {"X-Auth-Token": login(client, identity, "admin")}
    project = client.post("/v3/projects", headers=admin, json={"project": {"name": "gone"}}).json()["project"]
    user = client.post("/v3/users", headers=admin, json={"user": {"name": "bob", "password": "pw"}})
    user = user.json()["user"]
    assert client.delete(f"/v3/projects/{project['id']}", headers=admin).status_code == 204
    assert client.get(f"/v3/projects/{project['id']}", headers=admin).status_code == 404
    assert client.delete(f"/v3/users/{user['id']}", headers=admin).status_code == 204
    assert client.delete(f"/v3/users/{user['id']}", headers=admin).status_code == 404


def test_role_assignments_listing_with_names(client, identity):
    admin = {"X-Auth-Token": login(client, identity, "admin")}
    demo = post_login(client, identity, "demo", "demo").json()["token"]
    query = f"?user.id={demo['user']['id']}&scope.project.id={demo['project']['id']}&include_names"
    (assignment,) = client.get("/v3/role_assignments" + query, headers=admin).json()["role_assignments"]
    assert assignment["role"]["name"] == "member" and assignment["scope"]["project"]["name"] == "demo"
    effective = client.get("/v3/role_assignments" + query + "&effective", headers=admin).json()
    assert [a["role"]["name"] for a in effective["role_assignments"]] == ["member", "reader"]


def test_bootstrap_is_idempotent_and_tokens_cross_servers(client, identity):
    passwords = identity.passwords()
    assert set(passwords) == {"admin", "demo", "neutrino-agent"}
    token = login(client, identity, "demo")
    identity.bootstrap()
    other = IdentityService(identity.store, identity.settings)
    other.bootstrap()
    assert other.passwords() == passwords
    assert other.context_for_token(token).project_name == "demo"


def test_configured_password_replaces_the_stored_one(tmp_path, template):
    identity = new_identity(tmp_path, template, admin_password="configured-pw")
    assert identity.passwords()["admin"] == "configured-pw"
    client = client_for(identity)
    assert client.post(TOKENS,
                       json=password_auth("admin", "configured-pw", "admin")).status_code == 201


def test_clouds_yaml_is_private_and_complete(tmp_path, identity):
    path = identity.write_clouds_yaml(tmp_path / "etc" / "clouds.yaml")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    clouds = yaml.safe_load(path.read_text())["clouds"]
    admin = clouds["neutrino-admin"]
    assert admin["auth"] == {"auth_url": PUBLIC_URL + "/identity", "username": "admin",
                             "password": identity.passwords()["admin"], "project_name": "admin",
                             "user_domain_name": "Default", "project_domain_name": "Default"}
    assert admin["region_name"] == "RegionOne" and admin["identity_api_version"] == 3
    assert admin["interface"] == "public" and clouds["neutrino-demo"]["auth"]["project_name"] == "demo"


def test_token_issue_and_cached_validation_are_fast(client, identity):
    body = password_auth("demo", identity.passwords()["demo"], "demo")
    client.post(TOKENS, json=body)  # pays bcrypt once
    started = time.perf_counter()
    for _ in range(20):
        token, _ = identity.issue_token(body)
    assert (time.perf_counter() - started) / 20 < 0.05
    started = time.perf_counter()
    for _ in range(1000):
        identity.context_for_token(token)
    assert time.perf_counter() - started < 0.1


# --- real clients against a real server ---


@pytest.fixture
def live_identity(tmp_path, template):
    """A uvicorn server on a free port on 127.0.0.1 serving only the identity router."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    identity = new_identity(tmp_path, template, host="127.0.0.1", port=port, public_url="")
    app = FastAPI()
    app.include_router(identity_router(identity), prefix="/identity")
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.started
    try:
        yield identity
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def test_keystoneauth_gets_a_token_and_the_network_endpoint(live_identity):
    from keystoneauth1 import session
    from keystoneauth1.identity import v3

    auth = v3.Password(auth_url=live_identity.settings.url + "/identity", username="demo",
                       password=live_identity.passwords()["demo"], project_name="demo",
                       user_domain_name="Default", project_domain_name="Default")
    sess = session.Session(auth=auth)
    assert live_identity.context_for_token(sess.get_token()).project_name == "demo"
    assert sess.get_endpoint(service_type="network", interface="public") == live_identity.settings.url
    assert sess.get_project_id() == live_identity.context_for_token(sess.get_token()).project_id


def test_openstacksdk_administers_projects_users_and_grants(live_identity):
    import openstack

    conn = openstack.connect(
        auth_url=live_identity.settings.url + "/identity", username="admin",
        password=live_identity.passwords()["admin"], project_name="admin", user_domain_name="Default",
        project_domain_name="Default", region_name="RegionOne", identity_api_version="3")
    try:
        project = conn.identity.create_project(name="sdk-tenant", domain_id="default")
        assert conn.identity.find_project("sdk-tenant").id == project.id
        user = conn.identity.create_user(name="sdk-user", password="pw", domain_id="default")
        assert conn.grant_role("member", user="sdk-user", project="sdk-tenant") is True
        assert conn.grant_role("member", user="sdk-user", project="sdk-tenant") is False  # already there
        assigned = conn.list_role_assignments(filters={"user": user.id, "project": project.id})
        assert len(assigned) == 1
        assert conn.revoke_role("member", user="sdk-user", project="sdk-tenant") is True
        conn.identity.delete_user(user)
        conn.identity.delete_project(project)
        assert conn.identity.find_project("sdk-tenant") is None
    finally:
        conn.close()


def test_keystoneclient_validates_user_tokens_as_keystonemiddleware_does(live_identity):
    """keystonemiddleware's auth_token validates each user token with keystoneclient's tokens.validate,
    authenticated as a service user."""
    from keystoneauth1 import exceptions, session
    from keystoneauth1.identity import v3
    from keystoneclient.v3 import client

    def password_session(user: str, project: str) -> session.Session:
        return session.Session(auth=v3.Password(
            auth_url=live_identity.settings.url + "/identity", username=user, project_name=project,
            password=live_identity.passwords()[user], user_domain_name="Default",
            project_domain_name="Default"))

    service = client.Client(session=password_session("neutrino-agent", "service"), interface="internal")
    user_token = password_session("demo", "demo").get_token()
    access = service.tokens.validate(user_token, include_catalog=True)
    assert access.project_name == "demo" and sorted(access.role_names) == ["member", "reader"]
    network = access.service_catalog.url_for(service_type="network", endpoint_type="public")
    assert network == live_identity.settings.url
    with pytest.raises(exceptions.NotFound):
        service.tokens.validate(user_token[:-4] + "AAAA")


def test_a_nul_character_in_a_request_is_refused_not_stored(client):
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "ad\u0000min", "domain": {"name": "Default"}, "password": "x"}}}}}
    response = client.post("/v3/auth/tokens", json=body)
    assert response.status_code == 400
    assert "NUL" in response.json()["error"]["message"]
