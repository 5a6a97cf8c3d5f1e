"""What routers have besides CRUD: member actions and the l3_agent_scheduler extension.

    PUT    /v2.0/routers/{id}/add_router_interface     {"subnet_id": …} | {"port_id": …} -> interface info
    PUT    /v2.0/routers/{id}/remove_router_interface  {"subnet_id": …} and/or {"port_id": …}
    PUT    /v2.0/routers/{id}/add_extraroutes          {"router": {"routes": […]}} -> {"router": …}
    PUT    /v2.0/routers/{id}/remove_extraroutes       {"router": {"routes": […]}} -> {"router": …}
    GET    /v2.0/routers/{id}/l3-agents                the L3 agent hosting the router (admins)
    GET    /v2.0/agents/{id}/l3-routers                the routers an L3 agent hosts (admins)
    POST   /v2.0/agents/{id}/l3-routers                {"router_id": …}: host the router there (admins)
    DELETE /v2.0/agents/{id}/l3-routers/{router_id}    stop hosting it there (admins)
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from neutrino.api import validators as v
from neutrino.api.controller import Controller, parse_json
from neutrino.services import errors as e
from neutrino.services import l3_scheduler
from neutrino.services.context import ADMIN, Context
from neutrino.services.core import Services
from neutrino.services.router_interfaces import visible_router


class InvalidL3Agent(e.AgentNotFound):
    message = "Agent {id} is not a L3 Agent or has been disabled"


class RouterHostedByL3Agent(e.Conflict):
    message = "The router {router_id} has been already hosted by the L3 Agent {agent_id}."


class RouterNotHostedByL3Agent(e.Conflict):
    message = "The router {router_id} is not hosted by the L3 Agent {agent_id}."


def _routes_body(raw: bytes) -> list[dict]:
    data = parse_json(raw)
    router = data.get("router") if isinstance(data, dict) else None
    if not isinstance(router, dict) or "routes" not in router:
        raise e.HTTPBadRequest("Unable to find 'routes' in request body")
    try:
        return v.routes(router["routes"])
    except v.Invalid as exc:
        raise e.HTTPBadRequest(f"Invalid input for routes. Reason: {exc}.") from None


def _require_admin(context: Context, action: str) -> None:
    if not context.is_admin:
        raise e.PolicyNotAuthorized(action=action)


class RouterActions:
    def __init__(self, services: Services, routers: Controller):
        self.services = services
        self.store = services.store
        self.routers = routers

    def interface(self, context: Context, router_id: str, raw: bytes, adding: bool) -> dict:
        info = parse_json(raw)
        service = self.services.routers
        change = service.add_interface if adding else service.remove_interface
        return self.store.write(lambda tx: change(tx, context, router_id, info))

    def extra_routes(self, context: Context, router_id: str, raw: bytes, adding: bool) -> dict:
        routes = _routes_body(raw)
        self.store.write(lambda tx: self.services.routers.change_routes(tx, context, router_id, routes, adding))
        return {"router": self.routers.present(self.routers.view(context, router_id), context)}

    # --- l3_agent_scheduler ---

    def l3_agents(self, context: Context, router_id: str) -> dict:
        _require_admin(context, "get_l3-agents")
        with self.store.read() as session:
            host = self.services.routers.l3_agent_host(session, router_id)
            agents = [a.id for a in l3_scheduler.l3_agents(session) if host and a.host == host]
            return {"agents": self.services.agents.views(session, ADMIN, agents) if agents else []}

    def l3_routers(self, context: Context, agent_id: str) -> dict:
        _require_admin(context, "get_l3-routers")
        with self.store.read() as session:
            agent = self._l3_agent(session, agent_id, enabled=False)
            routers = l3_scheduler.routers_on(session, agent.host)
            views = self.services.routers.views(session, ADMIN, routers) if routers else []
        return {"routers": [self.routers.present(view, context) for view in views]}

    @staticmethod
    def _l3_agent(session, agent_id: str, enabled: bool):
        agent = l3_scheduler.agent_row(session, agent_id)
        if agent is None:
            raise e.AgentNotFound(id=agent_id)
        if agent.agent_type != l3_scheduler.L3_AGENT or (enabled and not agent.admin_state_up):
            raise InvalidL3Agent(id=agent_id)
        return agent

    def add_to_agent(self, context: Context, agent_id: str, raw: bytes) -> None:
        _require_admin(context, "create_l3-router")
        data = parse_json(raw)
        router_id = data.get("router_id") if isinstance(data, dict) else None
        if not isinstance(router_id, str):
            raise e.HTTPBadRequest("Unable to find 'router_id' in request body")

        def work(tx):
            agent = self._l3_agent(tx.session, agent_id, enabled=True)
            router = visible_router(tx.session, ADMIN, router_id, lock=True)
            if router.host == agent.host:
                return
            if router.host:
                hosting = next((a.id for a in l3_scheduler.l3_agents(tx.session) if a.host == router.host), "")
                raise RouterHostedByL3Agent(router_id=router.id, agent_id=hosting)
            l3_scheduler.move(tx, router, agent.host)

        self.store.write(work)

    def remove_from_agent(self, context: Context, agent_id: str, router_id: str) -> None:
        _require_admin(context, "delete_l3-router")

        def work(tx):
            agent = self._l3_agent(tx.session, agent_id, enabled=False)
            router = visible_router(tx.session, ADMIN, router_id, lock=True)
            if router.host != agent.host:
                raise RouterNotHostedByL3Agent(router_id=router.id, agent_id=agent.id)
            l3_scheduler.move(tx, router, "")

        self.store.write(work)


def add_router_action_routes(app: FastAPI, services: Services, routers: Controller, authenticate) -> None:
    from neutrino.api.app import json_response

    actions = RouterActions(services, routers)

    def interface(adding: bool):
        async def handler(request: Request, router_id: str):
            context = authenticate(request)
            raw = await request.body()
            return json_response(await run_in_threadpool(actions.interface, context, router_id, raw, adding))
        return handler

    def extra_routes(adding: bool):
        async def handler(request: Request, router_id: str):
            context = authenticate(request)
            raw = await request.body()
            return json_response(await run_in_threadpool(actions.extra_routes, context, router_id, raw, adding))
        return handler

    async def l3_agents(request: Request, router_id: str):
        return json_response(await run_in_threadpool(actions.l3_agents, authenticate(request), router_id))

    async def l3_routers(request: Request, agent_id: str):
        return json_response(await run_in_threadpool(actions.l3_routers, authenticate(request), agent_id))

    async def add_to_agent(request: Request, agent_id: str):
        context = authenticate(request)
        raw = await request.body()
        await run_in_threadpool(actions.add_to_agent, context, agent_id, raw)
        return json_response(None, 201)  # Neutron's plugin returns nothing: the body is JSON null

    async def remove_from_agent(request: Request, agent_id: str, router_id: str):
        await run_in_threadpool(actions.remove_from_agent, authenticate(request), agent_id, router_id)
        return Response(status_code=204)

    member = "/v2.0/routers/{router_id}"
    app.add_api_route(member + "/add_router_interface", interface(True), methods=["PUT"])
    app.add_api_route(member + "/remove_router_interface", interface(False), methods=["PUT"])
    app.add_api_route(member + "/add_extraroutes", extra_routes(True), methods=["PUT"])
    app.add_api_route(member + "/remove_extraroutes", extra_routes(False), methods=["PUT"])
    app.add_api_route(member + "/l3-agents", l3_agents, methods=["GET"])
    app.add_api_route("/v2.0/agents/{agent_id}/l3-routers", l3_routers, methods=["GET"])
    app.add_api_route("/v2.0/agents/{agent_id}/l3-routers", add_to_agent, methods=["POST"])
    app.add_api_route("/v2.0/agents/{agent_id}/l3-routers/{router_id}", remove_from_agent, methods=["DELETE"])
