"""A router of the seed node as literal API state, shared by the L3 plan and realizer tests: interfaces on
net-a (10.0.0.0/24) and net-b (10.0.1.0/26, MTU 1400), its gateway on net-ext (VLAN 201, 203.0.113.0/24,
gateway .1) with SNAT, an extra route, and floating IP f1 203.0.113.10 -> vm1 10.0.0.5 (f2 unassociated)."""

from __future__ import annotations

from neutrino.model.resources import FixedIp, FloatingIp, Network, Router, Subnet
from neutrino.model.state import ApiState
from tests.unit.seed import HOST, port, vlan_network

ROUTER = "70000000-aaaa-4bbb-8ccc-000000000001"
NS = "qrouter-" + ROUTER
EXT = vlan_network("net-ext", 201, external=True)
NET_A, NET_B = vlan_network("net-a", 100), vlan_network("net-b", 101, mtu=1400)
SUBNETS = (Subnet("sub-ext", "net-ext", "203.0.113.0/24", gateway_ip="203.0.113.1"),
           Subnet("sub-a", "net-a", "10.0.0.0/24", gateway_ip="10.0.0.1"),
           Subnet("sub-b", "net-b", "10.0.1.0/26", gateway_ip="10.0.1.1"))
QR_A, QR_B = "a0000000-0001-4000-8000-00000000000a", "b0000000-0002-4000-8000-00000000000b"  # port ids
QG = "e0000000-0003-4000-8000-00000000000e"


def router_port(port_id: str, network: Network, subnet_id: str, address: str, gateway: bool = False,
                host: str = HOST):
    owner = "network:router_gateway" if gateway else "network:router_interface"
    return port(port_id, network.id, host=host, device_owner=owner, device_id=ROUTER,
                fixed_ips=(FixedIp(subnet_id, address),), project_id="" if gateway else "demo")


def vm(port_id: str, network: Network, subnet_id: str, address: str):
    return port(port_id, network.id, fixed_ips=(FixedIp(subnet_id, address),))


def floating_ip(fip_id: str, address: str, port_id: str | None, fixed: str | None) -> FloatingIp:
    return FloatingIp(fip_id, address, EXT.id, router_id=ROUTER if port_id else None, port_id=port_id,
                      fixed_ip_address=fixed)


ROUTER_UP = Router(ROUTER, name="r1", gateway_network_id=EXT.id, enable_snat=True,
                   external_fixed_ips=(FixedIp("sub-ext", "203.0.113.2"),),
                   routes=(("192.168.50.0/24", "10.0.1.20"),))
PORTS = (router_port(QR_A, NET_A, "sub-a", "10.0.0.1"), router_port(QR_B, NET_B, "sub-b", "10.0.1.1"),
         router_port(QG, EXT, "sub-ext", "203.0.113.2", gateway=True),
         vm("vm1-port", NET_A, "sub-a", "10.0.0.5"), vm("vm2-port", NET_B, "sub-b", "10.0.1.7"))
FIPS = (floating_ip("f1", "203.0.113.10", "vm1-port", "10.0.0.5"), floating_ip("f2", "203.0.113.11", None, None))


def state(router: Router = ROUTER_UP, ports=PORTS, fips=FIPS, subnets=SUBNETS) -> ApiState:
    return ApiState(revision=1, networks={n.id: n for n in (EXT, NET_A, NET_B)}, subnets={s.id: s for s in subnets},
                    ports={p.id: p for p in ports}, routers={router.id: router}, floatingips={f.id: f for f in fips})
