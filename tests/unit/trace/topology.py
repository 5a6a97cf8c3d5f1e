"""A small cloud as literal API state, for the trace tests.

Two hosts with the seed's layout (br-int; br-bond0 for physnet1); both run the OVS agent, compute1 the L3
agent too. Project demo:

    app 10.0.0.0/24 (VLAN 100)    web1 10.0.0.5 on compute1 [web]          web2 10.0.0.6 on compute2 [default]
    db  10.0.1.0/26 (VLAN 101,    db1  10.0.1.7 on compute2 [default]
        MTU 1400)
    router r1 on compute1: qr- on app (10.0.0.1) and db (10.0.1.1), gateway on public (203.0.113.2), SNAT
    public 203.0.113.0/24 (external, VLAN 201), gateway 203.0.113.1 upstream (not neutrino's)
    floating IPs: 203.0.113.10 -> web1 10.0.0.5; 203.0.113.11 unassociated

Group web has one rule (egress anywhere), default is Neutron's (egress anywhere, ingress from its members).
"""

from __future__ import annotations

from dataclasses import replace

from neutrino.model.host_config import HostConfig
from neutrino.model.resources import (
    Agent,
    FixedIp,
    FloatingIp,
    Network,
    Port,
    Router,
    SecurityGroup,
    SecurityGroupRule,
    Subnet,
)
from neutrino.model.state import ApiState
from tests.unit.seed import SEED

DEMO = "demo-project"
C1, C2 = "compute1", "compute2"
HOSTS = {C1: SEED, C2: replace(SEED, host=C2)}
ROUTER_ID = "70000000-aaaa-4bbb-8ccc-000000000001"

PUBLIC = Network("net-public", name="public", network_type="vlan", physical_network="physnet1", segmentation_id=201,
                 external=True)
APP = Network("net-app", name="app", project_id=DEMO, network_type="vlan", physical_network="physnet1",
              segmentation_id=100)
DB = Network("net-db", name="db", project_id=DEMO, network_type="vlan", physical_network="physnet1",
             segmentation_id=101, mtu=1400)
SUBNETS = (
    Subnet("sub-public", PUBLIC.id, "203.0.113.0/24", gateway_ip="203.0.113.1", name="public-subnet"),
    Subnet("sub-app", APP.id, "10.0.0.0/24", gateway_ip="10.0.0.1", name="app-subnet", project_id=DEMO),
    Subnet("sub-db", DB.id, "10.0.1.0/26", gateway_ip="10.0.1.1", name="db-subnet", project_id=DEMO),
)


def rule(rule_id: str, group_id: str, direction: str = "ingress", protocol: str | None = None,
         port: int | None = None, prefix: str | None = None, remote_group: str | None = None,
         ethertype: str = "IPv4") -> SecurityGroupRule:
    return SecurityGroupRule(rule_id, group_id, direction, ethertype, protocol, port, port, prefix, remote_group)


DEFAULT = SecurityGroup("sg-default", "default", DEMO, rules=(
    rule("r-def-eg4", "sg-default", "egress"), rule("r-def-eg6", "sg-default", "egress", ethertype="IPv6"),
    rule("r-def-in4", "sg-default", remote_group="sg-default"),
    rule("r-def-in6", "sg-default", remote_group="sg-default", ethertype="IPv6")))
WEB = SecurityGroup("sg-web", "web", DEMO, rules=(rule("r-web-eg", "sg-web", "egress"),))
ICMP_FROM_ANYWHERE = rule("r-web-icmp", "sg-web", protocol="icmp", prefix="0.0.0.0/0")


def mac(port_id: str) -> str:
    return f"fa:16:3e:00:{sum(port_id.encode()) % 256:02x}:{len(port_id):02x}"


def instance(port_id: str, network: Network, subnet: str, address: str, host: str, groups=("sg-default",),
             **attrs) -> Port:
    attrs = {"status": "ACTIVE", "vif_type": "ovs", "device_owner": "compute:nova", "project_id": DEMO, **attrs}
    return Port(port_id, network.id, mac(port_id), name=port_id.removesuffix("-port"), host_id=host,
                fixed_ips=(FixedIp(subnet, address),), security_groups=tuple(groups), **attrs)


def router_port(port_id: str, network: Network, subnet: str, address: str, gateway: bool = False,
                host: str = C1) -> Port:
    owner = "network:router_gateway" if gateway else "network:router_interface"
    return Port(port_id, network.id, mac(port_id), project_id="" if gateway else DEMO, status="ACTIVE",
                device_owner=owner, device_id=ROUTER_ID, host_id=host, vif_type="ovs",
                fixed_ips=(FixedIp(subnet, address),))


WEB1 = instance("web1-port", APP, "sub-app", "10.0.0.5", C1, groups=("sg-web",))
WEB2 = instance("web2-port", APP, "sub-app", "10.0.0.6", C2)
DB1 = instance("db1-port", DB, "sub-db", "10.0.1.7", C2)
QR_APP = router_port("a0000000-0001-4000-8000-00000000000a", APP, "sub-app", "10.0.0.1")
QR_DB = router_port("b0000000-0002-4000-8000-00000000000b", DB, "sub-db", "10.0.1.1")
QG = router_port("e0000000-0003-4000-8000-00000000000e", PUBLIC, "sub-public", "203.0.113.2", gateway=True)
R1 = Router(ROUTER_ID, name="r1", project_id=DEMO, gateway_network_id=PUBLIC.id,
            external_fixed_ips=(FixedIp("sub-public", "203.0.113.2"),))
FIP = FloatingIp("fip-1", "203.0.113.10", PUBLIC.id, DEMO, ROUTER_ID, WEB1.id, "10.0.0.5", "ACTIVE")
FREE_FIP = FloatingIp("fip-2", "203.0.113.11", PUBLIC.id, DEMO)
# Neutron keeps each floating IP's address on a port of its own (never wired): the trace must look past them.
FIP_PORTS = tuple(Port(f"fip-port-{n}", PUBLIC.id, mac(f"fip-port-{n}"), device_owner="network:floatingip",
                       device_id=fip_id, fixed_ips=(FixedIp("sub-public", address),), status="N/A")
                  for n, (fip_id, address) in enumerate((("fip-1", "203.0.113.10"), ("fip-2", "203.0.113.11"))))
AGENTS = (Agent("agent-1", C1, "Open vSwitch agent", True), Agent("agent-2", C2, "Open vSwitch agent", True),
          Agent("agent-3", C1, "L3 agent", True))


def cloud(ports=(WEB1, WEB2, DB1, QR_APP, QR_DB, QG, *FIP_PORTS), groups=(DEFAULT, WEB), routers=(R1,), fips=(FIP, FREE_FIP),
          networks=(PUBLIC, APP, DB), subnets=SUBNETS, agents=AGENTS) -> ApiState:
    return ApiState(revision=7, networks={n.id: n for n in networks}, subnets={s.id: s for s in subnets},
                    ports={p.id: p for p in ports}, security_groups={g.id: g for g in groups},
                    agents={a.id: a for a in agents}, routers={r.id: r for r in routers},
                    floatingips={f.id: f for f in fips})


def with_ports(state: ApiState, *ports: Port) -> ApiState:
    return replace(state, ports={**state.ports, **{p.id: p for p in ports}})


def with_groups(state: ApiState, *groups: SecurityGroup) -> ApiState:
    return replace(state, security_groups={**state.security_groups, **{g.id: g for g in groups}})


def hosts(**changes: HostConfig) -> dict[str, HostConfig]:
    return {**HOSTS, **changes}
