"""The agent's loop. Each pass is level-triggered and whole-state:

    observe OVS (and iptables) -> facts -> build_plan(API state, host config, facts) -> apply OVSDB
    -> apply flows -> apply iptables (iptables_hybrid) -> DHCP servers (qdhcp- namespaces, dnsmasq)
    -> routers (qrouter- namespaces, NAT) -> report port and floating IP status changes

Feed changes, OVSDB interface events and a resync timer only wake the loop; none of them carries
what to do. A realizer failure is logged, kept in the pass's Report and retried on the next pass.

Reading the host whole (OVSDB, every bridge's flows, iptables, the routers' namespaces) is most of a small
change's pass, so a pass only reads it when something but this agent may have changed it: on every OVSDB
Interface event (and while the monitor is not running), when the last read is ``resync_seconds`` old,
after any failure or OVSDB change of its own, and when ovs-vswitchd's pid changed (a restarted switch has
no flows). Otherwise it starts from what the previous pass left on the host (``Observed``), so a feed
change costs a plan, a diff and the bundle. Drift by others is repaired at the next whole read, at
most ``resync_seconds`` later; nothing of the desired state is ever flushed.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace

from neutrino.agent.facts import facts_from
from neutrino.agent.server import ServerApi, ServerError
from neutrino.config import AgentSettings
from neutrino.feed.change import Snapshot
from neutrino.feed.client import FeedClient
from neutrino.host.errors import HostError
from neutrino.host.processes import Processes, RealProcesses
from neutrino.host.runner import Host, LineStream
from neutrino.model.host_config import configurations_for
from neutrino.model.state import ApiState, StateBuilder, state_from_resources
from neutrino.plan.build import build_plan
from neutrino.plan.dhcp import DhcpPlan
from neutrino.plan.host_plan import HostPlan
from neutrino.realize.dhcp import apply_dhcp, unsearchable_part
from neutrino.realize.diff import Report
from neutrino.realize.iptables import (
    FilterSynced,
    ObservedFilter,
    observe_filter,
    read_bridge_netfilter,
    sync_iptables,
)
from neutrino.realize.openflow import InstalledFlow, Synced, observe_flows_of, sync_flows, vswitchd_pid
from neutrino.realize.ovsdb import ObservedOvs, apply_ovsdb, observe_ovs
from neutrino.realize.routers import (
    ObservedRouter,
    RoutersApplied,
    apply_routers,
    floating_ip_statuses_for,
    observe_routers,
)
from neutrino.realize.routers import observed_after as routers_after
from neutrino.realize.tunnel_address import apply_tunnel_address, resolve_tunnel_neighbours
from neutrino.realize.uplinks import guard_uplinks

log = logging.getLogger(__name__)

RETRY_SECONDS = 0.5  # after a failed pass
MONITOR_ARGV = ["ovsdb-client", "monitor", "Open_vSwitch", "Interface", "name,ofport,external_ids,mac_in_use",
                "--format=json"]


@dataclass(frozen=True)
class Observed:
    """The host as a pass starts from it: read whole, or as the previous pass left it."""

    ovs: ObservedOvs
    flows: dict[str, list[InstalledFlow] | None]  # bridge -> its flows (None: no such bridge yet)
    filters: ObservedFilter | None  # iptables_hybrid only
    vswitchd: str | None  # ovs-vswitchd's pid when it was read
    read_at: float  # time.monotonic() of the whole read this goes back to
    routers: dict[str, ObservedRouter] = field(default_factory=dict)  # qrouter- namespace -> what is in it


@dataclass
class Pass:
    """What one pass did."""

    revision: int
    reports: list[Report] = field(default_factory=list)
    statuses: dict[str, str] = field(default_factory=dict)
    floating_ip_statuses: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    plan: HostPlan | None = None
    read_host: bool = False  # whether it read the host whole (or started from what the last pass left)

    @property
    def changed(self) -> bool:
        return any(self.reports) or bool(self.statuses) or bool(self.floating_ip_statuses)

    @property
    def failed(self) -> bool:
        return any(r.errors for r in self.reports)


class Agent:
    def __init__(self, settings: AgentSettings, host: Host, server: ServerApi, feed: FeedClient,
                 processes: Processes | None = None):
        self.settings = settings
        self.config = settings.host
        self.host = host
        self.processes = processes or RealProcesses()  # the dnsmasqs this agent supervises
        self._dhcp_done: dict[str, DhcpPlan] = {}  # network id -> what the last pass realized without error
        self.server = server
        self.feed = feed
        self.wake = threading.Event()
        self.stop = threading.Event()
        self._lock = threading.Lock()
        self._state = ApiState()
        self._sent: dict[str, str] = {}  # port id -> status we last reported
        self._sent_floating_ips: dict[str, str] = {}  # floating IP id -> status we last reported
        self._known: Observed | None = None  # what the last pass left on the host, if it may be trusted
        self._watching = threading.Event()  # the OVSDB monitor runs: it reports what others change
        self._host_changed = threading.Event()  # ... and it did since the last whole read
        self.clock = time.monotonic

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
                self.interfaces_changed()
                if self.stop.is_set():
                    break
            self.monitor_lost()
            stream.close()
            self.stop.wait(1.0)  # ovsdb-server restarted: monitor again

    def interfaces_changed(self) -> None:
        """The OVSDB monitor reported Interface rows (its first report lists them all): the next pass
        reads the host whole."""
        self._host_changed.set()
        self._watching.set()
        self.wake.set()

    def monitor_lost(self) -> None:
        """The monitor ended: until it runs again, every pass reads the host whole."""
        self._watching.clear()
        self._host_changed.set()

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
        """The L2 agent's report: its host settings (the server's trace plans with them) and Neutron's keys,
        among them its tunnel endpoint, which the other hosts' agents tunnel to."""
        tunnelling = bool(self.config.tunnel_types) and self.config.tunnel_ip is not None
        return {**configurations_for(self.config), "tunnel_types": list(self.config.tunnel_types),
                "tunneling_ip": self.config.tunnel_ip if tunnelling else "", "l2_population": tunnelling,
                "arp_responder_enabled": self.config.arp_responder}

    # --- the pass ---

    def state(self) -> ApiState:
        with self._lock:
            return self._state

    def converge(self) -> Pass:
        started = time.perf_counter()
        state = self.state()
        result = Pass(state.revision)
        self._known, known = None, self._known  # trusted again only if this pass goes through
        try:
            result.read_host = known is None or self._must_read(known)
            log.debug("pass at revision %d begins (%s)", state.revision,
                      "reading the host" if result.read_host else "from what the last pass left")
            seen = self._read_host() if result.read_host else known
            zones = seen.filters.conntrack_zones if seen.filters is not None else None
            plan = build_plan(state, self.config, facts_from(seen.ovs, self.config, zones))
            result.plan = plan
            plan, refused = guard_uplinks(self.host, self.config, plan, seen.ovs)
            ovsdb = self._guarded("ovsdb", lambda: apply_ovsdb(self.host, plan, seen.ovs))
            ovsdb.errors += refused
            flows = self._sync_flows(plan, seen.flows)
            result.reports += [ovsdb, flows.report]
            result.reports += self._apply_tunnel_endpoint(plan, ovsdb, result.read_host)
            # The firewall before DHCP and the routers: a security group change waits for nothing else.
            filters = self._sync_iptables(plan, seen.filters) if seen.filters is not None else None
            if filters is not None:
                result.reports.append(filters.report)
            dhcp = self._guarded("dhcp", lambda: self._apply_dhcp(plan, result.read_host))
            if plan.dhcp or dhcp or dhcp.errors:  # a host that serves no DHCP has nothing to say of it
                result.reports.append(dhcp)
            routers = self._apply_routers(plan, seen.routers)
            if plan.routers or routers.report or routers.report.errors:  # likewise for a host without routers
                result.reports.append(routers.report)
            result.statuses = self._report_statuses(state, plan)
            result.floating_ip_statuses = self._report_floating_ip_statuses(state, plan, routers)
            if not result.failed and not ovsdb:  # an OVSDB change may cost a bridge its flows: read it back
                self._known = replace(seen, flows=flows.installed,
                                      filters=filters.installed if filters is not None else None,
                                      routers=routers_after(plan.routers))
        except HostError as exc:
            result.reports.append(Report("observe", errors=[str(exc)]))
        result.seconds = time.perf_counter() - started
        return result

    def _must_read(self, known: Observed) -> bool:
        """Whether anything but this agent may have changed the host since ``known`` was read."""
        if not self._watching.is_set() or self._host_changed.is_set():
            return True
        if self.clock() - known.read_at >= self.settings.resync_seconds:
            return True
        pid = vswitchd_pid(self.host)
        return pid is None or pid != known.vswitchd

    def _read_host(self) -> Observed:
        """OVSDB, every bridge's flows, iptables and the routers' namespaces, read at once: the pass waits for
        one exec, not four. The pid comes first: flows read from a switch that restarts later are never taken
        for its own."""
        self._host_changed.clear()  # what changes from now on is read by the next pass
        read_at, pid = self.clock(), vswitchd_pid(self.host)
        with ThreadPoolExecutor(max_workers=3) as pool:
            flows_read = pool.submit(observe_flows_of, self.host, self._bridge_names())
            filters_read = pool.submit(observe_filter, self.host) if self._filters_with_iptables else None
            routers_read = pool.submit(observe_routers, self.host)
            ovs = observe_ovs(self.host)
            return Observed(ovs, flows_read.result(), filters_read.result() if filters_read else None, pid, read_at,
                            routers_read.result())

    def _sync_flows(self, plan: HostPlan, installed: dict[str, list[InstalledFlow] | None]) -> Synced:
        try:
            return sync_flows(self.host, plan, observed=installed)
        except HostError as exc:
            return Synced(Report("openflow", errors=[str(exc)]), {})

    def _apply_dhcp(self, plan: HostPlan, whole: bool) -> Report:
        """The DHCP servers. Namespaces and legs are read again only on a whole read of the host, or where
        the plan changed (or the last pass failed); files and dnsmasq processes at every pass."""
        trusted, self._dhcp_done = ({} if whole else self._dhcp_done), {}
        report = apply_dhcp(self.host, self.processes, self.settings.dhcp_directory, plan.dhcp, trusted)
        if not report.errors:
            self._dhcp_done = {server.network_id: server for server in plan.dhcp}
        return report

    @property
    def _filters_with_iptables(self) -> bool:
        return self.config.firewall_driver == "iptables_hybrid"

    def _sync_iptables(self, plan: HostPlan, filters: ObservedFilter) -> FilterSynced:
        """After OVSDB, as Neutron's agent orders it: a port's chains go only once the port is parked, and a
        new port is tagged a moment before its chains come, while nothing runs behind it yet (Nova boots
        the VM when the port turns ACTIVE, after this pass)."""
        try:
            return sync_iptables(self.host, plan, filters)
        except HostError as exc:
            return FilterSynced(Report("iptables", errors=[str(exc)]), None)

    def _apply_tunnel_endpoint(self, plan: HostPlan, ovsdb: Report, read_host: bool) -> list[Report]:
        """The endpoint address (after a whole read, or an OVSDB change: a bridge port new or re-created), then
        the underlay neighbours of the tunnels just added (or of all, when the address was just put back)."""
        if not (read_host or ovsdb) or (plan.tunnel_address is None and not plan.tunnels):
            return []
        reports, address_added = [], False
        if plan.tunnel_address is not None:
            reports.append(self._guarded("tunnel endpoint",
                                         lambda: apply_tunnel_address(self.host, plan.tunnel_address)))
            if reports[0].errors:
                return reports
            address_added = bool(reports[0].added)
        added = {entry.removeprefix(f"port {self.config.tunnel_bridge}/") for entry in ovsdb.added}
        fresh = list(dict.fromkeys(t.remote_ip for t in plan.tunnels if address_added or t.name in added))
        if fresh:
            resolved = resolve_tunnel_neighbours(self.host, fresh)
            log.debug("tunnel endpoints resolved in the underlay: %s of %s", resolved, fresh)
        return reports

    def _bridge_names(self) -> list[str]:
        tunnel = [self.config.tunnel_bridge] if self.config.tunnel_types else []
        return [self.config.integration_bridge, *(b.name for b in self.config.mapped_bridges),
                *self.config.extra_bridges, *tunnel]

    def _apply_routers(self, plan: HostPlan, observed: dict[str, ObservedRouter]) -> RoutersApplied:
        """After OVSDB: a new leg's OVS port is there (tagged) when its veth appears and announces itself."""
        return apply_routers(self.host, plan.routers, observed)

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

    def _report_floating_ip_statuses(self, state: ApiState, plan: HostPlan, routers: RoutersApplied
                                     ) -> dict[str, str]:
        """ACTIVE once a floating IP's NAT and address are in place on its router here (ERROR when they
        failed); the server sets DOWN itself whenever an association changes."""
        changed = {}
        for fip_id, status in floating_ip_statuses_for(plan.routers, routers.failed).items():
            fip = state.floatingips.get(fip_id)
            if fip is None or fip.status == status:
                self._sent_floating_ips.pop(fip_id, None)
            elif self._sent_floating_ips.get(fip_id) != status:
                changed[fip_id] = status
        if changed:
            try:
                self.server.report_floatingip_statuses(changed)
            except ServerError as exc:
                log.warning("floating IP statuses not reported (%s); retrying at the next pass", exc)
                return {}
            self._sent_floating_ips.update(changed)
        return changed

    # --- running ---

    def start(self) -> None:
        """Register, list the state, and start the threads that wake the loop. With iptables_hybrid on a
        kernel without br_netfilter it raises Unsupported before registering: the server must not bind
        ports to a host that would leave them unfiltered."""
        if self._filters_with_iptables:
            read_bridge_netfilter(self.host)
        closed = unsearchable_part(self.settings.dhcp_directory)
        if closed is not None:
            log.error("dnsmasq runs unprivileged and cannot reach %s: %s is not searchable by others (chmod o+x "
                      "it, or set [agent] dhcp_dir elsewhere); DHCP will hand out no lease", self.settings.dhcp_directory,
                      closed)
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
