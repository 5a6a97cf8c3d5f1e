"""The host as the doctor reads it: with the agent's own observers (``observe_ovs``, ``observe_routers``,
``observe_dhcp``, ``observe_filter``), and each bridge's flows read once with their statistics, because the
doctor needs what the agent's ``observe_flows_of`` leaves out: whose cookie a flow carries (a flow of
someone else on our bridge) and how many packets it matched (``trace --live``'s counters).

Counters of OpenFlow rules lag the datapath by up to a revalidator round (~0.5 s here), so
``read_flow_counters`` first asks ovs-vswitchd to finish one (``ovs-appctl revalidator/wait``).
"""

from __future__ import annotations

import json
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from neutrino.doctor.tunnels import TunnelObservation, observe_tunnels
from neutrino.host.errors import CommandFailed, HostError
from neutrino.host.processes import Processes
from neutrino.host.runner import Host
from neutrino.plan.host_plan import HostPlan
from neutrino.realize.dhcp import ObservedDhcp, observe_dhcp
from neutrino.realize.iptables import ObservedFilter
from neutrino.realize.openflow import InstalledFlow, parse_flow_line
from neutrino.realize.ovsdb import ObservedOvs
from neutrino.realize.routers import ObservedRouter, observe_routers

_COOKIE = re.compile(r"\bcookie=(0x[0-9a-f]+)")
_PACKETS = re.compile(r"\bn_packets=(\d+)")


@dataclass(frozen=True)
class CountedFlow:
    """An installed flow, whose cookie marks who installed it, with its packet count (None: not read)."""

    flow: InstalledFlow
    cookie: int = 0
    packets: int | None = None


@dataclass(frozen=True)
class HostObservation:
    """What the host runs. ``flows``: bridge -> its flows (None: the bridge cannot be read);
    ``routers``: qrouter- namespace -> what is in it; ``dhcp``: network id -> its DHCP server;
    ``filters``: iptables (iptables_hybrid only, else None); ``dhcp_directory``: the agent's dhcp dir
    (dnsmasq's command line names its files there)."""

    ovs: ObservedOvs
    flows: dict[str, list[CountedFlow] | None] = field(default_factory=dict)
    routers: dict[str, ObservedRouter] = field(default_factory=dict)
    dhcp: dict[str, ObservedDhcp] = field(default_factory=dict)
    filters: ObservedFilter | None = None
    dhcp_directory: str = ""
    tunnels: TunnelObservation | None = None  # the underlay of the plan's tunnels (None: none, or not read)


def observe_host(host: Host, processes: Processes, dhcp_directory: Path, plan: HostPlan, ovs: ObservedOvs,
                 filters: ObservedFilter | None = None) -> HostObservation:
    """Everything ``findings_for`` compares. ``ovs`` and ``filters`` (iptables_hybrid): the reads the plan was
    built from (its facts), taken as they are."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        flows = pool.submit(read_flow_counters, host, bridges_of(plan), settle=False)
        routers = pool.submit(observe_routers, host)
        dhcp = observe_dhcp(host, processes, dhcp_directory, list(plan.dhcp))
        return HostObservation(ovs, flows.result(), routers.result(), dhcp, filters, str(dhcp_directory),
                               observe_tunnels(host, plan))


def bridges_of(plan: HostPlan) -> list[str]:
    """The bridges whose flows are compared and counted: the plan's (the agent reads the same ones)."""
    return [bridge.name for bridge in plan.bridges]


def read_flow_counters(host: Host, bridges: list[str], settle: bool = True) -> dict[str, list[CountedFlow] | None]:
    """Each bridge's flows with cookies and packet counts (one dump each, concurrently); None for a bridge
    that cannot be read. ``settle``: wait for ovs-vswitchd's revalidators first, so the counts are exact."""
    if settle:
        host.run(["ovs-appctl", "revalidator/wait"], check=False)

    def read(bridge: str) -> list[CountedFlow] | None:
        try:
            return counted_flows_from(host.run(["ovs-ofctl", "dump-flows", bridge, "--names"]).stdout)
        except CommandFailed:
            return None

    with ThreadPoolExecutor(max_workers=max(1, len(bridges))) as pool:
        return dict(zip(bridges, pool.map(read, bridges), strict=True))


def counted_flows_from(dump: str) -> list[CountedFlow]:
    """``ovs-ofctl dump-flows BR --names`` (with statistics) -> its flows."""
    found = []
    for line in dump.splitlines():
        flow = parse_flow_line(_without_statistics(line))
        if flow is not None:
            cookie, packets = _COOKIE.search(line), _PACKETS.search(line)
            found.append(CountedFlow(flow, int(cookie[1], 16) if cookie else 0, int(packets[1]) if packets else None))
    return found


def _without_statistics(line: str) -> str:
    """The line as ``--no-stats`` prints it, so parse_flow_line's cache holds it once, whatever the counts."""
    head, separator, rest = line.partition("actions=")
    parts = [part for part in head.split(", ") if not part.strip().startswith(
        ("duration=", "n_packets=", "n_bytes=", "idle_age=", "hard_age=", "idle_timeout=", "hard_timeout="))]
    return ", ".join(parts) + separator + rest


def read_link_counters(host: Host, namespaces: list[str]) -> dict[tuple[str, str], tuple[int, int]]:
    """(namespace, link) -> (rx packets, tx packets) of every link of the host's own namespace ("") and of
    ``namespaces``, one ``ip -s -j link`` each (a namespace that is gone is left out)."""
    counters = {}
    for namespace in ["", *namespaces]:
        argv = ["ip", "-s", "-j", "link"] if not namespace else ["ip", "-n", namespace, "-s", "-j", "link"]
        try:
            links = json.loads(host.run(argv).stdout or "[]")
        except (HostError, ValueError):
            continue
        for link in links:
            stats = link.get("stats64") or link.get("stats") or {}
            counters[(namespace, link["ifname"])] = (stats.get("rx", {}).get("packets", 0),
                                                     stats.get("tx", {}).get("packets", 0))
    return counters

