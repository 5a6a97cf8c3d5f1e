"""A host of the seed as literal inputs for the doctor's tests: router r1 (tests/unit/plan/routers.py) with
its legs on net-a and net-b and its gateway on net-ext, vm1 and vm2 plugged and filtered by the OVS firewall
(group web: egress anywhere, ingress icmp from 10.0.0.0/16), net-a's DHCP server; and the host exactly as
an agent leaves it after a pass over that plan (``healthy``), for each test to spoil one thing of."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from neutrino.doctor.findings import Context
from neutrino.doctor.observation import CountedFlow, HostObservation
from neutrino.model.resources import Agent, FixedIp, SecurityGroup, SecurityGroupRule
from neutrino.model.state import ApiState
from neutrino.plan.build import build_plan
from neutrino.plan.facts import HostFacts, PluggedPort
from neutrino.plan.host_plan import HostPlan
from neutrino.plan.tables import COOKIE
from neutrino.realize.dhcp import ObservedDhcp
from neutrino.realize.iptables import observed_after as filters_after
from neutrino.realize.namespace_links import ObservedLink
from neutrino.realize.openflow import desired_flow
from neutrino.realize.ovsdb import ObservedBridge, ObservedOvs, ObservedPort
from neutrino.realize.routers import observed_after as routers_after
from tests.unit.plan import routers
from tests.unit.seed import HOST, SEED, mac_of, port, tap

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
BEAT = "2026-01-02T03:04:00Z"  # 5 s before NOW
DHCP_DIR = "/var/lib/neutrino/agent/dhcp"
DHCP_PORT = "d0000000-0004-4000-8000-00000000000d"
WEB = SecurityGroup("sg-web", "web", "demo", rules=(
    SecurityGroupRule("rule-egress", "sg-web", "egress"),
    SecurityGroupRule("rule-icmp", "sg-web", "ingress", protocol="icmp", remote_ip_prefix="10.0.0.0/16")))
OFPORTS = {"vm1-port": 7, "vm2-port": 8}


def state(*extra_ports, agents=None, statuses: dict[str, str] | None = None, networks=()) -> ApiState:
    base = routers.state(subnets=tuple(replace(s, enable_dhcp=s.id == "sub-a") for s in routers.SUBNETS))
    ports = {**base.ports, DHCP_PORT: port(DHCP_PORT, "net-a", device_owner="network:dhcp",
                                           fixed_ips=(FixedIp("sub-a", "10.0.0.2"),))}
    for vm in ("vm1-port", "vm2-port"):
        ports[vm] = replace(ports[vm], security_groups=("sg-web",), status="ACTIVE", name=vm.removesuffix("-port"))
    ports.update({p.id: p for p in extra_ports})
    for port_id, status in (statuses or {}).items():
        ports[port_id] = replace(ports[port_id], status=status)
    for port_id, value in list(ports.items()):
        if value.device_owner.startswith("network:") and port_id not in (statuses or {}):
            ports[port_id] = replace(value, status="ACTIVE")
    live = agents if agents is not None else {f"agent-{kind}": Agent(f"agent-{kind}", HOST, kind, True, BEAT)
                                              for kind in ("Open vSwitch agent", "L3 agent", "DHCP agent")}
    return replace(base, ports=ports, security_groups={WEB.id: WEB}, agents=live,
                   networks={**base.networks, **{n.id: n for n in networks}})


def facts(*more: PluggedPort) -> HostFacts:
    vms = tuple(PluggedPort(tap(p), "br-int", p, mac_of(p), OFPORTS[p]) for p in ("vm1-port", "vm2-port"))
    return HostFacts(plugged=vms + more)


def plan_of(api: ApiState, extra: tuple[PluggedPort, ...] = (), config=SEED) -> HostPlan:
    return build_plan(api, config, facts(*extra))


def context(api: ApiState, config=SEED, now=NOW) -> Context:
    return Context(api, config, now, heartbeat_seconds=10.0)


def healthy(plan: HostPlan) -> HostObservation:
    """The host as an agent's pass over ``plan`` leaves it."""
    bridges = {b.name: ObservedBridge(b.name, b.datapath_type, b.fail_mode, plan.host) for b in plan.bridges}
    ports = {p.name: ObservedPort(p.bridge, p.name, p.interfaces, p.tag, p.vlan_mode, p.trunks, p.bond_mode, p.owned,
                                  p.other_config, p.iface_external_ids) for p in plan.ports}
    flows = {b.name: [CountedFlow(desired_flow(f), COOKIE, 0) for f in plan.flows_of(b.name)] for b in plan.bridges}
    dhcp = {s.network_id: ObservedDhcp(s.network_id, True, True, {s.device: ObservedLink(s.mac, s.mtu, True, s.addresses)},
                                       s.gateway, dict(s.files), 4242, s.argv(f"{DHCP_DIR}/{s.network_id}"))
            for s in plan.dhcp}
    filters = filters_after(plan.filter_rules) if plan.filter_rules else None
    return HostObservation(ObservedOvs(bridges, ports), flows, routers_after(plan.routers), dhcp, filters, DHCP_DIR)
