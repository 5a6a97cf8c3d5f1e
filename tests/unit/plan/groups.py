"""Literal security groups, instance ports and host facts for the firewall plan tests.

One network, net-a (provider VLAN 100, local VLAN 5 here). Instance ports are plugged on compute1 with
ofports from 7 up, as Nova/os-vif plugs them (tap..., or qvo... for the hybrid driver).
"""

from __future__ import annotations

from dataclasses import replace

from neutrino.model import names
from neutrino.model.resources import AddressPair, FixedIp, Port, SecurityGroup, SecurityGroupRule
from neutrino.model.state import ApiState
from neutrino.plan.facts import HostFacts, PluggedPort
from tests.unit.seed import HOST, SEED, vlan_network

NET = vlan_network("net-a", 100)
VLAN = 5
OVS = replace(SEED, firewall_driver="openvswitch")
HYBRID = replace(SEED, firewall_driver="iptables_hybrid")
NOOP = replace(SEED, firewall_driver="noop")


def rule(rule_id: str, direction: str = "ingress", ethertype: str = "IPv4", protocol: str | None = None,
         port_min: int | None = None, port_max: int | None = None, prefix: str | None = None,
         remote_group: str | None = None, group: str = "sg-web") -> SecurityGroupRule:
    return SecurityGroupRule(rule_id, group, direction, ethertype, protocol, port_min, port_max, prefix,
                             remote_group)


def group(group_id: str, *rules: SecurityGroupRule, name: str = "") -> SecurityGroup:
    return SecurityGroup(group_id, name or group_id.removeprefix("sg-"),
                         rules=tuple(replace(r, security_group_id=group_id) for r in rules))


def default_group(group_id: str = "sg-default") -> SecurityGroup:
    """Neutron's default group: any egress, ingress from members of the group itself."""
    return group(group_id, rule("d-eg4", "egress"), rule("d-eg6", "egress", "IPv6"),
                 rule("d-in4", remote_group=group_id), rule("d-in6", ethertype="IPv6", remote_group=group_id),
                 name="default")


def instance(port_id: str, *ips: str, groups: tuple[str, ...] = ("sg-web",), host: str = HOST,
             mac: str | None = None, **attrs) -> Port:
    fixed = tuple(FixedIp("subnet-6" if ":" in ip else "subnet-4", ip) for ip in ips)
    attrs.setdefault("device_owner", "compute:nova")
    return Port(port_id, "net-a", mac or mac_for(port_id), host_id=host, fixed_ips=fixed,
                security_groups=groups, **attrs)


def pair(ip: str, mac: str = "") -> AddressPair:
    return AddressPair(ip, mac)


def mac_for(port_id: str) -> str:
    return f"fa:16:3e:00:00:{sum(port_id.encode()) % 256:02x}"


def state_of(ports, groups) -> ApiState:
    return ApiState(revision=1, networks={NET.id: NET}, ports={p.id: p for p in ports},
                    security_groups={g.id: g for g in groups})


def device(port_id: str, hybrid: bool = False) -> str:
    return names.hybrid_ovs_veth_name(port_id) if hybrid else names.tap_name(port_id)


def plugged_here(*ports: Port, hybrid: bool = False, first_ofport: int = 7,
                 zones: tuple[tuple[str, int], ...] = ()) -> HostFacts:
    """Facts of a host where these ports are plugged (in order, ofports from first_ofport) on VLAN 5."""
    return HostFacts(plugged=tuple(
        PluggedPort(device(p.id, hybrid), "br-int", p.id, p.mac_address, first_ofport + i, "net-a", VLAN)
        for i, p in enumerate(ports)), conntrack_zones=zones)
