"""What the caller typed -> Endpoints over the API state, before any walk.

An endpoint may be given as a port id or name; an instance (the ``device_id`` of its port, the namespace
``inst-<port id[:8]>`` ``neutrino plug`` makes, or its device ``tap…``/``qvo…``); a fixed IP (``ADDRESS@NETWORK``
when addresses overlap); a floating IP; or, for an address no port holds, the outside. A fixed IP held on
several networks is taken on the source's network, then on a network the source's router reaches; if that
still leaves several, EndpointAmbiguous lists them.
"""

from __future__ import annotations

import ipaddress
from dataclasses import replace

from neutrino.model import names
from neutrino.model.resources import Port
from neutrino.model.state import ApiState
from neutrino.plan.l3 import ROUTER_INTERFACE
from neutrino.trace.errors import EndpointAmbiguous, EndpointNotFound, ProbeInvalid
from neutrino.trace.packet import Endpoint, EndpointKind, Probe, Protocol

INSTANCE_PREFIX = "inst-"  # neutrino plug's default namespace: inst-<first 8 characters of the port id>
FLOATING_IP_OWNER = "network:floatingip"  # the port holding a floating IP's address: bookkeeping, never wired


def resolve_probe(state: ApiState, source: str, destination: str, protocol: str = "icmp", port: int | None = None,
                  source_ip: str | None = None) -> Probe:
    try:
        kind = Protocol(protocol)
    except ValueError:
        raise ProbeInvalid(f"protocol must be one of {', '.join(p.value for p in Protocol)}, not {protocol!r}") from None
    if kind is Protocol.ICMP and port is not None:
        raise ProbeInvalid("icmp has no port: leave --port out")
    if kind is not Protocol.ICMP and (port is None or not 1 <= port <= 65535):
        raise ProbeInvalid(f"{kind} needs a destination port (1-65535)")
    start = _sender(state, resolve_endpoint(state, source))
    end = resolve_endpoint(state, destination, start)
    if start.kind is EndpointKind.OUTSIDE and end.kind is EndpointKind.OUTSIDE:
        raise ProbeInvalid(f"neither {source!r} nor {destination!r} is in neutrino")
    start, end = _same_version(state, start, end)
    if source_ip is not None:
        start = _sending_from(start, source_ip)
    return Probe(start, end, kind, port)


def resolve_endpoint(state: ApiState, text: str, source: Endpoint | None = None) -> Endpoint:
    text = text.strip()
    if "@" in text:
        return _address_on_network(state, text)
    ports = _ports_named(state, text)
    if len(ports) == 1:
        return Endpoint(EndpointKind.PORT, _address_of(ports[0]), ports[0].id, given=text)
    if len(ports) > 1:
        raise EndpointAmbiguous(f"{text!r} names {len(ports)} ports: give a port id",
                                tuple(_candidate(state, p) for p in ports))
    try:
        address = str(ipaddress.ip_address(text))
    except ValueError:
        raise EndpointNotFound(f"{text!r} is no port id or name, instance, or IP address") from None
    return _by_address(state, address, source)


def _ports_named(state: ApiState, text: str) -> list[Port]:
    """The ports ``text`` names: by id, name, device_id, plug's namespace name or device name."""
    if text in state.ports:
        return [state.ports[text]]
    for pick in (lambda p: p.name == text, lambda p: p.device_id == text):
        found = sorted((p for p in state.ports.values() if pick(p)), key=lambda p: p.id)
        if found:
            return found
    if text.startswith(INSTANCE_PREFIX) and len(text) == len(INSTANCE_PREFIX) + 8:
        prefix = text[len(INSTANCE_PREFIX):]
        return sorted((p for p in state.ports.values() if p.id.startswith(prefix)), key=lambda p: p.id)
    return sorted((p for p in state.ports.values() if text in _devices_of(p.id)), key=lambda p: p.id)


def _devices_of(port_id: str) -> tuple[str, ...]:
    return (names.tap_name(port_id), names.hybrid_ovs_veth_name(port_id), names.router_port_name(port_id),
            names.gateway_port_name(port_id))


def _by_address(state: ApiState, address: str, source: Endpoint | None) -> Endpoint:
    holders = [p for p in state.ports.values() if p.device_owner != FLOATING_IP_OWNER
               and any(f.ip_address == address for f in p.fixed_ips)]
    if len(holders) > 1:
        holders = _as_seen_from(state, holders, source)
    if len(holders) > 1:
        raise EndpointAmbiguous(f"{address} is held by {len(holders)} ports on different networks (overlapping "
                                "addresses): give the port, or ADDRESS@NETWORK",
                                tuple(_candidate(state, p) for p in holders))
    if holders:
        return Endpoint(EndpointKind.PORT, address, holders[0].id, given=address)
    fip = next((f for f in state.floatingips.values() if f.floating_ip_address == address), None)
    if fip is not None:
        return Endpoint(EndpointKind.FLOATING_IP, address, fip.port_id, fip.id, given=address)
    return Endpoint(EndpointKind.OUTSIDE, address, given=address)


def _as_seen_from(state: ApiState, holders: list[Port], source: Endpoint | None) -> list[Port]:
    """Of several ports holding one address, those the source reaches first: on its own network, else on a
    network its router (a router with an interface on the source's network) has an interface on."""
    sender = state.ports.get(source.port_id or "") if source else None
    if sender is None:
        return holders
    same = [p for p in holders if p.network_id == sender.network_id]
    if same:
        return same
    routed = _networks_routed_with(state, sender.network_id)
    return [p for p in holders if p.network_id in routed] or holders


def _networks_routed_with(state: ApiState, network_id: str) -> set[str]:
    interfaces = [p for p in state.ports.values() if p.device_owner == ROUTER_INTERFACE]
    routers = {p.device_id for p in interfaces if p.network_id == network_id}
    return {p.network_id for p in interfaces if p.device_id in routers}


def _address_on_network(state: ApiState, text: str) -> Endpoint:
    address, _, network = text.partition("@")
    networks = [n for n in state.networks.values() if network in (n.id, n.name)]
    if not networks:
        raise EndpointNotFound(f"no network {network!r}")
    ports = [p for p in state.ports.values() if p.network_id in {n.id for n in networks}
             and p.device_owner != FLOATING_IP_OWNER and any(f.ip_address == address for f in p.fixed_ips)]
    if not ports:
        raise EndpointNotFound(f"no port on network {network!r} holds {address}")
    if len(ports) > 1:
        raise EndpointAmbiguous(f"{text!r} names {len(ports)} ports", tuple(_candidate(state, p) for p in ports))
    return Endpoint(EndpointKind.PORT, address, ports[0].id, given=text)


def _sender(state: ApiState, endpoint: Endpoint) -> Endpoint:
    """A source: a port sends; a floating IP's port sends from its fixed address; an outside address must not
    lie on a tenant subnet (no port holds it there)."""
    if endpoint.kind is EndpointKind.FLOATING_IP:
        fip = state.floatingips[endpoint.floating_ip_id]
        if not fip.port_id or not fip.fixed_ip_address:
            raise ProbeInvalid(f"floating IP {fip.floating_ip_address} is associated with no port: nothing sends "
                               "from it")
        return Endpoint(EndpointKind.PORT, fip.fixed_ip_address, fip.port_id, given=endpoint.given)
    if endpoint.kind is EndpointKind.OUTSIDE:
        for subnet in state.subnets.values():
            network = state.networks.get(subnet.network_id)
            if network is not None and not network.external and _contains(subnet.cidr, endpoint.address):
                raise EndpointNotFound(f"no port holds {endpoint.address} (on subnet {subnet.name or subnet.id} of "
                                       f"network {network.name or network.id})")
    return endpoint


def _same_version(state: ApiState, start: Endpoint, end: Endpoint) -> tuple[Endpoint, Endpoint]:
    """Both ends in one IP version: a port given by name sends from (or is reached at) its address of the
    other end's version."""
    if _version(start.address) == _version(end.address):
        return start, end
    for endpoint, other in ((end, start), (start, end)):
        port = state.ports.get(endpoint.port_id or "") if endpoint.kind is EndpointKind.PORT else None
        if port is not None and endpoint.given != endpoint.address:
            address = next((f.ip_address for f in port.fixed_ips if _version(f.ip_address) == _version(other.address)),
                           None)
            if address is not None:
                moved = replace(endpoint, address=address)
                return (start, moved) if endpoint is end else (moved, end)
    raise ProbeInvalid(f"{start.label} and {end.label} are not of one IP version")


def _sending_from(start: Endpoint, address: str) -> Endpoint:
    if start.kind is not EndpointKind.PORT:
        raise ProbeInvalid("--source-ip is for a port sending from another address than its own")
    try:
        address = str(ipaddress.ip_address(address))
    except ValueError:
        raise ProbeInvalid(f"--source-ip {address!r} is not an IP address") from None
    return replace(start, address=address)


def _address_of(port: Port) -> str:
    addresses = [f.ip_address for f in port.fixed_ips]
    if not addresses:
        raise EndpointNotFound(f"port {port.name or port.id} has no fixed IP")
    return next((a for a in addresses if _version(a) == 4), addresses[0])


def _candidate(state: ApiState, port: Port) -> str:
    network = state.networks.get(port.network_id)
    addresses = ",".join(f.ip_address for f in port.fixed_ips)
    return f"port {port.id} ({port.name or 'no name'}; {addresses} on network {network.name if network else port.network_id})"


def _contains(cidr: str, address: str) -> bool:
    network, target = ipaddress.ip_network(cidr, strict=False), ipaddress.ip_address(address)
    return network.version == target.version and target in network


def _version(address: str) -> int:
    return ipaddress.ip_address(address).version
