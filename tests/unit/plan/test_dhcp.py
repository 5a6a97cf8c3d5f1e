"""plan/dhcp.py: the networks served here, and dnsmasq's files and command line in Neutron's formats,
from literal API state; build_plan's DHCP tap, an owned port tagged like any plugged port."""

from __future__ import annotations

from dataclasses import replace

from neutrino.model.resources import FixedIp, Subnet
from neutrino.model.state import ApiState
from neutrino.plan.build import build_plan
from neutrino.plan.dhcp import dhcp_for
from neutrino.plan.facts import PluggedPort
from tests.unit.seed import HOST, SEED, facts, mac_of, plugged, port, tap, vlan_network

NET = "9d1c4a56-2f0e-4b8a-8c43-5d7e1f2a3b4c"
SUB = "5e2b7c1d-aaaa-4e3f-9b1a-0c2d4e6f8a10"
DHCP_PORT = "d7f3a1b2-c4e5-4f60-8a9b-0c1d2e3f4a5b"
DIR = "/var/lib/neutrino/agent/dhcp/" + NET


def subnet(subnet_id: str = SUB, cidr: str = "10.0.0.0/24", **attrs) -> Subnet:
    attrs.setdefault("gateway_ip", cidr.rsplit(".", 1)[0] + ".1" if "." in cidr else None)
    return Subnet(subnet_id, NET, cidr, **attrs)


def dhcp_port(*fixed: tuple[str, str], host: str = HOST):
    return port(DHCP_PORT, NET, host=host, device_owner="network:dhcp",
                fixed_ips=tuple(FixedIp(s, a) for s, a in fixed))


def state(subnets, ports, mtu: int = 1400) -> ApiState:
    network = vlan_network(NET, 100, mtu=mtu)
    return ApiState(revision=1, networks={NET: network}, subnets={s.id: s for s in subnets},
                    ports={p.id: p for p in ports})


def vm(port_id: str, *fixed: tuple[str, str], host: str = HOST, **attrs):
    return port(port_id, NET, host=host, fixed_ips=tuple(FixedIp(s, a) for s, a in fixed), **attrs)


def test_a_network_whose_dhcp_port_is_bound_here_is_served_as_neutron_serves_it():
    routed = subnet(dns_nameservers=("8.8.8.8", "8.8.4.4"), host_routes=(("172.16.0.0/16", "10.0.0.254"),))
    ports = [dhcp_port((SUB, "10.0.0.2")), vm("vm-a", (SUB, "10.0.0.5")),
             vm("vm-b", (SUB, "10.0.0.6"), host="elsewhere"), vm("vm-c")]
    [plan] = dhcp_for(state([routed], ports), SEED)

    assert (plan.network_id, plan.port_id, plan.namespace, plan.device, plan.mac) == \
        (NET, DHCP_PORT, f"qdhcp-{NET}", "tapd7f3a1b2-c4", mac_of(DHCP_PORT))
    assert (plan.addresses, plan.mtu, plan.gateway) == (("10.0.0.2/24",), 1400, "10.0.0.1")
    assert plan.hosts == (  # every port of the network, wherever it is bound; ports in id order
        f"{mac_of(DHCP_PORT)},host-10-0-0-2.openstacklocal,10.0.0.2\n"
        f"{mac_of('vm-a')},host-10-0-0-5.openstacklocal,10.0.0.5\n"
        f"{mac_of('vm-b')},host-10-0-0-6.openstacklocal,10.0.0.6\n")
    assert plan.addn_hosts == (
        "10.0.0.2\thost-10-0-0-2.openstacklocal host-10-0-0-2\n"
        "10.0.0.5\thost-10-0-0-5.openstacklocal host-10-0-0-5\n"
        "10.0.0.6\thost-10-0-0-6.openstacklocal host-10-0-0-6\n")
    assert plan.opts == (
        f"tag:subnet-{SUB},option:dns-server,8.8.8.8,8.8.4.4\n"
        f"tag:subnet-{SUB},option:classless-static-route,172.16.0.0/16,10.0.0.254,0.0.0.0/0,10.0.0.1\n"
        f"tag:subnet-{SUB},249,172.16.0.0/16,10.0.0.254,0.0.0.0/0,10.0.0.1\n"
        f"tag:subnet-{SUB},option:router,10.0.0.1\n")
    assert plan.argv(DIR) == (
        "dnsmasq", "--no-hosts", "--no-resolv", f"--pid-file={DIR}/pid", f"--dhcp-hostsfile={DIR}/host",
        f"--addn-hosts={DIR}/addn_hosts", f"--dhcp-optsfile={DIR}/opts", "--leasefile-ro",
        "--dhcp-match=set:ipxe,175", "--dhcp-userclass=set:ipxe6,iPXE", "--bind-interfaces",
        "--interface=tapd7f3a1b2-c4", "--except-interface=lo",
        f"--dhcp-range=set:subnet-{SUB},10.0.0.0,static,255.255.255.0,86400s",
        "--dhcp-option-force=option:mtu,1400", "--dhcp-lease-max=256", "--conf-file=/dev/null",
        "--domain=openstacklocal", "--keep-in-foreground")
    assert plan.files == {"host": plan.hosts, "addn_hosts": plan.addn_hosts, "opts": plan.opts}
    assert (plan.source, plan.reason) == (f"port:{DHCP_PORT}", f"DHCP port of network {NET} is bound to this host")


def test_a_network_is_served_only_where_its_dhcp_port_is_bound_with_an_address_to_serve_from():
    on = subnet()
    assert dhcp_for(state([on], [dhcp_port((SUB, "10.0.0.2"), host="elsewhere")]), SEED) == []
    assert dhcp_for(state([on], [dhcp_port()]), SEED) == []  # no address yet
    assert dhcp_for(state([replace(on, enable_dhcp=False)], [dhcp_port((SUB, "10.0.0.2"))]), SEED) == []
    assert dhcp_for(state([on], [vm("vm-a", (SUB, "10.0.0.5"))]), SEED) == []  # no DHCP port at all


def test_without_a_gateway_or_dns_servers_the_router_is_none_and_dnsmasq_is_the_dns_server():
    [plan] = dhcp_for(state([subnet(gateway_ip=None)], [dhcp_port((SUB, "10.0.0.2"))]), SEED)
    assert plan.opts == (f"tag:subnet-{SUB},option:dns-server,10.0.0.2\n"
                         f"tag:subnet-{SUB},option:router\n")
    assert plan.gateway is None


def test_a_default_host_route_stands_in_for_a_missing_gateway():
    routes = (("0.0.0.0/0", "10.0.0.254"), ("192.168.0.0/24", "10.0.0.253"))
    [plan] = dhcp_for(state([subnet(gateway_ip=None, host_routes=routes)], [dhcp_port((SUB, "10.0.0.2"))]), SEED)
    assert plan.opts.splitlines()[1:] == [
        f"tag:subnet-{SUB},option:classless-static-route,192.168.0.0/24,10.0.0.253,0.0.0.0/0,10.0.0.254",
        f"tag:subnet-{SUB},249,192.168.0.0/24,10.0.0.253,0.0.0.0/0,10.0.0.254",
        f"tag:subnet-{SUB},option:router,10.0.0.254"]


def test_routed_subnets_get_the_metadata_route_and_sibling_subnets_on_link_routes():
    other = "6f3c8d2e-bbbb-4f40-8c2b-1d3e5f7a9b21"
    subnets = [subnet(), subnet(other, "10.1.0.0/24", enable_dhcp=False)]
    router = vm("router-if", (SUB, "10.0.0.1"), device_owner="network:router_interface")
    [plan] = dhcp_for(state(subnets, [dhcp_port((SUB, "10.0.0.2")), router]), SEED)
    routes = "10.1.0.0/24,0.0.0.0,169.254.169.254/32,10.0.0.1,0.0.0.0/0,10.0.0.1"
    assert plan.opts == (f"tag:subnet-{SUB},option:dns-server,10.0.0.2\n"
                         f"tag:subnet-{SUB},option:classless-static-route,{routes}\n"
                         f"tag:subnet-{SUB},249,{routes}\n"
                         f"tag:subnet-{SUB},option:router,10.0.0.1\n")
    assert "--dhcp-range=set:subnet-" + other not in " ".join(plan.argv(DIR))  # no DHCP there


def test_only_addresses_on_dhcp_enabled_subnets_get_leases_but_every_address_has_a_name():
    other = "6f3c8d2e-bbbb-4f40-8c2b-1d3e5f7a9b21"
    subnets = [subnet(), subnet(other, "10.1.0.0/24", enable_dhcp=False)]
    ports = [dhcp_port((SUB, "10.0.0.2")), vm("vm-a", (SUB, "10.0.0.5"), (other, "10.1.0.5"))]
    [plan] = dhcp_for(state(subnets, ports), SEED)
    assert "10.1.0.5" not in plan.hosts and "10.1.0.5\thost-10-1-0-5.openstacklocal host-10-1-0-5\n" in plan.addn_hosts


def test_ipv6_stateful_subnets_get_a_dhcpv6_range_and_slaac_subnets_nothing():
    v6, slaac = "7a8b9c0d-cccc-4a1b-8c2d-3e4f5a6b7c8d", "8b9c0d1e-dddd-4b2c-9d3e-4f5a6b7c8d9e"
    subnets = [subnet(), subnet(v6, "fd00:1::/64", ip_version=6, gateway_ip="fd00:1::1",
                                ipv6_address_mode="dhcpv6-stateful", ipv6_ra_mode="dhcpv6-stateful"),
               subnet(slaac, "fd00:2::/64", ip_version=6, gateway_ip="fd00:2::1", ipv6_address_mode="slaac",
                      ipv6_ra_mode="slaac")]
    ports = [dhcp_port((SUB, "10.0.0.2"), (v6, "fd00:1::2")),
             vm("vm-a", (SUB, "10.0.0.5"), (v6, "fd00:1::5"), (slaac, "fd00:2::f816:3eff:fe00:5"))]
    [plan] = dhcp_for(state(subnets, ports, mtu=1500), SEED)
    assert plan.addresses == ("10.0.0.2/24", "fd00:1::2/64")
    assert f"{mac_of('vm-a')},host-fd00-1--5.openstacklocal,[fd00:1::5]\n" in plan.hosts
    assert "fd00:2" not in plan.hosts
    assert [o for o in plan.argv(DIR) if o.startswith("--dhcp-range")] == [
        f"--dhcp-range=set:subnet-{SUB},10.0.0.0,static,255.255.255.0,86400s",
        f"--dhcp-range=set:subnet-{v6},fd00:1::,static,64,86400s"]
    assert plan.opts.splitlines()[-2:] == [f"tag:subnet-{v6},option6:dns-server,[fd00:1::2]",
                                           f"tag:subnet-{v6},option6:domain-search,openstacklocal"]


# --- build_plan: the DHCP tap on br-int ---

def test_the_dhcp_tap_is_an_owned_port_on_its_networks_local_vlan_from_the_pass_that_creates_it():
    served = state([subnet()], [dhcp_port((SUB, "10.0.0.2")), vm("vm-a", (SUB, "10.0.0.5"))])
    plan = build_plan(served, SEED, facts())
    [leg] = [p for p in plan.ports if p.name == tap(DHCP_PORT)]
    assert (leg.bridge, leg.owned, leg.tag, [i.name for i in leg.interfaces]) == ("br-int", True, 1, [leg.name])
    assert leg.iface_external_ids == (("attached-mac", mac_of(DHCP_PORT)), ("iface-id", DHCP_PORT),
                                      ("iface-status", "active"))
    assert dict(leg.other_config)["net_uuid"] == NET
    assert plan.local_vlans == {NET: 1}
    assert plan.port_states[DHCP_PORT].status == "ACTIVE"
    assert [d.network_id for d in plan.dhcp] == [NET]


def test_an_existing_dhcp_tap_keeps_its_local_vlan_and_one_no_longer_served_leaves_the_plan():
    served = state([subnet()], [dhcp_port((SUB, "10.0.0.2"))])
    ours = replace(plugged(DHCP_PORT, net_uuid=NET, local_vlan=7), owned=True, ofport=3)
    stale = PluggedPort("tapgone-00000", "br-int", "gone-port", owned=True, net_uuid="gone", local_vlan=8)
    plan = build_plan(served, SEED, facts(ours, stale))
    assert plan.local_vlans == {NET: 7}
    assert [(p.name, p.tag, p.owned) for p in plan.ports if p.bridge == "br-int" and p.name.startswith("tap")] == \
        [(tap(DHCP_PORT), 7, True)]
    assert "tapgone-00000" not in plan.parked
