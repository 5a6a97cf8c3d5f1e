"""The agent's loop. Each pass is level-triggered and whole-state:

    observe OVS (and iptables) -> facts -> build_plan(API state, host config, facts) -> apply OVSDB
    -> apply flows -> apply iptables (iptables_hybrid) -> report port status changes

Feed changes, OVSDB interface events and a resync timer only wake the loop; none of them carries
what to do. A realizer failure is logged, kept in the pass's Report and retried on the next pass.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from neutrino.agent.facts import facts_from
from neutrino.agent.server import ServerApi, ServerError
from neutrino.config import AgentSettings
from neutrino.feed.change import Snapshot
from neutrino.feed.client import FeedClient
from neutrino.host.errors import HostError
from neutrino.host.runner import Host, LineStream
from neutrino.model.state import ApiState, StateBuilder, state_from_resources
from neutrino.plan.build import build_plan
from neutrino.plan.host_plan import HostPlan
from neutrino.realize.diff import Report
from neutrino.realize.iptables import ObservedFilter, apply_iptables, observe_filter, read_bridge_netfilter
from neutrino.realize.openflow import apply_flows, observe_flows_of
from neutrino.realize.ovsdb import apply_ovsdb, observe_ovs

log = logging.getLogger(__name__)

RETRY_SECONDS = 0.5  # after a failed pass
MONITOR_ARGV = ["ovsdb-client", "monitor", "Open_vSwitch", "Interface", "name,ofport,external_ids",
                "--format=json"]


@dataclass
class Pass:
    """What one pass did."""

    revision: int
    reports: list[Report] = field(default_factory=list)
    statuses: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    plan: HostPlan | None = None

    @property
    def changed(self) -> bool:
        return any(self.reports) or bool(self.statuses)

    @property
    def failed(self) -> bool:
        return any(r.errors for r in self.reports)


class Agent:
    def __init__(self, settings: AgentSettings, host: Host, server: ServerApi, feed: FeedClient):
        self.settings = settings
        self.config = settings.host
        self.host = host
        self.server = server
        self.feed = feed
        self.wake = threading.Event()
        self.stop = threading.Event()
        self._lock = threading.Lock()
        self._state = ApiState()
        self._sent: dict[str, str] = {}  # port id -> status we last reported

    # --- what wakes the loop ---

    def _follow_feed(self, snapshot: Snapshot) -> None:
        """Keep the API state current: convert each change as it arrives, then wake the loop."""
        builder = StateBuilder(snapshot.resources)
        while not self.stop.is_set():
            try:
                for batch in self.feed.follow(snapshot, timeout=20.0, stop=self.stop):
                    snapshot = batch.snapshot
                    if batch.relisted:
                        builder = StateBuilder(snapshot.resources)
                    for change in batch.changes:
                        builder.apply(change.kind, change.id, change.body)
                    if batch.changes or batch.relisted:
                        self._publish(builder.freeze(snapshot.revision))
                    if self.stop.is_set():
                        return
            except Exception:  # noqa: BLE001 - the feed must never stop: log and resume from our revision
                log.exception("feed follower failed; resuming in 1s")
                self.stop.wait(1.0)

    def _publish(self, state: ApiState) -> None:
        with self._lock:
            self._state = state
        self.wake.set()

    def _watch_interfaces(self) -> None:
        """Wake on every OVSDB Interface change (a port plugged, unplugged, given an ofport)."""
        while not self.stop.is_set():
            stream = LineStream(MONITOR_ARGV)
            self._monitor = stream
            for _line in stream:
                self.wake.set()
                if self.stop.is_set():
                    break
            stream.close()
            self.stop.wait(1.0)  # ovsdb-server restarted: monitor again

    def _heartbeats(self) -> None:
        while not self.stop.wait(self.settings.heartbeat_seconds):
            try:
                self._report_state()
            except Exception as exc:  # noqa: BLE001 - a missed heartbeat is retried at the next tick
                log.warning("heartbeat failed: %s", exc)

    def _report_state(self, start_flag: bool = False) -> None:
        """One heartbeat per role this process plays on its host, as Neutron's three agents would send."""
        for agent_type, binary, configurations in self.roles():
            self.server.heartbeat(configurations, start_flag=start_flag, agent_type=agent_type, binary=binary)

    def roles(self) -> list[tuple[str, str, dict]]:
        """(agent_type, binary, configurations) of each agent this process is: the L2 agent, the L3 agent
        (routers in qrouter- namespaces) and the DHCP agent (dnsmasq in qdhcp- namespaces)."""
        return [
            ("Open vSwitch agent", "neutrino-agent", self.configurations()),
            ("L3 agent", "neutrino-l3-agent", {"agent_mode": "legacy", "interface_driver": "openvswitch"}),
            ("DHCP agent", "neutrino-dhcp-agent", {"dhcp_driver": "dnsmasq", "interface_driver": "openvswitch"}),
        ]

    def configurations(self) -> dict:
        return {
            "bridge_mappings": dict(self.config.bridge_mappings),
            "integration_bridge": self.config.integration_bridge,
            "datapath_type": self.config.datapath_type,
            "firewall_driver": self.config.firewall_driver,
            "tunnel_types": [],
        }

    # --- the pass ---

    def state(self) -> ApiState:
        with self._lock:
            return self._state

    def converge(self) -> Pass:
        started = time.perf_counter()
        state = self.state()
        result = Pass(state.revision)
        try:
            # OVSDB, every bridge's flows and iptables are read at once: the pass waits for one exec, not three.
            with ThreadPoolExecutor(max_workers=2) as pool:
                flows_read = pool.submit(observe_flows_of, self.host, self._bridge_names())
                filters_read = pool.submit(observe_filter, self.host) if self._filters_with_iptables else None
                observed = observe_ovs(self.host)
                installed = flows_read.result()
                filters = filters_read.result() if filters_read is not None else None
            zones = filters.conntrack_zones if filters is not None else None
            plan = build_plan(state, self.config, facts_from(observed, self.config, zones))
            result.plan = plan
            result.reports.append(self._guarded("ovsdb", lambda: apply_ovsdb(self.host, plan, observed)))
            result.reports.append(self._guarded("openflow", lambda: apply_flows(self.host, plan, observed=installed)))
            if filters is not None:
                result.reports.append(self._guarded("iptables", lambda: self._apply_iptables(plan, filters)))
            result.statuses = self._report_statuses(state, plan)
        except HostError as exc:
            result.reports.append(Report("observe", errors=[str(exc)]))
        result.seconds = time.perf_counter() - started
        return result

    @property
    def _filters_with_iptables(self) -> bool:
        return self.config.firewall_driver == "iptables_hybrid"

    def _apply_iptables(self, plan: HostPlan, filters: ObservedFilter) -> Report:
        """After OVSDB, as Neutron's agent orders it: a port's chains go only once the port is parked, and a
        new port is tagged a moment before its chains come, while nothing runs behind it yet (Nova boots
        the VM when the port turns ACTIVE, after this pass)."""
        return apply_iptables(self.host, plan, filters)

    def _bridge_names(self) -> list[str]:
        return [self.config.integration_bridge, *(b.name for b in self.config.mapped_bridges),
                *self.config.extra_bridges]

    @staticmethod
    def _guarded(subsystem: str, apply) -> Report:
        try:
            return apply()
        except HostError as exc:
            return Report(subsystem, errors=[str(exc)])

    def _report_statuses(self, state: ApiState, plan: HostPlan) -> dict[str, str]:
        changed = {}
        for port_id, port_state in plan.port_states.items():
            api_status = state.ports[port_id].status
            if api_status == port_state.status:
                self._sent.pop(port_id, None)
            elif self._sent.get(port_id) != port_state.status:
                changed[port_id] = port_state.status
        if changed:
            try:
                self.server.report_statuses(changed)
            except ServerError as exc:  # the server is away: the data plane is done; report next pass
                log.warning("port statuses not reported (%s); retrying at the next pass", exc)
                return {}
            self._sent.update(changed)
        return changed

    # --- running ---

    def start(self) -> None:
        """Register, list the state, and start the threads that wake the loop. With iptables_hybrid on a
        kernel without br_netfilter it raises Unsupported before registering: the server must not bind
        ports to a host that would leave them unfiltered."""
        if self._filters_with_iptables:
            read_bridge_netfilter(self.host)
        self._report_state(start_flag=True)
        snapshot = self.feed.snapshot()
        self._publish(state_from_resources(snapshot.revision, snapshot.resources))
        threading.Thread(target=self._follow_feed, args=(snapshot,), name="feed", daemon=True).start()
        for target in (self._watch_interfaces, self._heartbeats):
            threading.Thread(target=target, name=target.__name__, daemon=True).start()

    def run(self) -> None:
        started = time.perf_counter()
        self.start()
        first = True
        while not self.stop.is_set():
            result = self.converge()
            self._log(result)
            if first and not result.failed:
                log.info("converged at revision %d, %d ports bound here, %.0f ms after start",
                         result.revision, len(result.plan.port_states) if result.plan else 0,
                         (time.perf_counter() - started) * 1000)
                first = False
            delay = RETRY_SECONDS if result.failed else self.settings.resync_seconds
            self.wake.wait(delay)
            self.wake.clear()

    def _log(self, result: Pass) -> None:
        for report in result.reports:
            for error in report.errors:
                log.error("%s: %s (retrying)", report.subsystem, error)
        if result.changed:
            log.info("revision %d: %s%s (%.0f ms)", result.revision,
                     ", ".join(r.summary() for r in result.reports if r),
                     f", ports {json.dumps(result.statuses)}" if result.statuses else "",
                     result.seconds * 1000)

    def shutdown(self) -> None:
        self.stop.set()
        self.wake.set()
        monitor = getattr(self, "_monitor", None)
        if monitor is not None:
            monitor.close()
