"""What is traced: a Probe between two resolved Endpoints, and the Packet as it travels (NAT rewrites it)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, replace
from enum import StrEnum

from neutrino.plan.firewall import ICMP, ICMPV6, TCP, UDP, Ethertype


class Protocol(StrEnum):
    ICMP = "icmp"  # an echo request (ping)
    TCP = "tcp"  # a connection to a destination port
    UDP = "udp"


ECHO_REQUEST = {4: 8, 6: 128}  # ICMP type of an echo request, by IP version


class EndpointKind(StrEnum):
    PORT = "port"  # an API port: an instance, or a router or DHCP port
    FLOATING_IP = "floating-ip"  # a floating IP (reached from anywhere, DNATed to its port)
    OUTSIDE = "outside"  # an address outside neutrino, beyond (or on) an external network


@dataclass(frozen=True)
class Endpoint:
    kind: EndpointKind
    address: str  # the address the packet carries: sent from (source) or sent to (destination)
    port_id: str | None = None  # PORT: the port; FLOATING_IP: the port it is associated with, if any
    floating_ip_id: str | None = None
    given: str = ""  # how the caller named it

    @property
    def label(self) -> str:
        if self.given and self.given != self.address:
            return f"{self.given} ({self.address})"
        return self.address


@dataclass(frozen=True)
class Packet:
    source: str
    destination: str
    protocol: Protocol
    port: int | None = None  # destination port (tcp, udp)
    is_reply: bool = False  # the reply of an admitted connection (an echo reply, a segment back)

    @property
    def version(self) -> int:
        return ipaddress.ip_address(self.destination).version

    @property
    def ethertype(self) -> Ethertype:
        return Ethertype.IPV6 if self.version == 6 else Ethertype.IPV4

    @property
    def protocol_number(self) -> int:
        if self.protocol is Protocol.ICMP:
            return ICMPV6 if self.version == 6 else ICMP
        return TCP if self.protocol is Protocol.TCP else UDP

    @property
    def icmp_type(self) -> int | None:
        return ECHO_REQUEST[self.version] if self.protocol is Protocol.ICMP else None

    def text(self) -> str:
        """'icmp 10.0.0.5 > 203.0.113.7 echo-request', 'tcp 10.0.0.5 > 10.0.0.6:22'."""
        if self.protocol is Protocol.ICMP:
            return f"icmp {self.source} > {self.destination} echo-{'reply' if self.is_reply else 'request'}"
        if self.is_reply:
            return f"{self.protocol} {_with_port(self.source, self.port)} > {self.destination} (reply)"
        return f"{self.protocol} {self.source} > {_with_port(self.destination, self.port)}"

    def reply(self) -> Packet:
        """The reply to this packet (as it was delivered): the addresses swapped."""
        return replace(self, source=self.destination, destination=self.source, is_reply=True)

    def with_source(self, address: str) -> Packet:
        return replace(self, source=address)

    def with_destination(self, address: str) -> Packet:
        return replace(self, destination=address)


@dataclass(frozen=True)
class Probe:
    source: Endpoint
    destination: Endpoint
    protocol: Protocol = Protocol.ICMP
    port: int | None = None

    def packet(self) -> Packet:
        return Packet(self.source.address, self.destination.address, self.protocol, self.port)

    def text(self) -> str:
        what = str(self.protocol) if self.port is None else f"{self.protocol}/{self.port}"
        return f"{what} from {self.source.label} to {self.destination.label}"


def _with_port(address: str, port: int | None) -> str:
    if port is None:
        return address
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"
