"""Tunnelled networks (VXLAN, GRE) on one host, as Neutron's OVS agent builds them: the tunnel bridge
br-tun patched to br-int (patch-tun / patch-int), one tunnel port per other host's endpoint, and br-tun's
tables carrying each network between its local VLAN and its tunnel id (plan/tables.py TunnelTable).

Which hosts, and where a network's traffic goes, come from the API state (as ML2's l2population driver
tells Neutron's agents), never from what the switch saw:

- endpoints: every other host's "Open vSwitch agent" registered in the API that reports a tunneling_ip
  and a tunnel type this host has. A tunnel port goes when its agent is deleted, not when the agent merely
  misses heartbeats: a host whose agent lost the server still forwards its instances' traffic, and tearing
  the tunnels down would turn a control-plane outage into a data-plane one (Neutron keeps its endpoints
  until the agent is deleted, too).
- flooding: a network's broadcasts and unknown unicasts go only to the tunnels of hosts with ports bound
  on that network; unicasts to those ports' MACs go straight to their host's tunnel (table 20, above
  what table 10 learns), and with ``arp_responder`` ARP requests for their addresses are answered here.

br-int needs nothing of its own: patch-tun is a trunk, frames from br-tun carry the network's local VLAN.
"""

from __future__ import annotations

from dataclasses import dataclass

from neutrino.model import names
from neutrino.model.host_config import HostConfig
from neutrino.model.resources import Network, Port
from neutrino.model.state import ApiState
from neutrino.plan.host_plan import (
    Bridge,
    Flow,
    Interface,
    OvsPort,
    TunnelAddress,
    TunnelPort,
    TunnelSegment,
)
from neutrino.plan.tables import LEARNED_COOKIE, TUNNEL_TABLE_OF_TYPE, TunnelTable

OVS_AGENT = "Open vSwitch agent"
LEARN_SECONDS = 300  # Neutron's learnt MACs expire after 5 minutes (hard_timeout)
UNICAST = "00:00:00:00:00:00/01:00:00:00:00:00"  # the group bit clear
MULTICAST = "01:00:00:00:00:00/01:00:00:00:00:00"  # broadcast and multicast
BROADCAST = "ff:ff:ff:ff:ff:ff"


@dataclass(frozen=True)
class Endpoint:
    """Another host's tunnel endpoint for one tunnel type, from its agent's report."""

    host: str
    ip: str
    network_type: str
    agent_id: str

    @property
    def port_name(self) -> str:
        return names.tunnel_port_name(self.network_type, self.ip)


def is_enabled(config: HostConfig) -> bool:
    return bool(config.tunnel_types) and config.tunnel_ip is not None


def bridges_for(config: HostConfig) -> list[Bridge]:
    if not is_enabled(config):
        return []
    return [Bridge(config.tunnel_bridge, config.datapath_type, source="config:tunnel_types",
                   reason=f"the tunnel bridge: {', '.join(config.tunnel_types)} to the other hosts")]


def links_for(config: HostConfig) -> list[OvsPort]:
    """patch-tun on br-int <-> patch-int on br-tun."""
    if not is_enabled(config):
        return []
    int_name, tun_name = names.INTEGRATION_TUNNEL_PATCH, names.TUNNEL_INTEGRATION_PATCH
    reason = f"links {config.integration_bridge} and {config.tunnel_bridge}"
    return [OvsPort(config.integration_bridge, int_name, (Interface(int_name, "patch", tun_name),),
                    source="config:tunnel_types", reason=reason),
            OvsPort(config.tunnel_bridge, tun_name, (Interface(tun_name, "patch", int_name),),
                    source="config:tunnel_types", reason=reason)]


def endpoints_for(state: ApiState, config: HostConfig) -> list[Endpoint]:
    """One endpoint per (tunnel type, remote address), in port-name order; an address reported by two
    agents (a misconfiguration) is the first host's, by host name."""
    if not is_enabled(config):
        return []
    found: dict[str, Endpoint] = {}
    agents = sorted((a for a in state.agents.values() if a.agent_type == OVS_AGENT), key=lambda a: a.host)
    for agent in agents:
        if agent.host == config.host or not agent.tunneling_ip or agent.tunneling_ip == config.tunnel_ip:
            continue
        for network_type in config.tunnel_types:
            if network_type in agent.tunnel_types:
                endpoint = Endpoint(agent.host, agent.tunneling_ip, network_type, agent.id)
                found.setdefault(endpoint.port_name, endpoint)
    return [found[name] for name in sorted(found)]


def tunnel_ports_for(config: HostConfig, endpoints: list[Endpoint]) -> tuple[list[OvsPort], list[TunnelPort]]:
    """Each endpoint's port on br-tun, with Neutron's options: the tunnel id comes from the flow (in_key
    and out_key ``flow``), and the outer header may not be fragmented (df_default)."""
    ports, tunnels = [], []
    for endpoint in endpoints:
        name, source = endpoint.port_name, f"agent:{endpoint.agent_id}"
        reason = f"{endpoint.network_type} to host {endpoint.host} ({config.tunnel_ip} -> {endpoint.ip})"
        options = (("df_default", "true"), ("in_key", "flow"), ("local_ip", config.tunnel_ip or ""),
                   ("out_key", "flow"), ("remote_ip", endpoint.ip))
        ports.append(OvsPort(config.tunnel_bridge, name, (Interface(name, endpoint.network_type, None, options),),
                             source=source, reason=reason))
        tunnels.append(TunnelPort(name, endpoint.network_type, config.tunnel_ip or "", endpoint.ip, endpoint.host,
                                  source=source, reason=reason))
    return ports, tunnels


def segments_for(state: ApiState, config: HostConfig, local_vlans: dict[str, int],
                 endpoints: list[Endpoint]) -> list[TunnelSegment]:
    """Each tunnelled network with a local VLAN here, and the tunnels to flood it to."""
    segments = []
    for network_id, vlan in sorted(local_vlans.items()):
        network = state.networks[network_id]
        if network.network_type not in config.tunnel_types or network.segmentation_id is None:
            continue
        ports = _endpoint_ports(state, config, network, endpoints)
        flood = tuple(sorted({endpoint.port_name for _, endpoint in ports}))
        hosts = sorted({endpoint.host for _, endpoint in ports})
        segments.append(TunnelSegment(
            network.id, network.network_type, network.segmentation_id, vlan, flood, source=f"network:{network.id}",
            reason=f"{network.name or network.id}: {network.network_type} {network.segmentation_id} <-> local VLAN "
                   f"{vlan}, flooded to {', '.join(hosts) or 'no other host'}"))
    return segments


def _endpoint_ports(state: ApiState, config: HostConfig, network: Network,
                    endpoints: list[Endpoint]) -> list[tuple[Port, Endpoint]]:
    """The network's ports bound to other hosts that have an endpoint of its type, with that endpoint."""
    by_host = {e.host: e for e in endpoints if e.network_type == network.network_type}
    return [(port, by_host[port.host_id]) for port in sorted(state.ports.values(), key=lambda p: p.id)
            if port.network_id == network.id and port.host_id != config.host and port.host_id in by_host]


def address_for(config: HostConfig) -> TunnelAddress | None:
    if not is_enabled(config) or config.tunnel_ip_bridge is None or config.tunnel_prefix is None:
        return None
    return TunnelAddress(config.tunnel_ip_bridge, config.tunnel_ip or "", config.tunnel_prefix,
                         source="config:tunnel_ip",
                         reason=f"the tunnel endpoint {config.tunnel_ip}, routed out of {config.tunnel_ip_bridge}")


# --- flows ------------------------------------------------------------------------------------------------

def flows_for(state: ApiState, config: HostConfig, segments: list[TunnelSegment],
              endpoints: list[Endpoint]) -> list[Flow]:
    if not is_enabled(config):
        return []
    flows = default_flows_for(config)
    flows += [_from_tunnel_flow(config, endpoint) for endpoint in endpoints]
    for segment in segments:
        flows += segment_flows_for(config, segment)
        network = state.networks[segment.network_id]
        for port, endpoint in _endpoint_ports(state, config, network, endpoints):
            flows += remote_port_flows_for(config, segment, port, endpoint)
    return flows


def default_flows_for(config: HostConfig) -> list[Flow]:
    """Neutron's br-tun skeleton (br_tun.py setup_default_table): dispatch, the unicast/flood split, learning,
    and drops wherever nothing more specific matches."""
    br, patch = config.tunnel_bridge, names.TUNNEL_INTEGRATION_PATCH
    source = "config:tunnel_types"
    learn = (f"learn(table={TunnelTable.UCAST_TO_TUN},hard_timeout={LEARN_SECONDS},priority=1,"
             f"cookie={LEARNED_COOKIE:#x},NXM_OF_VLAN_TCI[0..11],NXM_OF_ETH_DST[]=NXM_OF_ETH_SRC[],"
             "load:0->NXM_OF_VLAN_TCI[],load:NXM_NX_TUN_ID[]->NXM_NX_TUN_ID[],output:OXM_OF_IN_PORT[])")
    flows = [
        Flow(br, TunnelTable.DISPATCH, 1, f"in_port={patch}", f"resubmit(,{TunnelTable.PATCH_LV_TO_TUN})",
             source, "from br-int: to the tunnels"),
        Flow(br, TunnelTable.DISPATCH, 0, "", "drop", source, "from no tunnel of ours"),
        Flow(br, TunnelTable.PATCH_LV_TO_TUN, 0, f"dl_dst={UNICAST}", f"resubmit(,{TunnelTable.UCAST_TO_TUN})",
             source, "unicast: to the known tunnel of its MAC"),
        Flow(br, TunnelTable.PATCH_LV_TO_TUN, 0, f"dl_dst={MULTICAST}", f"resubmit(,{TunnelTable.FLOOD_TO_TUN})",
             source, "broadcast and multicast: flooded to the network's tunnels"),
        Flow(br, TunnelTable.GRE_TUN_TO_LV, 0, "", "drop", source, "a GRE key of no network here"),
        Flow(br, TunnelTable.VXLAN_TUN_TO_LV, 0, "", "drop", source, "a VNI of no network here"),
        Flow(br, TunnelTable.LEARN_FROM_TUN, 1, "", f'{learn},output:"{patch}"', source,
             "learn which tunnel each remote MAC is behind, then on to br-int"),
        Flow(br, TunnelTable.UCAST_TO_TUN, 0, "", f"resubmit(,{TunnelTable.FLOOD_TO_TUN})", source,
             "an unknown MAC: flooded as a broadcast is"),
        Flow(br, TunnelTable.FLOOD_TO_TUN, 0, "", "drop", source, "a local VLAN of no tunnelled network"),
    ]
    if config.arp_responder:
        flows += [
            Flow(br, TunnelTable.PATCH_LV_TO_TUN, 1, f"arp,dl_dst={BROADCAST}",
                 f"resubmit(,{TunnelTable.ARP_RESPONDER})", "config:arp_responder",
                 "ARP requests: answered here for other hosts' ports"),
            Flow(br, TunnelTable.ARP_RESPONDER, 0, "", f"resubmit(,{TunnelTable.FLOOD_TO_TUN})",
                 "config:arp_responder", "an address of no known port: flooded"),
        ]
    return flows


def _from_tunnel_flow(config: HostConfig, endpoint: Endpoint) -> Flow:
    table = TUNNEL_TABLE_OF_TYPE[endpoint.network_type]
    return Flow(config.tunnel_bridge, TunnelTable.DISPATCH, 1, f"in_port={endpoint.port_name}",
                f"resubmit(,{table})", f"agent:{endpoint.agent_id}",
                f"from host {endpoint.host}: {endpoint.network_type} tunnel id -> local VLAN")


def segment_flows_for(config: HostConfig, segment: TunnelSegment) -> list[Flow]:
    """Tunnel id -> local VLAN on the way in; local VLAN -> tunnel id, flooded, on the way out."""
    br, vlan, tunnel_id = config.tunnel_bridge, segment.local_vlan, segment.tunnel_id
    label = f"{segment.network_type} {tunnel_id}"
    flows = [Flow(br, TUNNEL_TABLE_OF_TYPE[segment.network_type], 1, f"tun_id={tunnel_id:#x}",
                  f"mod_vlan_vid:{vlan},resubmit(,{TunnelTable.LEARN_FROM_TUN})", segment.source,
                  f"{label} -> local VLAN {vlan}")]
    if segment.flood_to:
        outputs = ",".join(f'output:"{name}"' for name in segment.flood_to)
        flows.append(Flow(br, TunnelTable.FLOOD_TO_TUN, 1, f"dl_vlan={vlan}",
                          f"strip_vlan,{_set_tunnel(tunnel_id)},{outputs}", segment.source,
                          f"local VLAN {vlan} flooded as {label} to {', '.join(segment.flood_to)}"))
    return flows


def remote_port_flows_for(config: HostConfig, segment: TunnelSegment, port: Port, endpoint: Endpoint) -> list[Flow]:
    """A port on another host: its MAC straight to that host's tunnel, and (arp_responder) its IPv4
    addresses answered here, the reply sent back where the request came from."""
    br, vlan, source = config.tunnel_bridge, segment.local_vlan, f"port:{port.id}"
    flows = [Flow(br, TunnelTable.UCAST_TO_TUN, 2, f"dl_vlan={vlan},dl_dst={port.mac_address.lower()}",
                  f'strip_vlan,{_set_tunnel(segment.tunnel_id)},output:"{endpoint.port_name}"', source,
                  f"port {port.id} is on host {endpoint.host}")]
    if not config.arp_responder:
        return flows
    mac = port.mac_address.lower()
    for address in sorted({f.ip_address for f in port.fixed_ips if ":" not in f.ip_address}):
        flows.append(Flow(br, TunnelTable.ARP_RESPONDER, 1, f"arp,dl_vlan={vlan},arp_tpa={address}",
                          _arp_reply_actions(mac, address), source,
                          f"{address} is at {mac} (port {port.id} on host {endpoint.host})"))
    return flows


def _set_tunnel(tunnel_id: int) -> str:
    """The tunnel id to send with, as ovs-ofctl prints it back for flows sent in a bundle (OpenFlow 1.4 has no
    set_tunnel: it becomes a set-field of tun_id)."""
    return f"load:{tunnel_id:#x}->NXM_NX_TUN_ID[]"


def _arp_reply_actions(mac: str, address: str) -> str:
    """Turn the request into its reply in place (Neutron's install_arp_responder), as ovs-ofctl prints it."""
    mac_number = int(mac.replace(":", ""), 16)
    ip_number = int.from_bytes(bytes(int(part) for part in address.split(".")), "big")
    return ("move:NXM_OF_ETH_SRC[]->NXM_OF_ETH_DST[],"
            f"mod_dl_src:{mac},"
            "load:0x2->NXM_OF_ARP_OP[],"
            "move:NXM_NX_ARP_SHA[]->NXM_NX_ARP_THA[],"
            "move:NXM_OF_ARP_SPA[]->NXM_OF_ARP_TPA[],"
            f"load:{mac_number:#x}->NXM_NX_ARP_SHA[],"
            f"load:{ip_number:#x}->NXM_OF_ARP_SPA[],"
            "IN_PORT")
