"""PortFirewall -> the iptables_hybrid layout: qbr/qvb/qvo plumbing, Neutron's chains as iptables-restore
lines (each as iptables-save prints it back, checked with iptables 1.8.9), conntrack zones, and br-int's
ARP/MAC anti-spoofing flows."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from neutrino.plan import iptables_firewall
from neutrino.plan.build import build_plan
from neutrino.plan.firewall import Allow, Direction, Ethertype
from neutrino.plan.host_plan import HybridPlug
from neutrino.plan.tables import Table
from tests.unit.plan.groups import (
    HYBRID,
    default_group,
    device,
    group,
    instance,
    pair,
    plugged_here,
    rule,
    state_of,
)

VM1 = instance("vm1-port", "10.0.0.5", mac="fa:16:3e:aa:bb:cc")
WEB = group("sg-web", rule("r-ssh", protocol="tcp", port_min=22, port_max=22, prefix="10.0.0.0/24"),
            rule("r-out", "egress"), name="web")
CHAINS = ("-A neutron-openvswi-")


def _plan(ports=(VM1,), groups=(WEB,), plugged=None, zones=()):
    plugged = ports if plugged is None else plugged
    return build_plan(state_of(list(ports), list(groups)), HYBRID, plugged_here(*plugged, hybrid=True, zones=zones))


def _uncommented(rule: str) -> str:
    return re.sub(r"-m comment --comment (\"[^\"]*\"|\S+) ", "", rule)


def _chain(plan, family: int, chain: str) -> list[str]:
    return [r.rule for r in plan.filter_rules if r.family == family and r.chain == chain]


def test_chain_names_are_neutrons():
    port_id = "2c3e7b4f-a1d2-4e5f-8a9b-0c1d2e3f4a5b"
    assert [iptables_firewall.chain_name(letter, port_id) for letter in "ios"] == [
        "neutron-openvswi-i2c3e7b4f-a", "neutron-openvswi-o2c3e7b4f-a", "neutron-openvswi-s2c3e7b4f-a"]


def test_each_instance_port_expects_its_qbr_qvb_qvo_trio():
    port_id = "2c3e7b4f-a1d2-4e5f-8a9b-0c1d2e3f4a5b"
    vm = instance(port_id, "10.0.0.5")
    router = instance("qr-port", "10.0.0.1", groups=(), device_owner="network:router_interface")
    open_port = instance("open-port", "10.0.0.9", groups=(), port_security_enabled=False)
    plan = _plan([vm, router, open_port])
    assert [(p.port_id, p.tap, p.bridge, p.bridge_veth, p.ovs_veth) for p in plan.hybrid_plugs] == [
        (port_id, "tap2c3e7b4f-a1", "qbr2c3e7b4f-a1", "qvb2c3e7b4f-a1", "qvo2c3e7b4f-a1"),
        ("open-port", "tapopen-port", "qbropen-port", "qvbopen-port", "qvoopen-port"),
    ]  # the router's qr- port plugs straight into br-int
    assert all(isinstance(p, HybridPlug) and p.source and p.reason for p in plan.hybrid_plugs)


def test_example_port_gets_exactly_neutrons_ipv4_chains():
    assert iptables_firewall.restore_text_for(list(_plan().filter_rules), 4).splitlines() == [
        "*raw",
        ":neutron-openvswi-PREROUTING - [0:0]",
        '-A neutron-openvswi-PREROUTING -m physdev --physdev-in qvbvm1-port -m comment --comment '
        '"Set zone for vm1-port" -j CT --zone 4097',
        '-A neutron-openvswi-PREROUTING -i qvbvm1-port -m comment --comment "Set zone for vm1-port" -j CT --zone 4097',
        '-A neutron-openvswi-PREROUTING -m physdev --physdev-in tapvm1-port -m comment --comment '
        '"Set zone for vm1-port" -j CT --zone 4097',
        "COMMIT",
        "*filter",
        ":neutron-openvswi-sg-fallback - [0:0]",
        ":neutron-openvswi-FORWARD - [0:0]",
        ":neutron-openvswi-sg-chain - [0:0]",
        ":neutron-openvswi-INPUT - [0:0]",
        ":neutron-openvswi-ivm1-port - [0:0]",
        ":neutron-openvswi-ovm1-port - [0:0]",
        ":neutron-openvswi-svm1-port - [0:0]",
        '-A neutron-openvswi-sg-fallback -m comment --comment "Default drop rule for unmatched traffic." -j DROP',
        "-A neutron-openvswi-FORWARD -m physdev --physdev-out tapvm1-port --physdev-is-bridged -m comment "
        '--comment "Direct traffic from the VM interface to the security group chain." -j neutron-openvswi-sg-chain',
        "-A neutron-openvswi-FORWARD -m physdev --physdev-in tapvm1-port --physdev-is-bridged -m comment "
        '--comment "Direct traffic from the VM interface to the security group chain." -j neutron-openvswi-sg-chain',
        "-A neutron-openvswi-sg-chain -m physdev --physdev-out tapvm1-port --physdev-is-bridged -m comment "
        '--comment "Jump to the VM specific chain." -j neutron-openvswi-ivm1-port',
        "-A neutron-openvswi-sg-chain -m physdev --physdev-in tapvm1-port --physdev-is-bridged -m comment "
        '--comment "Jump to the VM specific chain." -j neutron-openvswi-ovm1-port',
        "-A neutron-openvswi-INPUT -m physdev --physdev-in tapvm1-port --physdev-is-bridged -m comment "
        '--comment "Direct incoming traffic from VM to the security group chain." -j neutron-openvswi-ovm1-port',
        '-A neutron-openvswi-sg-chain -m comment --comment "Accept what the port chains returned." -j ACCEPT',
        # to the VM
        '-A neutron-openvswi-ivm1-port -p udp -m udp --sport 67 --dport 68 -m comment --comment '
        '"DHCP server replies" -j RETURN',
        '-A neutron-openvswi-ivm1-port -m conntrack --ctstate INVALID -m comment --comment '
        '"Drop packets that conntrack finds invalid." -j DROP',
        '-A neutron-openvswi-ivm1-port -m conntrack --ctstate ESTABLISHED --ctdir REPLY -m comment --comment '
        '"Direct replies of an allowed connection to the RETURN chain." -j RETURN',
        '-A neutron-openvswi-ivm1-port -m conntrack --ctstate RELATED -m comment --comment '
        '"Direct packets related to an allowed connection to the RETURN chain." -j RETURN',
        "-A neutron-openvswi-ivm1-port -s 10.0.0.0/24 -p tcp -m tcp --dport 22 -m comment --comment r-ssh -j RETURN",
        '-A neutron-openvswi-ivm1-port -m comment --comment "Send unmatched traffic to the fallback chain." '
        "-j neutron-openvswi-sg-fallback",
        # from the VM
        "-A neutron-openvswi-ovm1-port -s 0.0.0.0/32 -d 255.255.255.255/32 -p udp -m udp --sport 68 --dport 67 "
        '-m comment --comment "DHCP client: discover from 0.0.0.0, request and renew from its own address" -j RETURN',
        '-A neutron-openvswi-ovm1-port -m comment --comment "Check the source against the IP/MAC pairs of the port." '
        "-j neutron-openvswi-svm1-port",
        '-A neutron-openvswi-ovm1-port -p udp -m udp --sport 68 --dport 67 -m comment --comment '
        '"DHCP client: discover from 0.0.0.0, request and renew from its own address" -j RETURN',
        '-A neutron-openvswi-ovm1-port -p udp -m udp --sport 67 --dport 68 -m comment --comment '
        '"an instance may not answer as a DHCP server" -j DROP',
        '-A neutron-openvswi-ovm1-port -m conntrack --ctstate INVALID -m comment --comment '
        '"Drop packets that conntrack finds invalid." -j DROP',
        '-A neutron-openvswi-ovm1-port -m conntrack --ctstate ESTABLISHED --ctdir REPLY -m comment --comment '
        '"Direct replies of an allowed connection to the RETURN chain." -j RETURN',
        '-A neutron-openvswi-ovm1-port -m conntrack --ctstate RELATED -m comment --comment '
        '"Direct packets related to an allowed connection to the RETURN chain." -j RETURN',
        "-A neutron-openvswi-ovm1-port -m comment --comment r-out -j RETURN",
        '-A neutron-openvswi-ovm1-port -m comment --comment "Send unmatched traffic to the fallback chain." '
        "-j neutron-openvswi-sg-fallback",
        # its only source
        "-A neutron-openvswi-svm1-port -s 10.0.0.5/32 -m mac --mac-source fa:16:3e:aa:bb:cc -m comment "
        '--comment "Allow traffic from defined IP/MAC pairs." -j RETURN',
        '-A neutron-openvswi-svm1-port -m comment --comment "Drop traffic without an IP/MAC allow rule." -j DROP',
        "COMMIT",
    ]


def test_ipv6_chains_allow_neighbour_discovery_and_drop_router_advertisements():
    plan = _plan()
    egress = _chain(plan, 6, "neutron-openvswi-ovm1-port")
    assert any("--icmpv6-type 134" in r and r.endswith("-j DROP") for r in egress)
    assert any("--sport 547 --dport 546" in r and r.endswith("-j DROP") for r in egress)
    assert any("--sport 546 --dport 547" in r and r.endswith("-j RETURN") for r in egress)
    ingress = _chain(plan, 6, "neutron-openvswi-ivm1-port")
    assert [re.search(r"--icmpv6-type (\d+)", r)[1] for r in ingress if "icmpv6-type" in r] == \
        ["130", "134", "135", "136"]
    assert _chain(plan, 6, "neutron-openvswi-svm1-port")[0] == \
        "-s fe80::f816:3eff:feaa:bbcc/128 -m mac --mac-source fa:16:3e:aa:bb:cc -m comment --comment " \
        '"Allow traffic from defined IP/MAC pairs." -j RETURN'


IN, OUT, V4, V6 = Direction.INGRESS, Direction.EGRESS, Ethertype.IPV4, Ethertype.IPV6
# Allow -> its rule in the port chain, before "-m comment --comment r -j RETURN"
ALLOW_RULES = [
    pytest.param(Allow(IN, V4), "", id="any"),
    pytest.param(Allow(IN, V4, 6, 22, 22), "-p tcp -m tcp --dport 22", id="tcp single port"),
    pytest.param(Allow(IN, V4, 17, 1000, 2000), "-p udp -m udp -m multiport --dports 1000:2000", id="udp range"),
    pytest.param(Allow(IN, V6, 132, 5, 5), "-p sctp -m sctp --dport 5", id="sctp"),
    pytest.param(Allow(IN, V4, 33, 5, 6), "-p dccp -m dccp -m multiport --dports 5:6", id="dccp range"),
    pytest.param(Allow(IN, V4, 136, 5, 5), "-p udplite -m multiport --dports 5", id="udplite"),
    pytest.param(Allow(IN, V4, 1), "-p icmp", id="icmp"),
    pytest.param(Allow(IN, V4, 1, icmp_type=8), "-p icmp -m icmp --icmp-type 8", id="icmp type"),
    pytest.param(Allow(IN, V4, 1, icmp_type=3, icmp_code=4), "-p icmp -m icmp --icmp-type 3/4", id="icmp code"),
    pytest.param(Allow(IN, V6, 58, icmp_type=128), "-p ipv6-icmp -m icmp6 --icmpv6-type 128", id="icmpv6 type"),
    pytest.param(Allow(IN, V4, 47), "-p gre", id="gre by name as iptables-save prints it"),
    pytest.param(Allow(IN, V4, 113), "-p 113", id="a protocol without a netbase name"),
    pytest.param(Allow(IN, V4, 0), "", id="protocol 0 is any in iptables"),
    pytest.param(Allow(IN, V4, remote_cidr="10.1.0.0/16"), "-s 10.1.0.0/16", id="ingress prefix is the source"),
    pytest.param(Allow(OUT, V4, 6, 443, 443, remote_cidr="10.1.0.9/32"), "-d 10.1.0.9/32 -p tcp -m tcp --dport 443",
                 id="egress prefix is the destination"),
    pytest.param(Allow(IN, V6, remote_cidr="2001:db8::/64"), "-s 2001:db8::/64", id="IPv6 prefix"),
]


@pytest.mark.parametrize(("allow", "expected"), ALLOW_RULES)
def test_each_allow_becomes_one_rule_as_iptables_save_prints_it(allow, expected):
    args = iptables_firewall._allow_args(replace(allow, source="r"))
    assert iptables_firewall._commented("r", *args, "-j RETURN") == \
        (f"{expected} -m comment --comment r -j RETURN" if expected else "-m comment --comment r -j RETURN")


def test_rules_go_to_the_chain_of_their_direction_and_family():
    groups = [group("sg-web", rule("in4", protocol="tcp"), rule("in6", ethertype="IPv6", protocol="tcp"),
                    rule("out4", "egress", protocol="udp"), rule("out6", "egress", "IPv6", protocol="udp"))]
    plan = _plan(groups=groups)
    placed = {(r.family, r.chain, r.source) for r in plan.filter_rules if r.source in {"in4", "in6", "out4", "out6"}}
    assert placed == {(4, "neutron-openvswi-ivm1-port", "in4"), (6, "neutron-openvswi-ivm1-port", "in6"),
                      (4, "neutron-openvswi-ovm1-port", "out4"), (6, "neutron-openvswi-ovm1-port", "out6")}


def test_remote_group_is_one_rule_per_member_address():
    vm2 = instance("vm2-port", "10.0.0.6", groups=("sg-default",), host="compute2")
    vm1 = instance("vm1-port", "10.0.0.5", groups=("sg-default",))
    plan = _plan([vm1, vm2], [default_group()], plugged=[vm1])
    assert [r for r in _chain(plan, 4, "neutron-openvswi-ivm1-port") if "d-in4" in r] == [
        "-s 10.0.0.5/32 -m comment --comment d-in4 -j RETURN",
        "-s 10.0.0.6/32 -m comment --comment d-in4 -j RETURN",
    ]


def test_established_connections_meet_the_rules_again_only_replies_and_related_pass_before_them():
    for family in (4, 6):
        for chain in ("neutron-openvswi-ivm1-port", "neutron-openvswi-ovm1-port"):
            rules = _chain(_plan(), family, chain)
            states = [r for r in rules if "--ctstate" in r]
            assert [re.search(r"--ctstate (\S+)", r)[1] for r in states] == ["INVALID", "ESTABLISHED", "RELATED"]
            assert "--ctdir REPLY" in states[1]
            first_rule = min(i for i, r in enumerate(rules) if "--comment r-" in r or "fallback" in r)
            assert all(rules.index(r) < first_rule for r in states)


def test_allowed_address_pairs_are_sources_of_the_spoof_chain():
    vm = instance("vm1-port", "10.0.0.5", mac="fa:16:3e:aa:bb:cc",
                  allowed_address_pairs=(pair("10.0.0.100"), pair("10.0.2.0/24", "fa:16:3e:11:22:33"),
                                         pair("0.0.0.0/0")))
    assert [_uncommented(r) for r in _chain(_plan([vm]), 4, "neutron-openvswi-svm1-port")] == [
        "-s 10.0.0.5/32 -m mac --mac-source fa:16:3e:aa:bb:cc -j RETURN",
        "-s 10.0.0.100/32 -m mac --mac-source fa:16:3e:aa:bb:cc -j RETURN",
        "-s 10.0.2.0/24 -m mac --mac-source fa:16:3e:11:22:33 -j RETURN",
        "-m mac --mac-source fa:16:3e:aa:bb:cc -j RETURN",  # a /0 pair: any address from this MAC
        "-j DROP",
    ]


def test_port_security_off_and_trusted_ports_are_accepted_without_chains():
    open_port = instance("open-port", "10.0.0.9", groups=(), port_security_enabled=False)
    router = instance("qr-port", "10.0.0.1", groups=(), device_owner="network:router_interface")
    plan = _plan([open_port, router], groups=())
    assert [(r.chain, r.rule) for r in plan.filter_rules if r.family == 4 and r.source.startswith("port:")] == [
        ("neutron-openvswi-FORWARD", "-m physdev --physdev-out tapopen-port --physdev-is-bridged -m comment "
                                     '--comment "Accept all packets when port security is disabled." -j ACCEPT'),
        ("neutron-openvswi-FORWARD", "-m physdev --physdev-in tapopen-port --physdev-is-bridged -m comment "
                                     '--comment "Accept all packets when port security is disabled." -j ACCEPT'),
        ("neutron-openvswi-INPUT", "-m physdev --physdev-in tapopen-port --physdev-is-bridged -m comment "
                                   '--comment "Accept all packets when port security is disabled." -j ACCEPT'),
        ("neutron-openvswi-FORWARD", "-m physdev --physdev-out tapqr-port --physdev-is-bridged -m comment "
                                     '--comment "Accept all packets when port is trusted." -j ACCEPT'),
        ("neutron-openvswi-FORWARD", "-m physdev --physdev-in tapqr-port --physdev-is-bridged -m comment "
                                     '--comment "Accept all packets when port is trusted." -j ACCEPT'),
    ]
    assert not any(r.table == "raw" and r.chain.startswith("neutron") for r in plan.filter_rules)
    assert not any(f.source.startswith("anti-spoofing:") for f in plan.flows)


def test_filtered_ports_jump_to_sg_chain_before_unfiltered_ports_are_accepted():
    open_port = instance("a-open-port", "10.0.0.9", groups=(), port_security_enabled=False)
    forward = _chain(_plan([VM1, open_port]), 4, "neutron-openvswi-FORWARD")
    assert [r.rsplit(" -j ", 1)[1] for r in forward] == ["neutron-openvswi-sg-chain"] * 2 + ["ACCEPT"] * 2


def test_builtin_chains_jump_to_ours_once_and_restore_text_leaves_them_to_the_realizer():
    plan = _plan()
    builtin = [(r.family, r.table, r.text()) for r in plan.filter_rules if not r.chain.startswith("neutron")]
    assert builtin == [
        (family, table, f'-A {chain} -m comment --comment "neutrino: security group chains" -j neutron-openvswi-{chain}')
        for family in (4, 6) for table, chain in (("filter", "FORWARD"), ("filter", "INPUT"), ("raw", "PREROUTING"))]
    assert "-A FORWARD" not in iptables_firewall.restore_text_for(list(plan.filter_rules), 4)


def test_every_rule_has_a_comment_a_source_and_a_reason():
    vm1 = instance("vm1-port", "10.0.0.5", "2001:db8::5", groups=("sg-default", "sg-web"),
                   allowed_address_pairs=(pair("10.0.0.100"),))
    vm2 = instance("vm2-port", "10.0.0.6", groups=("sg-default",))
    open_port = instance("open-port", "10.0.0.9", groups=(), port_security_enabled=False)
    state = state_of([vm1, vm2, open_port], [default_group(), WEB])
    plan = build_plan(state, HYBRID, plugged_here(vm1, vm2, open_port, hybrid=True))
    rule_ids = {r.id for g in state.security_groups.values() for r in g.rules}
    assert len(plan.filter_rules) > 100
    for filter_rule in plan.filter_rules:
        assert "-m comment --comment " in filter_rule.rule, filter_rule
        assert filter_rule.reason, filter_rule
        kind, _, port_id = filter_rule.source.partition(":")
        assert filter_rule.source == "firewall" or filter_rule.source in rule_ids or \
            (kind in ("port", "anti-spoofing") and port_id in state.ports), filter_rule
    for filter_rule in plan.filter_rules:
        if filter_rule.source in rule_ids:  # a dropped or passed packet leads back to its rule
            assert f"--comment {filter_rule.source} " in filter_rule.rule


# conntrack zones


def test_zones_start_at_4097_in_port_id_order_without_facts():
    assert iptables_firewall.conntrack_zones_for(["c", "a", "b"], {}) == {"a": 4097, "b": 4098, "c": 4099}


def test_a_port_keeps_its_zone_and_a_new_port_gets_the_next_above_the_highest():
    in_use = {"b": 4200, "c": 4098}
    assert iptables_firewall.conntrack_zones_for(["a", "b", "c"], in_use) == {"a": 4201, "b": 4200, "c": 4098}


def test_zones_that_cannot_be_kept_are_renumbered():
    in_use = {"a": 5, "b": 4097, "c": 4097}  # 5: a local VLAN's zone; c: a duplicate
    assert iptables_firewall.conntrack_zones_for(["a", "b", "c"], in_use) == {"a": 4098, "b": 4097, "c": 4099}


def test_zones_wrap_to_the_lowest_free_one_after_65535():
    assert iptables_firewall.conntrack_zones_for(["a", "b"], {"a": 65535}) == {"a": 65535, "b": 4097}


def test_restarting_with_the_zones_read_back_from_the_host_renumbers_no_live_port():
    vm_b = instance("vm-b", "10.0.0.6")
    first = _plan([VM1, vm_b])
    read_back = tuple(sorted({(re.search(r"Set zone for (\S+)\"", r.rule)[1], int(r.rule.rsplit(" ", 1)[1]))
                              for r in first.filter_rules if r.table == "raw" and "--zone" in r.rule}))
    assert read_back == (("vm-b", 4097), ("vm1-port", 4098))
    vm_a = instance("vm-a", "10.0.0.7")  # sorts first: without the facts it would take 4097
    again = _plan([VM1, vm_b, vm_a], zones=read_back)
    zones = {r.source: r.rule.rsplit(" ", 1)[1] for r in again.filter_rules if r.table == "raw" and r.family == 4
             and r.source.startswith("port:")}
    assert zones == {"port:vm-a": "4099", "port:vm-b": "4097", "port:vm1-port": "4098"}


# br-int's part: ARP and MAC spoofing (iptables never sees ARP)


def test_arp_and_mac_spoofing_are_checked_in_br_int_tables_24_and_25():
    vm = instance("vm1-port", "10.0.0.5", mac="fa:16:3e:aa:bb:cc", allowed_address_pairs=(pair("10.0.0.100"),))
    plan = _plan([vm])
    qvo = device("vm1-port", hybrid=True)
    assert sorted(f.text().split(",", 1)[1] for f in plan.flows if f.table in (Table.ARP_SPOOF, Table.MAC_SPOOF)
                  or f.source.startswith("anti-spoofing:")) == sorted([
        "table=24,priority=0,actions=drop",
        "table=25,priority=0,actions=drop",
        f"table=0,priority=10,arp,in_port={qvo},actions=resubmit(,24)",
        f"table=0,priority=10,icmp6,in_port={qvo},icmp_type=136,actions=resubmit(,24)",
        f"table=0,priority=9,in_port={qvo},actions=resubmit(,25)",
        f"table=24,priority=2,arp,in_port={qvo},arp_spa=10.0.0.5,actions=resubmit(,25)",
        f"table=24,priority=2,arp,in_port={qvo},arp_spa=10.0.0.100,actions=resubmit(,25)",
        f"table=24,priority=2,icmp6,in_port={qvo},icmp_type=136,nd_target=fe80::f816:3eff:feaa:bbcc,"
        "actions=resubmit(,25)",
        f"table=25,priority=2,in_port={qvo},dl_src=fa:16:3e:aa:bb:cc,actions=resubmit(,60)",
    ])


def test_filtered_port_plugged_without_its_qvo_is_cut_off_rather_than_left_unfiltered():
    plan = build_plan(state_of([VM1], [WEB]), HYBRID, plugged_here(VM1))  # a bare tap on br-int
    cut = [(f.table, f.priority, f.match, f.actions) for f in plan.flows if f.source == "port:vm1-port"]
    assert cut == [(0, 10, f"in_port={device('vm1-port')}", "drop"), (60, 90, "dl_dst=fa:16:3e:aa:bb:cc", "drop")]
    assert "qvovm1-port" in plan.flows[[f.source for f in plan.flows].index("port:vm1-port")].reason


def test_same_input_same_rules():
    assert _plan() == _plan()
