"""An in-memory OVSDB (Bridge, Port, Interface): the columns neutrino reads or writes, and their values
parsed as ovs-vsctl 3.1 reads them and printed as its ``--format=json`` prints them (``["set", ...]``,
``["map", ...]``, ``["uuid", ...]`` cells). The commands are in host/fake_vsctl.py; what ovs-vswitchd
does with the rows is in host/fake_vswitchd.py.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field


class OvsError(Exception):
    """What ovs-vsctl or ovs-ofctl would print on stderr before exiting with status 1."""


class NotModelled(Exception):
    """A command, option or column the fake does not know: teach the fake rather than guess."""


@dataclass(frozen=True)
class Column:
    kind: str  # see KINDS
    choices: tuple[str, ...] = ()
    low: int = 0
    high: int = 4095


# string: a plain string; read-only: set at creation (names, row references); optional: 0 or 1 value;
# integers: a set of integers; map: string -> string; vswitchd: written only by ovs-vswitchd.
KINDS = ("string", "read-only", "optional-int", "optional-enum", "integers", "map", "vswitchd")
_MAP, _RO, _STR = Column("map"), Column("read-only"), Column("string")

SCHEMA: dict[str, dict[str, Column]] = {
    "Bridge": {"name": _RO, "datapath_type": _STR, "fail_mode": Column("optional-enum", ("secure", "standalone")),
               "external_ids": _MAP, "other_config": _MAP, "ports": _RO},
    "Port": {"name": _RO, "tag": Column("optional-int"), "trunks": Column("integers"),
             "vlan_mode": Column("optional-enum", ("access", "dot1q-tunnel", "native-tagged", "native-untagged",
                                                   "trunk")),
             "bond_mode": Column("optional-enum", ("active-backup", "balance-slb", "balance-tcp")),
             "interfaces": _RO, "external_ids": _MAP, "other_config": _MAP},
    "Interface": {"name": _RO, "type": _STR, "options": _MAP, "external_ids": _MAP, "other_config": _MAP,
                  "ofport": Column("vswitchd"), "mac_in_use": Column("vswitchd")},
}
_EMPTY = {"string": "", "read-only": None, "optional-int": None, "optional-enum": None, "integers": (),
          "vswitchd": None}


def empty_value(spec: Column):
    return {} if spec.kind == "map" else _EMPTY[spec.kind]


@dataclass
class Row:
    uuid: str
    values: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.values["name"]


class Ovsdb:
    """The three tables, keyed by row uuid; names are unique within each table, as ovs-vsctl keeps them."""

    def __init__(self):
        self.tables: dict[str, dict[str, Row]] = {table: {} for table in SCHEMA}
        self._serial = 0

    def insert(self, table: str, **values) -> Row:
        self._serial += 1
        row = Row(f"{self._serial:08x}-fa4e-4000-8000-000000000000")
        for column, spec in SCHEMA[table].items():
            row.values[column] = [] if column in ("ports", "interfaces") else empty_value(spec)
        row.values.update(values)
        self.tables[table][row.uuid] = row
        return row

    def find(self, table: str, name: str) -> Row | None:
        return next((row for row in self.tables[table].values() if row.name == name), None)

    def get(self, table: str, name: str) -> Row:
        row = self.find(table, name)
        if row is None:
            raise OvsError(f'no row "{name}" in table {table}')
        return row

    def bridge_of(self, port: Row) -> Row:
        return next(b for b in self.tables["Bridge"].values() if port.uuid in b.values["ports"])

    def ports_of(self, bridge: Row) -> list[Row]:
        return [self.tables["Port"][uuid] for uuid in bridge.values["ports"]]

    def interfaces_of(self, port: Row) -> list[Row]:
        return [self.tables["Interface"][uuid] for uuid in port.values["interfaces"]]

    def add_port(self, bridge: Row, name: str, interfaces: list[str], iface_type: str = "") -> Row:
        rows = [self.insert("Interface", name=iface, type=iface_type) for iface in interfaces]
        port = self.insert("Port", name=name, interfaces=[r.uuid for r in rows])
        bridge.values["ports"].append(port.uuid)
        return port

    def delete_port(self, port: Row) -> None:
        self.bridge_of(port).values["ports"].remove(port.uuid)
        for uuid in port.values["interfaces"]:
            del self.tables["Interface"][uuid]
        del self.tables["Port"][port.uuid]

    def delete_bridge(self, bridge: Row) -> None:
        for port in self.ports_of(bridge):
            self.delete_port(port)
        del self.tables["Bridge"][bridge.uuid]


# --- values: parsed as ovs-vsctl reads them, printed as it writes them ------------------------------

def table_named(name: str) -> str:
    if name not in SCHEMA:
        raise NotModelled(f"OVSDB table {name}")
    return name


def writable_column(table: str, column: str) -> Column:
    spec = SCHEMA[table].get(column)
    if spec is None:
        raise NotModelled(f"OVSDB column {table}.{column}")
    if spec.kind == "read-only":
        raise OvsError(f"cannot modify read-only column {column} in table {table}")
    if spec.kind == "vswitchd":
        raise NotModelled(f"writing {table}.{column}, which ovs-vswitchd owns")
    return spec


_QUOTED = r'"(?:[^"\\]|\\.)*"'
_ASSIGNMENT = re.compile(rf'^([A-Za-z_][A-Za-z0-9_-]*)(?::({_QUOTED}|[^=]+))?=(.*)$', re.S)


def assign(table: str, row: Row, text: str) -> None:
    """Apply ``column=value`` or ``column:key=value`` to a row."""
    match = _ASSIGNMENT.match(text)
    if match is None or match.group(3) == "":
        raise OvsError(f'{text}: argument does not end in "=" followed by a value.')
    column, key, value = match.groups()
    spec = writable_column(table, column)
    if key is not None:
        if spec.kind != "map":
            raise OvsError(f"cannot specify key to set for non-map column {column}")
        row.values[column][parse_string(key)] = parse_string(value)
    else:
        row.values[column] = parse_value(spec, value)


def parse_string(text: str) -> str:
    if text.startswith('"'):
        try:
            return json.loads(text)
        except json.JSONDecodeError as error:
            raise OvsError(f"{text}: syntax error in string") from error
    return text


def parse_integer(spec: Column, text: str) -> int:
    if not re.fullmatch(r"-?\d+", text.strip()):
        raise OvsError(f'"{text}" is not a valid integer or range')
    number = int(text)
    if not spec.low <= number <= spec.high:
        raise OvsError(f"constraint violation: {number} is not in the valid range {spec.low} to {spec.high} "
                       "(inclusive)")
    return number


def parse_value(spec: Column, text: str):
    bare = text.strip()
    if spec.kind == "string":
        return parse_string(bare)
    if spec.kind in ("optional-int", "optional-enum") and bare == "[]":
        return None
    if spec.kind == "optional-int":
        return parse_integer(spec, bare)
    if spec.kind == "optional-enum":
        value = parse_string(bare)
        if value not in spec.choices:
            raise OvsError(f"constraint violation: {value} is not one of the allowed values "
                           f"([{', '.join(spec.choices)}])")
        return value
    if spec.kind == "integers":
        items = [item for item in re.split(r"[\s,]+", bare.strip("[]")) if item]
        return tuple(sorted({parse_integer(spec, item) for item in items}))
    return _parse_map(bare)


def _parse_map(text: str) -> dict[str, str]:
    if not (text.startswith("{") and text.endswith("}")):
        raise OvsError(f"{text}: a map value must be written {{key=value, ...}}")
    pairs = re.findall(rf'\s*({_QUOTED}|[^,=\s]+)=({_QUOTED}|[^,\s}}]*)\s*,?', text[1:-1])
    return {parse_string(key): parse_string(value) for key, value in pairs}


def json_cell(table: str, column: str, row: Row):
    """One column of a row as ovs-vsctl --format=json prints it."""
    if column == "_uuid":
        return ["uuid", row.uuid]
    value = row.values[column]
    if column in ("ports", "interfaces"):
        atoms = [["uuid", uuid] for uuid in sorted(value)]
        return atoms[0] if len(atoms) == 1 else ["set", atoms]
    kind = SCHEMA[table][column].kind
    if kind == "map":
        return ["map", [[key, value[key]] for key in sorted(value)]]
    if kind == "integers":
        return value[0] if len(value) == 1 else ["set", sorted(value)]
    if value is None:
        return ["set", []]
    return value
