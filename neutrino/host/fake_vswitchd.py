"""What ovs-vswitchd does with the database (ofports, MACs, one OpenFlow table set per bridge) and the
ovs-ofctl commands neutrino runs against it.

Like the real switch, a flow's ``in_port=NAME`` and ``output:NAME`` are resolved to the port's number
when it is installed, and printed back by name (quoted unless it is a letter followed by letters and
digits) only while a port with that number exists; a bridge whose fail mode or datapath changes loses
its flows; a restart loses every flow and keeps the ports. How a match and actions are read and printed
(OVS's canonical field order and number formats, conntrack included) is host/fake_openflow.py; which
flow of a table a packet meets (conjunctive matches included) is host/fake_classifier.py.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from neutrino.host.fake_classifier import lookup, parse_packet
from neutrino.host.fake_openflow import (
    LOCAL,
    Action,
    Match,
    actions_text,
    is_ip,
    match_text,
    parse_actions,
    parse_match,
    uses_conntrack,
)
from neutrino.host.fake_ovsdb import NotModelled, Ovsdb, OvsError, Row

DEFAULT_PRIORITY = 32768


@dataclass(frozen=True)
class SwitchFlow:
    cookie: int
    table: int
    priority: int
    match: Match  # canonical, in the order ovs-ofctl prints it; ports as numbers
    actions: tuple[Action, ...]  # canonical; () is drop

    @property
    def key(self) -> tuple[int, int, tuple]:
        return (self.table, self.priority, self.match)


class Vswitchd:
    """Flow tables by bridge name, plus the switch-side view needed to keep them as OVS does."""

    def __init__(self):
        self.tables: dict[str, dict[tuple, SwitchFlow]] = {}
        self.devices: set[str] = set()  # network devices that exist on the host (a hypervisor's taps)
        self._modes: dict[str, tuple] = {}
        self._last_ofport: dict[str, int] = {}
        self._macs = 0
        self.pid = 4242  # what its pid file says; a restart is a new process

    def reconfigure(self, db: Ovsdb) -> None:
        """After each OVSDB commit: give new interfaces ofports and MACs, (re)create bridges' tables."""
        bridges = {row.name: row for row in db.tables["Bridge"].values()}
        for name in set(self.tables) - set(bridges):
            del self.tables[name], self._modes[name]
            self._last_ofport.pop(name, None)
        for name, bridge in bridges.items():
            mode = (bridge.values["fail_mode"], bridge.values["datapath_type"])
            if self._modes.get(name) != mode:  # OVS rebuilds the bridge: its flows are gone
                self._modes[name] = mode
                self.tables[name] = self._default_flows(bridge)
            self._assign_ofports(db, bridge)

    def restart(self, db: Ovsdb) -> None:
        """ovs-vswitchd restarted: every flow is lost; ports and their numbers come back from OVSDB."""
        self.pid += 1
        for name, bridge in ((row.name, row) for row in db.tables["Bridge"].values()):
            self.tables[name] = self._default_flows(bridge)

    def _default_flows(self, bridge: Row) -> dict[tuple, SwitchFlow]:
        if bridge.values["fail_mode"] == "secure":
            return {}
        normal = SwitchFlow(0, 0, 0, (), ("NORMAL",))  # standalone: a bridge without flows is a learning switch
        return {normal.key: normal}

    def _assign_ofports(self, db: Ovsdb, bridge: Row) -> None:
        interfaces = [iface for port in db.ports_of(bridge) for iface in db.interfaces_of(port)]
        used = {i.values["ofport"] for i in interfaces if (i.values["ofport"] or 0) > 0}
        for iface in interfaces:
            if (iface.values["ofport"] or 0) > 0:
                continue
            if iface.name == bridge.name:
                number = LOCAL
            elif iface.values["type"] in ("internal", "patch") or iface.name in self.devices:
                # As OVS: numbers go up and a freed one is not reused soon, so an old flow never
                # silently matches a new port.
                number = next(n for n in range(self._last_ofport.get(bridge.name, 0) + 1, LOCAL) if n not in used)
                self._last_ofport[bridge.name] = number
            else:
                iface.values["ofport"], iface.values["mac_in_use"] = -1, None  # could not open the device
                continue
            used.add(number)
            iface.values["ofport"] = number
            iface.values["mac_in_use"] = self._mac_for(iface)

    def _mac_for(self, iface: Row) -> str:
        attached = iface.values["external_ids"].get("attached-mac")
        if attached and iface.values["type"] == "":
            return "fe" + attached[2:]  # a hypervisor's tap: libvirt's fe: prefix on the guest MAC
        self._macs += 1
        return "02:fa:4e:" + ":".join(f"{(self._macs >> shift) & 0xFF:02x}" for shift in (16, 8, 0))


# --- ovs-ofctl --------------------------------------------------------------------------------------

def run_ofctl(switch: Vswitchd, db: Ovsdb, args: list[str], input: str | None) -> str:
    options = {a for a in args if a.startswith("--")}
    words = [a for a in args if not a.startswith("--")]
    unknown = options - {"--bundle", "--no-stats", "--names", "--strict"}
    if unknown or not words:
        raise NotModelled(f"ovs-ofctl {' '.join(sorted(unknown)) or 'without a command'}")
    command, bridge_name, rest = words[0], (words[1:2] or [""])[0], words[2:]
    if command not in OFCTL_COMMANDS:
        raise NotModelled(f"ovs-ofctl command {command!r}")
    bridge = db.find("Bridge", bridge_name)
    if bridge is None or bridge_name not in switch.tables:
        raise OvsError(f"{bridge_name} is not a bridge or a socket")
    return OFCTL_COMMANDS[command](_Call(switch, db, bridge, options, rest, input)) or ""


@dataclass(frozen=True)
class _Call:
    switch: Vswitchd
    db: Ovsdb
    bridge: Row
    options: set[str]
    rest: list[str]
    input: str | None

    @property
    def table(self) -> dict[tuple, SwitchFlow]:
        return self.switch.tables[self.bridge.name]

    def ports(self) -> dict[str, int]:
        """OpenFlow port name -> number on this bridge (interfaces that could be opened)."""
        return {i.name: i.values["ofport"] for p in self.db.ports_of(self.bridge)
                for i in self.db.interfaces_of(p) if (i.values["ofport"] or 0) > 0}

    def flows_from_input(self) -> list[SwitchFlow]:
        if self.rest != ["-"]:
            raise NotModelled("ovs-ofctl reading flows from a file (only '-', stdin, is modelled)")
        lines = (self.input or "").splitlines()
        ports = self.ports()
        return [parse_flow(line, ports, f"-:{number}") for number, line in enumerate(lines, 1)
                if line.strip() and not line.lstrip().startswith("#")]


def _dump_flows(call: _Call) -> str:
    if call.rest:
        raise NotModelled("ovs-ofctl dump-flows with a flow filter")
    names = {number: name for name, number in call.ports().items()} if "--names" in call.options else None
    flows = sorted(call.table.values(), key=lambda f: (f.table, -f.priority, repr(f.match)))
    return "".join(render_flow(f, names, stats="--no-stats" not in call.options) + "\n" for f in flows)


def _replace_flows(call: _Call) -> None:
    if "--bundle" not in call.options:
        raise NotModelled("replace-flows without --bundle (not atomic: neutrino always bundles)")
    flows = call.flows_from_input()
    call.switch.tables[call.bridge.name] = {flow.key: flow for flow in flows}


FLOW_MOD_COMMANDS = ("add", "modify", "modify_strict", "delete", "delete_strict")


def _add_flows(call: _Call) -> None:
    """Each line a flow, or a flow mod: ``add FLOW`` or ``delete_strict MATCH``. Every line is read
    before any is applied, so a bad line changes nothing (as one bundle)."""
    if call.rest != ["-"]:
        raise NotModelled("ovs-ofctl reading flows from a file (only '-', stdin, is modelled)")
    ports, mods = call.ports(), []
    for number, line in enumerate((call.input or "").splitlines(), 1):
        if line.strip() and not line.lstrip().startswith("#"):
            mods.append(_flow_mod(line.strip(), ports, f"-:{number}"))
    for command, flow in mods:
        if command == "add":
            call.table[flow.key] = flow
        else:
            call.table.pop(flow.key, None)


def _flow_mod(line: str, ports: dict[str, int], where: str) -> tuple[str, SwitchFlow]:
    command, _, rest = line.partition(" ")
    if command not in FLOW_MOD_COMMANDS:
        return "add", parse_flow(line, ports, where)
    if command == "add":
        return "add", parse_flow(rest, ports, where)
    if command != "delete_strict":
        raise NotModelled(f"the flow mod command {command!r} of add-flows")
    if "actions=" in rest:
        raise OvsError(f"{where}: unknown keyword actions")
    return "delete", parse_flow(rest + ",actions=drop", ports, where)


def _add_flow(call: _Call) -> None:
    flow = parse_flow(" ".join(call.rest), call.ports(), "")
    call.table[flow.key] = flow


def _del_flows(call: _Call) -> None:
    if not call.rest:
        call.table.clear()
        return
    if "--strict" not in call.options:
        raise NotModelled("ovs-ofctl del-flows with a match but without --strict")
    flow = parse_flow(" ".join(call.rest) + ",actions=drop", call.ports(), "")
    call.table.pop(flow.key, None)


OFCTL_COMMANDS = {"dump-flows": _dump_flows, "replace-flows": _replace_flows, "add-flows": _add_flows,
                  "add-flow": _add_flow, "del-flows": _del_flows}


def parse_flow(line: str, ports: dict[str, int], where: str) -> SwitchFlow:
    """One flow as ovs-ofctl reads it (``cookie=..,table=..,priority=..,MATCH,actions=..``)."""
    prefix = f"{where}: " if where else ""
    try:
        return _parse_flow(line, ports, prefix)
    except ValueError as error:  # a malformed number: ovs-ofctl refuses the whole input
        raise OvsError(f"{prefix}{line.strip()}: {error}") from error


def _parse_flow(line: str, ports: dict[str, int], prefix: str) -> SwitchFlow:
    head, separator, actions = line.strip().partition("actions=")
    if not separator:
        raise OvsError(f"{prefix}must specify an action")
    cookie, table, priority, tokens = 0, 0, DEFAULT_PRIORITY, []
    for token in filter(None, (t.strip() for t in re.split(r"[,\s]+", head))):
        key, _, value = token.partition("=")
        if key == "cookie":
            cookie = int(value, 0)
        elif key == "table":
            table = int(value, 0)
        elif key == "priority":
            priority = int(value, 0)
        else:
            tokens.append(token)
    match = parse_match(tokens, ports, prefix)
    parsed = parse_actions(actions, ports, prefix)
    if uses_conntrack(parsed) and not is_ip(match):
        raise OvsError("actions are invalid with specified match (OFPBAC_MATCH_INCONSISTENT)")
    return SwitchFlow(cookie, table, priority, match, parsed)


def render_flow(flow: SwitchFlow, names: dict[int, str] | None, stats: bool) -> str:
    """One line of ``ovs-ofctl dump-flows`` output."""
    if stats:
        head = f" cookie={flow.cookie:#x}, duration=0.001s, table={flow.table}, n_packets=0, n_bytes=0, "
    else:
        head = " " + (f"cookie={flow.cookie:#x}, " if flow.cookie else "") + \
            (f"table={flow.table}, " if flow.table else "")
    fields = [f"priority={flow.priority}"] if flow.priority != DEFAULT_PRIORITY else []
    fields += match_text(flow.match, names)
    body = ",".join(fields) + " " if fields else ""  # nothing to match: "table=2, actions=drop"
    return f"{head}{body}actions={actions_text(flow.actions, names)}"


@dataclass(frozen=True)
class Decision:
    """The flow a packet meets in one table: headed as ``ovs-appctl ofproto/trace`` heads it
    (``conj_id=11,ct_state=+new-est,ip,reg5=0x7, priority 73, cookie 0x6e657574``), and its actions."""

    heading: str
    actions: str


def classify(switch: Vswitchd, db: Ovsdb, bridge_name: str, table: int, packet: str) -> Decision | None:
    """What the switch does with ``packet`` (``ofproto/trace`` syntax) in ``table``; None: no flow matches."""
    bridge = db.find("Bridge", bridge_name)
    if bridge is None or bridge_name not in switch.tables:
        raise OvsError(f"{bridge_name} is not a bridge or a socket")
    ports = {i.name: i.values["ofport"] for p in db.ports_of(bridge)
             for i in db.interfaces_of(p) if (i.values["ofport"] or 0) > 0}
    flow = lookup((f for f in switch.tables[bridge_name].values() if f.table == table), parse_packet(packet, ports))
    if flow is None:
        return None
    names = {number: name for name, number in ports.items()}
    match = ",".join(match_text(flow.match, names))
    heading = f"{match + ', ' if match else ''}priority {flow.priority}"
    return Decision(heading + (f", cookie {flow.cookie:#x}" if flow.cookie else ""), actions_text(flow.actions, names))
