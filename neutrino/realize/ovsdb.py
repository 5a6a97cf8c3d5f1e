"""OVSDB: bridges, ports, bonds, patch links and the tags of instance ports.

Observes with one ``ovs-vsctl --format=json list`` call and applies every change in one
``ovs-vsctl`` transaction. Bridges neutrino creates carry ``external_ids:neutrino-managed=<host>``;
ports it creates carry ``external_ids:neutrino-owned=true``. Only those are ever deleted; an
instance's port (plugged by Nova, libvirt or ``neutrino plug``) only gets its tag and bookkeeping.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from neutrino.host.runner import Host
from neutrino.plan.host_plan import Bridge, HostPlan, Interface, OvsPort
from neutrino.plan.l2 import DEAD_REASON
from neutrino.realize.diff import Report, keyed_diff

MANAGED = "neutrino-managed"
OWNED = "neutrino-owned"


@dataclass(frozen=True)
class ObservedBridge:
    name: str
    datapath_type: str
    fail_mode: str | None
    managed_by: str | None  # the host whose agent created it (external_ids:neutrino-managed)


@dataclass(frozen=True)
class ObservedPort:
    bridge: str
    name: str
    interfaces: tuple[Interface, ...]
    tag: int | None
    vlan_mode: str | None
    trunks: tuple[int, ...]
    bond_mode: str | None
    owned: bool
    other_config: tuple[tuple[str, str], ...]
    # from the port's (first) Interface: what hypervisors write
    iface_external_ids: tuple[tuple[str, str], ...] = ()
    ofport: int | None = None
    mac_in_use: str | None = None


@dataclass(frozen=True)
class ObservedOvs:
    bridges: dict[str, ObservedBridge]
    ports: dict[str, ObservedPort]


def _value(cell):
    """Decode one OVSDB JSON cell: atoms, ["set", [...]], ["map", [...]], ["uuid", id]."""
    if isinstance(cell, list) and len(cell) == 2 and cell[0] in ("set", "map", "uuid", "named-uuid"):
        kind, inner = cell
        if kind == "set":
            return [_value(item) for item in inner]
        if kind == "map":
            return {_value(k): _value(v) for k, v in inner}
        return inner
    return cell


def _rows(document: dict) -> list[dict]:
    headings = document["headings"]
    return [{h: _value(cell) for h, cell in zip(headings, row, strict=True)} for row in document["data"]]


def _optional(value):
    return None if value == [] else value


LIST_ARGS = [
    "ovs-vsctl", "--format=json",
    "--", "--columns=name,datapath_type,fail_mode,external_ids,ports", "list", "Bridge",
    "--", "--columns=_uuid,name,tag,vlan_mode,trunks,bond_mode,interfaces,external_ids,other_config", "list", "Port",
    "--", "--columns=_uuid,name,type,options,external_ids,ofport,mac_in_use", "list", "Interface",
]


def observe_ovs(host: Host) -> ObservedOvs:
    documents = [json.loads(line) for line in host.run(LIST_ARGS).stdout.splitlines() if line.strip()]
    bridge_rows, port_rows, interface_rows = (_rows(d) for d in documents)
    interfaces = {row["_uuid"]: row for row in interface_rows}
    port_bridge = {}
    bridges = {}
    for row in bridge_rows:
        ports = row["ports"] if isinstance(row["ports"], list) else [row["ports"]]
        for uuid in ports:
            port_bridge[uuid] = row["name"]
        bridges[row["name"]] = ObservedBridge(row["name"], row["datapath_type"], _optional(row["fail_mode"]),
                                              row["external_ids"].get(MANAGED))
    ports = {}
    for row in port_rows:
        if row["_uuid"] not in port_bridge or row["name"] == port_bridge[row["_uuid"]]:
            continue  # the bridge's own internal port
        members = row["interfaces"] if isinstance(row["interfaces"], list) else [row["interfaces"]]
        ifaces = [interfaces[uuid] for uuid in members if uuid in interfaces]
        ifaces.sort(key=lambda i: i["name"])
        trunks = row["trunks"] if isinstance(row["trunks"], list) else [row["trunks"]]
        first = ifaces[0] if ifaces else {}
        ofport = _optional(first.get("ofport", []))
        ports[row["name"]] = ObservedPort(
            bridge=port_bridge[row["_uuid"]], name=row["name"],
            interfaces=tuple(Interface(i["name"], i["type"], i["options"].get("peer"), _other_options(i))
                             for i in ifaces),
            tag=_optional(row["tag"]), vlan_mode=_optional(row["vlan_mode"]), trunks=tuple(sorted(trunks)),
            bond_mode=_optional(row["bond_mode"]), owned=row["external_ids"].get(OWNED) == "true",
            other_config=tuple(sorted(row["other_config"].items())),
            iface_external_ids=tuple(sorted(first.get("external_ids", {}).items())),
            ofport=ofport if isinstance(ofport, int) and ofport > 0 else None,
            mac_in_use=_optional(first.get("mac_in_use", [])),
        )
    return ObservedOvs(bridges, ports)


def _other_options(interface: dict) -> tuple[tuple[str, str], ...]:
    """An Interface's options but a patch's peer (a tunnel's remote_ip, local_ip, keys ...), sorted."""
    return tuple(sorted((k, v) for k, v in interface["options"].items() if k != "peer"))


def _bridge_commands(bridge: Bridge, host: str) -> list[list[str]]:
    return [["--may-exist", "add-br", bridge.name],
            ["set", "Bridge", bridge.name, f"datapath_type={bridge.datapath_type}", f"fail_mode={bridge.fail_mode}",
             f'external_ids:{MANAGED}="{host}"']]


def _vlan_settings(port: OvsPort) -> list[list[str]]:
    commands = []
    if port.tag is None:
        commands.append(["clear", "Port", port.name, "tag"])
    else:
        commands.append(["set", "Port", port.name, f"tag={port.tag}"])
    if port.vlan_mode:
        commands.append(["set", "Port", port.name, f"vlan_mode={port.vlan_mode}",
                         "trunks=" + ",".join(str(t) for t in port.trunks)])
    else:
        commands.append(["clear", "Port", port.name, "vlan_mode", "trunks"])
    if port.other_config:
        commands.append(["set", "Port", port.name] +
                        [f'other_config:{k}="{v}"' for k, v in port.other_config])
    if DEAD_REASON not in dict(port.other_config):
        commands.append(["remove", "Port", port.name, "other_config", DEAD_REASON])
    return commands


def _add_port_commands(port: OvsPort) -> list[list[str]]:
    if port.bond_mode:
        commands = [["--may-exist", "add-bond", port.bridge, port.name, *(i.name for i in port.interfaces),
                     f"bond_mode={port.bond_mode}"]]
    else:
        commands = [["--may-exist", "add-port", port.bridge, port.name]]
    for interface in port.interfaces:
        if interface.type == "patch":
            commands.append(["set", "Interface", interface.name, "type=patch", f"options:peer={interface.peer}"])
        elif interface.type:
            commands.append(["set", "Interface", interface.name, f"type={interface.type}",
                             *(f'options:{k}="{v}"' for k, v in interface.options)])
    if port.iface_external_ids:
        commands.append(["set", "Interface", port.interfaces[0].name] +
                        [f'external_ids:{k}="{v}"' for k, v in port.iface_external_ids])
    commands.append(["set", "Port", port.name, f"external_ids:{OWNED}=true"])
    return commands + _vlan_settings(port)


def _same_port(observed: ObservedPort, desired: OvsPort) -> bool:
    if (observed.bridge, observed.tag, observed.vlan_mode, observed.trunks) != \
            (desired.bridge, desired.tag, desired.vlan_mode, tuple(sorted(desired.trunks))):
        return False
    have, want = dict(observed.other_config), dict(desired.other_config)
    if have != {**have, **want} or (DEAD_REASON in have and DEAD_REASON not in want):
        return False
    return not desired.owned or _same_build(observed, desired)


def _same_build(observed: ObservedPort, desired: OvsPort) -> bool:
    """An owned port made as the plan makes it (bridge, interfaces, bond, its Interface's external_ids),
    whatever its VLAN settings."""
    have_ids = dict(observed.iface_external_ids)
    return observed.bridge == desired.bridge and observed.bond_mode == desired.bond_mode and \
        observed.interfaces == tuple(sorted(desired.interfaces, key=lambda i: i.name)) and \
        have_ids == {**have_ids, **dict(desired.iface_external_ids)}


def ovsdb_commands_for(plan: HostPlan, observed: ObservedOvs, report: Report) -> list[list[str]]:
    """The ovs-vsctl commands that make the host's OVSDB match the plan (none when it does)."""
    commands: list[list[str]] = []
    for bridge in plan.bridges:
        have = observed.bridges.get(bridge.name)
        if have is None or (have.datapath_type, have.fail_mode, have.managed_by) != \
                (bridge.datapath_type, bridge.fail_mode, plan.host):
            (report.added if have is None else report.changed).append(f"bridge {bridge.name}")
            commands += _bridge_commands(bridge, plan.host)
    wanted_bridges = {b.name for b in plan.bridges}
    for name, have in observed.bridges.items():
        if have.managed_by == plan.host and name not in wanted_bridges:
            report.removed.append(f"bridge {name}")
            commands.append(["--if-exists", "del-br", name])
    ours = [p for p in observed.ports.values() if p.owned and p.bridge in wanted_bridges]
    owned = keyed_diff([p for p in plan.ports if p.owned], ours, key=lambda p: p.name, same=_same_owned)
    for port in owned.add:
        report.added.append(f"port {port.bridge}/{port.name}")
        commands += _add_port_commands(port)
    for port in owned.remove:
        report.removed.append(f"port {port.bridge}/{port.name}")
        commands.append(["--if-exists", "del-port", port.bridge, port.name])
    for have, port in owned.modify:
        report.changed.append(f"port {port.bridge}/{port.name}")
        if _same_build(have, port):
            commands += _vlan_settings(port)  # only its tag changed (a DHCP tap's network got its VLAN)
        else:
            commands += [["--if-exists", "del-port", have.bridge, have.name]] + _add_port_commands(port)
    for port in plan.ports:
        have = observed.ports.get(port.name)
        if not port.owned and have is not None and not _same_port(have, port):
            report.changed.append(f"port {port.bridge}/{port.name} tag {have.tag} -> {port.tag}")
            commands += _vlan_settings(port)
    return commands


def _same_owned(observed: ObservedPort, desired: OvsPort) -> bool:
    return _same_port(observed, desired)


def apply_ovsdb(host: Host, plan: HostPlan, observed: ObservedOvs | None = None) -> Report:
    observed = observed or observe_ovs(host)
    report = Report("ovsdb")
    commands = ovsdb_commands_for(plan, observed, report)
    if commands:
        argv = ["ovs-vsctl", "--timeout=10"]
        for command in commands:
            argv += ["--", *command]
        host.run(argv)
    return report
