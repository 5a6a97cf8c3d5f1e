"""What ``neutrino topology`` draws, as a value, and its text tree (pure: no I/O; cli/topology.py reads, and
cli/topology_dot.py draws the same value with Graphviz).

``topology_for`` takes the API state and each host's plan (``build_plan``, as its agent builds it) and
returns a ``Topology``: networks -> subnets -> ports, each port with the host objects behind it (its OVS port
on its bridge, local VLAN, host, the namespace its other end is in) and its floating IPs; routers -> legs
(``qr-``/``qg-`` on their bridge and local VLAN) -> namespace, with their floating IPs; and per host its
bridges and ports as ``ovs-vsctl show`` lists them, each annotated with the API object behind it, and its
namespaces. ``render_tree`` prints it.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text

from neutrino.model import names
from neutrino.model.resources import Network, Port
from neutrino.model.state import ApiState
from neutrino.plan.host_plan import HostPlan

ROUTER_INTERFACE, ROUTER_GATEWAY, DHCP = "network:router_interface", "network:router_gateway", "network:dhcp"
STATUS_STYLE = {"ACTIVE": "green", "DOWN": "yellow", "BUILD": "cyan", "ERROR": "bold red"}


@dataclass(frozen=True)
class Wiring:
    """A port's objects on its host: its OVS port (None: not wired there) on ``bridge`` with ``local_vlan``
    (None: untagged, the external bridge), and the namespace its other end is in."""

    host: str
    device: str | None = None
    bridge: str | None = None
    local_vlan: int | None = None
    namespace: str | None = None


@dataclass(frozen=True)
class PortNode:
    id: str
    label: str  # its name, else its role ("router r1 interface", "DHCP")
    role: str  # instance, router_interface, router_gateway, dhcp, other
    status: str
    fixed_ips: tuple[str, ...] = ()
    floating_ips: tuple[str, ...] = ()
    instance: str | None = None  # the instance behind it: its namespace (neutrino plug) or device_id (Nova)
    wiring: Wiring | None = None  # None: bound to no host with a plan


@dataclass(frozen=True)
class SubnetNode:
    id: str
    name: str
    cidr: str
    gateway_ip: str | None
    enable_dhcp: bool
    ports: tuple[PortNode, ...] = ()


@dataclass(frozen=True)
class NetworkNode:
    id: str
    name: str
    segment: str  # "vlan 101 on physnet1", "flat on physnet1"
    external: bool
    local_vlans: tuple[tuple[str, int], ...] = ()  # (host, local VLAN)
    subnets: tuple[SubnetNode, ...] = ()
    other_ports: tuple[PortNode, ...] = ()  # ports with no fixed IP


@dataclass(frozen=True)
class LegNode:
    port_id: str
    device: str
    gateway: bool
    network_id: str
    network_name: str
    addresses: tuple[str, ...]
    bridge: str
    local_vlan: int | None


@dataclass(frozen=True)
class FloatingIpNode:
    id: str
    address: str
    status: str
    network_id: str
    fixed_ip: str | None = None
    port_id: str | None = None
    port_label: str = ""
    router_id: str | None = None


@dataclass(frozen=True)
class RouterNode:
    id: str
    name: str
    status: str
    admin_state_up: bool
    host: str  # "" when no L3 agent hosts it
    namespace: str | None  # None: no namespace planned (not hosted, admin down, or its host has no plan)
    gateway_network: str  # its name ("" without a gateway)
    enable_snat: bool
    legs: tuple[LegNode, ...] = ()
    floating_ips: tuple[FloatingIpNode, ...] = ()


@dataclass(frozen=True)
class HostPort:
    name: str
    tag: int | None
    what: str  # the API object or link behind it, in words
    source: str = ""  # "port:<id>", "router:<id>", "patch:<peer>", "uplink"


@dataclass(frozen=True)
class HostBridge:
    name: str
    datapath_type: str
    what: str  # "physical bridge of physnet1", as the plan says
    ports: tuple[HostPort, ...] = ()


@dataclass(frozen=True)
class HostNode:
    name: str
    bridges: tuple[HostBridge, ...] = ()
    namespaces: tuple[tuple[str, str], ...] = ()  # (namespace, what it is)


@dataclass(frozen=True)
class Topology:
    revision: int
    networks: tuple[NetworkNode, ...] = ()
    routers: tuple[RouterNode, ...] = ()
    floating_ips: tuple[FloatingIpNode, ...] = ()  # every one, associated or not
    hosts: tuple[HostNode, ...] = ()


def topology_for(state: ApiState, plans: dict[str, HostPlan], instances: dict[str, str] | None = None
                 ) -> Topology:
    """``plans``: host -> its plan; ``instances``: port id -> the namespace ``neutrino plug`` made for it."""
    instances = instances or {}
    fips = tuple(_floating_ip_node(state, f) for f in sorted(state.floatingips.values(),
                                                             key=lambda f: f.floating_ip_address))
    ports = {p.id: _port_node(state, p, plans, instances, fips) for p in state.ports.values()}
    networks = tuple(_network_node(state, n, plans, ports) for n in _by_name(state.networks.values()))
    routers = tuple(_router_node(state, r, plans, fips) for r in _by_name(state.routers.values()))
    hosts = tuple(_host_node(state, plans[h], ports) for h in sorted(plans))
    return Topology(state.revision, networks, routers, fips, hosts)


def _by_name(values):
    return sorted(values, key=lambda v: (v.name, v.id))


def _role(port: Port) -> str:
    if port.device_owner == ROUTER_INTERFACE:
        return "router_interface"
    if port.device_owner == ROUTER_GATEWAY:
        return "router_gateway"
    if port.device_owner == DHCP:
        return "dhcp"
    return "instance" if port.device_owner.startswith("compute:") or not port.device_owner else "other"


def _port_label(state: ApiState, port: Port) -> str:
    if port.name:
        return port.name
    router = state.routers.get(port.device_id)
    if port.device_owner in (ROUTER_INTERFACE, ROUTER_GATEWAY) and router is not None:
        return f"router {router.name or router.id} {'interface' if port.device_owner == ROUTER_INTERFACE else 'gateway'}"
    if port.device_owner == DHCP:
        return "DHCP"
    return port.id


def _port_node(state: ApiState, port: Port, plans: dict[str, HostPlan], instances: dict[str, str],
               fips: tuple[FloatingIpNode, ...]) -> PortNode:
    role = _role(port)
    namespace = instances.get(port.id)  # a Nova instance has no namespace: its device_id names it
    instance = namespace or (port.device_id if role == "instance" and port.device_id else None)
    return PortNode(port.id, _port_label(state, port), role, port.status,
                    tuple(f.ip_address for f in port.fixed_ips),
                    tuple(f.address for f in fips if f.port_id == port.id), instance,
                    _wiring(port, role, plans.get(port.host_id), namespace))


def _wiring(port: Port, role: str, plan: HostPlan | None, instance: str | None) -> Wiring | None:
    if plan is None:
        return None
    state = plan.port_states.get(port.id)
    device = state.device if state else None
    bridge = next((p.bridge for p in plan.ports if p.name == device), None) if device else None
    namespace = {"router_interface": names.router_namespace(port.device_id),
                 "router_gateway": names.router_namespace(port.device_id),
                 "dhcp": names.dhcp_namespace(port.network_id)}.get(role, instance)
    if role in ("router_interface", "router_gateway") and not any(r.router_id == port.device_id
                                                                  for r in plan.routers):
        namespace = None
    return Wiring(plan.host, device, bridge, state.local_vlan if state else None, namespace)


def segment_words(network: Network) -> str:
    if network.network_type == "flat":
        return f"flat on {network.physical_network}"
    if network.network_type == "vlan":
        return f"vlan {network.segmentation_id} on {network.physical_network}"
    return network.network_type or "no segment"


def _network_node(state: ApiState, network: Network, plans: dict[str, HostPlan],
                  ports: dict[str, PortNode]) -> NetworkNode:
    mine = sorted((p for p in state.ports.values() if p.network_id == network.id),
                  key=lambda p: (ports[p.id].role != "instance", ports[p.id].label, p.id))
    subnets = []
    for subnet in sorted((s for s in state.subnets.values() if s.network_id == network.id),
                         key=lambda s: (s.ip_version, s.cidr)):
        on = tuple(ports[p.id] for p in mine if any(f.subnet_id == subnet.id for f in p.fixed_ips))
        subnets.append(SubnetNode(subnet.id, subnet.name, subnet.cidr, subnet.gateway_ip, subnet.enable_dhcp, on))
    vlans = tuple((host, plan.local_vlans[network.id]) for host, plan in sorted(plans.items())
                  if network.id in plan.local_vlans)
    return NetworkNode(network.id, network.name, segment_words(network), network.external, vlans, tuple(subnets),
                       tuple(ports[p.id] for p in mine if not p.fixed_ips))


def _floating_ip_node(state: ApiState, fip) -> FloatingIpNode:
    port = state.ports.get(fip.port_id) if fip.port_id else None
    return FloatingIpNode(fip.id, fip.floating_ip_address, fip.status, fip.floating_network_id,
                          fip.fixed_ip_address, fip.port_id, _port_label(state, port) if port else "",
                          fip.router_id)


def _router_node(state: ApiState, router, plans: dict[str, HostPlan], fips) -> RouterNode:
    hosts = {p.host_id for p in state.ports.values() if p.device_id == router.id
             and p.device_owner in (ROUTER_INTERFACE, ROUTER_GATEWAY) and p.host_id}
    host = min(hosts) if hosts else ""
    plan = plans.get(host)
    planned = next((r for r in plan.routers if r.router_id == router.id), None) if plan else None
    legs = ()
    if planned is not None:
        legs = tuple(LegNode(leg.port_id, leg.device, leg.gateway, leg.network_id,
                             _name(state.networks.get(leg.network_id), leg.network_id), leg.addresses, leg.bridge,
                             plan.port_states[leg.port_id].local_vlan if leg.port_id in plan.port_states else None)
                     for leg in planned.legs)
    gateway = state.networks.get(router.gateway_network_id) if router.gateway_network_id else None
    return RouterNode(router.id, router.name, router.status, router.admin_state_up, host,
                      planned.namespace if planned else None,
                      _name(gateway, router.gateway_network_id or ""), router.enable_snat, legs,
                      tuple(f for f in fips if f.router_id == router.id))


def _name(value, fallback: str) -> str:
    return (value.name or value.id) if value is not None else fallback


def _host_node(state: ApiState, plan: HostPlan, ports: dict[str, PortNode]) -> HostNode:
    by_device = {s.device: port_id for port_id, s in plan.port_states.items() if s.device}
    bridges = []
    for bridge in plan.bridges:
        listed = [_host_port(p, by_device, ports, state) for p in plan.ports if p.bridge == bridge.name]
        bridges.append(HostBridge(bridge.name, bridge.datapath_type, bridge.reason,
                                  tuple(sorted(listed, key=lambda p: p.name))))
    namespaces = [(r.namespace, f"router {_name(state.routers.get(r.router_id), r.router_id)}")
                  for r in plan.routers]
    namespaces += [(d.namespace, f"DHCP of network {_name(state.networks.get(d.network_id), d.network_id)}")
                   for d in plan.dhcp]
    return HostNode(plan.host, tuple(bridges), tuple(sorted(namespaces)))


def _host_port(port, by_device: dict[str, str], ports: dict[str, PortNode], state: ApiState) -> HostPort:
    port_id = by_device.get(port.name)
    if port_id is not None and port_id in ports:
        node = ports[port_id]
        network = state.networks.get(state.ports[port_id].network_id)
        return HostPort(port.name, port.tag, f"port {node.label} of network {_name(network, '?')}", f"port:{port_id}")
    peer = next((i.peer for i in port.interfaces if i.type == "patch"), None)
    if peer is not None:
        return HostPort(port.name, port.tag, f"patch to {peer}", f"patch:{peer}")
    if port.source.endswith(".uplinks"):  # l2.links_for: a NIC, or an OVS bond of NICs
        return HostPort(port.name, port.tag, port.reason, "uplink")
    return HostPort(port.name, port.tag, port.reason or port.source)


# --- the text tree ---

def render_tree(topology: Topology) -> Text:
    out = Text()
    out.append(f"neutrino topology at revision {topology.revision}\n", "bold")
    for network in topology.networks:
        _network_lines(out, network)
    for router in topology.routers:
        _router_lines(out, router)
    loose = [f for f in topology.floating_ips if f.port_id is None]
    if loose:
        out.append("floating IPs not associated: ", "bold")
        out.append(", ".join(f.address for f in loose) + "\n")
    for host in topology.hosts:
        _host_lines(out, host)
    return out


def _status(out: Text, status: str) -> None:
    out.append(f"  {status}", STATUS_STYLE.get(status, ""))


def _network_lines(out: Text, network: NetworkNode) -> None:
    out.append(f"network {network.name or network.id}", "bold cyan")
    out.append(f"  {network.segment}{', external' if network.external else ''}")
    if network.local_vlans:
        out.append("  local VLAN " + ", ".join(f"{vlan} on {host}" for host, vlan in network.local_vlans))
    out.append(f"  ({network.id})\n", "dim")
    for subnet in network.subnets:
        out.append(f"    subnet {subnet.name + ' ' if subnet.name else ''}{subnet.cidr}", "cyan")
        out.append(f"  gateway {subnet.gateway_ip or 'none'}{'  DHCP' if subnet.enable_dhcp else ''}\n")
        for port in subnet.ports:
            _port_lines(out, port, "        ")
    for port in network.other_ports:
        _port_lines(out, port, "    ")


def _port_lines(out: Text, port: PortNode, indent: str) -> None:
    out.append(f"{indent}port {port.label}")
    _status(out, port.status)
    if port.fixed_ips:
        out.append("  " + ", ".join(port.fixed_ips))
    if port.floating_ips:
        out.append("  floating IP " + ", ".join(port.floating_ips), "magenta")
    if port.instance and port.role == "instance":
        out.append(f"  instance {port.instance}")
    out.append("\n")
    wiring = port.wiring
    if wiring is None:
        return
    out.append(f"{indent}    ", "dim")
    out.append(_wiring_words(wiring) + "\n", "dim")


def _wiring_words(wiring: Wiring) -> str:
    if wiring.device is None:
        where = f"not wired on {wiring.host}"
    else:
        vlan = f" VLAN {wiring.local_vlan}" if wiring.local_vlan is not None else " untagged"
        where = f"{wiring.device} on {wiring.bridge or '?'}{vlan} @ {wiring.host}"
    return where + (f" · {wiring.namespace}" if wiring.namespace else "")


def _router_lines(out: Text, router: RouterNode) -> None:
    out.append(f"router {router.name or router.id}", "bold magenta")
    _status(out, router.status if router.admin_state_up else "DOWN (admin)")
    out.append(f"  on {router.host}" if router.host else "  hosted nowhere (no L3 agent)")
    if router.namespace:
        out.append(f"  namespace {router.namespace}")
    if router.gateway_network:
        out.append(f"  gateway on {router.gateway_network}{', SNAT' if router.enable_snat else ', no SNAT'}")
    out.append(f"  ({router.id})\n", "dim")
    for leg in router.legs:
        vlan = f"VLAN {leg.local_vlan}" if leg.local_vlan is not None else "untagged"
        out.append(f"    {leg.device}  {', '.join(leg.addresses)}  on {leg.network_name}  ({leg.bridge} {vlan})\n")
    for fip in router.floating_ips:
        target = f"{fip.fixed_ip} (port {fip.port_label})" if fip.port_id else "nothing"
        out.append(f"    floating IP {fip.address} -> {target}", "magenta")
        _status(out, fip.status)
        out.append("\n")


def _host_lines(out: Text, host: HostNode) -> None:
    out.append(f"host {host.name}\n", "bold")
    for bridge in host.bridges:
        out.append(f"    Bridge {bridge.name}")
        out.append(f"  datapath {bridge.datapath_type}, {bridge.what}\n", "dim")
        for port in bridge.ports:
            out.append(f"        Port {port.name}")
            out.append(f"  tag {port.tag}" if port.tag is not None else "")
            out.append(f"  {port.what}\n", "dim")
    for namespace, what in host.namespaces:
        out.append(f"    Namespace {namespace}")
        out.append(f"  {what}\n", "dim")
