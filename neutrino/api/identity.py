"""Keystone v3 over HTTP, mounted at /identity: version discovery, tokens, and the administration calls
openstacksdk, the openstack CLI, Ansible and keystonemiddleware make. Bodies and errors are Keystone's;
the work is IdentityService's (services/identity). Handlers that read a body are async and hand the
work to the thread pool; the rest are plain functions, which FastAPI runs there itself."""

from __future__ import annotations

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool

from neutrino.services.context import Context
from neutrino.services.identity import IdentityError, IdentityService, Unauthorized, ValidationError
from neutrino.services.identity.common import is_true

VERSION_ID = "v3.14"
MEDIA_TYPES = [{"base": "application/json", "type": "application/vnd.openstack.identity-v3+json"}]


def json_response(body: dict, status: int = 200, headers: dict | None = None) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json", headers=headers)


def no_content() -> Response:
    return Response(status_code=204)


class KeystoneRoute(APIRoute):
    """Renders an IdentityError as Keystone's error body. An included router cannot install the app's
    exception handlers, so each route carries this itself and the app's Neutron handlers never see one."""

    def get_route_handler(self):
        handler = super().get_route_handler()

        async def with_keystone_errors(request: Request) -> Response:
            try:
                return await handler(request)
            except IdentityError as error:
                return error_response(request, error)

        return with_keystone_errors


def error_response(request: Request, error: IdentityError) -> Response:
    body = {"error": {"code": error.code, "message": str(error), "title": error.title}}
    headers = None
    if error.code == 401:
        headers = {"WWW-Authenticate": f'Keystone uri="{request.url_for("identity_root")}"'}
    return json_response(body, error.code, headers)


async def json_body(request: Request) -> dict:
    raw = await request.body()
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise ValidationError("Malformed request body: expected a JSON object.") from None
    if not isinstance(body, dict):
        raise ValidationError("Malformed request body: expected a JSON object.")
    if b"\\u0000" in raw:  # a NUL inside a string: no store keeps it (PostgreSQL refuses it outright)
        raise ValidationError("Invalid input: strings may not contain a NUL character.")
    return body


def identity_router(identity: IdentityService) -> APIRouter:
    router = APIRouter(route_class=KeystoneRoute)
    _add_discovery_routes(router)
    _add_token_routes(router, identity)
    _add_project_routes(router, identity)
    _add_user_routes(router, identity)
    _add_role_routes(router, identity)
    return router


def caller_for(identity: IdentityService):
    def caller(request: Request) -> Context:
        token = request.headers.get("X-Auth-Token")
        if not token:
            raise Unauthorized()
        return identity.context_for_token(token)

    return caller


def _add_discovery_routes(router: APIRouter) -> None:
    def version(request: Request) -> dict:
        return {"id": VERSION_ID, "status": "stable", "updated": "2020-04-07T00:00:00Z",
                "links": [{"rel": "self", "href": str(request.url_for("identity_v3"))}],
                "media-types": MEDIA_TYPES}

    # 300 Multiple Choices with the one version, as Keystone answers its root.
    def versions(request: Request) -> Response:
        return json_response({"versions": {"values": [version(request)]}}, 300)

    def version_document(request: Request) -> Response:
        return json_response({"version": version(request)})

    router.add_api_route("", versions, methods=["GET"], name="identity_root")
    router.add_api_route("/", versions, methods=["GET"])
    router.add_api_route("/v3", version_document, methods=["GET"])
    router.add_api_route("/v3/", version_document, methods=["GET"], name="identity_v3")


def _add_token_routes(router: APIRouter, identity: IdentityService) -> None:
    caller = caller_for(identity)

    def subject_of(request: Request) -> str:
        subject = request.headers.get("X-Subject-Token")
        if not subject:
            raise ValidationError("Missing the X-Subject-Token header.")
        return subject

    def validated(request: Request) -> dict:
        query = request.query_params
        return identity.validate_token(caller(request), subject_of(request),
                                       allow_expired=is_true(query.get("allow_expired", "false")),
                                       include_catalog="nocatalog" not in query)

    @router.post("/v3/auth/tokens")
    async def issue_token(request: Request):
        body = await json_body(request)
        include_catalog = "nocatalog" not in request.query_params
        token, view = await run_in_threadpool(identity.issue_token, body, include_catalog)
        return json_response(view, 201, {"X-Subject-Token": token, "Vary": "X-Auth-Token"})

    @router.get("/v3/auth/tokens")
    def validate_token(request: Request):
        return json_response(validated(request), 200, {"X-Subject-Token": subject_of(request)})

    @router.head("/v3/auth/tokens")
    def check_token(request: Request):
        validated(request)
        return Response(status_code=200, headers={"X-Subject-Token": subject_of(request)})

    @router.delete("/v3/auth/tokens")
    def revoke_token(request: Request):
        identity.revoke_token(caller(request), subject_of(request))
        return no_content()

    @router.get("/v3/auth/projects")
    def list_auth_projects(request: Request):
        context = caller(request)
        return json_response(identity.projects.list_user_projects(context, context.user_id))


def _add_project_routes(router: APIRouter, identity: IdentityService) -> None:
    caller = caller_for(identity)
    projects = identity.projects

    @router.get("/v3/projects")
    def list_projects(request: Request):
        return json_response(projects.list_projects(caller(request), request.query_params))

    @router.post("/v3/projects")
    async def create_project(request: Request):
        body = await json_body(request)
        view = await run_in_threadpool(lambda: projects.create_project(caller(request), body))
        return json_response(view, 201)

    @router.get("/v3/projects/{project_id}")
    def get_project(request: Request, project_id: str):
        return json_response(projects.get_project(caller(request), project_id))

    @router.patch("/v3/projects/{project_id}")
    async def update_project(request: Request, project_id: str):
        body = await json_body(request)
        return json_response(await run_in_threadpool(
            lambda: projects.update_project(caller(request), project_id, body)))

    @router.delete("/v3/projects/{project_id}")
    def delete_project(request: Request, project_id: str):
        projects.delete_project(caller(request), project_id)
        return no_content()

    @router.get("/v3/domains")
    def list_domains(request: Request):
        return json_response(projects.list_domains(caller(request), request.query_params))

    @router.get("/v3/domains/{domain_id}")
    def get_domain(request: Request, domain_id: str):
        return json_response(projects.get_domain(caller(request), domain_id))


def _add_user_routes(router: APIRouter, identity: IdentityService) -> None:
    caller = caller_for(identity)
    users = identity.users

    @router.get("/v3/users")
    def list_users(request: Request):
        return json_response(users.list_users(caller(request), request.query_params))

    @router.post("/v3/users")
    async def create_user(request: Request):
        body = await json_body(request)
        return json_response(await run_in_threadpool(lambda: users.create_user(caller(request), body)), 201)

    @router.get("/v3/users/{user_id}")
    def get_user(request: Request, user_id: str):
        return json_response(users.get_user(caller(request), user_id))

    @router.patch("/v3/users/{user_id}")
    async def update_user(request: Request, user_id: str):
        body = await json_body(request)
        view = await run_in_threadpool(lambda: users.update_user(caller(request), user_id, body))
        return json_response(view)

    @router.delete("/v3/users/{user_id}")
    def delete_user(request: Request, user_id: str):
        users.delete_user(caller(request), user_id)
        return no_content()

    @router.get("/v3/users/{user_id}/projects")
    def list_user_projects(request: Request, user_id: str):
        return json_response(identity.projects.list_user_projects(caller(request), user_id))


def _add_role_routes(router: APIRouter, identity: IdentityService) -> None:
    caller = caller_for(identity)
    roles = identity.roles
    grant = "/v3/projects/{project_id}/users/{user_id}/roles/{role_id}"

    @router.get("/v3/roles")
    def list_roles(request: Request):
        return json_response(roles.list_roles(caller(request), request.query_params))

    @router.get("/v3/roles/{role_id}")
    def get_role(request: Request, role_id: str):
        return json_response(roles.get_role(caller(request), role_id))

    @router.get("/v3/projects/{project_id}/users/{user_id}/roles")
    def list_grants(request: Request, project_id: str, user_id: str):
        return json_response(roles.list_grants(caller(request), project_id, user_id))

    @router.put(grant)
    def create_grant(request: Request, project_id: str, user_id: str, role_id: str):
        roles.create_grant(caller(request), project_id, user_id, role_id)
        return no_content()

    @router.head(grant)
    def check_grant(request: Request, project_id: str, user_id: str, role_id: str):
        roles.check_grant(caller(request), project_id, user_id, role_id)
        return no_content()

    @router.delete(grant)
    def revoke_grant(request: Request, project_id: str, user_id: str, role_id: str):
        roles.revoke_grant(caller(request), project_id, user_id, role_id)
        return no_content()

    @router.get("/v3/role_assignments")
    def list_role_assignments(request: Request):
        return json_response(roles.list_role_assignments(caller(request), request.query_params))
