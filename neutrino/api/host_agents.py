"""What host agents call besides the feed (service or admin tokens only):

    POST /neutrino/v1/agents/heartbeat            {"agent": {host, agent_type, binary, configurations, start_flag}}
    PUT  /neutrino/v1/hosts/{host}/ports/status   {"ports": {port_id: "ACTIVE" | "DOWN" | "BUILD"}}
    PUT  /neutrino/v1/hosts/{host}/floatingips/status
                                                  {"floatingips": {floatingip_id: "ACTIVE" | "DOWN" | "ERROR"}}

Both status calls answer {"ignored": [ids]}: those the host may not set (unknown, or not bound to it;
a floating IP is the host's when the router it goes through is hosted there).

A heartbeat registers the agent (``openstack network agent list`` shows it) and, when the agent is
new, back, or reconfigured, binds again the ports whose binding:host_id is its host.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from starlette.concurrency import run_in_threadpool

from neutrino.api import validators as v
from neutrino.api.controller import parse_json
from neutrino.services import errors as e
from neutrino.services.context import ADMIN
from neutrino.services.core import Services

STATUSES = ("ACTIVE", "DOWN", "BUILD")
FLOATING_IP_STATUSES = ("ACTIVE", "DOWN", "ERROR")


def _heartbeat_body(raw: bytes) -> dict:
    data = parse_json(raw)
    agent = data.get("agent") if isinstance(data, dict) else None
    if not isinstance(agent, dict):
        raise e.HTTPBadRequest("Unable to find 'agent' in request body")
    try:
        return {
            "host": v.string(255)(agent["host"]),
            "agent_type": v.string(255)(agent.get("agent_type", "Open vSwitch agent")),
            "binary": v.string(255)(agent.get("binary", "neutrino-agent")),
            "configurations": v.dict_or_empty(agent.get("configurations", {})),
            "start_flag": v.boolean(agent.get("start_flag", False)),
        }
    except KeyError:
        raise e.HTTPBadRequest("Failed to parse request. Required attribute 'host' not specified") from None
    except v.Invalid as exc:
        raise e.HTTPBadRequest(f"Invalid heartbeat: {exc}") from None


def _statuses_body(raw: bytes, key: str = "ports", allowed: tuple[str, ...] = STATUSES) -> dict[str, str]:
    data = parse_json(raw)
    statuses = data.get(key) if isinstance(data, dict) else None
    if not isinstance(statuses, dict) or not all(s in allowed for s in statuses.values()):
        raise e.HTTPBadRequest(f"Expected {{\"{key}\": {{id: one of {list(allowed)}}}}}")
    return statuses


def add_host_agent_routes(app: FastAPI, services: Services, authenticate) -> None:
    from neutrino.api.app import json_response

    def require_service(request: Request) -> None:
        if not authenticate(request).is_service:
            raise e.PolicyNotAuthorized(action="agent calls are for admins and services")

    def heartbeat(attrs: dict) -> dict:
        agent_id = services.store.write(lambda tx: services.agents.heartbeat(tx, **attrs))
        with services.store.read() as session:
            return {"agent": services.agents.views(session, ADMIN, [agent_id])[0]}

    async def post_heartbeat(request: Request):
        require_service(request)
        attrs = _heartbeat_body(await request.body())
        return json_response(await run_in_threadpool(heartbeat, attrs))

    async def put_statuses(request: Request, host: str):
        require_service(request)
        statuses = _statuses_body(await request.body())
        ignored = await run_in_threadpool(
            services.store.write, lambda tx: services.ports.set_statuses(tx, host, statuses))
        return json_response({"ignored": ignored})

    async def put_floating_ip_statuses(request: Request, host: str):
        require_service(request)
        statuses = _statuses_body(await request.body(), "floatingips", FLOATING_IP_STATUSES)
        ignored = await run_in_threadpool(
            services.store.write, lambda tx: services.floating_ips.set_statuses(tx, host, statuses))
        return json_response({"ignored": ignored})

    app.add_api_route("/neutrino/v1/agents/heartbeat", post_heartbeat, methods=["POST"])
    app.add_api_route("/neutrino/v1/hosts/{host}/ports/status", put_statuses, methods=["PUT"])
    app.add_api_route("/neutrino/v1/hosts/{host}/floatingips/status", put_floating_ip_statuses, methods=["PUT"])
