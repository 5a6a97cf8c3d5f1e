"""The API's resources as frozen values, as the plan and the trace see them.

Built from the feed's wire bodies (Neutron's JSON) by ``*_from_body``; nothing below the feed sees a dict.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Network:
    id: str
    name: str = ""
    project_id: str = ""
    admin_state_up: bool = True
    network_type: str | None = "vlan"
    physical_network: str | None = None
    segmentation_id: int | None = None
    mtu: int = 1500
    external: bool = False
    shared: bool = False


@dataclass(frozen=True)
class FixedIp:
    subnet_id: str
    ip_address: str


@dataclass(frozen=True)
class AddressPair:
    ip_address: str
    mac_address: str


@dataclass(frozen=True)
class Subnet:
    id: str
    network_id: str
    cidr: str
    ip_version: int = 4
    gateway_ip: str | None = None
    enable_dhcp: bool = True
    name: str = ""
    project_id: str = ""
    dns_nameservers: tuple[str, ...] = ()
    host_routes: tuple[tuple[str, str], ...] = ()
    ipv6_ra_mode: str | None = None
    ipv6_address_mode: str | None = None


@dataclass(frozen=True)
class Port:
    id: str
    network_id: str
    mac_address: str
    name: str = ""
    project_id: str = ""
    admin_state_up: bool = True
    status: str = "DOWN"
    device_owner: str = ""
    device_id: str = ""
    host_id: str = ""
    vif_type: str = "unbound"
    fixed_ips: tuple[FixedIp, ...] = ()
    security_groups: tuple[str, ...] = ()
    port_security_enabled: bool = True
    allowed_address_pairs: tuple[AddressPair, ...] = ()


@dataclass(frozen=True)
class SecurityGroupRule:
    id: str
    security_group_id: str
    direction: str
    ethertype: str = "IPv4"
    protocol: str | None = None
    port_range_min: int | None = None
    port_range_max: int | None = None
    remote_ip_prefix: str | None = None
    remote_group_id: str | None = None


@dataclass(frozen=True)
class SecurityGroup:
    id: str
    name: str = ""
    project_id: str = ""
    stateful: bool = True
    rules: tuple[SecurityGroupRule, ...] = ()


@dataclass(frozen=True)
class Agent:
    id: str
    host: str
    agent_type: str
    alive: bool
    heartbeat_timestamp: str | None = None
    configurations: tuple[tuple[str, str], ...] = ()
    # An OVS agent's tunnel endpoint, as Neutron's agent reports it (configurations tunneling_ip, tunnel_types).
    tunneling_ip: str | None = None
    tunnel_types: tuple[str, ...] = ()


@dataclass(frozen=True)
class Router:
    """A router. Where it runs is where its ports are bound: its interface ports (device_owner
    ``network:router_interface``, device_id = the router id) and gateway port (``network:router_gateway``)
    carry the binding:host_id of the L3 agent hosting it."""

    id: str
    name: str = ""
    project_id: str = ""
    admin_state_up: bool = True
    status: str = "ACTIVE"
    gateway_network_id: str | None = None  # external_gateway_info.network_id
    enable_snat: bool = True
    external_fixed_ips: tuple[FixedIp, ...] = ()
    routes: tuple[tuple[str, str], ...] = ()  # (destination, nexthop)


@dataclass(frozen=True)
class FloatingIp:
    id: str
    floating_ip_address: str
    floating_network_id: str
    project_id: str = ""
    router_id: str | None = None
    port_id: str | None = None
    fixed_ip_address: str | None = None
    status: str = "DOWN"
    description: str = ""


def network_from_body(body: dict) -> Network:
    return Network(
        id=body["id"], name=body.get("name", ""), project_id=body.get("project_id", ""),
        admin_state_up=body.get("admin_state_up", True), network_type=body.get("provider:network_type"),
        physical_network=body.get("provider:physical_network"),
        segmentation_id=body.get("provider:segmentation_id"), mtu=body.get("mtu") or 1500,
        external=body.get("router:external", False), shared=body.get("shared", False),
    )


def subnet_from_body(body: dict) -> Subnet:
    return Subnet(
        id=body["id"], network_id=body["network_id"], cidr=body["cidr"], ip_version=body.get("ip_version", 4),
        gateway_ip=body.get("gateway_ip"), enable_dhcp=body.get("enable_dhcp", True), name=body.get("name", ""),
        project_id=body.get("project_id", ""), dns_nameservers=tuple(body.get("dns_nameservers", ())),
        host_routes=tuple((r["destination"], r["nexthop"]) for r in body.get("host_routes", ())),
        ipv6_ra_mode=body.get("ipv6_ra_mode"), ipv6_address_mode=body.get("ipv6_address_mode"),
    )


def port_from_body(body: dict) -> Port:
    return Port(
        id=body["id"], network_id=body["network_id"], mac_address=body["mac_address"], name=body.get("name", ""),
        project_id=body.get("project_id", ""), admin_state_up=body.get("admin_state_up", True),
        status=body.get("status", "DOWN"), device_owner=body.get("device_owner", ""),
        device_id=body.get("device_id", ""), host_id=body.get("binding:host_id", "") or "",
        vif_type=body.get("binding:vif_type", "unbound"),
        fixed_ips=tuple(FixedIp(f["subnet_id"], f["ip_address"]) for f in body.get("fixed_ips", ())),
        security_groups=tuple(body.get("security_groups", ())),
        port_security_enabled=body.get("port_security_enabled", True),
        allowed_address_pairs=tuple(AddressPair(p["ip_address"], p["mac_address"])
                                    for p in body.get("allowed_address_pairs", ())),
    )


def rule_from_body(body: dict) -> SecurityGroupRule:
    return SecurityGroupRule(
        id=body["id"], security_group_id=body["security_group_id"], direction=body["direction"],
        ethertype=body.get("ethertype", "IPv4"), protocol=body.get("protocol"),
        port_range_min=body.get("port_range_min"), port_range_max=body.get("port_range_max"),
        # The API keeps a prefix's host bits (10.0.0.5/24); the data plane wants the network it names.
        remote_ip_prefix=body.get("normalized_cidr") or body.get("remote_ip_prefix"),
        remote_group_id=body.get("remote_group_id"),
    )


def security_group_from_body(body: dict) -> SecurityGroup:
    return SecurityGroup(
        id=body["id"], name=body.get("name", ""), project_id=body.get("project_id", ""),
        stateful=body.get("stateful", True),
        rules=tuple(rule_from_body(r) for r in body.get("security_group_rules", ())),
    )


def agent_from_body(body: dict) -> Agent:
    configurations = body.get("configurations") or {}
    return Agent(id=body["id"], host=body["host"], agent_type=body["agent_type"], alive=body.get("alive", False),
                 heartbeat_timestamp=body.get("heartbeat_timestamp"),
                 tunneling_ip=configurations.get("tunneling_ip") or None,
                 tunnel_types=tuple(configurations.get("tunnel_types") or ()))


def router_from_body(body: dict) -> Router:
    gateway = body.get("external_gateway_info") or {}
    return Router(
        id=body["id"], name=body.get("name", ""), project_id=body.get("project_id", ""),
        admin_state_up=body.get("admin_state_up", True), status=body.get("status", "ACTIVE"),
        gateway_network_id=gateway.get("network_id"), enable_snat=gateway.get("enable_snat", True),
        external_fixed_ips=tuple(FixedIp(f["subnet_id"], f["ip_address"])
                                 for f in gateway.get("external_fixed_ips", ())),
        routes=tuple((r["destination"], r["nexthop"]) for r in body.get("routes", ())),
    )


def floating_ip_from_body(body: dict) -> FloatingIp:
    return FloatingIp(
        id=body["id"], floating_ip_address=body["floating_ip_address"],
        floating_network_id=body["floating_network_id"], project_id=body.get("project_id", ""),
        router_id=body.get("router_id"), port_id=body.get("port_id"),
        fixed_ip_address=body.get("fixed_ip_address"), status=body.get("status", "DOWN"),
        description=body.get("description", ""),
    )
