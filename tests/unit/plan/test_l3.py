"""plan/l3.py: routers whose ports are bound here, from literal API state: their namespace, legs, routes and
NAT table (SNAT, floating IPs, hairpin); build_plan's router legs, owned ports tagged like plugged ports, or
untagged on the external network bridge in the seed's layout."""

from __future__ import annotations

from dataclasses import replace

import pytest

from neutrino.model.host_config import HostConfigError, host_config_from_dict
from neutrino.model.state import ApiState
from neutrino.plan.build import build_plan
from neutrino.plan.facts import HostFacts, PluggedPort
from neutrino.plan.l3 import Route, RouterLeg, routers_for
from tests.unit.plan.routers import (
    NS,
    PORTS,
    QG,
    QR_A,
    QR_B,
    ROUTER,
    ROUTER_UP,
    SUBNETS,
    floating_ip,
    state,
)
from tests.unit.seed import SEED, mac_of


def test_router_with_ports_bound_here_has_namespace_and_a_leg_per_port():
    (plan,) = routers_for(state(), SEED)
    assert (plan.router_id, plan.namespace, plan.source) == (ROUTER, NS, f"router:{ROUTER}")
    assert [replace(leg, source="", reason="") for leg in plan.legs] == [
        RouterLeg("qr-a0000000-00", QR_A, "net-a", mac_of(QR_A), ("10.0.0.1/24",), 1500, "br-int"),
        RouterLeg("qr-b0000000-00", QR_B, "net-b", mac_of(QR_B), ("10.0.1.1/26",), 1400, "br-int"),
        RouterLeg("qg-e0000000-00", QG, "net-ext", mac_of(QG), ("203.0.113.2/24", "203.0.113.10/32"), 1500,
                  "br-int", gateway=True),
    ]
    assert plan.legs[2].reason == "router r1: gateway on external network net-ext"
    assert plan.floating_ips == ("f1",)


def test_default_route_via_the_external_gateway_and_extra_routes():
    (plan,) = routers_for(state(), SEED)
    assert [(r.destination, r.via, r.device, r.source) for r in plan.routes] == [
        ("0.0.0.0/0", "203.0.113.1", "qg-e0000000-00", "subnet:sub-ext"),
        ("192.168.50.0/24", "10.0.1.20", None, f"router:{ROUTER}"),
    ]
    assert plan.routes[0].command() == "route replace 0.0.0.0/0 via 203.0.113.1 dev qg-e0000000-00"


def test_external_gateway_outside_its_subnet_is_reached_on_link_first():
    subnets = (replace(SUBNETS[0], gateway_ip="198.51.100.1"), *SUBNETS[1:])
    (plan,) = routers_for(state(subnets=subnets), SEED)
    assert [r.key for r in plan.routes[:2]] == [("198.51.100.1/32", None), ("0.0.0.0/0", "198.51.100.1")]
    assert plan.routes[0].command() == "route replace 198.51.100.1/32 dev qg-e0000000-00 scope link"


def test_snat_and_floating_ip_table_reads_as_nft_lists_it():
    (plan,) = routers_for(state(), SEED)
    comment = "floating IP f1 203.0.113.10 -> 10.0.0.5"
    assert plan.nat_table() == f"""\
table ip neutrino {{
\tcomment "NAT of router {ROUTER}"
\tchain prerouting {{
\t\ttype nat hook prerouting priority dstnat; policy accept;
\t\tip daddr 203.0.113.10 dnat to 10.0.0.5 comment "{comment}"
\t}}

\tchain output {{
\t\ttype nat hook output priority -100; policy accept;
\t\tip daddr 203.0.113.10 dnat to 10.0.0.5 comment "{comment}"
\t}}

\tchain postrouting {{
\t\ttype nat hook postrouting priority srcnat; policy accept;
\t\toifname != "qg-e0000000-00" ct status ! dnat accept comment "routed between the router's subnets: no NAT"
\t\tip saddr 10.0.0.5 snat to 203.0.113.10 comment "{comment}"
\t\toifname "qg-e0000000-00" snat to 203.0.113.2 fully-random comment "SNAT to the gateway address 203.0.113.2"
\t\tiifname != "qg-e0000000-00" ct status dnat snat to 203.0.113.2 fully-random comment "hairpin: internal \
traffic to a floating IP, from 203.0.113.2"
\t}}
}}
"""
    assert {r.source for r in plan.nat_rules if "203.0.113.10" in r.statement} == {"floatingip:f1"}


def test_without_snat_only_floating_ips_are_translated():
    (plan,) = routers_for(state(router=replace(ROUTER_UP, enable_snat=False)), SEED)
    assert [(r.chain, r.statement) for r in plan.nat_rules] == [
        ("postrouting", 'oifname != "qg-e0000000-00" ct status ! dnat accept'),
        ("prerouting", "ip daddr 203.0.113.10 dnat to 10.0.0.5"),
        ("output", "ip daddr 203.0.113.10 dnat to 10.0.0.5"),
        ("postrouting", "ip saddr 10.0.0.5 snat to 203.0.113.10"),
    ]


def test_without_snat_or_floating_ips_there_is_no_table():
    (plan,) = routers_for(state(router=replace(ROUTER_UP, enable_snat=False), fips=()), SEED)
    assert plan.nat_rules == () and plan.nat_table() is None
    assert plan.legs[2].addresses == ("203.0.113.2/24",)


def test_router_without_gateway_routes_its_subnets_and_translates_nothing():
    router = replace(ROUTER_UP, gateway_network_id=None, external_fixed_ips=(), routes=())
    (plan,) = routers_for(state(router=router, ports=PORTS[:2] + PORTS[3:]), SEED)
    assert [leg.device for leg in plan.legs] == ["qr-a0000000-00", "qr-b0000000-00"]
    assert plan.routes == () and plan.nat_rules == () and plan.floating_ips == ()


def test_router_not_hosted_here_or_admin_down_is_not_planned():
    elsewhere = tuple(replace(p, host_id="compute2") if p.device_id == ROUTER else p for p in PORTS)
    assert routers_for(state(ports=elsewhere), SEED) == []
    assert routers_for(state(router=replace(ROUTER_UP, admin_state_up=False)), SEED) == []
    assert routers_for(ApiState(ports={p.id: p for p in PORTS}), SEED) == []  # ports of a router not in the API


def test_build_plan_tags_router_legs_on_br_int_like_plugged_ports():
    plan = build_plan(state(), SEED, HostFacts())
    assert [r.router_id for r in plan.routers] == [ROUTER]
    legs = {p.name: p for p in plan.ports if p.name.startswith(("qr-", "qg-"))}
    assert {name: (p.bridge, p.tag, p.owned) for name, p in legs.items()} == {
        "qr-a0000000-00": ("br-int", plan.local_vlans["net-a"], True),
        "qr-b0000000-00": ("br-int", plan.local_vlans["net-b"], True),
        "qg-e0000000-00": ("br-int", plan.local_vlans["net-ext"], True),
    }
    assert dict(legs["qg-e0000000-00"].iface_external_ids) == {
        "iface-id": QG, "attached-mac": mac_of(QG), "iface-status": "active"}
    assert {pid: plan.port_states[pid].status for pid in (QR_A, QR_B, QG)} == dict.fromkeys((QR_A, QR_B, QG), "ACTIVE")
    trusted = {f.device: f.filtering.value for f in plan.firewalls}
    assert trusted == dict.fromkeys(legs, "trusted")


def test_a_leg_keeps_the_local_vlan_it_carries_and_a_stale_one_is_left_out():
    observed = (PluggedPort("qr-a0000000-00", "br-int", QR_A, mac_of(QR_A), 7, "net-a", 9, owned=True),
                PluggedPort("qr-gone000000", "br-int", "gone-port", mac_of("gone-port"), 8, "net-a", 9, owned=True))
    plan = build_plan(state(), SEED, HostFacts(plugged=observed))
    assert plan.local_vlans["net-a"] == 9
    assert "qr-gone000000" not in {p.name for p in plan.ports}  # the OVSDB realizer deletes owned ports left out
    assert next(f for f in plan.firewalls if f.device == "qr-a0000000-00").ofport == 7


def test_seed_layout_puts_the_gateway_leg_untagged_on_the_external_bridge():
    config = replace(SEED, external_network_bridge="br-ex")
    plan = build_plan(state(), config, HostFacts())
    (router,) = plan.routers
    assert router.gateway_leg.bridge == "br-ex"
    (gateway,) = [p for p in plan.ports if p.name == "qg-e0000000-00"]
    assert (gateway.bridge, gateway.tag, gateway.owned, gateway.interfaces[0].name) == \
        ("br-ex", None, True, "qg-e0000000-00")
    assert dict(gateway.iface_external_ids)["iface-id"] == QG
    assert "net-ext" not in plan.local_vlans  # the external network is not wired on br-int
    assert plan.port_states[QG].status == "ACTIVE"
    assert plan.port_states[QG].reason == "router gateway on br-ex (external_network_bridge)"
    assert {p.name: p.tag for p in plan.ports if p.name.startswith("qr-")} == {
        "qr-a0000000-00": plan.local_vlans["net-a"], "qr-b0000000-00": plan.local_vlans["net-b"]}


def test_floating_ips_follow_association():
    fips = (floating_ip("f1", "203.0.113.10", "vm1-port", "10.0.0.5"),
            floating_ip("f3", "203.0.113.9", "vm2-port", "10.0.1.7"))
    (plan,) = routers_for(state(fips=fips), SEED)
    assert plan.floating_ips == ("f3", "f1")  # by address
    assert plan.gateway_leg.addresses == ("203.0.113.2/24", "203.0.113.9/32", "203.0.113.10/32")
    (plan,) = routers_for(state(fips=(floating_ip("f1", "203.0.113.10", None, None),)), SEED)
    assert plan.floating_ips == () and not [r for r in plan.nat_rules if "203.0.113.10" in r.statement]


def test_extra_routes_to_ipv6_destinations_are_not_installed():
    router = replace(ROUTER_UP, routes=(("fd00:1::/64", "fd00::5"), ("10.9.0.0/16", "10.0.0.9")))
    (plan,) = routers_for(state(router=router), SEED)
    assert [r.key for r in plan.routes] == [("0.0.0.0/0", "203.0.113.1"), ("10.9.0.0/16", "10.0.0.9")]
    assert Route("10.9.0.0/16", "10.0.0.9").command() == "route replace 10.9.0.0/16 via 10.0.0.9"


def test_external_network_bridge_is_read_from_the_host_config_and_created():
    config = host_config_from_dict({"bridge_mappings": {"physnet1": "br-bond0"},
                                    "external_network_bridge": "br-ex"}, "compute1")
    assert (config.external_network_bridge, config.extra_bridges) == ("br-ex", ("br-ex",))
    assert host_config_from_dict({}, "compute1").external_network_bridge is None
    with pytest.raises(HostConfigError, match="must not be the integration bridge"):
        host_config_from_dict({"external_network_bridge": "br-int"}, "compute1")
