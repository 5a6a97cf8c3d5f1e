"""What a trace answers: the hops, a Verdict with a stable reason code, the objects that decided it and the
fix, the reply path of a delivered packet, and findings (facts worth knowing that did not decide it).

The reason codes are a closed set: tools may branch on them, so a code is never renamed or reused.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from neutrino.trace.packet import Packet, Probe


class Reason(StrEnum):
    DELIVERED = "delivered"
    DROPPED_BY_SECURITY_GROUP = "dropped-by-security-group"  # no rule of the port's groups admits it
    DROPPED_BY_ANTI_SPOOFING = "dropped-by-anti-spoofing"  # sent from an address the port does not hold
    NO_ROUTE = "no-route"  # the router has no route to the destination (or it leaves where it is not)
    NO_FLOATING_IP_ASSOCIATION = "no-floating-ip-association"  # the floating IP (or the port's) is missing
    NO_ROUTER_INTERFACE = "no-router-interface"  # nothing holds the subnet's gateway address
    NO_GATEWAY = "no-gateway"  # the router has no external gateway
    SUBNET_WITHOUT_GATEWAY = "subnet-without-gateway"  # off-subnet traffic, and gateway_ip is null
    NO_SUCH_ADDRESS = "no-such-address"  # on the destination's segment no port holds the address
    NO_RETURN_ROUTE = "no-return-route"  # it leaves by the gateway unNATed: replies cannot come back
    OVERLAPPING_ADDRESS = "overlapping-address"  # the address reaches another port than the one meant
    UNBOUND_PORT = "unbound-port"  # no binding:host_id
    BINDING_FAILED = "binding-failed"
    NO_LIVE_AGENT = "no-live-agent"  # the binding host has no live Open vSwitch agent
    NO_BRIDGE_MAPPING = "no-bridge-mapping"  # the network's physnet is not mapped on the host
    DEAD_VLAN = "dead-vlan"  # the agent parks the port on VLAN 4095
    PORT_DOWN = "port-down"  # status DOWN: not plugged, or not wired yet
    PORT_ADMIN_DOWN = "port-admin-down"
    NETWORK_ADMIN_DOWN = "network-admin-down"
    ROUTER_ADMIN_DOWN = "router-admin-down"
    ROUTER_NOT_HOSTED = "router-not-hosted"  # its ports are bound to no host (no live L3 agent)
    NO_TUNNEL_ENDPOINT = "no-tunnel-endpoint"  # a tunnelled network: one host has no tunnel to the other


class Element(StrEnum):
    PORT = "port"  # an instance's or router's device
    BRIDGE = "bridge"  # an OVS bridge's flows
    FIREWALL = "firewall"  # the port's security groups, as its host's firewall driver runs them
    NAMESPACE = "namespace"  # a qrouter- namespace: NAT and routes
    FABRIC = "fabric"  # the physical network between hosts (a physnet, its provider VLAN; the tunnels' underlay)
    OUTSIDE = "outside"  # beyond neutrino


@dataclass(frozen=True)
class Rewrite:
    """A field of the packet changed by a hop: ``vlan`` ("" for untagged), ``tunnel`` (the encapsulation, e.g.
    "VXLAN VNI 1000"; "" for none), ``source`` or ``destination``."""

    field: str
    old: str
    new: str
    undone: bool = False  # conntrack undoing a NAT of the request, on its reply

    def text(self) -> str:
        if self.field == "vlan":
            if not self.old:
                return f"push VLAN {self.new}"
            return f"pop VLAN {self.old}" if not self.new else f"VLAN {self.old} -> {self.new}"
        if self.field == "tunnel":
            return f"encapsulate {self.new}" if not self.old else f"decapsulate {self.old}"
        if self.undone:
            return f"un-NAT {self.field} {self.old} -> {self.new}"
        nat = "DNAT" if self.field == "destination" else "SNAT"
        return f"{nat} {self.old} -> {self.new}"

    def for_reply(self) -> Rewrite:
        """What undoes a request's NAT on its reply: a DNAT of the destination becomes the reply's source
        rewritten back, an SNAT the reply's destination."""
        other = "source" if self.field == "destination" else "destination"
        return Rewrite(other, self.new, self.old, undone=True)


@dataclass(frozen=True)
class Hop:
    host: str  # "" for the fabric and the outside
    element: Element
    name: str  # tapX, br-int, qrouter-<id>, physnet1, iptables ...
    stage: str  # "table 72", "chain neutron-openvswi-oX", "prerouting", "routing", "provider VLAN 101"
    matched: str  # what matched, in words
    rewrites: tuple[Rewrite, ...] = ()
    source: str = ""  # the API object or plan element behind it: "port:<id>", "rule:<id>", "network:<id>"

    @property
    def changed(self) -> str:
        return ", ".join(rewrite.text() for rewrite in self.rewrites)


@dataclass(frozen=True)
class ObjectRef:
    """An API object, as the verdict cites it."""

    type: str  # port, network, subnet, router, floatingip, security_group, agent
    id: str
    name: str = ""
    project_id: str = ""

    @property
    def label(self) -> str:
        return f"{self.type} {self.name or self.id}"


@dataclass(frozen=True)
class Admitted:
    """A security group rule that admitted the packet on one side (or why nothing needed to)."""

    port_id: str
    direction: str  # egress (the source port) or ingress (the destination port)
    rule_id: str | None  # None: the port is not filtered
    group: ObjectRef | None
    words: str  # "egress IPv4 any protocol to anywhere", "port security disabled"


@dataclass(frozen=True)
class Verdict:
    reason: Reason
    message: str
    objects: tuple[ObjectRef, ...] = ()  # the deciding objects
    fixes: tuple[str, ...] = ()  # copy-paste commands, in order
    admitted: tuple[Admitted, ...] = ()  # delivered: the rules that admitted it on each side

    @property
    def delivered(self) -> bool:
        return self.reason is Reason.DELIVERED


SEVERITIES = ("error", "warning", "info")  # error: traffic is (or will be) lost; warning: drift or staleness


@dataclass(frozen=True)
class Finding:
    """Something the trace noticed that did not decide the verdict (a stale agent, an MTU step). The doctor
    adds its own (the host against the plan) in the same shape, filling in where on the host (``element``),
    what the plan says there against what is there, the likely cause and a fix (a command) where one exists.
    Codes are stable, like the Reasons."""

    code: str
    message: str
    objects: tuple[ObjectRef, ...] = ()
    severity: str = "warning"  # one of SEVERITIES
    host: str = ""
    element: str = ""  # "bridge br-int", "port tap1234 on br-int", "namespace qrouter-<id> leg qr-5678"
    planned: str = ""  # what the plan says there
    found: str = ""  # what is there
    cause: str = ""
    fix: str = ""


@dataclass(frozen=True)
class Trace:
    probe: Probe
    packet: Packet  # as it was sent
    hops: tuple[Hop, ...]
    verdict: Verdict
    reply: tuple[Hop, ...] = ()  # delivered: the way back of the reply
    findings: tuple[Finding, ...] = ()
