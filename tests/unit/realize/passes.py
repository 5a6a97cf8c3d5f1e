"""One agent pass over a host, as the agent makes it: observe, facts, plan, then each realizer."""

from __future__ import annotations

from neutrino.agent.facts import facts_from
from neutrino.host.runner import Host
from neutrino.model.host_config import HostConfig
from neutrino.model.state import ApiState
from neutrino.plan.build import build_plan
from neutrino.plan.host_plan import HostPlan
from neutrino.realize.diff import Report
from neutrino.realize.openflow import apply_flows
from neutrino.realize.ovsdb import apply_ovsdb, observe_ovs
from tests.unit.seed import SEED


def plan_on(host: Host, state: ApiState, config: HostConfig = SEED) -> HostPlan:
    return build_plan(state, config, facts_from(observe_ovs(host), config))


def one_pass(host: Host, state: ApiState, config: HostConfig = SEED) -> tuple[Report, Report]:
    """(OVSDB report, OpenFlow report) of one whole pass."""
    plan = plan_on(host, state, config)
    return apply_ovsdb(host, plan), apply_flows(host, plan)
