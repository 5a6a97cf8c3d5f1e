"""The uplink safety check (issue 7): a NIC the host uses itself (a global address, the default route) is
not put on a physical bridge unless that bridge says ``force_uplinks = true``; the agent says which NIC,
what the host uses it for and which key forces it, and touches nothing of it."""

from __future__ import annotations

import json
from dataclasses import replace

from neutrino.agent.loop import Agent
from neutrino.config import AgentSettings
from neutrino.host.fake import FakeHost
from neutrino.model.host_config import PhysicalBridge, host_config_from_dict
from neutrino.realize.ovsdb import observe_ovs
from neutrino.realize.uplinks import NicUse, Uplink, nic_use_from, refusals
from tests.unit.agent.test_loop_observe import Server
from tests.unit.plan.groups import state_of
from tests.unit.seed import SEED_L2

BOND = Uplink("br-bond0", "bond0", ("p1p1", "p1p2"), forced=False)
USED = NicUse(addresses=(("p1p2", "192.0.2.5/24"), ("eth9", "198.51.100.7/24")),
              default_routes=(("p1p2", "default via 192.0.2.1 dev p1p2"),))


def test_a_nic_with_the_hosts_address_or_default_route_is_refused_with_what_it_carries():
    [refused] = refusals((BOND,), USED)
    assert (refused.nic, refused.uses) == ("p1p2", ("address 192.0.2.5/24", "default via 192.0.2.1 dev p1p2"))
    message = refused.message()
    assert "uplink p1p2 to bridge br-bond0" in message and "192.0.2.5/24" in message
    assert "[host.bridges.br-bond0] force_uplinks = true" in message


def test_unused_nics_and_forced_bridges_pass():
    assert refusals((BOND,), NicUse(addresses=(("eth9", "198.51.100.7/24"),))) == ()
    assert refusals((replace(BOND, forced=True),), USED) == ()


def test_only_global_addresses_and_default_routes_through_a_device_count():
    addr = json.dumps([{"ifname": "p1p1", "addr_info": [{"local": "fe80::1", "prefixlen": 64, "scope": "link"}]},
                       {"ifname": "p1p2", "addr_info": [{"local": "2001:db8::5", "prefixlen": 64,
                                                          "scope": "global"}]}])
    routes = [json.dumps([{"dst": "default", "gateway": "192.0.2.1", "dev": "eth0"}]),
              json.dumps([{"dst": "default", "type": "unreachable"},
                          {"dst": "default", "nexthops": [{"gateway": "fe80::1", "dev": "p1p1"}]}])]
    assert nic_use_from(addr, routes) == NicUse((("p1p2", "2001:db8::5/64"),), (
        ("eth0", "default via 192.0.2.1 dev eth0"), ("p1p1", "default via fe80::1 dev p1p1")))


def test_force_uplinks_is_read_from_the_bridge_table():
    config = host_config_from_dict({"bridges": {"br-phys": {"uplinks": ["eth1"], "force_uplinks": True}},
                                    "bridge_mappings": {"physnet1": "br-phys"}}, "h")
    assert config.physical_bridge("br-phys").force_uplinks
    assert not PhysicalBridge("br-phys").force_uplinks  # the default: refuse


def _agent(host: FakeHost, config=SEED_L2) -> Agent:
    agent = Agent(AgentSettings(host=config), host, Server(), feed=None)
    agent._publish(state_of([], []))
    return agent


def _bond_ports(host: FakeHost) -> list[list[str]]:
    return [c for c in host.commands if c[0] == "ovs-vsctl" and "add-bond" in c]


def test_the_agent_refuses_a_used_nic_and_builds_everything_else():
    host = FakeHost()
    host.nic_addresses = {"p1p1": ["192.0.2.5/24"]}
    host.default_routes = [("p1p1", "192.0.2.1")]
    agent = _agent(host)
    result = agent.converge()
    assert result.failed
    [error] = [e for r in result.reports for e in r.errors]
    assert "refusing to add uplink p1p1 to bridge br-bond0" in error
    assert "address 192.0.2.5/24" in error and "default via 192.0.2.1 dev p1p1" in error
    assert "force_uplinks = true" in error
    assert _bond_ports(host) == []  # the bond, and so the NIC, untouched
    assert {"br-int", "br-bond0", "br-ex"} <= set(observe_ovs(host).bridges)  # the rest is built
    assert agent.converge().failed  # refused again at each pass, until the host or the config changes


def test_the_agent_takes_over_a_used_nic_when_forced_and_an_unused_one_anyway():
    forced = replace(SEED_L2, physical_bridges=(replace(SEED_L2.physical_bridges[0], force_uplinks=True),))
    for config, addresses in ((forced, {"p1p1": ["192.0.2.5/24"]}), (SEED_L2, {"eth0": ["192.0.2.5/24"]})):
        host = FakeHost()
        host.nic_addresses = addresses
        assert not _agent(host, config).converge().failed
        assert len(_bond_ports(host)) == 1


def test_an_uplink_already_on_its_bridge_is_not_checked_again():
    host = FakeHost()
    agent = _agent(host)
    assert not agent.converge().failed
    host.nic_addresses = {"p1p1": ["192.0.2.5/24"]}  # e.g. moved there later: not ours to judge any more
    host.commands.clear()
    agent.interfaces_changed()
    assert not agent.converge().failed
    assert not [c for c in host.commands if c[:2] == ["ip", "-j"]]

