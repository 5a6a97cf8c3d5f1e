"""realize/routers.py without a host: what ``ip -j`` prints, read as observed routers; the changes that make a
router's namespace match its plan (everything for a new one, nothing for one as planned, only the
difference otherwise); the floating IPs whose connections must go; and, on a FakeHost, the legs' OVS ports
and flows going in the same pass as the router."""

from __future__ import annotations

from dataclasses import replace

from neutrino.host.fake import FakeHost
from neutrino.model.resources import FloatingIp
from neutrino.plan.l3 import routers_for
from neutrino.realize.openflow import sync_flows
from neutrino.realize.ovsdb import apply_ovsdb
from neutrino.realize.routers import (
    ObservedLink,
    changes_for,
    floating_ip_statuses_for,
    forgotten_floating_ips,
    links_from,
    observed_after,
    routes_from,
)
from tests.unit.plan.routers import EXT, NS, PORTS, QG, QR_A, QR_B, ROUTER, ROUTER_UP, state
from tests.unit.realize.passes import plan_on
from tests.unit.seed import SEED, mac_of, tap

QG_DEV, QR_A_DEV, QR_B_DEV = "qg-e0000000-00", "qr-a0000000-00", "qr-b0000000-00"


def plan(**changes):
    (router,) = routers_for(state(**changes), SEED)
    return router


def test_ip_json_is_read_as_links_and_routes():
    links = links_from([
        {"ifname": "lo", "flags": ["LOOPBACK", "UP"], "mtu": 65536, "address": "00:00:00:00:00:00", "addr_info": [
            {"family": "inet", "local": "127.0.0.1", "prefixlen": 8, "scope": "host"}]},
        {"ifname": QG_DEV, "flags": ["BROADCAST", "UP", "LOWER_UP"], "mtu": 1500, "address": "FA:16:3E:00:00:01",
         "addr_info": [{"family": "inet", "local": "203.0.113.2", "prefixlen": 24, "scope": "global"},
                       {"family": "inet", "local": "203.0.113.10", "prefixlen": 32, "scope": "global"},
                       {"family": "inet6", "local": "fe80::1", "prefixlen": 64, "scope": "link"}]},
        {"ifname": QR_A_DEV, "flags": ["BROADCAST"], "mtu": 1400, "address": "fa:16:3e:00:00:02", "addr_info": []},
    ])
    assert links == {QG_DEV: ObservedLink("fa:16:3e:00:00:01", 1500, True, ("203.0.113.2/24", "203.0.113.10/32")),
                     QR_A_DEV: ObservedLink("fa:16:3e:00:00:02", 1400, False, ())}
    assert routes_from([
        {"dst": "default", "gateway": "203.0.113.1", "dev": QG_DEV, "flags": []},
        {"dst": "203.0.113.0/24", "dev": QG_DEV, "protocol": "kernel", "scope": "link", "prefsrc": "203.0.113.2"},
        {"dst": "198.51.100.1", "dev": QG_DEV, "scope": "link", "flags": []},
        {"dst": "192.168.50.0/24", "gateway": "10.0.1.20", "dev": QR_B_DEV, "flags": []},
    ]) == {("0.0.0.0/0", "203.0.113.1"), ("198.51.100.1/32", None), ("192.168.50.0/24", "10.0.1.20")}


def test_a_new_router_gets_everything_in_order():
    router = plan()
    changes = changes_for(router, None)
    assert (changes.namespace, changes.create_namespace, changes.remove) == (NS, True, False)
    assert [leg.device for leg in changes.new_legs] == [QR_A_DEV, QR_B_DEV, QG_DEV]
    assert changes.replace_nat and changes.nat_table == router.nat_table()
    assert changes.commands == (
        f"addr replace 10.0.0.1/24 dev {QR_A_DEV}",
        f"link set {QR_A_DEV} address {mac_of(QR_A)} mtu 1500 up",
        f"addr replace 10.0.1.1/26 dev {QR_B_DEV}",
        f"link set {QR_B_DEV} address {router.legs[1].mac} mtu 1400 up",
        f"addr replace 203.0.113.2/24 dev {QG_DEV}",
        f"addr replace 203.0.113.10/32 dev {QG_DEV}",
        f"link set {QG_DEV} address {mac_of(QG)} mtu 1500 up",
        f"route replace 0.0.0.0/0 via 203.0.113.1 dev {QG_DEV}",
        "route replace 192.168.50.0/24 via 10.0.1.20",
    )
    assert changes.forget == ()


def test_a_router_as_planned_needs_nothing():
    router = plan()
    assert not changes_for(router, observed_after((router,))[NS])


def test_a_floating_ip_added_is_translated_then_addressed_and_announced():
    before = plan(fips=())
    after = plan()
    changes = changes_for(after, observed_after((before,))[NS])
    assert changes.replace_nat and not changes.new_legs and not changes.create_namespace
    assert changes.commands == (f"addr replace 203.0.113.10/32 dev {QG_DEV}",
                                f"link set {QG_DEV} address {mac_of(QG)} mtu 1500 up")  # the kernel announces it
    assert changes.forget == ()


def test_a_floating_ip_removed_loses_its_address_rules_and_connections():
    changes = changes_for(plan(fips=()), observed_after((plan(),))[NS])
    assert changes.commands == (f"addr del 203.0.113.10/32 dev {QG_DEV}",)
    assert changes.replace_nat and changes.forget == ("203.0.113.10",)


def test_a_floating_ip_moved_to_another_fixed_ip_loses_its_connections():
    moved = FloatingIp("f1", "203.0.113.10", EXT.id, router_id=ROUTER, port_id="vm2-port", fixed_ip_address="10.0.1.7")
    changes = changes_for(plan(fips=(moved,)), observed_after((plan(),))[NS])
    assert changes.commands == () and changes.replace_nat and changes.forget == ("203.0.113.10",)
    assert forgotten_floating_ips(None, None) == ()


def test_drift_in_links_and_routes_is_repaired_and_strangers_removed():
    router = plan()
    observed = observed_after((router,))[NS]
    links = dict(observed.links)
    links[QR_A_DEV] = replace(links[QR_A_DEV], mtu=9000, up=False, addresses=("10.0.0.1/24", "10.0.0.99/24"))
    links["qr-old0000000"] = ObservedLink("fa:16:3e:00:00:99", 1500, True, ())
    routes = (observed.routes - {("192.168.50.0/24", "10.0.1.20")}) | {("10.77.0.0/16", "10.0.0.77")}
    changes = changes_for(router, replace(observed, links=links, routes=routes, nat_table=None))
    assert changes.stale_links == ("qr-old0000000",) and changes.new_legs == ()
    assert changes.commands == (f"addr del 10.0.0.99/24 dev {QR_A_DEV}",
                                f"link set {QR_A_DEV} address {mac_of(QR_A)} mtu 1500 up",
                                "route replace 192.168.50.0/24 via 10.0.1.20",
                                "route del 10.77.0.0/16 via 10.0.0.77")
    assert changes.replace_nat


def test_a_router_no_longer_hosted_is_removed_and_unknown_nothing():
    observed = observed_after((plan(),))[NS]
    assert changes_for(None, observed).remove
    assert not changes_for(None, None)


def test_a_router_losing_its_nat_drops_the_table():
    no_snat = replace(ROUTER_UP, enable_snat=False)
    changes = changes_for(plan(router=no_snat, fips=()), observed_after((plan(),))[NS])
    assert changes.replace_nat and changes.nat_table is None


def test_floating_ips_are_active_when_their_router_is_in_place():
    router = plan()
    assert floating_ip_statuses_for((router,), frozenset()) == {"f1": "ACTIVE"}
    assert floating_ip_statuses_for((router,), frozenset({ROUTER})) == {"f1": "ERROR"}


def test_a_leg_leaving_takes_its_port_and_flows_in_one_pass():
    host = FakeHost()
    for device in (QR_A_DEV, QR_B_DEV, QG_DEV):
        host.vswitchd.devices.add(device)  # the veths the router realizer makes
    apply_ovsdb(host, plan_on(host, state()))
    for vm in ("vm1-port", "vm2-port"):
        host.plug("br-int", tap(vm), vm, mac_of(vm))
    apply_ovsdb(host, plan_on(host, state()))
    wired = plan_on(host, state())  # the legs have their ofports: the firewall dispatches from them
    installed = sync_flows(host, wired).installed
    assert any(f"in_port={QR_B_DEV}" in flow.text() for flow in wired.flows)
    without_b = plan_on(host, state(ports=tuple(p for p in PORTS if p.id != QR_B)))
    assert apply_ovsdb(host, without_b).removed == [f"port br-int/{QR_B_DEV}"]
    # A few flows go, so they go as flow mods; those naming the port OVSDB no longer has are sent again as
    # the whole set, which names only ports that are there.
    assert sync_flows(host, without_b, observed=installed).report.removed
    assert not [line for line in host.flow_lines("br-int") if QR_B_DEV in line]
    assert [line for line in host.flow_lines("br-int") if QR_A_DEV in line]
