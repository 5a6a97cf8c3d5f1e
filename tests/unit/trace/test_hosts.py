"""The trace's share of the plan (trace/hosts.py) is the plan's: facts derived from the API, the same port
states and local VLANs build_plan computes, and a host's configuration read back from its agent's heartbeat."""

from __future__ import annotations

from dataclasses import replace

import pytest

from neutrino.model.host_config import configurations_for, host_config_from_configurations
from neutrino.model.resources import FixedIp, Port
from neutrino.plan.build import build_plan
from neutrino.trace.hosts import Plans, facts_from_api, host_view_for
from tests.unit.seed import SEED
from tests.unit.trace.topology import APP, C1, C2, HOSTS, WEB1, WEB2, cloud, with_ports


@pytest.mark.parametrize("host", [C1, C2])
def test_the_host_view_agrees_with_build_plan(host):
    state, config = cloud(), HOSTS[host]
    facts = facts_from_api(state, config)
    plan = build_plan(state, config, facts)
    view = host_view_for(state, config, facts)
    assert view.port_states == plan.port_states
    assert view.local_vlans == plan.local_vlans
    assert tuple(view.routers.values()) == plan.routers


def test_a_hosts_view_from_its_narrowed_state_is_the_view_from_the_whole_state():
    dhcp = Port("dhcp-port", APP.id, "fa:16:3e:00:00:99", device_owner="network:dhcp", device_id="dhcp-app",
                host_id=C2, status="ACTIVE", fixed_ips=(FixedIp("sub-app", "10.0.0.2"),))
    state = with_ports(cloud(), dhcp)
    plans = Plans(state, HOSTS)
    for host in (C1, C2):
        whole = host_view_for(state, HOSTS[host], facts_from_api(state, HOSTS[host]))
        assert plans.view(host) == whole
    assert plans.view(C2).port_states["dhcp-port"].status == "ACTIVE"  # its leg, tagged on app's local VLAN
    assert "dhcp-port" in plans.view(C2).plugged


def test_active_ports_bound_here_are_plugged_under_their_drivers_device_name():
    state = with_ports(cloud(), replace(WEB2, status="DOWN"))
    assert [(p.name, p.iface_id) for p in facts_from_api(state, HOSTS[C2]).plugged] == [("tapdb1-port", "db1-port")]
    hybrid = replace(HOSTS[C1], firewall_driver="iptables_hybrid")
    # router legs are the plan's own, not facts
    assert [p.name for p in facts_from_api(state, hybrid).plugged] == ["qvoweb1-port"]


def test_a_port_firewall_is_built_once_per_port_and_none_with_noop():
    plans = Plans(cloud(), {**HOSTS, C2: replace(HOSTS[C2], firewall_driver="noop")})
    assert plans.firewall(WEB1).port_id == WEB1.id
    assert plans.firewall(WEB2) is None
    assert plans.view("nowhere") is None


def test_heartbeat_configurations_give_back_the_host_config():
    for config in (SEED, replace(SEED, external_network_bridge="br-ex", firewall_driver="iptables_hybrid")):
        reported = {**configurations_for(config), "tunnel_types": []}
        assert host_config_from_configurations(config.host, reported) == config
