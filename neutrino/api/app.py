"""Builds the HTTP application: Neutron v2.0 resources, quotas, extensions, the change feed, and
the Keystone v3 subset under /identity. Every handler reads its body, then runs the synchronous
controller in the thread pool; every NeutronError becomes Neutron's error body."""

from __future__ import annotations

import logging
import math
import uuid
from collections.abc import Callable
from urllib.parse import unquote_to_bytes

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from neutrino.api import errors, heap
from neutrino.api.controller import Controller
from neutrino.api.definition import Resource
from neutrino.api.extensions import all_extensions
from neutrino.api.host_agents import add_host_agent_routes
from neutrino.api.info import add_info_routes
from neutrino.api.resources import agents, floatingips, networks, ports, routers, security_groups, subnets
from neutrino.api.router_actions import add_router_action_routes
from neutrino.api.trace import add_trace_routes
from neutrino.config import Settings
from neutrino.feed.server import Feed, FeedGone
from neutrino.services import errors as e
from neutrino.services.context import Context
from neutrino.services.core import Services

log = logging.getLogger(__name__)


def json_response(body, status: int = 200, headers: dict | None = None) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json", headers=headers)


def resources_for(services: Services) -> list[Resource]:
    return [
        networks.resource(services.networks),
        subnets.resource(services.subnets),
        ports.resource(services.ports),
        security_groups.group_resource(services.security_groups),
        security_groups.rule_resource(services.security_group_rules),
        agents.resource(services.agents),
        routers.resource(services.routers),
        floatingips.resource(services.floating_ips),
    ]


class Authenticator:
    """Turns a request's X-Auth-Token into a Context (or everyone is admin with auth=noauth)."""

    def __init__(self, settings: Settings, identity):
        self.noauth = settings.auth == "noauth"
        self.identity = identity

    def __call__(self, request: Request) -> Context:
        if self.noauth:
            project = request.headers.get("X-Project-Id", "admin")
            return Context("admin", project, ("admin", "member", "reader"), "admin", project)
        token = request.headers.get("X-Auth-Token")
        if not token:
            raise errors.Unauthorized()
        from neutrino.services.identity import Unauthorized

        try:
            context = self.identity.context_for_token(token)
        except Unauthorized:  # bad, expired or revoked token
            raise errors.Unauthorized() from None
        if not context.project_id:
            raise errors.Unauthorized("The network API needs a project-scoped token")
        return context


def create_app(settings: Settings, services: Services | None = None) -> FastAPI:
    services = services or Services(settings)
    identity = None
    if settings.auth == "keystone":
        from neutrino.api.identity import identity_router
        from neutrino.services.identity import IdentityService

        identity = IdentityService(services.store, settings)
    app = FastAPI(title="neutrino", version="2.0", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.services = services
    app.state.settings = settings
    app.state.identity = identity
    app.state.feed = feed = Feed(services)
    authenticate = Authenticator(settings, identity)
    _install_error_handlers(app)
    if identity is not None:
        app.include_router(identity_router(identity), prefix="/identity")
    _add_version_routes(app, authenticate)
    resources = resources_for(services)
    app.state.resources = {r.collection: r for r in resources}
    for resource in resources:
        _add_resource_routes(app, resource, Controller(resource, services.store), authenticate, services)
    _add_quota_routes(app, services, authenticate)
    _add_feed_routes(app, feed, authenticate)
    add_host_agent_routes(app, services, authenticate)
    add_trace_routes(app, feed, authenticate)
    add_info_routes(app, services.store, settings, authenticate)
    add_router_action_routes(app, services, Controller(app.state.resources["routers"], services.store), authenticate)
    from neutrino.api.openapi import openapi_document

    app.add_api_route("/openapi.json", lambda: json_response(openapi_document(resources)), methods=["GET"],
                      include_in_schema=False)
    return app


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(e.NeutronError)
    async def neutron_error(request: Request, exc: e.NeutronError):
        status = 410 if isinstance(exc, FeedGone) else errors.status_for(exc)
        headers = {"WWW-Authenticate": "Keystone uri='/identity'"} if status == 401 else None
        return json_response(errors.body_for(exc), status, headers)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        error = errors.HTTPMethodNotAllowed() if exc.status_code == 405 else errors.HTTPNotFound()
        return json_response(errors.body_for(error), exc.status_code)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception):
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        body = {"NeutronError": {"type": "HTTPInternalServerError",
                                 "message": "Request Failed: internal server error while processing your request.",
                                 "detail": ""}}
        return json_response(body, 500)

    app.add_middleware(RequestEdge)


class RequestEdge:
    """Every request's first and last step: a NUL (U+0000) in the path or query is refused here
    (PostgreSQL cannot even compare text with one, so an id or filter carrying it would otherwise fail
    in the store), and every answer gets an X-Openstack-Request-Id. Plain ASGI, not @app.middleware:
    that costs a task group and a memory stream per request, a third of a small request's time."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        request_id = ("req-" + str(uuid.uuid4())).encode()

        async def send_with_id(message):
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), (b"x-openstack-request-id", request_id)]
            await send(message)

        if "\x00" in scope["path"] or b"\x00" in unquote_to_bytes(scope.get("query_string", b"")):
            error = e.HTTPBadRequest("Malformed request URL: it contains a NUL character")
            return await json_response(errors.body_for(error), 400)(scope, receive, send_with_id)
        await self.app(scope, receive, send_with_id)


def _add_version_routes(app: FastAPI, authenticate: Callable[[Request], Context]) -> None:
    """``/`` answers anyone (clients discover versions there); ``/v2.0`` and its extensions, as in
    Neutron's paste pipeline, sit behind the token check."""

    def base(request: Request) -> str:
        return str(request.base_url).rstrip("/")

    async def versions(request: Request):
        return json_response({"versions": [{"status": "CURRENT", "id": "v2.0",
                                            "links": [{"href": base(request) + "/v2.0/", "rel": "self"}]}]})

    async def v2(request: Request):
        authenticate(request)
        return json_response({"resources": [
            {"links": [{"href": base(request) + r.path, "rel": "self"}], "name": r.member,
             "collection": r.collection} for r in app.state.resources.values()]})

    async def extensions(request: Request):
        authenticate(request)
        return json_response({"extensions": all_extensions()})

    async def extension(request: Request, alias: str):
        authenticate(request)
        for item in all_extensions():
            if item["alias"] == alias:
                return json_response({"extension": item})
        raise errors.HTTPNotFound(f"Extension with alias {alias} does not exist")

    app.add_api_route("/", versions, methods=["GET"])
    app.add_api_route("/v2.0", v2, methods=["GET"])
    app.add_api_route("/v2.0/", v2, methods=["GET"])
    app.add_api_route("/v2.0/extensions", extensions, methods=["GET"])
    app.add_api_route("/v2.0/extensions/{alias}", extension, methods=["GET"])


def _add_resource_routes(app: FastAPI, resource: Resource, controller: Controller,
                         authenticate: Callable[[Request], Context], services: Services) -> None:
    path = resource.path

    async def list_(request: Request):
        context = authenticate(request)
        params = list(request.query_params.multi_items())
        base_url = str(request.base_url).rstrip("/") + path
        if resource.collection in ("security_groups", "security_group_rules"):
            await run_in_threadpool(_ensure_default_group, services, context)
        answer = await run_in_threadpool(_encoded_list, controller, context, params, base_url)
        background = BackgroundTask(heap.release_free_heap) if heap.is_large(answer) else None
        return Response(answer, media_type="application/json", background=background)

    async def create(request: Request):
        context = authenticate(request)
        raw = await request.body()
        return json_response(await run_in_threadpool(controller.create, context, raw), 201)

    async def show(request: Request, resource_id: str):
        context = authenticate(request)
        fields = tuple(f for v in request.query_params.getlist("fields") for f in v.split(",") if f)
        return json_response(await run_in_threadpool(controller.show, context, resource_id, fields))

    async def update(request: Request, resource_id: str):
        context = authenticate(request)
        raw = await request.body()
        return json_response(await run_in_threadpool(
            controller.update, context, resource_id, raw, request.headers.get("If-Match")))

    async def delete(request: Request, resource_id: str):
        context = authenticate(request)
        await run_in_threadpool(controller.delete, context, resource_id, request.headers.get("If-Match"))
        return Response(status_code=204)

    # Neutron's hyphenated path, and the wire name as an alias (/v2.0/security_groups) for callers
    # that build the path from the JSON key.
    for served in dict.fromkeys((path, f"/v2.0/{resource.collection}")):
        app.add_api_route(served, list_, methods=["GET"])
        app.add_api_route(served, create, methods=["POST"])
        app.add_api_route(served + "/{resource_id}", show, methods=["GET"])
        app.add_api_route(served + "/{resource_id}", update, methods=["PUT"])
        app.add_api_route(served + "/{resource_id}", delete, methods=["DELETE"])
        if resource.tags:
            _add_tag_routes(app, served, controller, authenticate)


def _add_tag_routes(app: FastAPI, path: str, controller: Controller, authenticate) -> None:
    async def get_tags(request: Request, resource_id: str):
        return json_response(await run_in_threadpool(controller.tags, authenticate(request), resource_id))

    async def put_tags(request: Request, resource_id: str):
        context = authenticate(request)
        raw = await request.body()
        return json_response(await run_in_threadpool(controller.replace_tags, context, resource_id, raw))

    async def post_tags(request: Request, resource_id: str):
        context = authenticate(request)
        raw = await request.body()
        return json_response(await run_in_threadpool(controller.replace_tags, context, resource_id, raw), 201)

    async def delete_tags(request: Request, resource_id: str):
        await run_in_threadpool(controller.remove_tag, authenticate(request), resource_id, None)
        return Response(status_code=204)

    async def get_tag(request: Request, resource_id: str, tag: str):
        await run_in_threadpool(controller.has_tag, authenticate(request), resource_id, tag)
        return Response(status_code=204)

    async def put_tag(request: Request, resource_id: str, tag: str):
        await run_in_threadpool(controller.add_tag, authenticate(request), resource_id, tag)
        return Response(status_code=201)

    async def delete_tag(request: Request, resource_id: str, tag: str):
        await run_in_threadpool(controller.remove_tag, authenticate(request), resource_id, tag)
        return Response(status_code=204)

    tags = path + "/{resource_id}/tags"
    app.add_api_route(tags, get_tags, methods=["GET"])
    app.add_api_route(tags, put_tags, methods=["PUT"])
    app.add_api_route(tags, post_tags, methods=["POST"])
    app.add_api_route(tags, delete_tags, methods=["DELETE"])
    app.add_api_route(tags + "/{tag}", get_tag, methods=["GET"])
    app.add_api_route(tags + "/{tag}", put_tag, methods=["PUT"])
    app.add_api_route(tags + "/{tag}", delete_tag, methods=["DELETE"])


def _encoded_list(controller: Controller, context: Context, params: list, base_url: str) -> bytes:
    """The list answer as JSON, encoded in the worker thread: the loop stays free, and the views are
    freed here, before the heap is trimmed."""
    return orjson.dumps(controller.list(context, params, base_url))


def _ensure_default_group(services: Services, context: Context) -> None:
    """Neutron creates a project's default security group on its first use."""
    project = context.project_id
    if not project:
        return
    with services.store.read() as session:
        if services.security_groups.has_default(session, project):
            return
    services.store.write(lambda tx: services.security_groups.ensure_default(tx, project))


def _add_quota_routes(app: FastAPI, services: Services, authenticate) -> None:
    from neutrino.api.quotas import QuotaController

    quotas = QuotaController(services)

    async def list_(request: Request):
        return json_response(await run_in_threadpool(quotas.list, authenticate(request)))

    async def show(request: Request, project_id: str):
        return json_response(await run_in_threadpool(quotas.show, authenticate(request), project_id))

    async def defaults(request: Request, project_id: str):
        return json_response(await run_in_threadpool(quotas.defaults, authenticate(request), project_id))

    async def details(request: Request, project_id: str):
        return json_response(await run_in_threadpool(quotas.details, authenticate(request), project_id))

    async def update(request: Request, project_id: str):
        context = authenticate(request)
        raw = await request.body()
        return json_response(await run_in_threadpool(quotas.update, context, project_id, raw))

    async def reset(request: Request, project_id: str):
        await run_in_threadpool(quotas.reset, authenticate(request), project_id)
        return Response(status_code=204)

    app.add_api_route("/v2.0/quotas", list_, methods=["GET"])
    app.add_api_route("/v2.0/quotas/{project_id}", show, methods=["GET"])
    app.add_api_route("/v2.0/quotas/{project_id}", update, methods=["PUT"])
    app.add_api_route("/v2.0/quotas/{project_id}", reset, methods=["DELETE"])
    app.add_api_route("/v2.0/quotas/{project_id}/default", defaults, methods=["GET"])
    app.add_api_route("/v2.0/quotas/{project_id}/details", details, methods=["GET"])
    app.add_api_route("/v2.0/quotas/{project_id}/details.json", details, methods=["GET"])


def _add_feed_routes(app: FastAPI, feed: Feed, authenticate) -> None:
    def require_service(request: Request) -> None:
        if not authenticate(request).is_service:
            raise e.PolicyNotAuthorized(action="the change feed is for admins and services")

    async def snapshot(request: Request):
        require_service(request)
        return json_response(await run_in_threadpool(feed.snapshot))

    async def changes(request: Request):
        require_service(request)
        since, timeout = _watch_query(request)
        revision, found = await feed.watch(since, timeout)
        return json_response({"revision": revision, "changes": [c.as_dict() for c in found]})

    app.add_api_route("/neutrino/v1/snapshot", snapshot, methods=["GET"])
    app.add_api_route("/neutrino/v1/changes", changes, methods=["GET"])


def _watch_query(request: Request) -> tuple[int, float]:
    """``since`` (a revision) and ``timeout`` (seconds, at most 60) of a watch; bad values are a 400."""
    query = request.query_params
    try:
        since, timeout = int(query.get("since", "0")), float(query.get("timeout", "0"))
    except ValueError:
        since, timeout = -1, 0.0
    if since < 0 or not math.isfinite(timeout):
        raise e.InvalidInput(error_message="since must be a revision (an integer >= 0) and timeout "
                                           "a number of seconds")
    return since, max(0.0, min(timeout, 60.0))
