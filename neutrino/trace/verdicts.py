"""The Stops a walk ends with when the API lacks something: a security group rule, a floating IP association, a
router interface, a route or a gateway. Each names the deciding objects and the command that fixes it."""

from __future__ import annotations

import ipaddress

from neutrino.model.resources import FloatingIp, Network, Port, Router, Subnet
from neutrino.model.state import ApiState
from neutrino.plan.firewall import Direction
from neutrino.plan.l3 import ROUTER_INTERFACE
from neutrino.trace.explain import (
    Stop,
    cli_name,
    floating_ip_create_fix,
    floating_ip_ref,
    floating_ip_set_fix,
    group_ref,
    label,
    network_ref,
    port_ref,
    router_add_subnet_fix,
    router_gateway_fix,
    router_ref,
    rule_create_fix,
    stop,
    subnet_ref,
)
from neutrino.trace.packet import Packet
from neutrino.trace.result import Reason


def security_group_drop(state: ApiState, port: Port, direction: Direction, packet: Packet) -> Stop:
    """No rule of the port's groups admits the packet; the fix adds one to the port's own group (the first by
    name that is not ``default``, as a person would)."""
    groups = sorted((state.security_groups[g] for g in port.security_groups if g in state.security_groups),
                    key=lambda g: (g.name == "default", g.name, g.id))
    if not groups:
        return stop(Reason.DROPPED_BY_SECURITY_GROUP, f"port {label(port)} has no security group: it admits nothing",
                    [port_ref(port)], [f"openstack port set --security-group <group> {cli_name(state, port)}"])
    peer = packet.source if direction is Direction.INGRESS else packet.destination
    what = packet.protocol.value + (f" port {packet.port}" if packet.port is not None else "")
    way = "from" if direction is Direction.INGRESS else "to"
    named = ", ".join(g.name or g.id for g in groups)
    project = f" in project {groups[0].project_id}" if groups[0].project_id else ""
    noun, verb = ("security group", "has") if len(groups) == 1 else ("security groups", "have")
    return stop(Reason.DROPPED_BY_SECURITY_GROUP,
                f"{noun} {named}{project} of port {port.name or port.id} {verb} no {direction.value} rule admitting "
                f"{what} {way} {peer}", [group_ref(g) for g in groups] + [port_ref(port)],
                [rule_create_fix(state, groups[0], direction, packet)])


def unassociated(state: ApiState, fip: FloatingIp, meant: Port | None) -> Stop:
    return stop(Reason.NO_FLOATING_IP_ASSOCIATION, f"floating IP {fip.floating_ip_address} is associated with no port",
                [floating_ip_ref(fip)], [floating_ip_set_fix(state, fip, meant)])


def no_floating_ip(state: ApiState, port: Port, address: str) -> Stop:
    return stop(Reason.NO_FLOATING_IP_ASSOCIATION,
                f"port {label(port)} has no floating IP: from outside, its address {address} is not reachable",
                [port_ref(port)], [floating_ip_create_fix(state, port, external_network_for(state, port))])


def no_router_interface(state: ApiState, network: Network, packet: Packet, gateway: str) -> Stop:
    subnet = next((s for s in state.subnets.values() if s.network_id == network.id and s.gateway_ip == gateway), None)
    if subnet is None:
        return stop(Reason.NO_SUCH_ADDRESS, f"no port on network {label(network)} holds the next hop {gateway}",
                    [network_ref(network)])
    return stop(Reason.NO_ROUTER_INTERFACE,
                f"no router has an interface on subnet {label(subnet)}: nothing holds its gateway {gateway}, so "
                f"{packet.destination} (off {subnet.cidr}) is not reachable", [subnet_ref(subnet)],
                [router_add_subnet_fix(state, router_for(state, packet.destination, subnet), subnet)])


def no_route(state: ApiState, router: Router, packet: Packet, left: bool = False) -> Stop:
    """The router has no route to the destination (``left``: its default route took the packet out of
    neutrino, though the destination is a port of a subnet the router is not on)."""
    inside = next((s for s in state.subnets.values() if contains(s.cidr, packet.destination)
                   and s.network_id in state.networks and not state.networks[s.network_id].external), None)
    if inside is not None:
        how = "it left by the gateway" if left else "no route"
        return stop(Reason.NO_ROUTE, f"router {label(router)} has no interface on subnet {label(inside)} "
                                     f"({inside.cidr}) where {packet.destination} is: {how}",
                    [router_ref(router), subnet_ref(inside)], [router_add_subnet_fix(state, router, inside)])
    if router.gateway_network_id is None:
        externals = [n for n in state.networks.values() if n.external]
        return stop(Reason.NO_GATEWAY, f"router {label(router)} has no external gateway: it has no route to "
                                       f"{packet.destination}", [router_ref(router)],
                    [router_gateway_fix(state, router, externals[0] if len(externals) == 1 else None)])
    return stop(Reason.NO_ROUTE, f"router {label(router)} has no route to {packet.destination}", [router_ref(router)])


def no_return_route(state: ApiState, router: Router, network: Network, packet: Packet) -> Stop:
    return stop(Reason.NO_RETURN_ROUTE,
                f"{packet.source} leaves router {label(router)} by its gateway without NAT (enable_snat is false "
                "and it has no floating IP): replies have no way back to it", [router_ref(router)],
                [f"openstack router set --external-gateway {cli_name(state, network)} --enable-snat "
                 f"{cli_name(state, router)}"])


def external_network_for(state: ApiState, port: Port) -> Network | None:
    """The external network a floating IP for the port would come from: the gateway network of a router on
    one of its subnets, else the only external network."""
    subnets = {f.subnet_id for f in port.fixed_ips}
    for other in state.ports.values():
        if other.device_owner == ROUTER_INTERFACE and subnets & {f.subnet_id for f in other.fixed_ips}:
            router = state.routers.get(other.device_id)
            if router is not None and router.gateway_network_id in state.networks:
                return state.networks[router.gateway_network_id]
    externals = [n for n in state.networks.values() if n.external]
    return externals[0] if len(externals) == 1 else None


def router_for(state: ApiState, address: str, subnet: Subnet | None) -> Router | None:
    """The router to attach ``subnet`` to: one already on the destination's subnet, else the only router of
    the subnet's project."""
    for port in state.ports.values():
        if port.device_owner == ROUTER_INTERFACE and any(
                f.subnet_id in state.subnets and contains(state.subnets[f.subnet_id].cidr, address)
                for f in port.fixed_ips):
            return state.routers.get(port.device_id)
    mine = [r for r in state.routers.values() if subnet is not None and r.project_id == subnet.project_id]
    return mine[0] if len(mine) == 1 else None


def contains(cidr: str, address: str) -> bool:
    network, target = ipaddress.ip_network(cidr, strict=False), ipaddress.ip_address(address)
    return network.version == target.version and target in network
