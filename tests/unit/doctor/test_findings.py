"""findings_for: the host as the agent leaves it has no finding; each thing spoilt on it (or in the API) is
named by exactly its code, with the object, the element, planned against found, and a fix."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from neutrino.doctor.findings import findings_for
from neutrino.doctor.observation import CountedFlow
from neutrino.model.resources import Agent, FixedIp, Network
from neutrino.plan.facts import PluggedPort
from neutrino.plan.tables import COOKIE, DEAD_VLAN
from neutrino.realize.openflow import InstalledFlow
from neutrino.realize.ovsdb import ObservedOvs
from tests.unit.doctor.deployment import (
    BEAT,
    DHCP_DIR,
    NOW,
    context,
    healthy,
    plan_of,
    state,
)
from tests.unit.plan.routers import NS, QR_A
from tests.unit.seed import HOST, SEED, mac_of, port, tap

API = state()
PLAN = plan_of(API)
HEALTHY = healthy(PLAN)
QR = "qr-" + QR_A[:11]


def codes(findings) -> list[str]:
    return [finding.code for finding in findings]


def spoilt(**parts):
    return replace(HEALTHY, **parts)


def ovs_ports(name: str, **changes) -> ObservedOvs:
    ports = dict(HEALTHY.ovs.ports)
    if changes:
        ports[name] = replace(ports[name], **changes)
    else:
        del ports[name]
    return ObservedOvs(HEALTHY.ovs.bridges, ports)


def flows_of(bridge: str, change) -> dict:
    return {**HEALTHY.flows, bridge: change(list(HEALTHY.flows[bridge]))}


def router(**changes) -> dict:
    return {**HEALTHY.routers, NS: replace(HEALTHY.routers[NS], **changes)}


def router_leg(**changes) -> dict:
    links = dict(HEALTHY.routers[NS].links)
    links[QR] = replace(links[QR], **changes)
    return router(links=links)


def dhcp(**changes) -> dict:
    return {**HEALTHY.dhcp, "net-a": replace(HEALTHY.dhcp["net-a"], **changes)}


FOREIGN = CountedFlow(InstalledFlow(0, 50, frozenset({"ip"}), "drop"), cookie=0, packets=9)
OURS_EXTRA = CountedFlow(InstalledFlow(0, 50, frozenset({"ip"}), "drop"), cookie=COOKIE, packets=0)

HOST_CASES = {  # name: (observation, the one code it must yield)
    "bridge-missing": (spoilt(ovs=ObservedOvs({k: v for k, v in HEALTHY.ovs.bridges.items() if k != "br-ex"},
                                              HEALTHY.ovs.ports), flows={**HEALTHY.flows, "br-ex": None}),
                       "bridge-missing"),
    "port-missing": (spoilt(ovs=ovs_ports("patch-ex")), "port-missing"),
    "port-tag-differs": (spoilt(ovs=ovs_ports(tap("vm1-port"), tag=DEAD_VLAN)), "port-tag-differs"),
    "flows-missing": (spoilt(flows=flows_of("br-int", lambda flows: flows[1:])), "flows-missing"),
    "flows-differ": (spoilt(flows=flows_of("br-int", lambda flows: [replace(flows[0], flow=replace(
        flows[0].flow, actions="NORMAL"))] + flows[1:])), "flows-differ"),
    "flows-extra": (spoilt(flows=flows_of("br-bond0", lambda flows: flows + [OURS_EXTRA])), "flows-extra"),
    "flows-foreign": (spoilt(flows=flows_of("br-bond0", lambda flows: flows + [FOREIGN])), "flows-foreign"),
    "flows-unreadable": (spoilt(flows={**HEALTHY.flows, "br-int": None}), "flows-unreadable"),
    "router-namespace-missing": (spoilt(routers={}), "router-namespace-missing"),
    "router-leg-missing": (spoilt(routers=router(links={k: v for k, v in HEALTHY.routers[NS].links.items()
                                                        if k != QR})), "router-leg-missing"),
    "router-leg-address-missing": (spoilt(routers=router_leg(addresses=())), "router-leg-address-missing"),
    "router-leg-down": (spoilt(routers=router_leg(up=False)), "router-leg-down"),
    "router-route-missing": (spoilt(routers=router(routes=frozenset())), "router-route-missing"),
    "router-nat-differs": (spoilt(routers=router(nat_table=None)), "router-nat-differs"),
    "router-namespace-stale": (spoilt(routers={**HEALTHY.routers, "qrouter-" + "9" * 8 + "-0000-4000-8000-" + "0" * 12:
                                               replace(HEALTHY.routers[NS], namespace="qrouter-stale")}),
                               "router-namespace-stale"),
    "dhcp-namespace-missing": (spoilt(dhcp=dhcp(namespace=False)), "dhcp-namespace-missing"),
    "dhcp-leg-missing": (spoilt(dhcp=dhcp(devices={})), "dhcp-leg-missing"),
    "dhcp-leg-address-missing": (spoilt(dhcp=dhcp(devices={d: replace(leg, addresses=()) for d, leg in
                                                           HEALTHY.dhcp["net-a"].devices.items()})),
                                 "dhcp-leg-address-missing"),
    "dhcp-leg-down": (spoilt(dhcp=dhcp(devices={d: replace(leg, up=False) for d, leg in
                                                HEALTHY.dhcp["net-a"].devices.items()})), "dhcp-leg-down"),
    "dnsmasq-not-running": (spoilt(dhcp=dhcp(command_line=None)), "dnsmasq-not-running"),
    "dnsmasq-command-line-differs": (spoilt(dhcp=dhcp(command_line=HEALTHY.dhcp["net-a"].command_line[:-1])),
                                     "dnsmasq-command-line-differs"),
    "dhcp-files-stale": (spoilt(dhcp=dhcp(files={**HEALTHY.dhcp["net-a"].files, "host": ""})), "dhcp-files-stale"),
    "dhcp-server-stale": (spoilt(dhcp={**HEALTHY.dhcp, "net-old": replace(HEALTHY.dhcp["net-a"], network_id="net-old")}),
                          "dhcp-server-stale"),
}


def test_the_host_as_the_agent_leaves_it_has_no_finding():
    assert findings_for(PLAN, HEALTHY) == []
    assert findings_for(PLAN, HEALTHY, context(API)) == []


@pytest.mark.parametrize("name", HOST_CASES)
def test_each_difference_on_the_host_is_named_by_its_code(name):
    observed, code = HOST_CASES[name]
    found = findings_for(PLAN, observed, context(API))
    assert codes(found) == [code]
    finding = found[0]
    assert finding.host == HOST and finding.element and finding.message
    assert finding.severity in ("error", "warning")


def test_a_port_on_the_dead_vlan_says_so_and_how_to_put_it_back():
    [finding] = findings_for(PLAN, HOST_CASES["port-tag-differs"][0], context(API))
    assert finding.message.startswith(f"port {tap('vm1-port')} is on the dead VLAN 4095, but the plan puts it on VLAN")
    assert (finding.planned, finding.found) == (f"tag {PLAN.local_vlans['net-a']} (network net-a is local VLAN "
                                                f"{PLAN.local_vlans['net-a']} here)", "tag 4095")
    assert finding.fix == f"ovs-vsctl set Port {tap('vm1-port')} tag={PLAN.local_vlans['net-a']}"
    assert [ref.id for ref in finding.objects] == ["vm1-port"]


def test_missing_flows_are_counted_with_examples_and_the_objects_behind_them():
    def without_rule(flows):
        return [f for f in flows if "nw_src=10.0.0.0/16" not in ",".join(sorted(f.flow.match))]

    [finding] = findings_for(PLAN, spoilt(flows=flows_of("br-int", without_rule)), context(API))
    assert finding.code == "flows-missing" and finding.element == "bridge br-int"
    assert finding.message.startswith("4 of the ")  # new and established, for each of vm1 and vm2
    assert "table=82" in finding.message
    assert {ref.type for ref in finding.objects} == {"security_group_rule"}
    assert finding.objects[0].id == "rule-icmp" and "web" in finding.objects[0].name


def test_a_killed_dnsmasq_and_a_router_leg_without_its_address_are_errors_with_their_objects():
    [dead] = findings_for(PLAN, HOST_CASES["dnsmasq-not-running"][0], context(API))
    assert dead.severity == "error" and dead.found == "pid 4242 runs nothing"
    assert [ref.id for ref in dead.objects] == ["net-a", "d0000000-0004-4000-8000-00000000000d"]
    [leg] = findings_for(PLAN, HOST_CASES["router-leg-address-missing"][0], context(API))
    assert leg.message == f"{QR} in {NS} lacks 10.0.0.1/24"
    assert leg.element == f"namespace {NS} leg {QR}" and leg.found == "addresses none"


def test_a_plugged_port_of_no_api_port_is_parked_and_its_port_removed_by_the_fix():
    stray = PluggedPort("tapstray", "br-int", "no-such-port", mac_of("x"), 9)
    plan = plan_of(API, (stray,))
    [finding] = findings_for(plan, healthy(plan), context(API))
    assert finding.code == "port-on-dead-vlan" and finding.found.startswith("tag 4095")
    assert finding.fix == "ovs-vsctl del-port br-int tapstray"


def test_a_port_bound_here_but_not_plugged_is_told_to_be_plugged():
    api = state(port("vm3-port", "net-a", fixed_ips=(FixedIp("sub-a", "10.0.0.9"),), name="vm3"))
    plan = plan_of(api)
    [finding] = findings_for(plan, healthy(plan), context(api))
    assert finding.code == "port-not-plugged"
    assert finding.fix == "neutrino plug --config <agent.toml> vm3"


def test_a_physnet_without_a_bridge_mapping_is_named_once_for_its_network():
    other = Network("net-far", name="far", network_type="vlan", physical_network="physnet9", segmentation_id=300)
    far = port("far-port", "net-far", status="DOWN")
    plugged = PluggedPort(tap("far-port"), "br-int", "far-port", mac_of("far-port"), 11)
    api = state(far, networks=(other,))
    plan = plan_of(api, (plugged,))
    assert codes(findings_for(plan, healthy(plan))) == ["port-on-dead-vlan"]  # without the API: just parked
    [finding] = findings_for(plan, healthy(plan), context(api))
    assert finding.code == "no-bridge-mapping"
    assert "physnet 'physnet9'" in finding.message and "physnet9" in finding.fix
    assert {ref.id for ref in finding.objects} == {"net-far", "far-port"}


def test_iptables_rules_that_differ_from_the_hybrid_plan_are_named():
    hybrid = replace(SEED, firewall_driver="iptables_hybrid")
    plan = plan_of(API, config=hybrid)
    observed = healthy(plan)
    assert findings_for(plan, observed) == []
    chains = observed.filters.chains
    broken = replace(observed, filters=replace(observed.filters, chains=chains[1:]))
    assert codes(findings_for(plan, broken)) == ["iptables-rules-differ"]


@pytest.mark.parametrize("agents, code", [
    ({}, "agent-missing"),
    ({"a": Agent("a", HOST, "Open vSwitch agent", False, "2026-01-02T03:00:00Z")}, "agent-dead"),
    ({"a": Agent("a", HOST, "Open vSwitch agent", True, "2026-01-02T03:03:00Z")}, "agent-heartbeat-stale"),
])
def test_the_hosts_agents_are_checked_alive_and_recent(agents, code):
    others = {f"b-{kind}": Agent(f"b-{kind}", HOST, kind, True, BEAT) for kind in ("L3 agent", "DHCP agent")}
    api = state(agents={**others, **agents})
    assert codes(findings_for(PLAN, HEALTHY, context(api))) == [code]


def test_a_heartbeat_within_three_intervals_is_not_stale():
    assert findings_for(PLAN, HEALTHY, context(API, now=NOW + timedelta(seconds=20))) == []
    assert codes(findings_for(PLAN, HEALTHY, context(API, now=NOW + timedelta(seconds=40)))) == \
        ["agent-heartbeat-stale"] * 3


def test_a_port_status_the_api_holds_but_the_host_does_not_is_stale():
    api = state(statuses={"vm2-port": "DOWN"})
    [finding] = findings_for(PLAN, HEALTHY, context(api))
    assert finding.code == "port-status-stale" and finding.severity == "warning"
    assert (finding.planned, finding.found) == ("status ACTIVE", "API status DOWN")


def test_fixes_name_the_agent_configuration_as_a_placeholder():
    [finding] = findings_for(PLAN, HOST_CASES["router-nat-differs"][0], context(API))
    assert finding.fix == "neutrino agent --config <agent.toml>"
    assert finding.message.startswith("router r1 has no NAT table in its namespace")
    assert DHCP_DIR  # the healthy host's dnsmasq runs with its files there
