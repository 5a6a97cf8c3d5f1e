"""The ovs-vsctl commands neutrino uses, run on the in-memory OVSDB of host/fake_ovsdb.py.

Each invocation is one transaction: any error leaves the database untouched, as ovs-vsctl's does.
Checks, their order and their messages follow ovs-vsctl 3.1 (tests/host/test_fake_parity.py runs the
same commands against the real one). Any other command or option raises NotModelled.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass

from neutrino.host.fake_ovsdb import (
    SCHEMA,
    NotModelled,
    Ovsdb,
    OvsError,
    Row,
    assign,
    empty_value,
    json_cell,
    parse_integer,
    parse_string,
    parse_value,
    table_named,
    writable_column,
)

GLOBAL_OPTIONS = ("--format=json", "--timeout=")
COMMAND_OPTIONS = ("--may-exist", "--if-exists", "--columns=")


@dataclass(frozen=True)
class Command:
    options: tuple[str, ...]
    words: tuple[str, ...]

    def has(self, option: str) -> bool:
        return option in self.options

    @property
    def text(self) -> str:
        return " ".join(self.options + self.words)


def split_vsctl(args: list[str]) -> tuple[list[str], list[Command]]:
    """Global options, then the commands: ``[--global...] [--opt...] cmd args [-- [--opt...] cmd args]...``."""
    groups: list[list[str]] = [[]]
    for arg in args:
        if arg == "--":
            groups.append([])
        else:
            groups[-1].append(arg)
    global_options, commands = [], []
    for index, group in enumerate(groups):
        options = []
        while group and group[0].startswith("--"):
            option = group.pop(0)
            if index == 0 and option.startswith(GLOBAL_OPTIONS):
                global_options.append(option)
            elif option.startswith(COMMAND_OPTIONS):
                options.append(option)
            else:
                raise NotModelled(f"ovs-vsctl option {option}")
        if group:
            commands.append(Command(tuple(options), tuple(group)))
    return global_options, commands


def run_vsctl(db: Ovsdb, args: list[str]) -> tuple[Ovsdb, str]:
    """One ovs-vsctl invocation as one transaction: the new database and stdout. On error, nothing changes."""
    global_options, commands = split_vsctl(args)
    work = copy.deepcopy(db)
    output = []
    for command in commands:
        handler = VSCTL_COMMANDS.get(command.words[0])
        if handler is None:
            raise NotModelled(f"ovs-vsctl command {command.words[0]!r}")
        text = handler(work, command, command.words[1:])
        if text is not None:
            if "--format=json" not in global_options:
                raise NotModelled("ovs-vsctl list without --format=json")
            output.append(text)
    return work, "".join(line + "\n" for line in output)


def _add_br(db: Ovsdb, command: Command, words: tuple[str, ...]) -> None:
    if len(words) != 1:
        raise NotModelled("ovs-vsctl add-br with a parent bridge (fake bridges)")
    name = words[0]
    if db.find("Bridge", name):
        if command.has("--may-exist"):
            return
        raise OvsError(f"cannot create a bridge named {name} because a bridge named {name} already exists")
    _check_new_port_name(db, name)
    bridge = db.insert("Bridge", name=name)
    db.add_port(bridge, name, [name], iface_type="internal")


def _del_br(db: Ovsdb, command: Command, words: tuple[str, ...]) -> None:
    bridge = db.find("Bridge", words[0])
    if bridge is None:
        if command.has("--if-exists"):
            return
        raise OvsError(f"no bridge named {words[0]}")
    db.delete_bridge(bridge)


def _bridge(db: Ovsdb, name: str) -> Row:
    bridge = db.find("Bridge", name)
    if bridge is None:
        raise OvsError(f"no bridge named {name}")
    return bridge


def _check_new_port_name(db: Ovsdb, name: str, interfaces: tuple[str, ...] = ()) -> None:
    existing = db.find("Port", name)
    if existing:
        raise OvsError(f"cannot create a port named {name} because a port named {name} already exists "
                       f"on bridge {db.bridge_of(existing).name}")
    for iface in interfaces:
        if db.find("Interface", iface):
            raise OvsError(f"cannot create an interface named {iface} because an interface named {iface} "
                           "already exists")


def _add_port_or_bond(db: Ovsdb, command: Command, bridge_name: str, name: str, interfaces: tuple[str, ...],
                      settings: tuple[str, ...]) -> None:
    existing = db.find("Port", name)
    if existing and command.has("--may-exist"):  # checked before the bridge, as ovs-vsctl does
        actual_bridge = db.bridge_of(existing).name
        if actual_bridge != bridge_name:
            raise OvsError(f'"{command.text}" but {name} is actually attached to bridge {actual_bridge}')
        actual = sorted(i.name for i in db.interfaces_of(existing))
        if actual != sorted(interfaces):
            raise OvsError(f'"{command.text}" but {name} actually has interface(s) {", ".join(actual)}')
        return  # as ovs-vsctl: an existing port keeps its columns, the settings are not applied
    bridge = _bridge(db, bridge_name)
    _check_new_port_name(db, name, interfaces)
    port = db.add_port(bridge, name, list(interfaces))
    for setting in settings:
        assign("Port", port, setting)


def _add_port(db: Ovsdb, command: Command, words: tuple[str, ...]) -> None:
    if len(words) < 2:
        raise OvsError("'add-port' command requires at least 2 arguments")
    _add_port_or_bond(db, command, words[0], words[1], (words[1],), words[2:])


def _add_bond(db: Ovsdb, command: Command, words: tuple[str, ...]) -> None:
    interfaces = tuple(w for w in words[2:] if "=" not in w)
    settings = tuple(w for w in words[2:] if "=" in w)
    if len(interfaces) < 2:
        raise OvsError(f"add-bond requires at least 2 interfaces, but only {len(interfaces)} were specified")
    _add_port_or_bond(db, command, words[0], words[1], interfaces, settings)


def _del_port(db: Ovsdb, command: Command, words: tuple[str, ...]) -> None:
    bridge = _bridge(db, words[0]) if len(words) == 2 else None
    name = words[-1]
    port = db.find("Port", name)
    if port is None:
        if command.has("--if-exists"):
            return
        raise OvsError(f"no port named {name}")
    actual = db.bridge_of(port)
    if bridge is not None and actual.uuid != bridge.uuid:
        raise OvsError(f"bridge {bridge.name} does not have a port {name}")
    if actual.name == name:
        raise OvsError(f"cannot delete port {name} because it is the local port for bridge {name} "
                       "(deleting this port requires deleting the entire bridge)")
    db.delete_port(port)


def _record(db: Ovsdb, command: Command, words: tuple[str, ...]) -> tuple[str, Row | None]:
    """The table and row a set/clear/remove names; no row (with --if-exists) makes the command a no-op."""
    if len(words) < 2:
        raise OvsError(f"'{command.words[0]}' command requires at least 2 arguments")
    table = table_named(words[0])
    if command.has("--if-exists"):
        return table, db.find(table, words[1])
    return table, db.get(table, words[1])


def _set(db: Ovsdb, command: Command, words: tuple[str, ...]) -> None:
    table, row = _record(db, command, words)
    for assignment in words[2:] if row else ():
        assign(table, row, assignment)


def _remove(db: Ovsdb, command: Command, words: tuple[str, ...]) -> None:
    """``remove TABLE RECORD COLUMN VALUE...``: map keys (``key`` or ``key=value``), set members, or the value."""
    if len(words) < 4:
        raise OvsError("'remove' command requires at least 4 arguments")
    table, row = _record(db, command, words)
    if row is None:
        return
    column, values = words[2], words[3:]
    spec = writable_column(table, column)
    current = row.values[column]
    for text in values:
        if spec.kind == "map":
            key_text, has_value, value = text.partition("=")
            key = parse_string(key_text)
            if key in current and (not has_value or current[key] == parse_string(value)):
                del current[key]
        elif spec.kind == "integers":
            row.values[column] = tuple(v for v in row.values[column] if v != parse_integer(spec, text))
        elif spec.kind == "string":
            raise OvsError(f"\"remove\" operation would put 0 values in column {column} of table {table} "
                           "but the minimum number is 1")
        elif row.values[column] == parse_value(spec, text):
            row.values[column] = None


def _clear(db: Ovsdb, command: Command, words: tuple[str, ...]) -> None:
    table, row = _record(db, command, words)
    for column in words[2:] if row else ():
        spec = writable_column(table, column)
        if spec.kind == "string":
            raise OvsError(f'"clear" operation cannot be applied to column {column} of table {table}, '
                           "which is not allowed to be empty")
        row.values[column] = empty_value(spec)


def _list(db: Ovsdb, command: Command, words: tuple[str, ...]) -> str:
    table = table_named(words[0])
    columns_option = next((o for o in command.options if o.startswith("--columns=")), None)
    if columns_option is None:
        raise NotModelled("ovs-vsctl list without --columns")
    columns = columns_option.removeprefix("--columns=").split(",")
    for column in columns:
        if column != "_uuid" and column not in SCHEMA[table]:
            raise NotModelled(f"OVSDB column {table}.{column}")
    rows = [db.get(table, name) for name in words[1:]] if len(words) > 1 else list(db.tables[table].values())
    data = [[json_cell(table, column, row) for column in columns] for row in rows]
    return json.dumps({"data": data, "headings": columns}, separators=(",", ":"))


VSCTL_COMMANDS: dict[str, Callable] = {
    "add-br": _add_br, "del-br": _del_br, "add-port": _add_port, "add-bond": _add_bond, "del-port": _del_port,
    "set": _set, "clear": _clear, "remove": _remove, "list": _list,
}
