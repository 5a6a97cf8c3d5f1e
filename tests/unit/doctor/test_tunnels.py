"""findings_for on a tunnelling host: its tunnel ports against the plan, and its underlay (OVS's route to each
remote endpoint, the MTUs) as the doctor observed it; each spoilt thing is named by exactly its code.

compute1 (198.51.100.1, endpoint on br-bond0) tunnels VXLAN and GRE to compute2 (.2); net-v is VXLAN 1000 with
MTU 1450, vm1 on compute1 and vm2 on compute2; the underlay (br-bond0) has MTU 1500.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from neutrino.doctor.findings import findings_for
from neutrino.doctor.tunnels import TunnelObservation, route_device
from neutrino.model.host_config import host_config_from_dict
from neutrino.model.resources import Agent, Network
from neutrino.model.state import ApiState
from neutrino.plan.build import build_plan
from neutrino.trace.result import ObjectRef
from tests.unit.doctor.deployment import context, healthy
from tests.unit.seed import HOST, facts, plugged, port, tap

C2 = "compute2"
CONFIG = host_config_from_dict({
    "name": HOST, "bridge_mappings": {"physnet1": "br-bond0"}, "firewall_driver": "noop",
    "tunnel_types": ["vxlan", "gre"], "tunnel_ip": "198.51.100.1/24", "tunnel_ip_bridge": "br-bond0",
}, HOST)
AGENTS = (Agent("agent-1", HOST, "Open vSwitch agent", True, tunneling_ip="198.51.100.1", tunnel_types=("vxlan", "gre")),
          Agent("agent-2", C2, "Open vSwitch agent", True, tunneling_ip="198.51.100.2", tunnel_types=("vxlan", "gre")))
V = Network("net-v", name="v", network_type="vxlan", segmentation_id=1000, mtu=1450)
API = ApiState(revision=1, networks={V.id: V}, ports={p.id: p for p in (port("vm1", V.id, status="ACTIVE"),
                                                                         port("vm2", V.id, host=C2))},
               agents={a.id: a for a in AGENTS})
PLAN = build_plan(API, CONFIG, facts(plugged("vm1")))
VXLAN, GRE = "vxlan-c6336402", "gre-c6336402"
UNDERLAY = TunnelObservation({"198.51.100.2": "br-bond0"}, {"br-bond0": 1500, tap("vm1"): 1450})
TUNNEL_CODES = ("tunnel-port-missing", "tunnel-endpoint-unreachable", "tunnel-mtu-too-small", "port-mtu-above-network",
                "port-missing")


def examine(observed=UNDERLAY, without_ports=()):
    host = healthy(PLAN)
    ports = {name: value for name, value in host.ovs.ports.items() if name not in without_ports}
    host = replace(host, ovs=replace(host.ovs, ports=ports), tunnels=observed)
    return [f for f in findings_for(PLAN, host, context(API, CONFIG)) if f.code in TUNNEL_CODES]


def test_the_plan_has_both_tunnels_to_compute2_and_the_host_as_planned_has_no_tunnel_finding():
    assert [t.name for t in PLAN.tunnels] == [GRE, VXLAN]
    assert examine() == []
    assert examine(observed=None) == []  # not observed (e.g. no tunnels read): only the ports are compared


def test_a_tunnel_port_missing_from_br_tun_is_named_once_with_its_endpoints_and_agent():
    [finding] = examine(without_ports=(VXLAN,))
    assert finding.code == "tunnel-port-missing"
    assert finding.severity == "error"
    assert finding.element == f"port {VXLAN} on br-tun"
    assert finding.message == (f"tunnel port {VXLAN} is not on br-tun: host {HOST} cannot send vxlan to host "
                               "compute2 (198.51.100.1 -> 198.51.100.2), nor take it from there")
    assert (finding.planned, finding.found) == ("vxlan tunnel 198.51.100.1 -> 198.51.100.2", "no such port")
    assert finding.objects == (ObjectRef("agent", "agent-2", "Open vSwitch agent on compute2"),)
    assert finding.fix == "neutrino agent --config <agent.toml>"
    assert [f.code for f in examine(observed=None, without_ports=(VXLAN, GRE))] == ["tunnel-port-missing"] * 2


def test_an_endpoint_without_a_route_in_ovs_is_unreachable_in_the_underlay():
    [finding] = examine(replace(UNDERLAY, routes={"198.51.100.2": None}))
    assert finding.code == "tunnel-endpoint-unreachable"
    assert finding.message == ("the tunnel endpoint 198.51.100.2 of host compute2 is unreachable in the underlay: "
                               f"Open vSwitch has no route to it, so {GRE}, {VXLAN} send nothing")
    assert finding.planned == "a route to 198.51.100.2 from 198.51.100.1 (on br-bond0)"
    assert finding.found == "ovs/route/lookup: no route"
    assert finding.fix == "neutrino agent --config <agent.toml>"  # the agent puts tunnel_ip on br-bond0


@pytest.mark.parametrize("mtu, found", [(1500, []), (1499, ["tunnel-mtu-too-small"]), (9000, [])])
def test_an_underlay_mtu_below_the_networks_plus_the_vxlan_overhead_cannot_carry_full_size_frames(mtu, found):
    findings = examine(replace(UNDERLAY, mtus={**UNDERLAY.mtus, "br-bond0": mtu}))
    assert [f.code for f in findings] == found
    if findings:
        assert findings[0].message == ("network v has MTU 1450: its full-size frames are 1500 bytes as VXLAN, above "
                                       "the MTU 1499 of br-bond0 where its tunnels leave: they are dropped (DF)")
        assert findings[0].fix == "ip link set dev br-bond0 mtu 1500 (and its uplinks), or openstack network set " \
                                  "--mtu 1449 v"
        assert findings[0].objects == (ObjectRef("network", "net-v", "v"),)


def test_an_instance_port_with_a_larger_mtu_than_its_tunnelled_network_is_named():
    [finding] = examine(replace(UNDERLAY, mtus={**UNDERLAY.mtus, tap("vm1"): 1500}))
    assert finding.code == "port-mtu-above-network"
    assert finding.severity == "warning"
    assert (finding.element, finding.planned, finding.found) == (f"device {tap('vm1')}", "MTU <= 1450", "MTU 1500")
    assert finding.fix == f"ip link set dev {tap('vm1')} mtu 1450"


@pytest.mark.parametrize("output, device", [
    ("src 198.51.100.1\ngateway ::\ndev br-bond0\n", "br-bond0"),
    ("Not found\n", None),
    ("", None),
])
def test_ovs_route_lookup_output_names_the_device(output, device):
    assert route_device(output) == device
