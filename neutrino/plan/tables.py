"""OpenFlow tables and the numbers that mean something in them, shared by the plan and the trace."""

from __future__ import annotations

from enum import IntEnum

DEAD_VLAN = 4095  # a port the agent has not (or could not) bind: tagged here, and everything dropped
MAX_LOCAL_VLAN = 4094


class Table(IntEnum):
    """br-int tables, numbered as Neutron numbers them (neutron-lib ovs_constants)."""

    LOCAL_SWITCHING = 0  # entry: dead VLAN drop, provider -> local VLAN, parked ports
    CANARY = 23  # one drop flow: if it is gone, ovs-vswitchd restarted and the flows must be re-installed
    TRANSIENT = 60  # NORMAL switching on local VLAN tags (the firewall hooks in here later)


class Priority(IntEnum):
    DEFAULT = 0
    NORMAL = 1
    DROP_PORT = 2  # int-br-X / phy-br-X stray traffic, parked ports
    TRANSLATE_IN = 3  # provider VLAN -> local VLAN on br-int
    TRANSLATE_OUT = 4  # local VLAN -> provider VLAN on the physical bridge
    DEAD_VLAN = 65535


COOKIE = 0x6E657574  # "neut": marks every flow neutrino installs
