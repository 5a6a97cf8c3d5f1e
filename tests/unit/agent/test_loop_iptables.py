"""An agent pass with firewall_driver iptables_hybrid on a FakeHost: OVSDB, flows, then iptables; the
conntrack zones come back from the host into the next plan; a kernel without br_netfilter is refused
before the agent registers."""

from __future__ import annotations

from dataclasses import replace

import pytest

from neutrino.agent.loop import Agent
from neutrino.config import AgentSettings
from neutrino.host.errors import Unsupported
from neutrino.host.fake import FakeHost
from neutrino.model import names
from tests.unit.plan.groups import HYBRID, default_group, instance, state_of

VM1 = instance("vm1-port", "10.0.0.5", groups=("sg-default",))
VM2 = instance("vm2-port", "10.0.0.6", groups=("sg-default",))
STATE = state_of([VM1, VM2], [default_group()])


class Server:
    """The agent's view of the API server: it records what it is told."""

    def __init__(self):
        self.statuses: dict[str, str] = {}
        self.heartbeats = 0

    def report_statuses(self, statuses: dict[str, str]) -> None:
        self.statuses.update(statuses)

    def heartbeat(self, configurations: dict, start_flag: bool = False, **identity) -> None:
        self.heartbeats += 1


def _agent(host: FakeHost, state=STATE) -> tuple[Agent, Server]:
    server = Server()
    agent = Agent(AgentSettings(host=HYBRID), host, server, feed=None)
    agent._publish(state)
    return agent, server


def _plugged_host() -> FakeHost:
    host = FakeHost()
    _agent(host)[0].converge()  # bridges first, as on a fresh host
    for port in (VM1, VM2):
        host.plug("br-int", names.hybrid_ovs_veth_name(port.id), port.id, port.mac_address)
    return host


def test_a_pass_applies_ovsdb_then_flows_then_iptables_and_a_second_pass_nothing():
    host = _plugged_host()
    agent, server = _agent(host)
    first = agent.converge()
    assert [r.subsystem for r in first.reports] == ["ovsdb", "openflow", "iptables"]
    assert not first.failed and all(first.reports)
    assert server.statuses == {"vm1-port": "ACTIVE", "vm2-port": "ACTIVE"}
    assert "neutron-openvswi-ivm1-port" in host.run(["iptables-save"]).stdout
    second = agent.converge()
    assert not any(second.reports), second.reports


def test_a_restarted_agent_keeps_every_ports_conntrack_zone():
    host = _plugged_host()
    assert _zones(_agent(host)[0].converge().plan) == {"vm1-port": 4097, "vm2-port": 4098}
    vm0 = instance("vm0-port", "10.0.0.4", groups=("sg-default",))  # sorts first: fresh, it would take 4097
    host.plug("br-int", names.hybrid_ovs_veth_name(vm0.id), vm0.id, vm0.mac_address)
    restarted, _ = _agent(host, state_of([vm0, VM1, VM2], [default_group()]))
    assert _zones(restarted.converge().plan) == {"vm0-port": 4099, "vm1-port": 4097, "vm2-port": 4098}


def _zones(plan) -> dict[str, int]:
    return {r.source.removeprefix("port:"): int(r.rule.rsplit(" ", 1)[1])
            for r in plan.filter_rules if r.table == "raw" and r.family == 4 and "--zone" in r.rule}


def test_without_br_netfilter_the_agent_refuses_to_start_before_registering():
    host = FakeHost()
    host.sysctls.clear()
    host.kernel_modules.clear()
    agent, server = _agent(host)
    with pytest.raises(Unsupported, match="br_netfilter"):
        agent.start()
    assert server.heartbeats == 0


def test_other_drivers_never_touch_iptables():
    host = _plugged_host()
    agent = Agent(AgentSettings(host=replace(HYBRID, firewall_driver="openvswitch")), host, Server(), feed=None)
    agent._publish(STATE)
    host.commands.clear()
    assert [r.subsystem for r in agent.converge().reports] == ["ovsdb", "openflow"]
    assert not any("iptables" in c[0] or c[0] in ("sysctl", "conntrack") for c in host.commands)
