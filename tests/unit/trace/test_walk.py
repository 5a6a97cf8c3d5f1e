"""trace(): literal API state and a probe in; the hops, the verdict with its reason code, the deciding objects
and the fix out. The cloud is tests/unit/trace/topology.py (two hosts, router r1 on compute1)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from neutrino.model.resources import FixedIp, Network, Subnet
from neutrino.trace.packet import Protocol
from neutrino.trace.resolve import resolve_probe
from neutrino.trace.result import Element, Hop, ObjectRef, Reason, Rewrite
from neutrino.trace.walk import trace
from tests.unit.trace.topology import (
    AGENTS,
    APP,
    C1,
    C2,
    DB1,
    DEFAULT,
    DEMO,
    FIP,
    HOSTS,
    ICMP_FROM_ANYWHERE,
    QG,
    QR_APP,
    QR_DB,
    R1,
    SUBNETS,
    WEB,
    WEB1,
    WEB2,
    cloud,
    hosts,
    instance,
    rule,
    with_groups,
    with_ports,
)

NS = "qrouter-" + R1.id
WEB_ADMITS_ICMP = replace(WEB, rules=WEB.rules + (ICMP_FROM_ANYWHERE,))


def run(state, source: str, destination: str, protocol: str = "icmp", port: int | None = None, on=None,
        source_ip: str | None = None):
    return trace(state, on or HOSTS, resolve_probe(state, source, destination, protocol, port, source_ip))


def stages(result, element: Element | None = None) -> list[tuple[str, str, str]]:
    return [(h.host, h.name, h.stage) for h in result.hops if element is None or h.element is element]


# --- the memo's case: a floating IP, and a group that admits no ICMP ---

def test_outside_to_a_floating_ip_whose_group_admits_no_icmp_is_dropped_by_that_group_with_the_fix():
    result = run(cloud(), "198.51.100.7", "203.0.113.10")
    verdict = result.verdict
    assert verdict.reason is Reason.DROPPED_BY_SECURITY_GROUP
    assert verdict.objects == (ObjectRef("security_group", "sg-web", "web", DEMO),
                               ObjectRef("port", WEB1.id, "web1", DEMO))
    assert verdict.message == ("security group web in project demo-project of port web1 has no ingress rule "
                               "admitting icmp from 198.51.100.7")
    assert verdict.fixes == ("openstack security group rule create --ingress --protocol icmp "
                             "--remote-ip 198.51.100.7/32 web",)
    # It came in on the provider VLAN to r1's gateway on compute1, was DNATed there, and stopped at web1's ingress.
    assert result.hops[1] == Hop("", Element.FABRIC, "physnet1", "provider VLAN 201", "outside -> compute1",
                                 source="network:net-public")
    (dnat,) = [h for h in result.hops if h.stage == "nat prerouting"]
    assert (dnat.name, dnat.rewrites, dnat.source) == (
        NS, (Rewrite("destination", "203.0.113.10", "10.0.0.5"),), "floatingip:fip-1")
    assert result.hops[-1] == Hop(C1, Element.FIREWALL, "br-int", "table 93", "no ingress rule of the port's "
                                  "security groups admits it: dropped", source=f"port:{WEB1.id}")
    assert result.reply == ()


def test_with_the_rule_added_it_is_delivered_naming_the_rule_and_the_reply_leaves_from_the_floating_ip():
    result = run(with_groups(cloud(), WEB_ADMITS_ICMP), "198.51.100.7", "203.0.113.10")
    assert result.verdict.reason is Reason.DELIVERED
    assert [(a.port_id, a.direction, a.rule_id, a.group.name) for a in result.verdict.admitted] == [
        (WEB1.id, "ingress", "r-web-icmp", "web")]
    assert result.hops[-2] == Hop(C1, Element.FIREWALL, "br-int", "table 82", "security group web (sg-web) rule "
                                  "r-web-icmp: ingress IPv4 icmp from 0.0.0.0/0", source="rule:r-web-icmp")
    assert result.hops[-1].stage == "delivered"
    reply = result.reply
    assert (reply[0].name, reply[0].stage, reply[0].matched.split(" from ")[0]) == (
        "tapweb1-port", "sent", "icmp 10.0.0.5 > 198.51.100.7 echo-reply")
    assert [r for h in reply for r in h.rewrites if r.undone] == [
        Rewrite("source", "10.0.0.5", "203.0.113.10", undone=True)]
    assert reply[-1].element is Element.OUTSIDE
    assert reply[-1].matched.startswith("icmp 203.0.113.10 > 198.51.100.7 echo-reply")


# --- one network ---

def test_same_network_same_host_is_delivered_by_the_default_groups_rule_for_its_members():
    web3 = instance("web3-port", APP, "sub-app", "10.0.0.8", C2)
    result = run(with_ports(cloud(), web3), "web2", "web3")
    assert result.verdict.reason is Reason.DELIVERED
    assert [(a.direction, a.rule_id) for a in result.verdict.admitted] == [("egress", "r-def-eg4"),
                                                                           ("ingress", "r-def-in4")]
    (switched,) = [h for h in result.hops if h.element is Element.BRIDGE]
    assert switched == Hop(C2, Element.BRIDGE, "br-int", "table 0 -> 60 NORMAL",
                           "from tapweb2-port on local VLAN 1 (network app): out tapweb3-port", source="network:net-app")
    assert [h.stage for h in result.reply if h.element is Element.FIREWALL] == ["table 71", "table 72", "table 82"]
    assert result.reply[2].matched == "the reply of an admitted connection (conntrack: established, reply): passes"


def test_same_network_across_hosts_crosses_the_provider_vlan():
    web1 = replace(WEB1, security_groups=("sg-web", "sg-default"))
    result = run(with_ports(cloud(), web1), "web2", "web1")
    assert result.verdict.reason is Reason.DELIVERED
    bridges = [(h.host, h.name, h.rewrites) for h in result.hops if h.element in (Element.BRIDGE, Element.FABRIC)]
    assert bridges == [
        (C2, "br-int", (Rewrite("vlan", "", "1"),)),
        (C2, "br-bond0", (Rewrite("vlan", "1", "100"),)),
        ("", "physnet1", ()),
        (C1, "br-bond0", ()),
        (C1, "br-int", (Rewrite("vlan", "100", "1"),)),
        (C1, "br-int", (Rewrite("vlan", "1", ""),)),
    ]
    assert result.hops[4].matched == "in_port=phy-br-bond0,dl_vlan=1 actions=mod_vlan_vid:100,NORMAL: app: local " \
                                     "VLAN 1 -> provider VLAN 100 on physnet1"
    assert result.hops[5].stage == "provider VLAN 100"
    assert [(a.port_id, a.rule_id) for a in result.verdict.admitted] == [(WEB2.id, "r-def-eg4"), (WEB1.id, "r-def-in4")]


def test_a_member_of_another_group_is_dropped_by_the_destinations_groups():
    result = run(cloud(), "web1", "web2")
    assert result.verdict.reason is Reason.DROPPED_BY_SECURITY_GROUP
    assert result.verdict.objects[0] == ObjectRef("security_group", "sg-default", "default", DEMO)
    assert result.verdict.fixes == ("openstack security group rule create --ingress --protocol icmp "
                                    "--remote-ip 10.0.0.5/32 default",)
    assert stages(result, Element.FIREWALL) == [(C1, "br-int", "table 71"), (C1, "br-int", "table 72"),
                                                (C2, "br-int", "table 93")]


@pytest.mark.parametrize(("source", "port", "reason"), [
    ("web2", 22, Reason.DELIVERED),  # 10.0.0.6 is in 10.0.0.0/24
    ("db1", 22, Reason.DROPPED_BY_SECURITY_GROUP),  # 10.0.1.7 is not
    ("web2", 80, Reason.DROPPED_BY_SECURITY_GROUP),  # another port
])
def test_a_remote_prefix_rule_admits_its_prefix_and_port_only(source, port, reason):
    ssh = rule("r-web-ssh", "sg-web", protocol="tcp", port=22, prefix="10.0.0.0/24")
    result = run(with_groups(cloud(), replace(WEB, rules=WEB.rules + (ssh,))), source, "web1", "tcp", port)
    assert result.verdict.reason is reason
    if reason is Reason.DELIVERED:
        assert result.verdict.admitted[-1].rule_id == "r-web-ssh"
    else:
        peer = "10.0.1.7" if source == "db1" else "10.0.0.6"
        assert result.verdict.fixes == (f"openstack security group rule create --ingress --protocol tcp "
                                        f"--dst-port {port} --remote-ip {peer}/32 web",)


def test_a_port_without_port_security_is_not_filtered():
    open_port = replace(WEB1, port_security_enabled=False, security_groups=())
    result = run(with_ports(cloud(), open_port), "198.51.100.7", "web1")
    assert result.verdict.reason is Reason.DELIVERED
    (admitted,) = result.verdict.admitted
    assert (admitted.rule_id, admitted.words) == (None, "port_security_enabled is false: no filtering, no anti-spoofing")
    assert stages(result, Element.FIREWALL) == [(C1, "br-int", "not filtered")]


def test_a_source_address_the_port_does_not_hold_is_dropped_by_anti_spoofing():
    result = run(cloud(), "web2", "web1", source_ip="10.0.0.100")
    assert result.verdict.reason is Reason.DROPPED_BY_ANTI_SPOOFING
    assert result.verdict.fixes == ("openstack port set --allowed-address ip-address=10.0.0.100 web2",)
    assert result.hops[-1].stage == "table 71"
    paired = replace(WEB2, allowed_address_pairs=(replace_pair("10.0.0.100"),))
    assert run(with_ports(cloud(), paired), "web2", "web1", source_ip="10.0.0.100").verdict.reason is \
        Reason.DROPPED_BY_SECURITY_GROUP  # past anti-spoofing now


def replace_pair(address: str):
    from neutrino.model.resources import AddressPair

    return AddressPair(address, "")


# --- ports that are not wired ---

@pytest.mark.parametrize(("web2", "reason", "fix"), [
    (replace(WEB2, host_id="", status="DOWN", vif_type="unbound"), Reason.UNBOUND_PORT,
     "neutrino plug --config <agent.toml> web2"),
    (replace(WEB2, status="DOWN"), Reason.PORT_DOWN, None),
    (replace(WEB2, admin_state_up=False, status="DOWN"), Reason.PORT_ADMIN_DOWN, "openstack port set --enable web2"),
    (replace(WEB2, vif_type="binding_failed", status="DOWN"), Reason.BINDING_FAILED, None),
])
def test_a_destination_that_is_not_wired_says_why(web2, reason, fix):
    result = run(with_ports(cloud(), web2), "web1", "web2")
    assert result.verdict.reason is reason
    assert result.verdict.objects[0] == ObjectRef("port", WEB2.id, "web2", DEMO)
    assert result.verdict.fixes == ((fix,) if fix else ())


def test_a_port_bound_to_a_host_without_a_live_agent():
    dead = tuple(replace(a, alive=False) if a.host == C2 else a for a in AGENTS)
    failed = replace(WEB2, vif_type="binding_failed", status="DOWN")
    result = run(with_ports(cloud(agents=dead), failed), "web1", "web2")
    assert result.verdict.reason is Reason.NO_LIVE_AGENT
    assert result.verdict.objects[1].type == "agent"


def test_an_active_port_whose_agent_died_is_still_traced_with_a_finding():
    dead = tuple(replace(a, alive=False, heartbeat_timestamp="2026-11-26T08:00:00Z") if a.host == C2 else a
                 for a in AGENTS)
    result = run(cloud(agents=dead), "web2", "db1")
    assert result.verdict.reason is Reason.DELIVERED
    (finding,) = [f for f in result.findings if f.code == "agent-not-alive"]
    assert "compute2" in finding.message and "2026-11-26T08:00:00Z" in finding.message


def test_a_physnet_without_a_bridge_mapping_on_the_host():
    unmapped = hosts(compute2=replace(HOSTS[C2], bridge_mappings={}, physical_bridges=()))
    result = run(cloud(), "web1", "web2", on=unmapped)
    assert result.verdict.reason is Reason.NO_BRIDGE_MAPPING
    assert "physnet 'physnet1', which has no bridge mapping on host compute2" in result.verdict.message


def test_a_network_admin_down_stops_at_the_source():
    down = replace(APP, admin_state_up=False)
    result = run(cloud(networks=(down, *[n for n in cloud().networks.values() if n.id != APP.id])), "web2", "db1")
    assert result.verdict.reason is Reason.NETWORK_ADMIN_DOWN
    assert result.verdict.fixes == ("openstack network set --enable app",)
    assert result.hops == ()


# --- through a router ---

def test_between_networks_through_the_routers_legs_without_nat():
    result = run(cloud(), "web2", "db1")
    assert result.verdict.reason is Reason.DELIVERED
    assert [(h.stage, h.rewrites) for h in result.hops if h.element is Element.NAMESPACE] == [
        ("in", ()), ("nat prerouting", ()), ("routing", ()), ("nat postrouting", ())]
    routing_hop = next(h for h in result.hops if h.stage == "routing")
    assert routing_hop.matched.startswith("10.0.1.0/26 connected dev qr-b0000000-00")
    assert next(h for h in result.hops if h.stage == "nat postrouting").source == f"router:{R1.id}"
    assert [f.code for f in result.findings] == ["mtu-mismatch"]  # app 1500, db 1400
    assert any(h.stage == "routing" and "10.0.0.0/24" in h.matched for h in result.reply)


def test_a_subnet_no_router_is_on_says_no_router_interface_and_which_router_to_add():
    lab = Network("net-lab", name="lab", project_id=DEMO, network_type="vlan", physical_network="physnet1",
                  segmentation_id=102)
    lab_subnet = Subnet("sub-lab", lab.id, "10.0.5.0/24", gateway_ip="10.0.5.1", name="lab-subnet", project_id=DEMO)
    lab1 = instance("lab1-port", lab, "sub-lab", "10.0.5.7", C2)
    state = with_ports(cloud(networks=(*cloud().networks.values(), lab), subnets=(*SUBNETS, lab_subnet)), lab1)
    result = run(state, "lab1", "db1")
    assert result.verdict.reason is Reason.NO_ROUTER_INTERFACE
    assert result.verdict.objects == (ObjectRef("subnet", "sub-lab", "lab-subnet", DEMO),)
    assert result.verdict.fixes == ("openstack router add subnet r1 lab-subnet",)
    back = run(state, "web2", "lab1")  # r1 sends it to its default route: out of neutrino, not to lab1
    assert back.verdict.reason is Reason.NO_ROUTE
    assert back.verdict.fixes == ("openstack router add subnet r1 lab-subnet",)


def test_a_subnet_without_gateway_ip():
    subnets = tuple(replace(s, gateway_ip=None) if s.id == "sub-app" else s for s in SUBNETS)
    result = run(cloud(subnets=subnets), "web2", "db1")
    assert result.verdict.reason is Reason.SUBNET_WITHOUT_GATEWAY
    assert result.verdict.fixes == ("openstack subnet set --gateway 10.0.0.1 app-subnet",)


def test_an_instance_reaches_the_outside_through_snat_and_the_reply_is_un_natted():
    result = run(cloud(), "web2", "198.51.100.7")
    assert result.verdict.reason is Reason.DELIVERED
    assert result.verdict.message == "left neutrino on external network public towards 203.0.113.1: beyond it is " \
                                     "not neutrino's"
    (snat,) = [h for h in result.hops if h.rewrites and h.rewrites[0].field == "source"]
    assert snat.rewrites == (Rewrite("source", "10.0.0.6", "203.0.113.2"),)
    assert snat.matched.startswith('oifname "qg-e0000000-00" snat to 203.0.113.2 fully-random')
    assert result.hops[-1] == Hop("", Element.OUTSIDE, "203.0.113.1", "reached",
                                  "icmp 203.0.113.2 > 198.51.100.7 echo-request (external network public)")
    assert [r for h in result.reply for r in h.rewrites if r.undone] == [
        Rewrite("destination", "203.0.113.2", "10.0.0.6", undone=True)]
    assert result.reply[-1].name == "tapweb2-port" and result.reply[-1].stage == "delivered"


def test_an_instance_with_a_floating_ip_leaves_from_it():
    result = run(cloud(), "web1", "198.51.100.7")
    (snat,) = [h for h in result.hops if h.stage == "nat postrouting"]
    assert (snat.rewrites, snat.source) == ((Rewrite("source", "10.0.0.5", "203.0.113.10"),), "floatingip:fip-1")


def test_a_router_without_gateway_has_no_way_out():
    router = replace(R1, gateway_network_id=None, external_fixed_ips=())
    state = cloud(routers=(router,), ports=(WEB1, WEB2, DB1, QR_APP, QR_DB), fips=())
    result = run(state, "web2", "198.51.100.7")
    assert result.verdict.reason is Reason.NO_GATEWAY
    assert result.verdict.fixes == ("openstack router set --external-gateway public r1",)


def test_without_snat_or_floating_ip_the_replies_have_no_way_back():
    state = cloud(routers=(replace(R1, enable_snat=False),))
    assert run(state, "web2", "198.51.100.7").verdict.reason is Reason.NO_RETURN_ROUTE
    assert run(state, "web1", "198.51.100.7").verdict.reason is Reason.DELIVERED  # its floating IP still NATs


def test_to_a_floating_ip_from_inside_hairpins_with_the_gateway_address_as_source():
    result = run(cloud(), "db1", "203.0.113.10")
    assert result.verdict.reason is Reason.DROPPED_BY_SECURITY_GROUP
    assert "--remote-ip 203.0.113.2/32 web" in result.verdict.fixes[0]  # the hairpin SNAT's address
    delivered = run(with_groups(cloud(), WEB_ADMITS_ICMP), "db1", "203.0.113.10")
    assert delivered.verdict.reason is Reason.DELIVERED
    assert sorted((r.field, r.old, r.new) for h in delivered.reply for r in h.rewrites if r.undone) == [
        ("destination", "203.0.113.2", "10.0.1.7"), ("source", "10.0.0.5", "203.0.113.10")]


def test_a_floating_ip_not_associated():
    result = run(cloud(), "198.51.100.7", "203.0.113.11")
    assert result.verdict.reason is Reason.NO_FLOATING_IP_ASSOCIATION
    assert result.verdict.objects == (ObjectRef("floatingip", "fip-2", "203.0.113.11", DEMO),)
    assert result.verdict.fixes == ("openstack floating ip set --port <port> 203.0.113.11",)
    from_inside = run(cloud(), "web2", "203.0.113.11")
    assert from_inside.verdict.reason is Reason.NO_FLOATING_IP_ASSOCIATION


def test_outside_to_a_port_without_floating_ip():
    result = run(cloud(), "198.51.100.7", "web2")
    assert result.verdict.reason is Reason.NO_FLOATING_IP_ASSOCIATION
    assert result.verdict.fixes == ("openstack floating ip create --port web2 public",)


def test_outside_to_a_port_by_name_goes_to_its_floating_ip():
    result = run(with_groups(cloud(), WEB_ADMITS_ICMP), "198.51.100.7", "web1")
    assert result.verdict.reason is Reason.DELIVERED
    assert result.packet.destination == "10.0.0.5"
    assert result.hops[0].matched.startswith("icmp 198.51.100.7 > 203.0.113.10")


def test_outside_to_an_address_of_a_port_whose_floating_ip_is_on_another_of_its_addresses():
    web1 = replace(WEB1, fixed_ips=(*WEB1.fixed_ips, FixedIp("sub-app", "10.0.0.50")))
    result = run(with_groups(with_ports(cloud(), web1), WEB_ADMITS_ICMP), "198.51.100.7", "10.0.0.50")
    assert result.verdict.reason is Reason.DELIVERED  # to the port, at the address its floating IP maps to
    (finding,) = result.findings
    assert finding.code == "floating-ip-other-address"
    assert finding.message.endswith("associated with its address 10.0.0.5, not 10.0.0.50: from outside, 10.0.0.50 "
                                    "is unreachable")


def test_a_network_type_the_agent_does_not_wire_parks_its_ports_on_the_dead_vlan():
    local = Network("net-local", name="local", project_id=DEMO, network_type="local")
    port = instance("loc-port", local, "sub-local", "10.9.0.5", C2)
    state = with_ports(cloud(networks=(*cloud().networks.values(), local),
                             subnets=(*SUBNETS, Subnet("sub-local", local.id, "10.9.0.0/24"))), port)
    result = run(state, "loc", "web2")
    assert result.verdict.reason is Reason.DEAD_VLAN
    assert "has type 'local', not wired by this agent" in result.verdict.message


@pytest.mark.parametrize(("change", "reason", "fix"), [
    (lambda s: cloud(routers=(replace(R1, admin_state_up=False),)), Reason.ROUTER_ADMIN_DOWN,
     "openstack router set --enable r1"),
    (lambda s: with_ports(s, *(replace(p, host_id="", status="DOWN") for p in (QR_APP, QR_DB, QG))),
     Reason.ROUTER_NOT_HOSTED, None),
])
def test_a_router_that_does_not_run(change, reason, fix):
    result = run(change(cloud()), "web2", "db1")
    assert result.verdict.reason is reason
    assert result.verdict.objects[0] == ObjectRef("router", R1.id, "r1", DEMO)
    assert result.verdict.fixes == ((fix,) if fix else ())


def test_the_routers_own_address_is_delivered_to_the_router():
    result = run(cloud(), "web2", "10.0.0.1")
    assert result.verdict.reason is Reason.DELIVERED
    assert result.verdict.objects == (ObjectRef("router", R1.id, "r1", DEMO),)
    assert result.hops[-1].stage == "local"


def test_an_address_nobody_holds_on_the_subnet():
    result = run(cloud(), "web2", "10.0.0.99")
    assert result.verdict.reason is Reason.NO_SUCH_ADDRESS


def test_an_overlapping_address_reaches_the_port_on_the_senders_network_not_the_one_named():
    other_net = Network("net-other", name="other", project_id="other", network_type="vlan",
                        physical_network="physnet1", segmentation_id=300)
    twin = instance("twin-port", other_net, "sub-other", "10.0.0.6", C2, project_id="other")
    state = with_ports(cloud(networks=(*cloud().networks.values(), other_net),
                             subnets=(*SUBNETS, Subnet("sub-other", other_net.id, "10.0.0.0/24"))), twin)
    result = run(state, "web1", "twin")
    assert result.verdict.reason is Reason.OVERLAPPING_ADDRESS
    assert [o.id for o in result.verdict.objects] == [WEB2.id, "twin-port"]


# --- drivers and layouts ---

def test_the_iptables_hybrid_driver_filters_in_its_chains_on_the_qvo_port():
    hybrid = hosts(compute2=replace(HOSTS[C2], firewall_driver="iptables_hybrid"))
    dropped = run(cloud(), "web1", "web2", on=hybrid)
    last = dropped.hops[-1]
    assert (last.host, last.element, last.name, last.stage) == (C2, Element.FIREWALL, "iptables",
                                                                "chain neutron-openvswi-sg-fallback")
    assert "out qvoweb2-port" in dropped.hops[-2].matched
    delivered = run(cloud(), "web2", "db1", on=hybrid)
    assert stages(delivered, Element.FIREWALL) == [
        (C2, "iptables", "chain neutron-openvswi-sweb2-port"), (C2, "iptables", "chain neutron-openvswi-oweb2-port"),
        (C2, "iptables", "chain neutron-openvswi-idb1-port")]


def test_the_noop_driver_filters_nothing():
    result = run(cloud(), "web1", "web2", on=hosts(compute2=replace(HOSTS[C2], firewall_driver="noop")))
    assert result.verdict.reason is Reason.DELIVERED
    assert result.verdict.admitted[-1].words == "firewall_driver noop on compute2: nothing filtered"


def test_the_seeds_layout_puts_the_gateway_on_br_ex_patched_into_br_bond0_on_vlan_201():
    seed = hosts(compute1=replace(HOSTS[C1], external_network_bridge="br-ex"))
    result = run(with_groups(cloud(), WEB_ADMITS_ICMP), "198.51.100.7", "203.0.113.10", on=seed)
    assert result.verdict.reason is Reason.DELIVERED
    assert result.hops[2:4] == (
        Hop(C1, Element.BRIDGE, "br-bond0", "access port patch-ex",
            "VLAN 201 from the uplink: out patch-ex to br-ex", (Rewrite("vlan", "201", ""),), "config:patch_links.patch-bond0"),
        Hop(C1, Element.BRIDGE, "br-ex", "table 0 NORMAL", "untagged: out qg-e0000000-00",
            source="config:external_network_bridge"),
    )
    out = run(cloud(), "web2", "198.51.100.7", on=seed)
    assert [(h.name, h.rewrites) for h in out.hops if h.element is Element.BRIDGE][-2:] == [
        ("br-ex", ()), ("br-bond0", (Rewrite("vlan", "", "201"),))]


def test_tcp_probe_and_its_reply_text():
    web1 = replace(WEB1, security_groups=("sg-default",))
    result = run(with_ports(cloud(), web1), "web2", "web1", "tcp", 443)
    assert result.probe.protocol is Protocol.TCP
    assert result.hops[0].matched.startswith("tcp 10.0.0.6 > 10.0.0.5:443")
    assert result.reply[0].matched.startswith("tcp 10.0.0.5:443 > 10.0.0.6 (reply)")


def test_a_floating_ip_named_as_source_sends_from_its_port():
    result = run(cloud(), "203.0.113.10", "web2")
    assert result.probe.source.port_id == WEB1.id and result.packet.source == "10.0.0.5"


def test_default_group_fixture_is_neutrons():
    assert {r.id for r in DEFAULT.rules} == {"r-def-eg4", "r-def-eg6", "r-def-in4", "r-def-in6"}
    assert FIP.fixed_ip_address == "10.0.0.5" and QG.fixed_ips == (FixedIp("sub-public", "203.0.113.2"),)
