"""``neutrino doctor`` on one host: the API state from the feed snapshot (with the agent's credentials, as
the agent lists it), the plan built exactly as the agent builds it (``build_plan`` with the facts read from
this host's OVSDB, and iptables' conntrack zones with iptables_hybrid), the host observed, and every finding:
the host against the plan (findings.py) and the deployment as the API tells it (deployment.py)."""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from neutrino.agent.facts import facts_from
from neutrino.agent.server import Credentials, ServerError
from neutrino.config import AgentSettings
from neutrino.doctor.deployment import deployment_findings_for
from neutrino.doctor.findings import Context, findings_for
from neutrino.doctor.observation import HostObservation, observe_host
from neutrino.feed.client import FeedClient, FeedError, FeedUnavailable
from neutrino.host.errors import HostError
from neutrino.host.processes import Processes, RealProcesses
from neutrino.host.runner import Host
from neutrino.model.state import ApiState, state_from_resources
from neutrino.plan.build import build_plan
from neutrino.plan.host_plan import HostPlan
from neutrino.realize.iptables import ObservedFilter, observe_filter
from neutrino.realize.ovsdb import ObservedOvs, observe_ovs
from neutrino.trace.result import Finding, Hop


class DoctorError(Exception):
    """The doctor could not read what it compares (the API, or the host's OVSDB)."""


@dataclass(frozen=True)
class Examination:
    host: str
    revision: int
    findings: tuple[Finding, ...]
    seconds: float


@dataclass(frozen=True)
class Planned:
    """This host as the agent would plan it now."""

    state: ApiState
    plan: HostPlan
    ovs: ObservedOvs
    filters: ObservedFilter | None


def read_state(settings: AgentSettings) -> ApiState:
    """The API state at one revision, listed as the agent lists it."""
    try:
        with FeedClient(settings.server_url, Credentials(settings)) as feed:
            snapshot = feed.snapshot()
    except (FeedError, FeedUnavailable, ServerError) as error:
        raise DoctorError(f"cannot read the API state from {settings.server_url}: {error}") from error
    return state_from_resources(snapshot.revision, snapshot.resources)


def plan_host(host: Host, settings: AgentSettings, state: ApiState) -> Planned:
    config = settings.host
    try:
        ovs = observe_ovs(host)
        filters = observe_filter(host) if config.firewall_driver == "iptables_hybrid" else None
    except HostError as error:
        raise DoctorError(f"cannot read this host's Open vSwitch: {error}") from error
    zones = filters.conntrack_zones if filters is not None else None
    return Planned(state, build_plan(state, config, facts_from(ovs, config, zones)), ovs, filters)


def examine(host: Host, settings: AgentSettings, processes: Processes | None = None,
            now: datetime | None = None, planned: Planned | None = None) -> Examination:
    started = time.perf_counter()
    if planned is None:
        planned = plan_host(host, settings, read_state(settings))
    observed = observe(host, settings, planned, processes)
    context = Context(planned.state, settings.host, now or datetime.now(UTC), settings.heartbeat_seconds)
    found = findings_for(planned.plan, observed, context) + deployment_findings_for(planned.state)
    return Examination(settings.host.host, planned.state.revision, tuple(_distinct(found)),
                       time.perf_counter() - started)


def observe(host: Host, settings: AgentSettings, planned: Planned, processes: Processes | None = None
            ) -> HostObservation:
    try:
        return observe_host(host, processes or RealProcesses(), settings.dhcp_directory, planned.plan, planned.ovs,
                            planned.filters)
    except HostError as error:
        raise DoctorError(f"cannot read this host: {error}") from error


def _distinct(findings: list[Finding]) -> list[Finding]:
    """Each finding once: the host's own agents are both this host's and the deployment's. Findings on one
    element about different objects (no bridge mapping for two networks) are distinct."""
    seen, out = set(), []
    for finding in findings:
        key = (finding.code, finding.host, finding.element, tuple((ref.type, ref.id) for ref in finding.objects))
        if key not in seen:
            seen.add(key)
            out.append(finding)
    return out


def related_to(findings: tuple[Finding, ...] | list[Finding], hop: Hop) -> list[Finding]:
    """The findings about a hop's element: the bridge, namespace or device it names, or the object behind it."""
    identifier = hop.source.partition(":")[2] or hop.source
    return [f for f in findings if (hop.name and hop.name in f.element.split())
            or (identifier and any(ref.id == identifier for ref in f.objects))]


def with_config_path(findings, path: str) -> tuple[Finding, ...]:
    """The fixes with the agent's configuration file named."""
    return tuple(replace(f, fix=f.fix.replace("<agent.toml>", path)) for f in findings)
