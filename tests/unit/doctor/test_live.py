"""Where ``trace --live`` probes from: an instance ``neutrino plug`` recorded for the source port, a router's or
DHCP port's namespace; and, honestly, why it cannot probe (an outside source, a port bound elsewhere or never
plugged by neutrino, a source address the port does not hold)."""

from __future__ import annotations

from dataclasses import replace

from neutrino.agent.cleanup import record_instance
from neutrino.config import AgentSettings
from neutrino.doctor.live import read_forward_counters, source_namespace
from neutrino.host.runner import Result
from neutrino.trace.resolve import resolve_probe
from neutrino.trace.walk import trace
from tests.unit.doctor.deployment import facts, state
from tests.unit.plan.routers import NS, QR_A
from tests.unit.seed import HOST, SEED

API = state()


class Namespaces:
    """A host with these network namespaces (and iptables-save printing ``saved``)."""

    def __init__(self, *names: str, saved: str = ""):
        self.names, self.saved = names, saved

    def run(self, argv, netns=None, input=None, check=True) -> Result:
        if argv == ["ip", "netns", "list"]:
            return Result(0, "".join(f"{name}\n" for name in self.names), "")
        if argv[0] == "iptables-save":
            return Result(0, self.saved, "")
        raise AssertionError(f"not expected: {argv}")


def model(source: str, destination: str = "10.0.1.7", source_ip: str | None = None):
    probe = resolve_probe(API, source, destination, source_ip=source_ip)
    return trace(API, {HOST: SEED}, probe, facts={HOST: facts()})


def settings(tmp_path, host: str = HOST) -> AgentSettings:
    return AgentSettings(host=replace(SEED, host=host), state_dir=tmp_path)


def test_an_instance_plugged_by_neutrino_is_probed_from_its_namespace(tmp_path):
    record_instance(tmp_path, "vm1", "vm1-port", "br-int")
    assert source_namespace(Namespaces("vm1"), settings(tmp_path), API, model("vm1")) == ("vm1", "")
    assert source_namespace(Namespaces(), settings(tmp_path), API, model("vm1")) == \
        (None, "the namespace vm1 of port vm1 is not on this host")


def test_a_router_port_is_probed_from_the_routers_namespace(tmp_path):
    assert source_namespace(Namespaces(NS), settings(tmp_path), API, model(QR_A)) == (NS, "")


def test_sources_that_cannot_be_probed_from_here_say_why(tmp_path):
    elsewhere = settings(tmp_path, "compute7")
    assert source_namespace(Namespaces(), elsewhere, API, model("vm1"))[1] == \
        "port vm1 is bound to host compute1, not this one (compute7): run trace --live there"
    assert source_namespace(Namespaces(), settings(tmp_path), API, model("vm1"))[1] == \
        "port vm1 is bound here, but no instance was plugged into it by `neutrino plug` (a VM's port cannot be " \
        "probed from the host)"
    assert source_namespace(Namespaces(), settings(tmp_path), API, model("198.51.100.7", "10.0.0.5"))[1] == \
        "the source 198.51.100.7 is outside neutrino: nothing on this host sends from it"
    assert source_namespace(Namespaces(), settings(tmp_path), API, model("vm1", source_ip="10.0.0.99"))[1] == \
        "port vm1 does not hold 10.0.0.99: a probe cannot send from it"


def test_only_forward_rules_of_others_that_drop_are_counted():
    saved = """*filter
:INPUT ACCEPT [10:100]
:FORWARD DROP [7:700]
[3:300] -A FORWARD -s 10.0.0.0/8 -j DROP
[4:400] -A FORWARD -j neutron-filter-top
[5:500] -A FORWARD -m comment --comment "neutrino" -j DROP
[6:600] -A FORWARD -d 10.0.0.5/32 -j ACCEPT
COMMIT
"""
    assert read_forward_counters(Namespaces(saved=saved)) == {"policy DROP": 7, "-A FORWARD -s 10.0.0.0/8 -j DROP": 3}
