"""deployment_findings_for: what the API state alone says is wrong, each cause by its code and object."""

from __future__ import annotations

from dataclasses import replace

from neutrino.doctor.deployment import deployment_findings_for
from neutrino.model.resources import Agent, FixedIp
from tests.unit.doctor.deployment import BEAT, DHCP_PORT, state
from tests.unit.plan.routers import QG, QR_A, QR_B, ROUTER
from tests.unit.seed import HOST, port

OTHER = "compute9"


def codes(api) -> list[str]:
    return [finding.code for finding in deployment_findings_for(api)]


def agents(host: str, alive: bool, kinds=("Open vSwitch agent", "L3 agent", "DHCP agent")) -> dict:
    return {f"{host}-{kind}": Agent(f"{host}-{kind}", host, kind, alive, BEAT) for kind in kinds}


def test_a_healthy_deployment_has_no_finding():
    assert deployment_findings_for(state()) == []


def test_a_dead_agent_is_an_error_where_ports_are_bound_and_a_warning_elsewhere():
    api = state(agents={**agents(HOST, True), **agents(OTHER, False, ("Open vSwitch agent",))})
    [finding] = deployment_findings_for(api)
    assert (finding.code, finding.severity, finding.host) == ("agent-dead", "warning", OTHER)
    assert finding.fix == f"openstack network agent delete {OTHER}-Open vSwitch agent"
    bound = state(port("far", "net-a", host=OTHER, fixed_ips=(FixedIp("sub-a", "10.0.0.40"),)),
                  agents={**agents(HOST, True), **agents(OTHER, False, ("Open vSwitch agent",))})
    assert codes(bound) == ["agent-dead", "binding-host-without-agent"]
    assert {f.severity for f in deployment_findings_for(bound)} == {"error"}


def test_ports_bound_to_a_host_no_agent_ever_reported_from_are_grouped_by_host():
    api = state(*(port(f"p{n}", "net-a", host="ghost") for n in range(5)))
    [finding] = deployment_findings_for(api)
    assert finding.code == "binding-host-without-agent" and finding.host == "ghost"
    assert finding.message.startswith("5 ports are bound to host ghost, where no Open vSwitch agent is alive (no "
                                      "agent ever reported from it")
    assert "(and 2 more)" in finding.message and len(finding.objects) == 3


def test_a_failed_binding_on_a_live_host_names_the_missing_mapping():
    api = state(port("bad", "net-a", vif_type="binding_failed"))
    [finding] = deployment_findings_for(api)
    assert finding.code == "binding-failed"
    assert "no bridge mapping for physnet 'physnet1'" in finding.message


def test_a_router_without_a_host_or_with_a_dead_l3_agent_is_named():
    api = state()
    unhosted = replace(api, ports={**api.ports, QR_A: replace(api.ports[QR_A], host_id="")})
    assert codes(unhosted) == ["router-not-hosted"]
    assert deployment_findings_for(unhosted)[0].objects[0].id == ROUTER
    dead_l3 = state(agents={**agents(HOST, True, ("Open vSwitch agent", "DHCP agent")),
                            **agents(HOST, False, ("L3 agent",))})
    assert sorted(codes(dead_l3)) == ["agent-dead", "router-agent-dead"]
    assert {QR_B, QG} <= set(api.ports)


def test_dhcp_enabled_without_a_dhcp_port_or_with_an_unbound_one():
    api = state()
    without = replace(api, ports={k: v for k, v in api.ports.items() if k != DHCP_PORT})
    [finding] = deployment_findings_for(without)
    assert finding.code == "dhcp-port-missing" and finding.objects[0].id == "net-a"
    unbound = replace(api, ports={**api.ports, DHCP_PORT: replace(api.ports[DHCP_PORT], host_id="")})
    assert codes(unbound) == ["dhcp-not-hosted"]
