"""Layer 2 on one host: bridges and their links, each plugged port's local VLAN or the dead VLAN.

Local VLANs are host-local numbers for networks (1..4094): a network keeps the one recorded on its
ports in OVSDB (so a restart renumbers nothing), and a network new to this host gets the lowest
free one. A port that cannot be bound is parked on VLAN 4095 and the reason is kept.
"""

from __future__ import annotations

from dataclasses import replace

from neutrino.model import names
from neutrino.model.host_config import HostConfig
from neutrino.model.resources import Network, Port
from neutrino.model.state import ApiState
from neutrino.plan.facts import HostFacts, PluggedPort
from neutrino.plan.host_plan import Bridge, Interface, OvsPort, PortState
from neutrino.plan.tables import DEAD_VLAN, MAX_LOCAL_VLAN

WIRED_TYPES = ("vlan", "flat")  # through a physical bridge
TUNNELLED_TYPES = ("vxlan", "gre")  # through the tunnel bridge (plan/tunnels.py)
DEAD_REASON = "neutrino-dead-reason"


def bridges_for(config: HostConfig) -> list[Bridge]:
    bridges = [Bridge(config.integration_bridge, config.datapath_type, source="config:integration_bridge",
                      reason="the integration bridge: every port, local VLAN tags")]
    for bridge in config.mapped_bridges:
        physnets = [p for p, b in config.bridge_mappings.items() if b == bridge.name]
        bridges.append(Bridge(bridge.name, config.datapath_type, source=f"config:bridges.{bridge.name}",
                              reason=f"physical bridge of {', '.join(physnets) or 'no physnet'}"))
    for name in config.extra_bridges:
        bridges.append(Bridge(name, config.datapath_type, source=f"config:extra_bridges.{name}",
                              reason="extra bridge from the host config"))
    return bridges


def links_for(config: HostConfig) -> list[OvsPort]:
    """Patch pairs br-int <-> each physical bridge, the configured patch links, and uplinks/bonds."""
    ports = []
    for bridge in config.mapped_bridges:
        int_name, phy_name = names.integration_patch_name(bridge.name), names.physical_patch_name(bridge.name)
        reason = f"links {config.integration_bridge} and {bridge.name}"
        ports.append(OvsPort(config.integration_bridge, int_name, (Interface(int_name, "patch", phy_name),),
                             source=f"config:bridges.{bridge.name}", reason=reason))
        ports.append(OvsPort(bridge.name, phy_name, (Interface(phy_name, "patch", int_name),),
                             source=f"config:bridges.{bridge.name}", reason=reason))
        ports.extend(_uplink_for(bridge))
    for link in config.patch_links:
        source = f"config:patch_links.{link.port}"
        reason = f"patches {link.bridge} into {link.peer_bridge}"
        ports.append(OvsPort(link.bridge, link.port, (Interface(link.port, "patch", link.peer_port),),
                             tag=link.tag, source=source, reason=reason))
        ports.append(OvsPort(link.peer_bridge, link.peer_port, (Interface(link.peer_port, "patch", link.port),),
                             tag=link.peer_tag, source=source, reason=reason))
    return ports


def _uplink_for(bridge) -> list[OvsPort]:
    if not bridge.uplinks:
        return []
    source = f"config:bridges.{bridge.name}.uplinks"
    if bridge.bond:
        return [OvsPort(bridge.name, bridge.bond, tuple(Interface(nic) for nic in bridge.uplinks),
                        bond_mode=bridge.bond_mode, source=source,
                        reason=f"OVS bond of {' + '.join(bridge.uplinks)}")]
    nic = bridge.uplinks[0]
    return [OvsPort(bridge.name, nic, (Interface(nic),), source=source, reason="uplink NIC")]


def why_unbindable(port: Port | None, network: Network | None, iface_id: str,
                   config: HostConfig) -> str | None:
    """The reason a plugged port must stay on the dead VLAN, or None when it can be bound."""
    if port is None:
        return f"no port {iface_id} in the API (unknown iface-id)"
    if port.host_id != config.host:
        bound = f"bound to host {port.host_id!r}" if port.host_id else "has no binding:host_id"
        return f"port {port.id} {bound}, this host is {config.host!r}"
    if network is None:
        return f"port {port.id}: network {port.network_id} is not in the API"
    if network.network_type in WIRED_TYPES and network.physical_network not in config.bridge_mappings:
        return (f"network {network.id} is on physnet {network.physical_network!r}, "
                f"which has no bridge mapping on host {config.host!r}")
    if network.network_type in TUNNELLED_TYPES and network.network_type not in config.tunnel_types:
        return (f"network {network.id} has type {network.network_type!r}, not wired by this agent "
                f"(its tunnel_types: {', '.join(config.tunnel_types) or 'none'})")
    if network.network_type not in WIRED_TYPES + TUNNELLED_TYPES:
        return f"network {network.id} has type {network.network_type!r}, not wired by this agent"
    if not port.admin_state_up:
        return f"port {port.id} has admin_state_up false"
    if not network.admin_state_up:
        return f"network {network.id} has admin_state_up false"
    return None


def local_vlans_for(networks: list[str], remembered: dict[str, int]) -> dict[str, int]:
    """A local VLAN for each network: the remembered one, else the lowest free (networks in id order).

    Two networks may remember the same VLAN (a parked port keeps its old bookkeeping while its VLAN
    goes to another network); only the first in id order keeps it, or their traffic would mix.
    """
    out: dict[str, int] = {}
    for network in sorted(n for n in set(networks) if n in remembered):
        if remembered[network] not in out.values():
            out[network] = remembered[network]
    used = set(out.values())
    free = (vlan for vlan in range(1, MAX_LOCAL_VLAN + 1) if vlan not in used)
    for network in sorted(set(networks) - set(out)):
        out[network] = next(free)
    return out


def ports_for(state: ApiState, config: HostConfig, facts: HostFacts
              ) -> tuple[list[OvsPort], dict[str, int], dict[str, PortState], dict[str, str]]:
    """Each plugged instance port's tag, the local VLANs in use, the API ports' states, parked ports."""
    plugged = _plugged_on_integration(config, facts)
    reasons = {p.name: _why_unbindable(state, config, p) for p in plugged}
    bound = [p for p in plugged if reasons[p.name] is None]
    vlans = local_vlans_for([state.ports[p.iface_id].network_id for p in bound], facts.remembered_vlans)
    ovs_ports = [_instance_port(p, state, config, vlans, reasons[p.name]) for p in plugged]
    states = _port_states(state, config, plugged, vlans, reasons)
    parked = {name: reason for name, reason in reasons.items() if reason is not None}
    return ovs_ports, vlans, states, parked


def with_legs(facts: HostFacts, legs: list[PluggedPort]) -> HostFacts:
    """The facts as L2 sees them with the legs neutrino plugs itself (an API port's veth end on br-int, e.g.
    a DHCP tap): a wanted leg counts as plugged from the pass that creates it, so its network has a local
    VLAN and the leg its tag in the same OVSDB transaction; a leg of ours no longer wanted counts as gone
    (the OVSDB realizer deletes it, as it deletes every owned port the plan leaves out)."""
    wanted = {leg.name: leg for leg in legs}
    kept = [p for p in facts.plugged if not p.owned or p.name in wanted]
    seen = {p.name for p in kept}
    plugged = kept + [leg for name, leg in wanted.items() if name not in seen]
    return replace(facts, plugged=tuple(sorted(plugged, key=lambda p: p.name)))


def owned_legs(ports: list[OvsPort], legs: list[PluggedPort]) -> list[OvsPort]:
    """``ports`` with each leg's port (its tag and bookkeeping from ``ports_for``) as one neutrino creates
    and owns: one interface, carrying the external_ids a hypervisor writes for a plugged port."""
    by_name = {leg.name: leg for leg in legs}
    out = []
    for port in ports:
        leg = by_name.get(port.name)
        if leg is not None:
            port = replace(port, owned=True, interfaces=(Interface(port.name),), iface_external_ids=(
                ("attached-mac", leg.mac or ""), ("iface-id", leg.iface_id), ("iface-status", "active")))
        out.append(port)
    return out


def bound_ports_for(state: ApiState, config: HostConfig, facts: HostFacts) -> list[PluggedPort]:
    """The plugged ports this host binds (the same decision as ports_for: the rest are parked)."""
    return [p for p in _plugged_on_integration(config, facts) if _why_unbindable(state, config, p) is None]


def _plugged_on_integration(config: HostConfig, facts: HostFacts) -> list[PluggedPort]:
    return [p for p in facts.plugged if p.bridge == config.integration_bridge]


def _why_unbindable(state: ApiState, config: HostConfig, plugged: PluggedPort) -> str | None:
    return why_unbindable(state.ports.get(plugged.iface_id), _network_of(state, plugged.iface_id),
                          plugged.iface_id, config)


def _network_of(state: ApiState, iface_id: str) -> Network | None:
    port = state.ports.get(iface_id)
    return state.networks.get(port.network_id) if port else None


def _instance_port(plugged: PluggedPort, state: ApiState, config: HostConfig, vlans: dict[str, int],
                   reason: str | None) -> OvsPort:
    source = f"port:{plugged.iface_id}"
    if reason is not None:
        # The reason is written on the Port row too, so `ovs-vsctl list port` says why it is dead.
        return OvsPort(config.integration_bridge, plugged.name, tag=DEAD_VLAN, vlan_mode="trunk",
                       trunks=(DEAD_VLAN,), owned=False, other_config=((DEAD_REASON, reason.replace('"', "'")),),
                       source=source, reason=f"parked on VLAN 4095: {reason}")
    port = state.ports[plugged.iface_id]
    network = state.networks[port.network_id]
    vlan = vlans[network.id]
    bookkeeping = (("net_uuid", network.id), ("network_type", network.network_type or ""),
                   ("physical_network", network.physical_network or ""),
                   ("segmentation_id", str(network.segmentation_id or "")), ("tag", str(vlan)))
    return OvsPort(config.integration_bridge, plugged.name, tag=vlan, owned=False, other_config=bookkeeping,
                   source=source, reason=f"network {network.name or network.id} is local VLAN {vlan} here")


def _port_states(state: ApiState, config: HostConfig, plugged: list[PluggedPort], vlans: dict[str, int],
                 reasons: dict[str, str | None]) -> dict[str, PortState]:
    by_iface = {p.iface_id: p for p in plugged}
    states = {}
    for port in state.ports_bound_to(config.host):
        device = by_iface.get(port.id)
        if device is None:
            states[port.id] = PortState(port.id, "DOWN", reason="not plugged on this host")
        elif reasons[device.name] is not None:
            states[port.id] = PortState(port.id, "DOWN", device.name, reason=reasons[device.name])
        else:
            states[port.id] = PortState(port.id, "ACTIVE", device.name, vlans[port.network_id],
                                        reason="plugged and on its local VLAN")
    return states
