"""One OpenFlow table with conjunctive matches and packets sent into it: what the switch decides for each.

Shared by tests/unit/host/test_fake_classifier.py (the fake switch decides so) and
tests/host/test_fake_parity.py (the real Open vSwitch decides as the fake does).
"""

from __future__ import annotations

TABLE = 3
FLOWS = [
    # conjunction 1: source 10.0.0.1, .2 or .4 and tcp 80; conjunction 2: source 10.0.0.2 and tcp 443
    "table=3,priority=10,ip,nw_src=10.0.0.1,actions=conjunction(1,1/2)",
    "table=3,priority=10,ip,nw_src=10.0.0.2,actions=conjunction(1,1/2),conjunction(2,1/2)",
    "table=3,priority=10,ip,nw_src=10.0.0.4,actions=conjunction(1,1/2)",
    "table=3,priority=10,tcp,tp_dst=80,actions=conjunction(1,2/2)",
    "table=3,priority=10,tcp,tp_dst=443,actions=conjunction(2,2/2)",
    "table=3,priority=10,conj_id=1,ip,actions=resubmit(,5)",
    "table=3,priority=10,conj_id=2,ip,actions=resubmit(,6)",
    # conjunction 3 has no conj_id flow
    "table=3,priority=8,ip,nw_src=10.0.0.3,actions=conjunction(3,1/2)",
    "table=3,priority=8,udp,actions=conjunction(3,2/2)",
    # conjunction 4, above 1: its conj_id flow also asks for reg1=1
    "table=3,priority=12,ip,nw_src=10.0.0.4,actions=conjunction(4,1/2)",
    "table=3,priority=12,tcp,actions=conjunction(4,2/2)",
    "table=3,priority=12,conj_id=4,ip,reg1=1,actions=resubmit(,8)",
    # plain flows above and below the conjunctions
    "table=3,priority=20,tcp,tp_dst=22,actions=resubmit(,7)",
    "table=3,priority=5,ip,actions=drop",
]
# (packet as ofproto/trace reads it, the flow that decides as ofproto/trace heads it, its actions)
PROBES = [
    ("tcp,nw_src=10.0.0.1,tp_dst=80", "conj_id=1,ip, priority 10", "resubmit(,5)"),
    ("tcp,nw_src=10.0.0.2,tp_dst=443", "conj_id=2,ip, priority 10", "resubmit(,6)"),
    ("tcp,nw_src=10.0.0.2,tp_dst=80", "conj_id=1,ip, priority 10", "resubmit(,5)"),
    ("tcp,nw_src=10.0.0.1,tp_dst=443", "ip, priority 5", "drop"),  # one clause of each: no conjunction
    ("tcp,nw_src=10.0.0.1,tp_dst=22", "tcp,tp_dst=22, priority 20", "resubmit(,7)"),  # above the conjunctions
    ("udp,nw_src=10.0.0.3,udp_dst=53", "ip, priority 5", "drop"),  # complete, but no conj_id flow
    ("tcp,reg1=1,nw_src=10.0.0.4,tp_dst=80", "conj_id=4,ip,reg1=0x1, priority 12", "resubmit(,8)"),
    # conjunction 4 completes first; its search finds only the plain flow, which wins over conjunction 1
    ("tcp,nw_src=10.0.0.4,tp_dst=80", "ip, priority 5", "drop"),
    ("udp,nw_src=10.0.0.9,udp_dst=80", "ip, priority 5", "drop"),
    ("arp,arp_spa=10.0.0.1", None, None),  # nothing matches
]
