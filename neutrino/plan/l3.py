"""Routers on one host, as Neutron's legacy L3 agent runs them (neutron-dataplane.md §4): for each router
whose ports are bound here (the scheduler binds all of a router's ports to the host of its L3 agent), a
``RouterPlan``:

- the namespace ``qrouter-<router id>``;
- one leg per port: a veth named ``qr-<port id[:11]>`` (an interface, on a tenant subnet) or
  ``qg-<port id[:11]>`` (the gateway, on the external network) at both ends, the outer end a port of
  br-int tagged with the network's local VLAN like any plugged port (``l2.with_legs``), or, for ``qg-``
  with ``external_network_bridge`` set, an untagged port of that bridge (the seed's br-ex); the inner end
  has the port's MAC, its fixed IPs with their subnets' prefix lengths (on ``qg-`` also every floating IP
  as a /32, so the router answers ARP for them) and the network's MTU;
- routes: the connected ones are the kernel's; a default route via the external subnet's gateway (with an
  on-link host route to it first when it lies outside the subnet), and the router's extra routes;
- NAT, as nftables rules of one table ``ip neutrino``, Neutron's iptables rules rendered for nft:

      prerouting   ip daddr FIP dnat to FIXED                         (each floating IP)
      output       ip daddr FIP dnat to FIXED                         (the router's own traffic)
      postrouting  oifname != qg ct status ! dnat accept              (routed between its subnets: no NAT)
                   ip saddr FIXED snat to FIP                         (each floating IP, before the SNAT)
                   oifname qg snat to GW fully-random                 (enable_snat)
                   iifname != qg ct status dnat snat to GW ...        (enable_snat: hairpin)

  The last rule is Neutron's ``! --mark 0x2 --ctstate DNAT -j SNAT``: a connection from an internal subnet
  to a floating IP of the same router leaves with the gateway address as source, so the replies come back
  through the router even from the same subnet (the 0x2 mark is Neutron's "came in on qg-").

Only IPv4 is NATed and routed by default route and extra routes, as Neutron does for legacy routers; IPv6
addresses of a port go on its leg. An admin-down router has no namespace (Neutron's agent removes it).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, replace

from neutrino.model import names
from neutrino.model.host_config import HostConfig
from neutrino.model.resources import FloatingIp, Port, Router
from neutrino.model.state import ApiState
from neutrino.plan.facts import PluggedPort
from neutrino.plan.host_plan import Interface, OvsPort, PortState

ROUTER_INTERFACE = "network:router_interface"
ROUTER_GATEWAY = "network:router_gateway"
NAT_TABLE = "neutrino"  # `table ip neutrino` in each router's namespace
DEFAULT = "0.0.0.0/0"
NAT_CHAINS = (  # name, its hook line as `nft list` prints it
    ("prerouting", "type nat hook prerouting priority dstnat; policy accept;"),
    ("output", "type nat hook output priority -100; policy accept;"),
    ("postrouting", "type nat hook postrouting priority srcnat; policy accept;"),
)


@dataclass(frozen=True)
class RouterLeg:
    """A router's port on this host: a veth named ``device`` at both ends, the inner end in the router's
    namespace, the outer end a port of ``bridge``."""

    device: str
    port_id: str
    network_id: str
    mac: str
    addresses: tuple[str, ...]  # CIDR form: "10.0.0.1/24"; floating IPs "203.0.113.10/32"
    mtu: int
    bridge: str
    gateway: bool = False  # qg-: the external network
    source: str = ""
    reason: str = ""


@dataclass(frozen=True)
class Route:
    """A route in the router's namespace (main table). ``via`` None: on-link through ``device``."""

    destination: str  # a network in CIDR form, "0.0.0.0/0" for the default
    via: str | None = None
    device: str | None = None
    source: str = ""
    reason: str = ""

    @property
    def key(self) -> tuple[str, str | None]:
        return (self.destination, self.via)

    def command(self) -> str:
        """The ``ip -b`` line that installs it."""
        via = f" via {self.via}" if self.via else ""
        device = f" dev {self.device}" if self.device else ""
        scope = " scope link" if self.via is None else ""
        return f"route replace {self.destination}{via}{device}{scope}"


@dataclass(frozen=True)
class NatRule:
    """One nftables rule of the router's table, in ``chain``."""

    chain: str  # prerouting, output or postrouting
    statement: str  # e.g. "ip daddr 203.0.113.10 dnat to 10.0.0.5"
    comment: str
    source: str = ""
    reason: str = ""

    def text(self) -> str:
        return f'{self.statement} comment "{self.comment}"'


@dataclass(frozen=True)
class RouterPlan:
    router_id: str
    namespace: str
    legs: tuple[RouterLeg, ...] = ()
    routes: tuple[Route, ...] = ()
    nat_rules: tuple[NatRule, ...] = ()
    floating_ips: tuple[str, ...] = ()  # ids of the floating IPs whose NAT and address this router holds
    source: str = ""
    reason: str = ""

    def nat_table(self) -> str | None:
        """The NAT table exactly as ``nft list table ip neutrino`` prints it; None: no table."""
        if not self.nat_rules:
            return None
        lines = [f"table ip {NAT_TABLE} {{", f'\tcomment "NAT of router {self.router_id}"']
        for index, (chain, hook) in enumerate(NAT_CHAINS):
            lines += ([""] if index else []) + [f"\tchain {chain} {{", f"\t\t{hook}"]
            lines += [f"\t\t{rule.text()}" for rule in self.nat_rules if rule.chain == chain]
            lines.append("\t}")
        return "\n".join(lines + ["}"]) + "\n"

    @property
    def gateway_leg(self) -> RouterLeg | None:
        return next((leg for leg in self.legs if leg.gateway), None)


def routers_for(state: ApiState, config: HostConfig) -> list[RouterPlan]:
    """A RouterPlan for each admin-up router with a port bound to this host, in router id order."""
    ports_of: dict[str, list[Port]] = {}
    for port in state.ports.values():
        if port.device_owner in (ROUTER_INTERFACE, ROUTER_GATEWAY) and port.host_id == config.host:
            ports_of.setdefault(port.device_id, []).append(port)
    fips_of: dict[str, list[FloatingIp]] = {}
    for fip in state.floatingips.values():
        if fip.router_id and fip.port_id and fip.fixed_ip_address:
            fips_of.setdefault(fip.router_id, []).append(fip)
    plans = []
    for router_id in sorted(ports_of):
        router = state.routers.get(router_id)
        if router is not None and router.admin_state_up:
            plans.append(router_plan_for(state, config, router, ports_of[router_id], fips_of.get(router_id, [])))
    return plans


def router_plan_for(state: ApiState, config: HostConfig, router: Router, ports: list[Port],
                    fips: list[FloatingIp]) -> RouterPlan:
    label = f"router {router.name or router.id}"
    legs = [_leg_for(state, config, port, label) for port in sorted(ports, key=_leg_order)]
    gateway = next((leg for leg in legs if leg.gateway), None)
    address = _gateway_address(gateway) if gateway else None
    fips = sorted(fips, key=lambda f: ipaddress.ip_address(f.floating_ip_address)) if address else []
    if gateway is not None and fips:
        gateway = replace(gateway, addresses=gateway.addresses + tuple(f"{f.floating_ip_address}/32" for f in fips))
        legs = [gateway if leg.gateway else leg for leg in legs]
    return RouterPlan(
        router_id=router.id, namespace=names.router_namespace(router.id), legs=tuple(legs),
        routes=tuple(_gateway_routes_for(state, gateway) + _extra_routes_for(router)),
        nat_rules=tuple(nat_rules_for(router, gateway, address, fips)),
        floating_ips=tuple(f.id for f in fips), source=f"router:{router.id}",
        reason=f"{label}: its ports are bound to this host",
    )


def _leg_order(port: Port) -> tuple[bool, str]:
    return (port.device_owner == ROUTER_GATEWAY, port.id)  # interfaces first, the gateway last


def _leg_for(state: ApiState, config: HostConfig, port: Port, label: str) -> RouterLeg:
    network = state.networks.get(port.network_id)
    gateway = port.device_owner == ROUTER_GATEWAY
    addresses = []
    for fixed in port.fixed_ips:
        subnet = state.subnets.get(fixed.subnet_id)
        if subnet is not None:
            addresses.append(f"{fixed.ip_address}/{ipaddress.ip_network(subnet.cidr).prefixlen}")
    if gateway:
        device, bridge = names.gateway_port_name(port.id), config.external_network_bridge or config.integration_bridge
        reason = f"{label}: gateway on external network {_network_label(state, port.network_id)}"
    else:
        device, bridge = names.router_port_name(port.id), config.integration_bridge
        reason = f"{label}: interface on network {_network_label(state, port.network_id)}"
    return RouterLeg(device=device, port_id=port.id, network_id=port.network_id, mac=port.mac_address,
                     addresses=tuple(addresses), mtu=network.mtu if network else 1500, bridge=bridge,
                     gateway=gateway, source=f"port:{port.id}", reason=reason)


def _network_label(state: ApiState, network_id: str) -> str:
    network = state.networks.get(network_id)
    return network.name if network and network.name else network_id


def _gateway_address(leg: RouterLeg) -> str | None:
    """The gateway port's first IPv4 address: the SNAT address."""
    return next((str(ipaddress.ip_interface(a).ip) for a in leg.addresses
                 if ipaddress.ip_interface(a).version == 4), None)


def _gateway_routes_for(state: ApiState, gateway: RouterLeg | None) -> list[Route]:
    """The default route via the gateway port's IPv4 subnet's gateway_ip; on-link first if outside it."""
    if gateway is None:
        return []
    port = state.ports[gateway.port_id]
    for fixed in port.fixed_ips:
        subnet = state.subnets.get(fixed.subnet_id)
        if subnet is None or subnet.ip_version != 4 or not subnet.gateway_ip:
            continue
        source, reason = f"subnet:{subnet.id}", f"default route via the external subnet's gateway {subnet.gateway_ip}"
        default = Route(DEFAULT, subnet.gateway_ip, gateway.device, source, reason)
        if ipaddress.ip_address(subnet.gateway_ip) in ipaddress.ip_network(subnet.cidr):
            return [default]
        onlink = Route(f"{subnet.gateway_ip}/32", None, gateway.device, source,
                       f"the external gateway {subnet.gateway_ip} is outside {subnet.cidr}: on-link first")
        return [onlink, default]
    return []


def _extra_routes_for(router: Router) -> list[Route]:
    routes = []
    for destination, nexthop in router.routes:
        network = ipaddress.ip_network(destination, strict=False)
        if network.version == 4 and ipaddress.ip_address(nexthop).version == 4:
            routes.append(Route(str(network), nexthop, None, f"router:{router.id}",
                                f"extra route of the router: {destination} via {nexthop}"))
    return routes


def nat_rules_for(router: Router, gateway: RouterLeg | None, address: str | None,
                  fips: list[FloatingIp]) -> list[NatRule]:
    """Neutron's NAT rules of the router (module docstring), in order; none without a gateway address."""
    if gateway is None or address is None or not (fips or router.enable_snat):
        return []
    qg, source = gateway.device, f"router:{router.id}"
    # `ct status ! dnat`: the DNAT bit is clear (`ct status != dnat` would compare the whole status word)
    rules = [NatRule("postrouting", f'oifname != "{qg}" ct status ! dnat accept',
                     "routed between the router's subnets: no NAT", source,
                     "traffic that neither leaves by the gateway nor was sent to a floating IP keeps its addresses")]
    for fip in fips:
        rules += _floating_ip_rules_for(fip)
    if router.enable_snat:
        rules += [
            NatRule("postrouting", f'oifname "{qg}" snat to {address} fully-random',
                    f"SNAT to the gateway address {address}", source,
                    "enable_snat: what leaves by the gateway without a floating IP gets the gateway address"),
            NatRule("postrouting", f'iifname != "{qg}" ct status dnat snat to {address} fully-random',
                    f"hairpin: internal traffic to a floating IP, from {address}", source,
                    "enable_snat: replies from an instance reached by its floating IP from inside come back "
                    "through the router"),
        ]
    return rules


def _floating_ip_rules_for(fip: FloatingIp) -> list[NatRule]:
    floating, fixed = fip.floating_ip_address, fip.fixed_ip_address
    comment, source = f"floating IP {fip.id} {floating} -> {fixed}", f"floatingip:{fip.id}"
    inbound = f"ip daddr {floating} dnat to {fixed}"
    return [
        NatRule("prerouting", inbound, comment, source, f"floating IP {floating}: to the fixed IP {fixed}"),
        NatRule("output", inbound, comment, source, f"floating IP {floating}: the router's own traffic to it"),
        NatRule("postrouting", f"ip saddr {fixed} snat to {floating}", comment, source,
                f"floating IP {floating}: what {fixed} sends leaves from the floating IP"),
    ]


# --- how the rest of the plan sees the legs ---

def integration_legs_for(routers: list[RouterPlan], config: HostConfig) -> list[PluggedPort]:
    """The legs on br-int as L2 sees them: ports of ours naming the router's ports (l2.with_legs), so they
    are tagged with their network's local VLAN (or parked, with the reason) like any plugged port."""
    return [PluggedPort(name=leg.device, bridge=leg.bridge, iface_id=leg.port_id, mac=leg.mac, owned=True)
            for router in routers for leg in router.legs if leg.bridge == config.integration_bridge]


def external_ports_for(routers: list[RouterPlan], config: HostConfig) -> list[OvsPort]:
    """Gateway legs on the external network bridge: untagged ports of ours, with a plugged port's
    external_ids."""
    return [OvsPort(leg.bridge, leg.device, (Interface(leg.device),), iface_external_ids=(
                ("attached-mac", leg.mac), ("iface-id", leg.port_id), ("iface-status", "active")),
                source=leg.source, reason=f"{leg.reason}, untagged on {leg.bridge} (external_network_bridge)")
            for router in routers for leg in router.legs if leg.bridge != config.integration_bridge]


def external_port_states_for(routers: list[RouterPlan], config: HostConfig) -> dict[str, PortState]:
    """Gateway ports on the external network bridge are up as soon as planned (Neutron's L2 agent reports
    an ancillary bridge's ports up without wiring them)."""
    return {leg.port_id: PortState(leg.port_id, "ACTIVE", leg.device,
                                   reason=f"router gateway on {leg.bridge} (external_network_bridge)")
            for router in routers for leg in router.legs if leg.bridge != config.integration_bridge}
