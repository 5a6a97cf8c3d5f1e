"""DHCP on one host: for each network whose DHCP port (device_owner ``network:dhcp``) is bound here, a
``DhcpPlan``: the ``qdhcp-<network id>`` namespace, its leg (a veth named ``tap<port id[:11]>`` on br-int
and in the namespace, with the port's MAC, addresses and the network's MTU) and what dnsmasq reads, in
Neutron's formats (neutron-dataplane.md §5, agent/linux/dhcp.py):

- ``hosts`` (--dhcp-hostsfile): ``mac,host-10-0-0-5.openstacklocal,10.0.0.5`` for every fixed IP of every
  port of the network on a DHCP-enabled subnet ("static" ranges: a MAC not listed gets no lease);
- ``addn_hosts`` (--addn-hosts): ``10.0.0.5<TAB>host-10-0-0-5.openstacklocal host-10-0-0-5``, every address;
- ``opts`` (--dhcp-optsfile): per subnet, tagged ``subnet-<id>``: the router (the gateway, or none), DNS
  servers (the subnet's, else the DHCP port's own address), classless static routes as options 121 and
  249 (the host routes, on-link routes to the network's other IPv4 subnets, the metadata route via a
  router's gateway, and the default route once there are any);
- the command line (``DhcpPlan.argv``): Neutron's flags for an OVS (bridged) interface, one static
  ``--dhcp-range`` per DHCP-enabled subnet, the MTU as option 26, and ``--keep-in-foreground`` so the agent
  supervises it by the PID it spawned.

IPv6: a subnet with ipv6_address_mode dhcpv6-stateful or dhcpv6-stateless (or no mode at all) gets a static
DHCPv6 range, as in Neutron; a SLAAC subnet gets nothing from dnsmasq (router advertisements are the
router's job). The namespace's default route is the first DHCP-enabled IPv4 subnet's gateway.
"""

from __future__ import annotations

import ipaddress
from collections import defaultdict
from dataclasses import dataclass

from neutrino.model import names
from neutrino.model.host_config import HostConfig
from neutrino.model.resources import Network, Port, Subnet
from neutrino.model.state import ApiState
from neutrino.plan.facts import PluggedPort

DHCP_OWNER = "network:dhcp"
ROUTER_INTERFACE_OWNERS = ("network:router_interface", "network:router_interface_distributed",
                           "network:ha_router_replicated_interface")
DOMAIN = "openstacklocal"  # Neutron's dns_domain default
LEASE = "86400s"  # dhcp_lease_duration default
LEASE_MAX = 2 ** 24  # dnsmasq_lease_max default
METADATA_ROUTE = "169.254.169.254/32"
WINDOWS_STATIC_ROUTES = "249"  # Windows reads its classless routes from option 249, not 121
NO_DHCPV6 = ("slaac",)  # address modes dnsmasq has no range for
NO_HOST_ENTRY = ("slaac", "dhcpv6-stateless")  # address modes whose addresses dnsmasq does not hand out


@dataclass(frozen=True)
class DhcpPlan:
    """One network's DHCP server on this host."""

    network_id: str
    port_id: str  # the DHCP port
    namespace: str  # qdhcp-<network id>
    device: str  # tap<port id[:11]>: the veth end on br-int and its peer in the namespace
    mac: str
    addresses: tuple[str, ...]  # CIDR form, e.g. "10.0.0.2/24"
    mtu: int
    gateway: str | None  # the namespace's default route
    hosts: str
    addn_hosts: str
    opts: str
    options: tuple[str, ...]  # dnsmasq's arguments that name no file of ours
    source: str = ""
    reason: str = ""

    def argv(self, directory: str) -> tuple[str, ...]:
        """dnsmasq's whole command line, its files in ``directory`` (the agent's dhcp dir for the network)."""
        return ("dnsmasq", "--no-hosts", "--no-resolv", f"--pid-file={directory}/pid",
                f"--dhcp-hostsfile={directory}/host", f"--addn-hosts={directory}/addn_hosts",
                f"--dhcp-optsfile={directory}/opts", *self.options)

    @property
    def files(self) -> dict[str, str]:
        """File name in the network's directory -> content."""
        return {"host": self.hosts, "addn_hosts": self.addn_hosts, "opts": self.opts}


def dhcp_for(state: ApiState, config: HostConfig) -> list[DhcpPlan]:
    """A DhcpPlan for each network whose DHCP port is bound to this host and has an address on a
    DHCP-enabled subnet, in network id order."""
    ports_of: dict[str, list[Port]] = defaultdict(list)
    for port in state.ports.values():
        ports_of[port.network_id].append(port)
    subnets_of: dict[str, list[Subnet]] = defaultdict(list)
    for subnet in state.subnets.values():
        subnets_of[subnet.network_id].append(subnet)
    plans = {}
    for port in sorted(state.ports.values(), key=lambda p: p.id):
        network = state.networks.get(port.network_id)
        if port.device_owner != DHCP_OWNER or port.host_id != config.host or network is None \
                or network.id in plans:
            continue
        subnets = sorted(subnets_of[network.id], key=_subnet_order)
        plan = plan_for(network, port, subnets, sorted(ports_of[network.id], key=lambda p: p.id))
        if plan is not None:
            plans[network.id] = plan
    return [plans[network_id] for network_id in sorted(plans)]


def leg_for(plan: DhcpPlan, config: HostConfig) -> PluggedPort:
    """The DHCP tap as L2 sees it: a port of ours on br-int naming the DHCP port (l2.with_legs)."""
    return PluggedPort(name=plan.device, bridge=config.integration_bridge, iface_id=plan.port_id, mac=plan.mac,
                       owned=True)


def plan_for(network: Network, port: Port, subnets: list[Subnet], ports: list[Port]) -> DhcpPlan | None:
    """The network's DhcpPlan with ``port`` as its DHCP port, or None if that has no address to serve from."""
    by_id = {s.id: s for s in subnets}
    served = [s for s in subnets if s.enable_dhcp and s.ipv6_address_mode not in NO_DHCPV6]
    addresses = tuple(f"{f.ip_address}/{ipaddress.ip_network(by_id[f.subnet_id].cidr).prefixlen}"
                      for f in port.fixed_ips if f.subnet_id in by_id and by_id[f.subnet_id].enable_dhcp)
    if not served or not addresses:
        return None
    gateway = next((s.gateway_ip for s in served if s.ip_version == 4 and s.gateway_ip), None)
    return DhcpPlan(
        network_id=network.id, port_id=port.id, namespace=names.dhcp_namespace(network.id),
        device=names.tap_name(port.id), mac=port.mac_address, addresses=addresses, mtu=network.mtu,
        gateway=gateway, hosts=hosts_file_for(ports, by_id), addn_hosts=addn_hosts_file_for(ports),
        opts=opts_file_for(served, subnets, port, ports), options=options_for(network, port, served),
        source=f"port:{port.id}",
        reason=f"DHCP port of network {network.name or network.id} is bound to this host",
    )


def _subnet_order(subnet: Subnet):
    network = ipaddress.ip_network(subnet.cidr)
    return (network.version, network.network_address, subnet.id)


def host_name_for(address: str) -> str:
    """Neutron's name for an address without a dns_assignment: host-10-0-0-5, host-fd00--5."""
    return "host-" + address.replace(".", "-").replace(":", "-")


def _literal(address: str) -> str:
    """An address as dnsmasq's files take it: IPv6 in brackets (it would read as a MAC otherwise)."""
    return f"[{address}]" if ":" in address else address


def hosts_file_for(ports: list[Port], subnets: dict[str, Subnet]) -> str:
    lines = []
    for port in ports:
        for fixed in port.fixed_ips:
            subnet = subnets.get(fixed.subnet_id)
            if subnet is None or not subnet.enable_dhcp or subnet.ipv6_address_mode in NO_HOST_ENTRY:
                continue
            lines.append(f"{port.mac_address},{host_name_for(fixed.ip_address)}.{DOMAIN},"
                         f"{_literal(fixed.ip_address)}")
    return "".join(f"{line}\n" for line in lines)


def addn_hosts_file_for(ports: list[Port]) -> str:
    lines = []
    for port in ports:
        for fixed in port.fixed_ips:
            name = host_name_for(fixed.ip_address)
            lines.append(f"{fixed.ip_address}\t{name}.{DOMAIN} {name}")
    return "".join(f"{line}\n" for line in lines)


def is_isolated(subnet: Subnet, ports: list[Port]) -> bool:
    """No router interface holds the subnet's gateway address (Neutron's get_isolated_subnets)."""
    return not any(port.device_owner in ROUTER_INTERFACE_OWNERS and fixed.subnet_id == subnet.id
                   and fixed.ip_address == subnet.gateway_ip for port in ports for fixed in port.fixed_ips)


def opts_file_for(served: list[Subnet], subnets: list[Subnet], dhcp_port: Port, ports: list[Port]) -> str:
    lines = []
    for subnet in served:
        lines += _options_of_subnet(subnet, subnets, dhcp_port, ports)
    return "".join(f"{line}\n" for line in lines)


def _options_of_subnet(subnet: Subnet, subnets: list[Subnet], dhcp_port: Port, ports: list[Port]) -> list[str]:
    tag = f"tag:subnet-{subnet.id}"
    kind = "option:" if subnet.ip_version == 4 else "option6:"
    servers = subnet.dns_nameservers or tuple(f.ip_address for f in dhcp_port.fixed_ips if f.subnet_id == subnet.id)
    lines = [f"{tag},{kind}dns-server,{','.join(_literal(s) for s in servers)}"] if servers else []
    if subnet.ip_version == 6:
        return lines + [f"{tag},option6:domain-search,{DOMAIN}"]
    gateway, routes = subnet.gateway_ip, []
    for destination, nexthop in subnet.host_routes:
        if destination == "0.0.0.0/0":
            gateway = gateway or nexthop  # a default host route stands in for a missing gateway
        else:
            routes.append(f"{destination},{nexthop}")
    if gateway and not is_isolated(subnet, ports):
        routes.append(f"{METADATA_ROUTE},{gateway}")
    for other in subnets:  # the network's other IPv4 subnets are on the same link
        if other.ip_version == 4 and other.cidr != subnet.cidr:
            routes.insert(0, f"{other.cidr},0.0.0.0")
    if routes:
        if gateway:  # a client given option 121 ignores option 3 (RFC 3442): the default route goes in too
            routes.append(f"0.0.0.0/0,{gateway}")
        lines.append(f"{tag},option:classless-static-route,{','.join(routes)}")
        lines.append(f"{tag},{WINDOWS_STATIC_ROUTES},{','.join(routes)}")
    lines.append(f"{tag},option:router,{gateway}" if gateway else f"{tag},option:router")
    return lines


def options_for(network: Network, port: Port, served: list[Subnet]) -> tuple[str, ...]:
    """dnsmasq's flags besides its files, in Neutron's order for a bridged (OVS) interface."""
    options = ["--leasefile-ro", "--dhcp-match=set:ipxe,175", "--dhcp-userclass=set:ipxe6,iPXE",
               "--bind-interfaces", f"--interface={names.tap_name(port.id)}", "--except-interface=lo"]
    leases = 0
    for subnet in served:
        cidr = ipaddress.ip_network(subnet.cidr)
        if cidr.version == 4:
            options.append(f"--dhcp-range=set:subnet-{subnet.id},{cidr.network_address},static,{cidr.netmask},{LEASE}")
        elif cidr.prefixlen >= 64:  # DHCPv6 ranges need a /64 or longer
            options.append(f"--dhcp-range=set:subnet-{subnet.id},{cidr.network_address},static,{cidr.prefixlen},{LEASE}")
        else:
            continue
        leases += cidr.num_addresses
    if network.mtu > 0:
        options.append(f"--dhcp-option-force=option:mtu,{network.mtu}")
    options += [f"--dhcp-lease-max={min(leases, LEASE_MAX)}", "--conf-file=/dev/null", f"--domain={DOMAIN}",
                "--keep-in-foreground"]
    return tuple(options)
