"""Which counter shows that a packet passed a hop of a trace, and where a probe's packets stopped (PURE).

A hop on this host has a counter when something counts the packets it handles:

- a flow hop (``table 0 priority 3`` of a translation, ``table 72`` of a security group rule) -> the packet
  counts of the plan's flows behind it (same bridge, table and source; for a port's firewall only that
  port's flows, ``reg5`` = its ofport), and how many of those flows are installed at all;
- an instance's port -> its device's frames on the host (``rx``: what it sent, ``tx``: what it was given);
- a router -> the frames its legs received (``in``) and sent (``routing``, out of the chosen leg);
- the fabric -> the frames of the physnet's uplinks (``tx`` leaving this host, ``rx`` coming in).

Hops elsewhere (other hosts, the outside), NAT chains (nft counts nothing unless a rule says ``counter``)
and plain NORMAL switching have none: the next counted hop shows whether the packet got through.
``localize`` reads the counters before and after the probe: the first counted hop that saw fewer packets
than the probe sent is where they stopped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from neutrino.doctor.observation import CountedFlow
from neutrino.model.host_config import HostConfig
from neutrino.plan.host_plan import HostPlan
from neutrino.plan.tables import Table
from neutrino.realize.openflow import desired_flow
from neutrino.trace.result import Element, Hop

EGRESS_TABLES = (71, 72, 73)  # the sender's side of the OVS firewall (plan/tables.py); 81, 82: the receiver's
_TABLE = re.compile(r"^table (\d+)(?: priority (\d+))?$")
_OUT_DEVICE = re.compile(r"\bdev (\S+):")


@dataclass(frozen=True)
class FlowCounter:
    bridge: str
    keys: frozenset  # InstalledFlow keys of the plan's flows behind the hop
    words: str


@dataclass(frozen=True)
class LinkCounter:
    namespace: str  # "": the host's own
    devices: tuple[str, ...]
    direction: str  # rx or tx
    words: str


Counter = FlowCounter | LinkCounter


@dataclass(frozen=True)
class Counters:
    """One reading: bridge -> its flows (with packet counts); (namespace, link) -> (rx, tx) packets; the
    host's FORWARD chain: its policy and rules that are not neutrino's -> packets."""

    flows: dict[str, list[CountedFlow] | None]
    links: dict[tuple[str, str], tuple[int, int]]
    forward: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Step:
    """A hop of the request (or of its reply) and its counter here (None: nothing here counts it)."""

    reply: bool
    number: int  # 1-based, within its path
    hop: Hop
    counter: Counter | None


@dataclass(frozen=True)
class HopCheck:
    step: Step
    packets: int | None = None  # counted during the probe; None: not counted here
    installed: int | None = None  # a flow hop: how many of the plan's flows there are installed
    planned: int | None = None
    passed: bool | None = None  # None: not observable from this host

    @property
    def words(self) -> str:
        return self.step.counter.words if self.step.counter else "not observable from this host"


def steps_for(request: tuple[Hop, ...], reply: tuple[Hop, ...], plan: HostPlan, config: HostConfig,
              ofports: dict[str, int]) -> list[Step]:
    """Every hop of the request and its reply, with its counter on this host. ``ofports``: OVS port name ->
    ofport (the OVS firewall's flows of a port match ``reg5`` = its ofport)."""
    steps = []
    for is_reply, hops in ((False, request), (True, reply)):
        for index, hop in enumerate(hops):
            counter = counter_for(hops, index, plan, config, ofports) if hop.host in (plan.host, "") else None
            steps.append(Step(is_reply, index + 1, hop, counter))
    return steps


def counter_for(hops: tuple[Hop, ...], index: int, plan: HostPlan, config: HostConfig,
                ofports: dict[str, int]) -> Counter | None:
    hop = hops[index]
    if hop.element is Element.PORT:
        return _port_counter(hop, plan)
    if hop.element is Element.BRIDGE:
        return _flow_counter(plan, hop.name, hop.stage, {hop.source}, None, hop.source)
    if hop.element is Element.FIREWALL and config.firewall_driver == "openvswitch":
        port_id = _firewall_port(hops, index)
        device = plan.port_states[port_id].device if port_id in plan.port_states else None
        rule = hop.source.startswith("rule:")
        sources = {hop.source.removeprefix("rule:")} if rule else \
            {hop.source, hop.source.replace("port:", "anti-spoofing:", 1)}
        whose = f"{'rule ' + hop.source.removeprefix('rule:') + ' of ' if rule else ''}{device or 'the port'}"
        return _flow_counter(plan, hop.name, hop.stage, sources, ofports.get(device or ""), whose)
    if hop.element is Element.NAMESPACE:
        return _router_counter(hop)
    if hop.element is Element.FABRIC:
        return _uplink_counter(hop, plan.host, config)
    return None


def _port_counter(hop: Hop, plan: HostPlan) -> LinkCounter | None:
    state = plan.port_states.get(hop.source.removeprefix("port:"))
    if state is None or state.device is None or hop.stage not in ("sent", "delivered"):
        return None
    direction = "rx" if hop.stage == "sent" else "tx"
    way = "frames from the instance" if direction == "rx" else "frames to the instance"
    return LinkCounter("", (state.device,), direction, f"{way} on {state.device}")


def _flow_counter(plan: HostPlan, bridge: str, stage: str, sources: set[str], ofport: int | None, whose: str
                  ) -> FlowCounter | None:
    """The plan's flows of ``stage`` ("table T" or "table T priority P") on the bridge from ``sources``."""
    found = _TABLE.match(stage)
    if found is None:
        return None  # NORMAL switching, an access port: nothing of ours counts it apart
    table, priority = int(found[1]), int(found[2]) if found[2] else None
    register = f"reg5={ofport:#x}" if ofport is not None else None
    flows = [f for f in plan.flows_of(bridge) if f.table == table and f.source in sources and _passes(f.actions)
             and (priority is None or f.priority == priority)
             and (register is None or register in f.match.split(","))]
    if not flows:
        return None
    return FlowCounter(bridge, frozenset(desired_flow(f).key for f in flows),
                       f"{len(flows)} flows of {whose} in table {table} of {bridge}")


def _passes(actions: str) -> bool:
    """Whether a flow lets the packet on (a port's own drop flows count what did not pass)."""
    return actions != "drop" and f"resubmit(,{int(Table.DROPPED_TRAFFIC)})" not in actions


def _firewall_port(hops: tuple[Hop, ...], index: int) -> str:
    """The port whose firewall the hop is: the sender (before it) on the egress side, else the receiver."""
    found = _TABLE.match(hops[index].stage)
    egress = found is not None and int(found[1]) in EGRESS_TABLES
    around = reversed(hops[:index]) if egress else hops[index + 1:]
    port = next((h for h in around if h.element is Element.PORT and h.source.startswith("port:")), None)
    return port.source.removeprefix("port:") if port else ""


def _router_counter(hop: Hop) -> LinkCounter | None:
    if hop.stage == "in":
        device = hop.matched.split()[0]
        return LinkCounter(hop.name, (device,), "rx", f"frames {device} received in {hop.name}")
    if hop.stage == "routing":
        found = _OUT_DEVICE.search(hop.matched)
        if found:
            return LinkCounter(hop.name, (found[1],), "tx", f"frames {found[1]} sent from {hop.name}")
    return None


def _uplink_counter(hop: Hop, host: str, config: HostConfig) -> LinkCounter | None:
    """The fabric: this host's uplinks of the physnet, leaving (tx) or coming in (rx)."""
    origin, _, target = hop.matched.partition(" -> ")
    bridge = config.bridge_mappings.get(hop.name)
    uplinks = config.physical_bridge(bridge).uplinks if bridge else ()
    if not uplinks or host not in (origin, target):
        return None
    direction = "tx" if origin == host else "rx"
    way = "left by" if direction == "tx" else "came in by"
    return LinkCounter("", tuple(uplinks), direction, f"frames that {way} {', '.join(uplinks)} ({hop.stage})")


# --- counting ---

def counted(counter: Counter, reading: Counters) -> tuple[int | None, int | None]:
    """(packets, installed flows) of the counter in one reading; packets None when it cannot be read."""
    if isinstance(counter, LinkCounter):
        values = [reading.links.get((counter.namespace, device)) for device in counter.devices]
        if any(value is None for value in values):
            return None, None
        return sum(value[0 if counter.direction == "rx" else 1] for value in values), None
    flows = reading.flows.get(counter.bridge)
    if flows is None:
        return None, None
    mine = [flow for flow in flows if flow.flow.key in counter.keys]
    return sum(flow.packets or 0 for flow in mine), len(mine)


def localize(steps: list[Step], before: Counters, after: Counters, sent: int
             ) -> tuple[list[HopCheck], HopCheck | None]:
    """Each step's count during the probe; the first counted step that saw fewer than ``sent`` packets. The
    reply's steps only when the request passed every counted hop (else there was no reply to count)."""
    checks = _checks([s for s in steps if not s.reply], before, after, sent)
    if not any(check.passed is False for check in checks):
        checks += _checks([s for s in steps if s.reply], before, after, sent)
    return checks, next((check for check in checks if check.passed is False), None)


def _checks(steps: list[Step], before: Counters, after: Counters, sent: int) -> list[HopCheck]:
    checks = []
    for step in steps:
        if step.counter is None:
            checks.append(HopCheck(step))
            continue
        first, _ = counted(step.counter, before)
        last, installed = counted(step.counter, after)
        planned = len(step.counter.keys) if isinstance(step.counter, FlowCounter) else None
        if first is None or last is None:
            checks.append(HopCheck(step, None, installed, planned))
            continue
        packets = max(0, last - first)
        checks.append(HopCheck(step, packets, installed, planned, packets >= sent))
    return checks
