"""OpenFlow tables and the numbers that mean something in them, shared by the plan and the trace."""

from __future__ import annotations

from enum import IntEnum

DEAD_VLAN = 4095  # a port the agent has not (or could not) bind: tagged here, and everything dropped
MAX_LOCAL_VLAN = 4094


class Table(IntEnum):
    """br-int tables, numbered as Neutron numbers them (neutron-lib ovs_constants)."""

    LOCAL_SWITCHING = 0  # entry: dead VLAN drop, provider -> local VLAN, parked ports
    CANARY = 23  # one drop flow: if it is gone, ovs-vswitchd restarted and the flows must be re-installed
    ARP_SPOOF = 24  # iptables_hybrid only: an instance's ARP / neighbour advertisements name its own IPs
    MAC_SPOOF = 25  # iptables_hybrid only: an instance sends from its own MACs
    TRANSIENT = 60  # NORMAL switching on local VLAN tags; the OVS firewall takes its ports' traffic from here
    # The native OVS firewall (openvswitch): reg5 = the port's ofport, reg6 = its local VLAN (= conntrack zone).
    BASE_EGRESS = 71  # anti-spoofing, DHCP/ARP/ND, then conntrack lookup of what the port sends
    RULES_EGRESS = 72  # the port's egress rules; established/related; "no longer allowed" marks
    ACCEPT_OR_INGRESS = 73  # accepted egress: to a firewalled port on this host -> its ingress, else commit
    BASE_INGRESS = 81  # ARP/ND/DHCP to the port, then conntrack lookup of what it receives
    RULES_INGRESS = 82  # the port's ingress rules; established/related; "no longer allowed" marks
    ACCEPTED_EGRESS_TRAFFIC = 91  # hook after accepted egress (goes on to 94)
    ACCEPTED_INGRESS_TRAFFIC = 92  # hook after accepted ingress (drops: the packet was already output)
    DROPPED_TRAFFIC = 93  # every firewall drop ends here, so one table counts them
    ACCEPTED_EGRESS_TRAFFIC_NORMAL = 94  # NORMAL switching of accepted traffic


class Priority(IntEnum):
    DEFAULT = 0
    NORMAL = 1
    DROP_PORT = 2  # int-br-X / phy-br-X stray traffic, parked ports
    TRANSLATE_IN = 3  # provider VLAN -> local VLAN on br-int
    TRANSLATE_OUT = 4  # local VLAN -> provider VLAN on the physical bridge
    DEAD_VLAN = 65535


COOKIE = 0x6E657574  # "neut": marks every flow neutrino installs
