"""trace(state, hosts, probe) -> Trace: one packet walked through the plan the agents install, hop by hop, and
for a delivered packet its reply.

From an instance: its port must be wired (wiring.py); the instance's route (on-link, a host route of its
subnet, or the subnet's gateway_ip); its firewall's egress (anti-spoofing, then its groups' rules); across the
network to the next hop's port, on one host or over the provider VLAN (links.py). Through a router
(routing.py): prerouting NAT (a floating IP's DNAT), the route, postrouting NAT (SNAT, a floating IP's own
source, or none between its subnets); out of a qr- leg onto another network, or out of qg- onto the external
network: to the router holding a floating IP, a port there, or out of neutrino. From outside: over the external
network to the router holding the floating IP (or the port on it). At the destination: its firewall's ingress.

The reply is walked the same way back from where the request ended, as conntrack sees it: firewalls pass it
(the plan's firewall is stateful) and each router reverses the NAT it applied to the request.
"""

from __future__ import annotations

import ipaddress
from collections import defaultdict
from dataclasses import dataclass, replace

from neutrino.model import names
from neutrino.model.host_config import HostConfig
from neutrino.model.resources import FloatingIp, Network, Port, Router
from neutrino.model.state import ApiState
from neutrino.plan.facts import HostFacts
from neutrino.plan.l3 import ROUTER_GATEWAY, ROUTER_INTERFACE, RouterPlan
from neutrino.trace import firewalls, links, routing, verdicts
from neutrino.trace.explain import (
    Stop,
    cli_name,
    floating_ip_ref,
    label,
    network_ref,
    port_ref,
    router_ref,
    stop,
    subnet_ref,
)
from neutrino.trace.hosts import Attachment, Plans
from neutrino.trace.packet import Endpoint, EndpointKind, Packet, Probe
from neutrino.trace.result import Admitted, Element, Finding, Hop, Reason, Rewrite, Trace, Verdict
from neutrino.trace.verdicts import contains
from neutrino.trace.wiring import attachment_for, live_agents_of, ovs_agents_of

FLOATING_IP_OWNER = "network:floatingip"  # the port holding a floating IP's address: bookkeeping, never wired
MAX_ROUTERS = 8  # a packet crossing more routers than this is looping


@dataclass(frozen=True)
class End:
    """Where a delivered packet ended: a port (its reply starts there), or outside (``port`` None)."""

    port: Port | None
    at: Attachment | None
    packet: Packet


def trace(state: ApiState, hosts: dict[str, HostConfig], probe: Probe,
          facts: dict[str, HostFacts] | None = None) -> Trace:
    """Walk ``probe``'s packet. ``hosts``: each host's HostConfig (from its agent's configurations); ``facts``:
    the hosts' real facts where a caller read them, else they are derived from the API (hosts.py)."""
    plans = Plans(state, hosts, facts)
    request = Walk(state, plans, probe.destination)
    verdict = request.run(lambda: request.start(probe))
    findings, reply = list(request.findings), ()
    if verdict.delivered and request.end is not None:
        back = Walk(state, plans, probe.source, request.conntrack)
        answer = back.run(lambda: back.start_reply(request.end))
        reply = tuple(back.hops)
        findings += [f for f in back.findings if f not in findings]
        if not answer.delivered:
            verdict = replace(answer, message=f"the request is delivered, but not its reply: {answer.message}",
                              admitted=verdict.admitted)
    return Trace(probe, probe.packet(), tuple(request.hops), verdict, reply,
                 tuple(findings + _mtu_findings(state, request.networks)))


class Walk:
    """One packet's way. ``meant``: the endpoint it is sent to; ``conntrack``: for a reply, the request's
    NAT in each router (router id -> its rewrites), which the reply's way reverses."""

    def __init__(self, state: ApiState, plans: Plans, meant: Endpoint,
                 conntrack: dict[str, list[Rewrite]] | None = None):
        self.state = state
        self.plans = plans
        self.meant = meant
        self.established = conntrack is not None
        self.conntrack: dict[str, list[Rewrite]] = conntrack if conntrack is not None else defaultdict(list)
        self.hops: list[Hop] = []
        self.admitted: list[Admitted] = []
        self.findings: list[Finding] = []
        self.networks: list[str] = []  # the networks crossed, in order (the MTU finding)
        self.routers: list[str] = []
        self.end: End | None = None
        self._checked_hosts: set[str] = set()
        self.gate = firewalls.Gate(state, plans, self.established, self.hops.append)

    def run(self, walk) -> Verdict:
        try:
            walk()
        except Stop as end:
            return end.verdict
        raise AssertionError("every walk ends with a Stop")

    def start(self, probe: Probe) -> None:
        packet = probe.packet()
        if probe.source.kind is EndpointKind.OUTSIDE:
            return self.enter_from_outside(self.outside_target(packet))
        self.from_port(self.state.ports[probe.source.port_id], packet)

    def start_reply(self, end: End) -> None:
        if end.port is None:
            return self.enter_from_outside(end.packet.reply())
        self.from_port(end.port, end.packet.reply())

    # --- where a packet starts ---

    def from_port(self, port: Port, packet: Packet) -> None:
        at = self.attached(port)
        network = self.state.networks[port.network_id]
        self.hop(at.host, Element.PORT, names.tap_name(port.id), "sent", f"{packet.text()} from {port.mac_address}",
                 source=f"port:{port.id}")
        next_hop, on_link = self.next_hop_from(port, at, network, packet)
        self.egress(port, at, packet)
        self.on_segment(network, at, packet, next_hop, sender=port, on_link=on_link)

    def next_hop_from(self, port: Port, at: Attachment, network: Network, packet: Packet) -> tuple[str, bool]:
        """(the address the instance sends the frame to, whether that is the destination itself)."""
        subnets = sorted((s for s in self.state.subnets.values() if s.network_id == network.id
                          and _version(s.cidr) == packet.version), key=lambda s: s.id)
        if any(contains(s.cidr, packet.destination) for s in subnets):
            return packet.destination, True
        mine = [self.state.subnets[f.subnet_id] for f in port.fixed_ips if f.subnet_id in self.state.subnets]
        subnet = next((s for s in subnets if contains(s.cidr, packet.source)), None) or \
            next((s for s in mine if _version(s.cidr) == packet.version), None)
        if subnet is None:
            raise stop(Reason.NO_SUCH_ADDRESS, f"port {label(port)} has no IPv{packet.version} address",
                       [port_ref(port)])
        routes = [(d, n) for d, n in subnet.host_routes if contains(d, packet.destination)]
        if routes:
            destination, nexthop = max(routes, key=lambda r: ipaddress.ip_network(r[0], strict=False).prefixlen)
            self.hop(at.host, Element.PORT, names.tap_name(port.id), "instance routes",
                     f"{destination} via {nexthop} (a host route of subnet {subnet.name or subnet.id})",
                     source=f"subnet:{subnet.id}")
            return nexthop, False
        if not subnet.gateway_ip:
            raise stop(Reason.SUBNET_WITHOUT_GATEWAY,
                       f"{packet.destination} is off subnet {label(subnet)} ({subnet.cidr}), which has no gateway_ip: "
                       "the instance has no route to it", [subnet_ref(subnet)],
                       [f"openstack subnet set --gateway {_first_host(subnet.cidr)} {cli_name(self.state, subnet)}"])
        self.hop(at.host, Element.PORT, names.tap_name(port.id), "instance routes",
                 f"default via {subnet.gateway_ip} (gateway_ip of subnet {subnet.name or subnet.id})",
                 source=f"subnet:{subnet.id}")
        return subnet.gateway_ip, False

    def outside_target(self, packet: Packet) -> Packet:
        """The packet an outside sender sends towards the endpoint meant: to its floating IP, or to its own
        address when it is on an external network."""
        if self.meant.kind is EndpointKind.FLOATING_IP:
            fip = self.state.floatingips[self.meant.floating_ip_id]
            if not fip.port_id or not fip.fixed_ip_address:
                raise verdicts.unassociated(self.state, fip, None)
            return packet
        port = self.state.ports[self.meant.port_id]
        if self.state.networks[port.network_id].external:
            return packet
        fips = [f for f in self.state.floatingips.values() if f.port_id == port.id]
        fip = next((f for f in fips if f.fixed_ip_address == self.meant.address), None) or (fips[0] if fips else None)
        if fip is None:
            raise verdicts.no_floating_ip(self.state, port, self.meant.address)
        if fip.fixed_ip_address != self.meant.address:
            self.findings.append(Finding(
                "floating-ip-other-address", f"floating IP {fip.floating_ip_address} of port {label(port)} is "
                                             f"associated with its address {fip.fixed_ip_address}, not "
                                             f"{self.meant.address}: from outside, {self.meant.address} is unreachable",
                (floating_ip_ref(fip), port_ref(port))))
        return packet.with_destination(fip.floating_ip_address)

    def enter_from_outside(self, packet: Packet) -> None:
        """In from the fabric of an external network, to what holds the destination there: the router holding
        a floating IP or a gateway address, or a port on the external network."""
        holder = self.external_holder(packet.destination)
        network = self.state.networks[holder.network_id]
        at = self.attached(holder)
        self.hop("", Element.OUTSIDE, packet.source, "sent", f"{packet.text()} (external network {_name(network)})")
        self.hops.append(links.fabric_hop(network, "outside", at.host))
        self.hops += links.entry_hops(self.plans, network, at)
        self.networks.append(network.id)
        self.arrive(holder, at, packet)

    # --- on a network ---

    def on_segment(self, network: Network, origin: Attachment, packet: Packet, next_hop: str, sender: Port,
                   on_link: bool = True) -> None:
        holder = self.holder(network.id, next_hop, exclude=sender.id)
        if holder is None:
            if on_link:
                raise stop(Reason.NO_SUCH_ADDRESS, f"no port on network {label(network)} holds {next_hop}: its ARP "
                                                   "request gets no answer", [network_ref(network)])
            raise verdicts.no_router_interface(self.state, network, packet, next_hop)
        at = self.attached(holder)
        self.hops += links.hops_between(self.plans, network, origin, at, holder.mac_address)
        self.networks.append(network.id)
        self.arrive(holder, at, packet)

    def arrive(self, port: Port, at: Attachment, packet: Packet) -> None:
        if port.device_owner in (ROUTER_INTERFACE, ROUTER_GATEWAY):
            return self.through_router(port, at, packet)
        self.deliver(port, at, packet)

    def deliver(self, port: Port, at: Attachment, packet: Packet) -> None:
        meant = self.meant
        if meant.port_id and port.id != meant.port_id and meant.kind is not EndpointKind.OUTSIDE:
            other = self.state.ports.get(meant.port_id)
            raise stop(Reason.OVERLAPPING_ADDRESS,
                       f"{packet.destination} reaches port {label(port)} on network "
                       f"{label(self.state.networks[port.network_id])}, not the port meant "
                       f"({label(other) if other else meant.port_id}): their addresses overlap",
                       [port_ref(port), *([port_ref(other)] if other else [])])
        self.ingress(port, at, packet)
        self.hop(at.host, Element.PORT, names.tap_name(port.id), "delivered", packet.text(), source=f"port:{port.id}")
        self.end = End(port, at, packet)
        raise stop(Reason.DELIVERED, f"delivered to port {label(port)} on {at.host}", [port_ref(port)],
                   admitted=self.admitted)

    # --- routers ---

    def through_router(self, port: Port, at: Attachment, packet: Packet) -> None:
        router = self.state.routers[port.device_id]
        if router.id in self.routers or len(self.routers) >= MAX_ROUTERS:
            raise stop(Reason.NO_ROUTE, f"the packet loops through router {label(router)}", [router_ref(router)])
        self.routers.append(router.id)
        plan = self.plans.view(at.host).routers[router.id]
        leg = routing.leg_of_port(plan, port.id)
        self.hop(at.host, Element.NAMESPACE, plan.namespace, "in", f"{leg.device} ({', '.join(leg.addresses)})",
                 source=f"router:{router.id}")
        before = packet
        packet = self.nat(at.host, plan, router, "prerouting", packet, leg.device, None, False)
        if routing.owns(plan, packet.destination) is not None:
            self.hop(at.host, Element.NAMESPACE, plan.namespace, "local", f"{packet.destination} is the router's own")
            raise stop(Reason.DELIVERED, f"delivered to router {label(router)} itself (it answers for "
                                         f"{packet.destination})", [router_ref(router)], admitted=self.admitted)
        choice = routing.route_for(plan, packet.destination)
        if choice is None:
            raise verdicts.no_route(self.state, router, packet)
        via = f"via {choice.via}" if choice.via else "connected"
        self.hop(at.host, Element.NAMESPACE, plan.namespace, "routing",
                 f"{choice.destination} {via} dev {choice.device}: {choice.reason}", source=choice.source)
        out = routing.leg_named(plan, choice.device)
        packet = self.nat(at.host, plan, router, "postrouting", packet, leg.device, out.device,
                          packet.destination != before.destination)
        out_port = self.state.ports[out.port_id]
        out_at = self.attached(out_port)
        network = self.state.networks[out_port.network_id]
        next_hop = choice.via or packet.destination
        if out.gateway:
            return self.to_external(router, out_port, out_at, network, packet, next_hop)
        self.on_segment(network, out_at, packet, next_hop, sender=out_port)

    def to_external(self, router: Router, gateway: Port, at: Attachment, network: Network, packet: Packet,
                    next_hop: str) -> None:
        if not self.routable_outside(packet.source):
            raise verdicts.no_return_route(self.state, router, network, packet)
        fip = self.fip_at(packet.destination)  # a floating IP anywhere: the external network takes it there
        holder = self.external_holder(packet.destination) if fip is not None else \
            self.holder(network.id, next_hop, exclude=gateway.id)
        if holder is not None:
            target = self.attached(holder)
            self.hops += links.hops_between(self.plans, self.state.networks[holder.network_id], at, target,
                                            holder.mac_address)
            self.networks.append(network.id)
            return self.arrive(holder, target, packet)
        self.hops += links.exit_hops(self.plans, network, at)
        self.hops.append(links.fabric_hop(network, at.host, "outside"))
        self.networks.append(network.id)
        self.hop("", Element.OUTSIDE, next_hop, "reached", f"{packet.text()} (external network {_name(network)})")
        if self.meant.kind is not EndpointKind.OUTSIDE:
            raise verdicts.no_route(self.state, router, packet, left=True)
        beyond = "" if next_hop == packet.destination else f" towards {next_hop}"
        self.end = End(None, None, packet)
        raise stop(Reason.DELIVERED, f"left neutrino on external network {label(network)}{beyond}: beyond it is not "
                                     "neutrino's", [network_ref(network)], admitted=self.admitted)

    def nat(self, host: str, plan: RouterPlan, router: Router, chain: str, packet: Packet, iif: str, oif: str | None,
            dnatted: bool) -> Packet:
        """The packet after the chain: its NAT rules for a request, the request's NAT undone for a reply."""
        if self.established:
            return self._nat_undone(host, plan, router, chain, packet)
        step = routing.nat_step_for(plan, chain, packet, iif, oif, dnatted)
        if step.rule is None:
            self.hop(host, Element.NAMESPACE, plan.namespace, f"nat {chain}", "no rule matched: no NAT")
            return packet
        rewrites: tuple[Rewrite, ...] = ()
        if step.action == "dnat":
            rewrites = (Rewrite("destination", packet.destination, step.packet.destination),)
        elif step.action == "snat":
            rewrites = (Rewrite("source", packet.source, step.packet.source),)
        self.conntrack[router.id] += rewrites
        self.hop(host, Element.NAMESPACE, plan.namespace, f"nat {chain}", f"{step.rule.statement}: {step.rule.comment}",
                 rewrites, step.rule.source)
        return step.packet

    def _nat_undone(self, host: str, plan: RouterPlan, router: Router, chain: str, packet: Packet) -> Packet:
        """conntrack's reverse NAT: before routing the request's SNAT (the reply's destination), after it the
        request's DNAT (the reply's source)."""
        field = "source" if chain == "prerouting" else "destination"  # the request's field undone here
        for done in self.conntrack.get(router.id, ()):
            current = packet.destination if field == "source" else packet.source
            if done.field == field and current == done.new:
                undo = done.for_reply()
                self.hop(host, Element.NAMESPACE, plan.namespace, f"nat {chain}",
                         "conntrack reverses the connection's NAT", (undo,), f"router:{router.id}")
                return packet.with_destination(done.old) if field == "source" else packet.with_source(done.old)
        return packet

    # --- firewalls ---

    def egress(self, port: Port, at: Attachment, packet: Packet) -> None:
        self._admitted(firewalls.egress(self.gate, port, at, packet))

    def ingress(self, port: Port, at: Attachment, packet: Packet) -> None:
        self._admitted(firewalls.ingress(self.gate, port, at, packet))

    def _admitted(self, admitted: Admitted | None) -> None:
        if admitted is not None and not self.established:
            self.admitted.append(admitted)

    # --- lookups ---

    def attached(self, port: Port) -> Attachment:
        at = attachment_for(self.state, self.plans, port)
        if at.host not in self._checked_hosts and not live_agents_of(self.state, at.host):
            agents = ovs_agents_of(self.state, at.host)
            seen = f"; last heartbeat {agents[0].heartbeat_timestamp}" if agents else ""
            self.findings.append(Finding("agent-not-alive", f"the Open vSwitch agent of {at.host} is not alive{seen}: "
                                                            "the host may no longer be as planned"))
        self._checked_hosts.add(at.host)
        return at

    def holder(self, network_id: str, address: str, exclude: str = "") -> Port | None:
        """The port on the network holding the address (a fixed IP; else an allowed address pair's)."""
        ports = [p for p in self.plans.index.by_network.get(network_id, ()) if p.id != exclude
                 and p.device_owner != FLOATING_IP_OWNER]
        found = [p for p in ports if any(f.ip_address == address for f in p.fixed_ips)] or \
            [p for p in ports if any(contains(pair.ip_address, address) for pair in p.allowed_address_pairs)]
        return min(found, key=lambda p: (p.status != "ACTIVE", p.id)) if found else None

    def external_holder(self, address: str) -> Port:
        """What holds ``address`` on the external networks: the gateway port of the router holding it as a
        floating IP, else the port with that fixed IP."""
        fip = self.fip_at(address)
        if fip is not None:
            if not fip.port_id or not fip.router_id:
                raise verdicts.unassociated(self.state, fip, self.state.ports.get(self.meant.port_id or ""))
            return self._gateway_port_of(self.state.routers.get(fip.router_id), fip)
        for network in self.state.networks.values():
            holder = self.holder(network.id, address) if network.external else None
            if holder is not None:
                return holder
        raise stop(Reason.NO_SUCH_ADDRESS, f"nothing on an external network holds {address}: no floating IP, gateway "
                                           "or port has it")

    def _gateway_port_of(self, router: Router | None, fip: FloatingIp) -> Port:
        port = next((p for p in self.state.ports.values() if router is not None and p.device_id == router.id
                     and p.device_owner == ROUTER_GATEWAY), None)
        if port is None:
            raise stop(Reason.NO_GATEWAY, f"floating IP {fip.floating_ip_address} is associated through router "
                                          f"{label(router) if router else fip.router_id}, which has no gateway port",
                       [router_ref(router)] if router else [])
        return port

    def fip_at(self, address: str) -> FloatingIp | None:
        return next((f for f in self.state.floatingips.values() if f.floating_ip_address == address), None)

    def routable_outside(self, address: str) -> bool:
        """Whether replies to ``address`` come back from the external networks: an address on one, or a
        floating IP."""
        if self.fip_at(address) is not None:
            return True
        return any(s.network_id in self.state.networks and self.state.networks[s.network_id].external
                   and contains(s.cidr, address) for s in self.state.subnets.values())

    def hop(self, host: str, element: Element, name: str, stage: str, matched: str,
            rewrites: tuple[Rewrite, ...] = (), source: str = "") -> None:
        self.hops.append(Hop(host, element, name, stage, matched, rewrites, source))


def _mtu_findings(state: ApiState, networks: list[str]) -> list[Finding]:
    crossed = [state.networks[n] for n in dict.fromkeys(networks)]
    mtus = {n.mtu for n in crossed}
    if len(mtus) < 2:
        return []
    words = ", ".join(f"{_name(n)} {n.mtu}" for n in crossed)
    return [Finding("mtu-mismatch", f"the path crosses networks of different MTUs ({words}): packets larger than "
                                    f"{min(mtus)} bytes are fragmented or, with DF set, dropped",
                    tuple(network_ref(n) for n in crossed))]


def _name(network: Network) -> str:
    return network.name or network.id


def _version(cidr: str) -> int:
    return ipaddress.ip_network(cidr, strict=False).version


def _first_host(cidr: str) -> str:
    return str(next(ipaddress.ip_network(cidr, strict=False).hosts()))
