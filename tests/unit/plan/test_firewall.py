"""Security groups -> each bound port's PortFirewall: literal groups and rules in, expected Allows out."""

from __future__ import annotations

import pytest

from neutrino.model.state import ApiState
from neutrino.plan import firewall
from neutrino.plan.build import build_plan
from neutrino.plan.firewall import (
    BASE_RULES,
    Allow,
    Direction,
    Ethertype,
    Filtering,
    MacIpPair,
    Own,
    Verdict,
)
from neutrino.plan.tables import Table
from tests.unit.plan.groups import (
    HYBRID,
    NOOP,
    OVS,
    VLAN,
    default_group,
    device,
    group,
    instance,
    pair,
    plugged_here,
    rule,
    state_of,
)

IN, OUT, V4, V6 = Direction.INGRESS, Direction.EGRESS, Ethertype.IPV4, Ethertype.IPV6
VM1 = instance("vm1-port", "10.0.0.5")


def _firewalls(ports, groups, plugged=None, config=OVS):
    state = state_of(ports, groups)
    facts = plugged_here(*(plugged if plugged is not None else ports[:1]))
    return firewall.firewalls_for(state, config, facts, {"net-a": VLAN})


def _allows(*rules, members=()):
    """The Allows of vm1 (10.0.0.5, group sg-web holding these rules), each remote group resolved to its
    members' addresses; members: more ports, anywhere."""
    ports, groups = [VM1, *members], [group("sg-web", *rules)]
    [port_firewall] = _firewalls(ports, groups)
    resolved = firewall.expanded(port_firewall, firewall.members_for(state_of(ports, groups)))
    return [(a.direction, a.ethertype, a.protocol, a.port_min, a.port_max, a.icmp_type, a.icmp_code,
             a.remote_cidr) for a in resolved.allows]


# (rule, expected (direction, ethertype, protocol, port_min, port_max, icmp_type, icmp_code, remote_cidr))
RULE_FIELDS = [
    pytest.param(rule("r"), (IN, V4, None, None, None, None, None, None), id="ingress IPv4 any"),
    pytest.param(rule("r", "egress"), (OUT, V4, None, None, None, None, None, None), id="egress"),
    pytest.param(rule("r", ethertype="IPv6"), (IN, V6, None, None, None, None, None, None), id="IPv6"),
    pytest.param(rule("r", protocol="any"), (IN, V4, None, None, None, None, None, None), id="protocol any"),
    pytest.param(rule("r", protocol="tcp"), (IN, V4, 6, None, None, None, None, None), id="tcp by name"),
    pytest.param(rule("r", protocol="6"), (IN, V4, 6, None, None, None, None, None), id="tcp by number"),
    pytest.param(rule("r", protocol="UDP"), (IN, V4, 17, None, None, None, None, None), id="udp upper case"),
    pytest.param(rule("r", protocol="17"), (IN, V4, 17, None, None, None, None, None), id="udp by number"),
    pytest.param(rule("r", protocol="sctp"), (IN, V4, 132, None, None, None, None, None), id="sctp"),
    pytest.param(rule("r", protocol="esp"), (IN, V4, 50, None, None, None, None, None), id="esp"),
    pytest.param(rule("r", protocol="112"), (IN, V4, 112, None, None, None, None, None), id="vrrp by number"),
    pytest.param(rule("r", protocol="icmp"), (IN, V4, 1, None, None, None, None, None), id="icmp"),
    pytest.param(rule("r", ethertype="IPv6", protocol="icmp"), (IN, V6, 58, None, None, None, None, None),
                 id="icmp of an IPv6 rule is ipv6-icmp"),
    pytest.param(rule("r", ethertype="IPv6", protocol="1"), (IN, V6, 58, None, None, None, None, None),
                 id="1 of an IPv6 rule is 58"),
    pytest.param(rule("r", ethertype="IPv6", protocol="icmpv6"), (IN, V6, 58, None, None, None, None, None),
                 id="icmpv6"),
    pytest.param(rule("r", ethertype="IPv6", protocol="ipv6-icmp"), (IN, V6, 58, None, None, None, None, None),
                 id="ipv6-icmp"),
    pytest.param(rule("r", protocol="tcp", port_min=22, port_max=22), (IN, V4, 6, 22, 22, None, None, None),
                 id="single port"),
    pytest.param(rule("r", protocol="udp", port_min=1000, port_max=2000), (IN, V4, 17, 1000, 2000, None, None, None),
                 id="port range"),
    pytest.param(rule("r", protocol="tcp", port_min=1, port_max=65535), (IN, V4, 6, None, None, None, None, None),
                 id="1-65535 is every port"),
    pytest.param(rule("r", protocol="icmp", port_min=8), (IN, V4, 1, None, None, 8, None, None), id="icmp type"),
    pytest.param(rule("r", protocol="icmp", port_min=3, port_max=4), (IN, V4, 1, None, None, 3, 4, None),
                 id="icmp type and code"),
    pytest.param(rule("r", protocol="icmp", port_min=0, port_max=0), (IN, V4, 1, None, None, 0, 0, None),
                 id="icmp echo reply type 0 code 0"),
    pytest.param(rule("r", ethertype="IPv6", protocol="ipv6-icmp", port_min=128),
                 (IN, V6, 58, None, None, 128, None, None), id="icmpv6 type"),
    pytest.param(rule("r", prefix="192.168.1.0/24"), (IN, V4, None, None, None, None, None, "192.168.1.0/24"),
                 id="remote prefix"),
    pytest.param(rule("r", prefix="192.168.1.7/24"), (IN, V4, None, None, None, None, None, "192.168.1.0/24"),
                 id="remote prefix host bits dropped"),
    pytest.param(rule("r", prefix="0.0.0.0/0"), (IN, V4, None, None, None, None, None, None), id="/0 is any peer"),
    pytest.param(rule("r", "egress", "IPv6", "tcp", 443, 443, "2001:db8::/32"),
                 (OUT, V6, 6, 443, 443, None, None, "2001:db8::/32"), id="egress IPv6 prefix"),
]


@pytest.mark.parametrize(("security_group_rule", "expected"), RULE_FIELDS)
def test_each_rule_field_is_read_as_neutron_defines_it(security_group_rule, expected):
    assert _allows(security_group_rule) == [expected]


def test_remote_group_is_every_member_address_of_the_rules_ethertype_on_any_host():
    members = [
        instance("vm2-port", "10.0.0.6", "2001:db8::6", host="compute2"),  # another host: still a member
        instance("vm3-port", "10.0.0.7", allowed_address_pairs=(pair("10.0.9.0/24"),), host=""),  # unbound too
        instance("vm4-port", "10.0.0.8", groups=("sg-other",)),  # not a member
    ]
    assert _allows(rule("r", protocol="tcp", port_min=22, port_max=22, remote_group="sg-web"),
                   members=members) == [
        (IN, V4, 6, 22, 22, None, None, cidr) for cidr in ("10.0.0.5/32", "10.0.0.6/32", "10.0.0.7/32",
                                                            "10.0.9.0/24")]
    assert _allows(rule("r", ethertype="IPv6", remote_group="sg-web"), members=members) == [
        (IN, V6, None, None, None, None, None, "2001:db8::6/128")]


def test_remote_group_rule_is_one_allow_naming_the_group_whatever_its_members():
    members = [instance("vm2-port", "10.0.0.6", host="compute2")]
    for ports in ([VM1], [VM1, *members]):
        [port_firewall] = _firewalls(ports, [group("sg-web", rule("r", protocol="tcp", remote_group="sg-web"))])
        assert [(a.source, a.remote_group_id, a.remote_cidr) for a in port_firewall.allows] == [
            ("r", "sg-web", None)]


def test_empty_remote_group_admits_nothing():
    assert _allows(rule("r", remote_group="sg-empty")) == []
    assert _allows(rule("r", ethertype="IPv6", remote_group="sg-web")) == []  # vm1 has no IPv6 address


def test_allow_cites_its_rule_and_says_which_group_and_rule_in_words():
    [port_firewall] = _firewalls([VM1], [group("sg-web", rule("r-ssh", protocol="tcp", port_min=22, port_max=22,
                                                               prefix="10.9.0.0/16"), name="web")])
    [allow] = port_firewall.allows
    assert allow.source == "r-ssh"
    assert allow.reason == "security group web (sg-web) rule r-ssh: ingress IPv4 tcp 22 from 10.9.0.0/16"


def test_remote_group_allow_names_the_group_and_once_resolved_the_member():
    vm = instance("vm1-port", "10.0.0.5", groups=("sg-default",))
    [port_firewall] = _firewalls([vm], [default_group()])
    remote = [a for a in port_firewall.allows if a.remote_group_id]
    assert [a.reason for a in remote] == [
        f"security group default (sg-default) rule {rule_id}: ingress {ethertype} any protocol from members of "
        "default (sg-default)" for rule_id, ethertype in (("d-in4", "IPv4"), ("d-in6", "IPv6"))]
    members = firewall.members_for(state_of([vm], [default_group()]))
    assert [a.reason for allow in remote for a in firewall.resolved(allow, members)] == [
        "security group default (sg-default) rule d-in4: ingress IPv4 any protocol from members of "
        "default (sg-default): 10.0.0.5/32"]


def test_default_group_allows_any_egress_and_ingress_from_its_members():
    vm1 = instance("vm1-port", "10.0.0.5", "2001:db8::5", groups=("sg-default",))
    vm2 = instance("vm2-port", "10.0.0.6", groups=("sg-default",), host="compute2")
    [port_firewall] = _firewalls([vm1, vm2], [default_group()])
    assert [(a.source, a.direction, a.ethertype, a.protocol, a.remote_group_id) for a in port_firewall.allows] == [
        ("d-eg4", OUT, V4, None, None),
        ("d-eg6", OUT, V6, None, None),
        ("d-in4", IN, V4, None, "sg-default"),
        ("d-in6", IN, V6, None, "sg-default"),
    ]
    resolved = firewall.expanded(port_firewall, firewall.members_for(state_of([vm1, vm2], [default_group()])))
    assert [(a.source, a.remote_cidr) for a in resolved.allows if a.remote_group_id] == [
        ("d-in4", "10.0.0.5/32"), ("d-in4", "10.0.0.6/32"), ("d-in6", "2001:db8::5/128")]


def test_new_group_without_rules_admits_nothing_but_the_base_rules():
    vm = instance("vm1-port", "10.0.0.5", groups=("sg-empty",))
    [port_firewall] = _firewalls([vm], [group("sg-empty")])
    assert port_firewall.allows == () and port_firewall.is_filtered
    assert port_firewall.base_rules == BASE_RULES


def test_rules_of_every_group_of_the_port_apply():
    vm = instance("vm1-port", "10.0.0.5", groups=("sg-b", "sg-a"))
    groups = [group("sg-a", rule("a-ssh", protocol="tcp", port_min=22, port_max=22)),
              group("sg-b", rule("b-web", protocol="tcp", port_min=80, port_max=80))]
    [port_firewall] = _firewalls([vm], groups)
    assert [a.source for a in port_firewall.allows] == ["a-ssh", "b-web"]  # in group id order


def test_membership_change_changes_the_members_and_no_port_firewall():
    web = group("sg-web", rule("w-db", "egress", protocol="tcp", port_min=5432, port_max=5432, remote_group="sg-db"))
    other = group("sg-other", rule("o-ssh", protocol="tcp", port_min=22, port_max=22))
    groups = [web, other, group("sg-db")]
    vm1 = instance("vm1-port", "10.0.0.5", groups=("sg-web",))
    vm2 = instance("vm2-port", "10.0.0.6", groups=("sg-other",))
    db1 = instance("db1-port", "10.0.1.1", groups=("sg-db",), host="compute2")
    db2 = instance("db2-port", "10.0.1.2", groups=("sg-db",), host="compute2")
    before = _firewalls([vm1, vm2, db1], groups, plugged=[vm1, vm2])
    after = _firewalls([vm1, vm2, db1, db2], groups, plugged=[vm1, vm2])
    assert before == after
    assert firewall.members_for(state_of([vm1, vm2, db1], groups))[("sg-db", V4)] == ("10.0.1.1/32",)
    assert firewall.members_for(state_of([vm1, vm2, db1, db2], groups))[("sg-db", V4)] == (
        "10.0.1.1/32", "10.0.1.2/32")


def test_anti_spoofing_pairs_are_fixed_ips_address_pairs_and_the_link_local_address():
    vm = instance("vm1-port", "10.0.0.5", "2001:db8::5", mac="fa:16:3e:aa:bb:cc",
                  allowed_address_pairs=(pair("10.0.0.100"), pair("10.0.2.0/24", "FA:16:3E:11:22:33")))
    [port_firewall] = _firewalls([vm], [group("sg-web")])
    assert port_firewall.pairs == (
        MacIpPair("fa:16:3e:aa:bb:cc", "10.0.0.5/32", "fixed IP 10.0.0.5"),
        MacIpPair("fa:16:3e:aa:bb:cc", "2001:db8::5/128", "fixed IP 2001:db8::5"),
        MacIpPair("fa:16:3e:aa:bb:cc", "10.0.0.100/32", "allowed address pair 10.0.0.100"),
        MacIpPair("fa:16:3e:11:22:33", "10.0.2.0/24", "allowed address pair 10.0.2.0/24"),
        MacIpPair("fa:16:3e:aa:bb:cc", "fe80::f816:3eff:feaa:bbcc/128", "IPv6 link-local address of fa:16:3e:aa:bb:cc"),
    )
    assert port_firewall.macs == ("fa:16:3e:aa:bb:cc", "fa:16:3e:11:22:33")


@pytest.mark.parametrize(("mac", "link_local"), [
    ("fa:16:3e:aa:bb:cc", "fe80::f816:3eff:feaa:bbcc"),
    ("00:00:00:00:00:01", "fe80::200:ff:fe00:1"),  # the universal/local bit is set, not cleared
    ("02:00:00:00:00:00", "fe80::ff:fe00:0"),
])
def test_link_local_address_is_eui64_of_the_mac(mac, link_local):
    assert firewall.link_local_for(mac) == link_local


def test_port_security_disabled_port_is_open_and_unfiltered():
    vm = instance("vm1-port", "10.0.0.5", groups=(), port_security_enabled=False)
    [port_firewall] = _firewalls([vm], [])
    assert (port_firewall.filtering, port_firewall.is_filtered) == (Filtering.PORT_SECURITY_DISABLED, False)
    assert port_firewall.pairs == port_firewall.allows == port_firewall.base_rules == ()
    assert "port_security_enabled is false" in port_firewall.reason


@pytest.mark.parametrize("owner", ["network:router_interface", "network:dhcp", "network:router_gateway"])
def test_network_owned_ports_are_trusted_not_filtered(owner):
    port = instance("qr-port", "10.0.0.1", device_owner=owner)
    [port_firewall] = _firewalls([port], [group("sg-web", rule("r"))])
    assert port_firewall.filtering is Filtering.TRUSTED
    assert port_firewall.pairs == port_firewall.allows == ()
    assert owner in port_firewall.reason


def test_only_ports_bound_and_plugged_here_get_a_firewall():
    ports = [VM1, instance("vm2-port", "10.0.0.6"), instance("vm3-port", "10.0.0.7", host="compute2"),
             instance("vm4-port", "10.0.0.8", admin_state_up=False)]
    firewalls = _firewalls(ports, [group("sg-web")], plugged=[VM1, ports[2], ports[3]])  # vm2 is not plugged
    assert [(f.port_id, f.device, f.ofport, f.local_vlan, f.mac) for f in firewalls] == [
        ("vm1-port", device("vm1-port"), 7, VLAN, VM1.mac_address)]


def test_rule_with_a_protocol_nobody_knows_admits_nothing_rather_than_everything():
    assert _allows(rule("r", protocol="no-such-protocol")) == []


def test_rule_whose_prefix_has_the_other_ethertype_admits_nothing():
    assert _allows(rule("r", ethertype="IPv6", prefix="10.0.0.0/8")) == []


def test_base_rules_are_neutrons_fixed_allows_and_drops():
    fixed = {(r.name, r.direction, r.verdict, r.ethertype, r.own, r.protocol, r.source_port, r.dest_port,
              r.icmp_types) for r in BASE_RULES}
    assert fixed == {
        ("arp", OUT, Verdict.ALLOW, Ethertype.ARP, Own.SOURCE, None, None, None, ()),
        ("rarp", OUT, Verdict.ALLOW, Ethertype.RARP, Own.SOURCE, None, None, None, ()),
        ("icmpv6-out", OUT, Verdict.ALLOW, V6, Own.SOURCE, 58, None, None, (130, 133, 135)),
        ("neighbour-advertisement", OUT, Verdict.ALLOW, V6, Own.TARGET, 58, None, None, (136,)),
        ("dhcp-client", OUT, Verdict.ALLOW, V4, Own.SOURCE_OR_UNSPECIFIED, 17, 68, 67, ()),
        ("dhcpv6-client", OUT, Verdict.ALLOW, V6, Own.SOURCE, 17, 546, 547, ()),
        ("dhcp-server", OUT, Verdict.DROP, V4, Own.ANY, 17, 67, 68, ()),
        ("dhcpv6-server", OUT, Verdict.DROP, V6, Own.ANY, 17, 547, 546, ()),
        ("router-advertisement", OUT, Verdict.DROP, V6, Own.ANY, 58, None, None, (134,)),
        ("arp-in", IN, Verdict.ALLOW, Ethertype.ARP, Own.ANY, None, None, None, ()),
        ("icmpv6-in", IN, Verdict.ALLOW, V6, Own.ANY, 58, None, None, (130, 134, 135, 136)),
        ("dhcp-offer", IN, Verdict.ALLOW, V4, Own.ANY, 17, 67, 68, ()),
        ("dhcpv6-reply", IN, Verdict.ALLOW, V6, Own.ANY, 17, 547, 546, ()),
    }


def test_firewalls_do_not_depend_on_the_order_the_api_listed_things_in():
    rules = [rule("r2", protocol="tcp"), rule("r1", remote_group="sg-web"), rule("r3", "egress")]
    ports = [VM1, instance("vm2-port", "10.0.0.6"), instance("vm3-port", "10.0.0.7", host="compute2")]
    forward = _firewalls(ports, [group("sg-web", *rules)], plugged=ports[:2])
    backward = _firewalls(ports[::-1], [group("sg-web", *rules[::-1])], plugged=ports[:2])
    assert forward == backward
    assert [a.source for a in forward[0].allows] == ["r1", "r2", "r3"]
    assert firewall.members_for(state_of(ports, [group("sg-web", *rules)])) == \
        firewall.members_for(state_of(ports[::-1], [group("sg-web", *rules[::-1])]))


def test_every_allow_carries_its_rule_id_and_a_reason():
    rules = [rule("r1", protocol="tcp", port_min=22, port_max=22), rule("r2", remote_group="sg-web"),
             rule("r3", "egress", "IPv6", prefix="2001:db8::/64")]
    for port_firewall in _firewalls([VM1, instance("vm2-port", "10.0.0.6")], [group("sg-web", *rules)],
                                    plugged=[VM1, instance("vm2-port", "10.0.0.6")]):
        assert port_firewall.reason
        for allow in port_firewall.allows:
            assert allow.source in {"r1", "r2", "r3"} and allow.source in allow.reason
        for pair_ in port_firewall.pairs:
            assert pair_.reason


# build_plan: which driver renders the firewalls


SSH_ONLY = (group("sg-web", rule("r-ssh", protocol="tcp", port_min=22, port_max=22)),)


def _plan(config, ports=(VM1,), groups=SSH_ONLY):
    return build_plan(state_of(list(ports), list(groups)), config, plugged_here(*ports, hybrid=config is HYBRID))


def test_openvswitch_driver_adds_the_firewall_flows_above_table_60_normal():
    plan = _plan(OVS)
    assert [f.port_id for f in plan.firewalls] == ["vm1-port"]
    transient = sorted((f.priority, f.match) for f in plan.flows if f.table == Table.TRANSIENT)
    assert transient[0] == (1, "")  # NORMAL stays for everything the firewall does not take
    assert {p for p, _ in transient[1:]} == {90, 100}
    assert any(f.source == "r-ssh" and f.table == Table.RULES_INGRESS for f in plan.flows)
    assert plan.filter_rules == () and plan.hybrid_plugs == ()


def test_iptables_hybrid_driver_gives_rules_plumbing_and_only_arp_mac_spoofing_flows():
    plan = _plan(HYBRID)
    assert [p.ovs_veth for p in plan.hybrid_plugs] == [device("vm1-port", hybrid=True)]
    assert any("--comment r-ssh" in r.rule for r in plan.filter_rules)
    assert {f.table for f in plan.flows if f.source.startswith("anti-spoofing:")} == {
        Table.LOCAL_SWITCHING, Table.ARP_SPOOF, Table.MAC_SPOOF}
    assert not any(f.table in (Table.BASE_EGRESS, Table.RULES_INGRESS) for f in plan.flows)


def test_noop_driver_filters_nothing_and_leaves_table_60_normal():
    plan = _plan(NOOP)
    assert plan.firewalls == () and plan.filter_rules == () and plan.hybrid_plugs == ()
    assert [(f.priority, f.actions) for f in plan.flows if f.table == Table.TRANSIENT] == [(1, "NORMAL")]
    assert plan.flows == _plan(NOOP, groups=()).flows


def test_same_input_same_plan_for_every_driver():
    for config in (OVS, HYBRID, NOOP):
        assert _plan(config) == _plan(config)


def test_empty_api_has_only_the_shared_firewall_flows():
    plan = build_plan(ApiState(), OVS, plugged_here())
    assert plan.firewalls == ()
    assert {f.source for f in plan.flows if f.table >= Table.BASE_EGRESS} == {"firewall"}


def test_every_allow_is_kept_as_given_in_the_plan():
    plan = _plan(OVS)
    assert plan.firewalls[0].allows == (
        Allow(IN, V4, 6, 22, 22, remote_cidr=None, source="r-ssh",
              reason="security group web (sg-web) rule r-ssh: ingress IPv4 tcp 22 from anywhere"),)


def test_a_groups_allows_follow_its_rules_and_the_names_of_its_remote_groups_pass_after_pass():
    """allows_for_group is remembered between passes: what it answers must still follow every input."""
    web = group("sg-web", rule("r-ssh", protocol="tcp", port_min=22, port_max=22),
                rule("r-db", remote_group="sg-db"), name="web")
    db = group("sg-db", name="db")
    first = firewall.allows_for_group(web, {"sg-web": web, "sg-db": db})
    assert [a.source for a in first] == ["r-db", "r-ssh"]
    assert first[0].reason.endswith("from members of db (sg-db)")
    more = group("sg-web", *web.rules, rule("r-http", protocol="tcp", port_min=80, port_max=80), name="web")
    assert [a.source for a in firewall.allows_for_group(more, {"sg-web": more, "sg-db": db})] == [
        "r-db", "r-http", "r-ssh"]
    renamed = group("sg-db", name="database")
    assert firewall.allows_for_group(web, {"sg-web": web, "sg-db": renamed})[0].reason.endswith(
        "from members of database (sg-db)")
    assert firewall.allows_for_group(web, {"sg-web": web})[0].reason.endswith("from members of sg-db")
    assert firewall.allows_for_group(web, {"sg-web": web, "sg-db": db}) == first

