"""POST /neutrino/v1/trace: why can (or can't) A reach B, answered by the server over its current state.

    {"trace": {"source": "web1", "destination": "203.0.113.10", "protocol": "icmp", "port": null,
               "source_ip": null}}
    -> 200 {"trace": <schema neutrino.trace/1: probe, packet, verdict, hops, reply, findings>}

Admins and services only: a trace reads every project's ports, groups and hosts. (A project-scoped trace,
for the owner of the source port, would have to hide what lies beyond the project: not done yet.)
An endpoint the state does not hold is a 404 TraceEndpointNotFound, one that names several a 409
TraceEndpointAmbiguous (with the candidates), a probe that makes no sense a 400 TraceProbeInvalid.

This module stays thin: the state is the feed's snapshot (every kind at one revision, agents' liveness as
of now), each host's HostConfig the configurations its "Open vSwitch agent" last reported, and the rest is
neutrino.trace's (the one import of the plan from the API side, named in pyproject.toml's contracts).
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from starlette.concurrency import run_in_threadpool

from neutrino.api.controller import parse_json
from neutrino.feed.server import Feed
from neutrino.model.host_config import HostConfig, HostConfigError, host_config_from_configurations
from neutrino.model.state import state_from_resources
from neutrino.services import errors as e
from neutrino.trace.errors import EndpointAmbiguous, EndpointNotFound, ProbeInvalid
from neutrino.trace.render import trace_json
from neutrino.trace.resolve import resolve_probe
from neutrino.trace.walk import trace

log = logging.getLogger(__name__)

OVS_AGENT = "Open vSwitch agent"


class TraceEndpointNotFound(e.NotFound):
    pass


class TraceEndpointAmbiguous(e.Conflict):
    pass


class TraceProbeInvalid(e.BadRequest):
    pass


def add_trace_routes(app: FastAPI, feed: Feed, authenticate) -> None:
    from neutrino.api.app import json_response

    async def post_trace(request: Request):
        if not authenticate(request).is_service:
            raise e.PolicyNotAuthorized(action="trace is for admins and services")
        asked = _trace_body(await request.body())
        return json_response(await run_in_threadpool(traced, feed, asked))

    app.add_api_route("/neutrino/v1/trace", post_trace, methods=["POST"])


def traced(feed: Feed, asked: dict) -> dict:
    snapshot = feed.snapshot()
    resources = {kind: {view["id"]: view for view in views} for kind, views in snapshot["resources"].items()}
    state = state_from_resources(snapshot["revision"], resources)
    try:
        probe = resolve_probe(state, **asked)
    except EndpointNotFound as error:
        raise TraceEndpointNotFound(str(error)) from None
    except EndpointAmbiguous as error:
        raise TraceEndpointAmbiguous(f"{error}: {'; '.join(error.candidates)}") from None
    except ProbeInvalid as error:
        raise TraceProbeInvalid(str(error)) from None
    return {"trace": trace_json(trace(state, hosts_from_agents(resources.get("agent", {}).values()), probe))}


def hosts_from_agents(agents) -> dict[str, HostConfig]:
    """Each host's HostConfig, from the configurations its Open vSwitch agent reported (an agent whose report
    cannot be read is left out: the trace then says the host has no live agent)."""
    hosts = {}
    for agent in agents:
        if agent.get("agent_type") != OVS_AGENT:
            continue
        try:
            hosts[agent["host"]] = host_config_from_configurations(agent["host"], agent.get("configurations") or {})
        except (HostConfigError, TypeError, ValueError) as error:
            log.warning("agent %s on %s reported configurations the trace cannot read: %s", agent.get("id"),
                        agent["host"], error)
    return hosts


def _trace_body(raw: bytes) -> dict:
    data = parse_json(raw)
    asked = data.get("trace") if isinstance(data, dict) else None
    if not isinstance(asked, dict):
        raise e.HTTPBadRequest("Unable to find 'trace' in request body")
    unknown = set(asked) - {"source", "destination", "protocol", "port", "source_ip"}
    if unknown:
        raise e.HTTPBadRequest(f"Unrecognized attribute(s) '{', '.join(sorted(unknown))}'")
    for name in ("source", "destination"):
        if not isinstance(asked.get(name), str) or not asked[name].strip() or len(asked[name]) > 255:
            raise e.HTTPBadRequest(f"'{name}' must be a port, instance, or IP address (a string)")
    port = asked.get("port")
    if port is not None and (isinstance(port, bool) or not isinstance(port, int)):
        raise e.HTTPBadRequest("'port' must be an integer or null")
    for name in ("protocol", "source_ip"):
        if asked.get(name) is not None and not isinstance(asked[name], str):
            raise e.HTTPBadRequest(f"'{name}' must be a string")
    return {"source": asked["source"], "destination": asked["destination"],
            "protocol": asked.get("protocol") or "icmp", "port": port, "source_ip": asked.get("source_ip")}
