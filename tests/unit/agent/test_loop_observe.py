"""When an agent pass reads the host whole, on a FakeHost with the OVS firewall. A pass woken only by the
feed starts from what the previous pass left (no dump-flows, no OVSDB or iptables listing), yet a change
still lands at once; everything others may have done is read back, and repaired, at the next whole read:
after an OVSDB event, once ``resync_seconds`` have passed, when ovs-vswitchd restarted, after a failed
pass, and on every pass while the OVSDB monitor is not running."""

from __future__ import annotations

from dataclasses import replace

from neutrino.agent.loop import Agent
from neutrino.config import AgentSettings
from neutrino.host.errors import CommandFailed
from neutrino.host.fake import FakeHost
from neutrino.model import names
from neutrino.realize.openflow import VSWITCHD_PIDFILE
from tests.unit.plan.groups import HYBRID, OVS, default_group, group, instance, rule, state_of
from tests.unit.seed import tap

RESYNC = 5.0
WEB = group("sg-web", rule("r-ssh", protocol="tcp", port_min=22, port_max=22), rule("r-out", "egress"))
VM1 = instance("vm1-port", "10.0.0.5", groups=("sg-web",))
VM2 = instance("vm2-port", "10.0.0.6", groups=("sg-default",))
STATE = state_of([VM1, VM2], [default_group(), WEB])
WEB_AND_HTTP = group("sg-web", *WEB.rules, rule("r-http", protocol="tcp", port_min=80, port_max=80))
MORE = replace(state_of([VM1, VM2], [default_group(), WEB_AND_HTTP]), revision=2)
READS = (["ovs-ofctl", "dump-flows"], ["ovs-vsctl", "--format=json"], ["iptables-save"], ["ip6tables-save"])


class Server:
    def __init__(self):
        self.statuses: dict[str, str] = {}

    def report_statuses(self, statuses: dict[str, str]) -> None:
        self.statuses.update(statuses)


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FlakyHost(FakeHost):
    """A FakeHost whose next flow bundle fails, as a busy or restarting switch makes it fail."""

    fail_next_bundle = False

    def run(self, argv, netns=None, input=None, check=True):
        if self.fail_next_bundle and argv[:2] == ["ovs-ofctl", "--bundle"]:
            self.fail_next_bundle = False
            raise CommandFailed(argv, 1, "ovs-ofctl: br-int: connection failed\n")
        return super().run(argv, netns, input, check)


def _watched_agent(host: FakeHost, config=OVS) -> tuple[Agent, Clock]:
    """An agent whose OVSDB monitor runs (it reported the rows), after a first pass that read the host."""
    agent = Agent(AgentSettings(host=config, resync_seconds=RESYNC), host, Server(), feed=None)
    agent.clock = clock = Clock()
    agent._publish(STATE)
    agent.converge()  # bridges first, as on a fresh host
    for port in (VM1, VM2):
        device = names.hybrid_ovs_veth_name(port.id) if config is HYBRID else tap(port.id)
        host.plug("br-int", device, port.id, port.mac_address)
    agent.interfaces_changed()
    wired = agent.converge()
    assert wired.read_host and wired.reports[0].changed  # the ports' tags: OVSDB changed, read it back
    settled = agent.converge()
    assert settled.read_host and not any(settled.reports)
    assert agent.server.statuses == {"vm1-port": "ACTIVE", "vm2-port": "ACTIVE"}
    return agent, clock


def _reads(host: FakeHost) -> list[list[str]]:
    return [c for c in host.commands if any(c[:len(read)] == read for read in READS)]


def _http_flows(host: FakeHost) -> list[str]:
    return [line for line in host.flow_lines("br-int") if "tp_dst=80" in line]


def test_a_feed_change_lands_without_reading_the_host_and_an_idle_pass_does_nothing():
    host = FakeHost()
    agent, _ = _watched_agent(host)
    host.commands.clear()
    agent._publish(MORE)
    changed = agent.converge()
    assert not changed.read_host and not changed.failed
    assert _reads(host) == []
    assert host.commands == [["cat", VSWITCHD_PIDFILE], ["ovs-ofctl", "--bundle", "add-flows", "br-int", "-"]]
    assert len(_http_flows(host)) == 2  # new connections and established ones
    host.commands.clear()
    idle = agent.converge()
    assert not idle.read_host and not any(idle.reports)
    assert host.commands == [["cat", VSWITCHD_PIDFILE]]


def test_flows_changed_by_others_are_put_right_at_the_next_whole_read():
    host = FakeHost()
    agent, clock = _watched_agent(host)
    before = sorted(host.flow_lines("br-int"))
    host.run(["ovs-ofctl", "--strict", "del-flows", "br-int", "table=60,priority=100,in_port=tapvm1-port"])
    host.run(["ovs-ofctl", "add-flow", "br-int", "table=0,priority=200,ip,nw_dst=10.0.0.5,actions=drop"])
    assert not agent.converge().read_host  # within resync_seconds, nothing says the switch changed...
    clock.now += RESYNC
    repaired = agent.converge()  # ...and then the whole read finds both
    assert repaired.read_host
    [restored] = repaired.reports[1].added
    assert restored.startswith("br-int table=60,priority=100,in_port=tapvm1-port actions=load:")
    assert repaired.reports[1].removed == ["br-int table=0,priority=200,ip,nw_dst=10.0.0.5 actions=drop"]
    assert sorted(host.flow_lines("br-int")) == before


def test_an_ovsdb_event_makes_the_next_pass_read_the_host():
    host = FakeHost()
    agent, _ = _watched_agent(host)
    host.run(["ovs-ofctl", "add-flow", "br-int", "table=0,priority=200,ip,nw_dst=10.0.0.5,actions=drop"])
    agent.interfaces_changed()
    event = agent.converge()
    assert event.read_host and event.reports[1].removed
    assert not agent.converge().read_host


def test_a_restarted_vswitchd_is_noticed_by_its_pid_and_gets_every_flow_back():
    host = FakeHost()
    agent, _ = _watched_agent(host)
    before = {bridge: sorted(host.flow_lines(bridge)) for bridge in ("br-int", "br-bond0", "br-ex")}
    host.restart_vswitchd()  # no OVSDB event: the ports and their numbers stay as they were
    assert host.flow_lines("br-int") == []
    agent._publish(MORE)
    restarted = agent.converge()
    assert restarted.read_host and not restarted.failed
    after = {bridge: sorted(host.flow_lines(bridge)) for bridge in before}
    assert after["br-int"] == sorted(before["br-int"] + _http_flows(host))
    assert {b: after[b] for b in ("br-bond0", "br-ex")} == {b: before[b] for b in ("br-bond0", "br-ex")}
    assert not agent.converge().read_host


def test_after_a_failed_bundle_the_next_pass_reads_the_host_and_installs_the_change():
    host = FlakyHost()
    agent, _ = _watched_agent(host)
    host.fail_next_bundle = True
    agent._publish(MORE)
    failed = agent.converge()
    assert failed.failed and _http_flows(host) == []
    retried = agent.converge()
    assert retried.read_host and not retried.failed
    assert len(_http_flows(host)) == 2


def test_while_the_monitor_is_not_running_every_pass_reads_the_host():
    host = FakeHost()
    agent, _ = _watched_agent(host)
    agent.monitor_lost()
    assert agent.converge().read_host
    assert agent.converge().read_host
    unwatched = Agent(AgentSettings(host=OVS), FakeHost(), Server(), feed=None)
    unwatched._publish(STATE)
    assert unwatched.converge().read_host and unwatched.converge().read_host


def test_with_iptables_hybrid_a_feed_change_restores_only_its_chain_without_iptables_save():
    host = FakeHost()
    agent, clock = _watched_agent(host, HYBRID)
    host.commands.clear()
    agent._publish(MORE)
    changed = agent.converge()
    assert not changed.read_host and not changed.failed
    assert _reads(host) == []
    assert [c for c in host.commands if c[0].endswith("-restore")] == [["iptables-restore", "--noflush"]]
    assert changed.reports[2].changed == ["IPv4 filter chain neutron-openvswi-ivm1-port (7 rules)"]
    assert "--dport 80" in host.run(["iptables-save"]).stdout
    host.commands.clear()
    assert not any(agent.converge().reports)  # what it remembered is what iptables-save shows
    clock.now += RESYNC
    assert not any(agent.converge().reports)
