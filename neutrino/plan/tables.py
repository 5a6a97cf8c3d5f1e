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


class TunnelTable(IntEnum):
    """Tunnel bridge (br-tun) tables, numbered as Neutron numbers them (neutron-lib ovs_constants)."""

    DISPATCH = 0  # from patch-int -> 2; from a tunnel port -> the table of its type; anything else dropped
    PATCH_LV_TO_TUN = 2  # from br-int: unicast -> 20, broadcast/multicast -> 22 (ARP broadcasts -> 21)
    GRE_TUN_TO_LV = 3  # GRE key -> local VLAN, then 10
    VXLAN_TUN_TO_LV = 4  # VNI -> local VLAN, then 10
    LEARN_FROM_TUN = 10  # learn (local VLAN, source MAC) -> tunnel port into 20, then out to br-int
    UCAST_TO_TUN = 20  # known MACs (of other hosts' ports, and learnt) -> their tunnel; unknown -> 22
    ARP_RESPONDER = 21  # ARP requests for other hosts' ports answered here; the rest -> 22
    FLOOD_TO_TUN = 22  # per local VLAN: to every tunnel of a host with ports on the network; else dropped


TUNNEL_TABLE_OF_TYPE = {"gre": TunnelTable.GRE_TUN_TO_LV, "vxlan": TunnelTable.VXLAN_TUN_TO_LV}


class Priority(IntEnum):
    DEFAULT = 0
    NORMAL = 1
    DROP_PORT = 2  # int-br-X / phy-br-X stray traffic, parked ports
    TRANSLATE_IN = 3  # provider VLAN -> local VLAN on br-int
    TRANSLATE_OUT = 4  # local VLAN -> provider VLAN on the physical bridge
    DEAD_VLAN = 65535


COOKIE = 0x6E657574  # "neut": marks every flow neutrino installs
# "neul": the flows the switch learns itself (br-tun table 20, from table 10's learn action). The agent
# leaves them alone: they are not in any plan, and they expire by themselves (hard_timeout).
LEARNED_COOKIE = 0x6E65756C
