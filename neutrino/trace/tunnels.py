"""A packet between two hosts over a tunnelled network (VXLAN, GRE), as plan/tunnels.py wires br-tun: out of
br-int by patch-tun on the network's local VLAN; br-tun table 0 -> 2 -> 20 strips the VLAN, sets the tunnel id
(VNI or GRE key) and outputs it to the tunnel of the host holding the destination's MAC (its ARP request was
flooded by table 22 to the tunnels of the network's other hosts); encapsulated across the underlay from one
endpoint address to the other; on the remote br-tun table 0 by its tunnel port -> 3 (GRE) / 4 (VXLAN): tunnel
id -> local VLAN -> 10 (learn) -> patch-int; br-int switches it to the port.

Both hosts need a tunnel port to the other (each host's endpoints come from the other's agent report): a
missing one stops the packet with ``no-tunnel-endpoint`` and the configuration that fixes it.
"""

from __future__ import annotations

from neutrino.model import names
from neutrino.model.resources import Agent, Network
from neutrino.plan.host_plan import Flow, TunnelPort
from neutrino.plan.tables import TUNNEL_TABLE_OF_TYPE, TunnelTable
from neutrino.trace.explain import Stop, agent_ref, label, network_ref, stop
from neutrino.trace.hosts import Attachment, Plans, TunnelView
from neutrino.trace.result import Element, Hop, Reason, Rewrite

OVS_AGENT = "Open vSwitch agent"
ID_WORD = {"vxlan": "VNI", "gre": "key"}
CARRIER = {"vxlan": "UDP port 4789", "gre": "IP protocol 47"}


def encapsulation(network: Network) -> str:
    """'VXLAN VNI 1000', 'GRE key 1000'."""
    return f"{network.network_type.upper()} {ID_WORD[network.network_type]} {network.segmentation_id}"


def hops_between(plans: Plans, network: Network, origin: Attachment, target: Attachment, mac: str) -> list[Hop]:
    """``origin`` and ``target`` on br-int of two hosts; ``mac``: the destination port's MAC."""
    out, back = plans.tunnels(origin.host), plans.tunnels(target.host)
    tunnel = out.tunnel_to(target.host, network.network_type)
    returning = back.tunnel_to(origin.host, network.network_type)
    if tunnel is None:
        raise no_tunnel_endpoint(plans, network, origin.host, target.host)
    if returning is None:
        raise no_tunnel_endpoint(plans, network, target.host, origin.host)
    if network.id not in out.segments or network.id not in back.segments:
        host = origin.host if network.id not in out.segments else target.host
        raise stop(Reason.BINDING_FAILED, f"network {label(network)} ({encapsulation(network)}) is not carried by "
                                          f"br-tun on {host}", [network_ref(network)])
    return [*_exit_hops(out, network, origin, tunnel, mac), _fabric_hop(network, origin, target, tunnel),
            *_entry_hops(back, network, target, returning)]


def _exit_hops(view: TunnelView, network: Network, origin: Attachment, tunnel: TunnelPort, mac: str) -> list[Hop]:
    segment = view.segments[network.id]
    vlan, sealed = str(segment.local_vlan), encapsulation(network)
    unicast = _flow(view, TunnelTable.UCAST_TO_TUN, f"dl_vlan={segment.local_vlan},dl_dst={mac.lower()}")
    flood = _flow(view, TunnelTable.FLOOD_TO_TUN, f"dl_vlan={segment.local_vlan}")
    flooded = f"; its ARP request is flooded by table 22 to {', '.join(segment.flood_to)}" if flood else ""
    flow = unicast or flood
    if flow is None:  # the plan floods every network it has tunnels for
        raise AssertionError(f"br-tun of {origin.host} has no way out for local VLAN {vlan}")
    # the stage names the flow that outputs it (``trace --live`` counts its packets); the way there is words
    path = "table 0 -> 2 -> 20" if unicast is not None else "table 0 -> 2 -> 20 -> 22 (an unknown MAC)"
    stage = f"table {flow.table} priority {flow.priority}"
    hops = [Hop(origin.host, Element.BRIDGE, _integration(origin), "table 0 -> 60 NORMAL",
                f"from {origin.device} on local VLAN {vlan} ({_words(network)}); out {names.INTEGRATION_TUNNEL_PATCH}",
                (Rewrite("vlan", "", vlan),), f"network:{network.id}")]
    hops.append(Hop(origin.host, Element.BRIDGE, view.bridge, stage,
                    f"in_port={names.TUNNEL_INTEGRATION_PATCH} by {path}: {flow.match} actions={flow.actions}: "
                    f"{flow.reason}; "
                    f"out {tunnel.name} ({tunnel.local_ip} -> {tunnel.remote_ip}){flooded}",
                    (Rewrite("vlan", vlan, ""), Rewrite("tunnel", "", sealed)), flow.source))
    return hops


def _fabric_hop(network: Network, origin: Attachment, target: Attachment, tunnel: TunnelPort) -> Hop:
    return Hop("", Element.FABRIC, "underlay", encapsulation(network),
               f"{origin.host} {tunnel.local_ip} -> {target.host} {tunnel.remote_ip} "
               f"({CARRIER[network.network_type]}, tunnel {tunnel.name})", source=tunnel.source)


def _entry_hops(view: TunnelView, network: Network, target: Attachment, returning: TunnelPort) -> list[Hop]:
    segment = view.segments[network.id]
    vlan, sealed = str(segment.local_vlan), encapsulation(network)
    table = TUNNEL_TABLE_OF_TYPE[network.network_type]
    dispatch = _flow(view, TunnelTable.DISPATCH, f"in_port={returning.name}")
    decap = _flow(view, table, f"tun_id={segment.tunnel_id:#x}")
    learn = next(iter(view.flows_in(TunnelTable.LEARN_FROM_TUN)), None)
    if dispatch is None or decap is None or learn is None:  # the plan makes them with the tunnel and segment
        raise AssertionError(f"br-tun on {target.host} lacks the flows of {returning.name} / {sealed}")
    return [
        Hop(target.host, Element.BRIDGE, view.bridge, f"table 0 priority {dispatch.priority}",
            f"{dispatch.match} actions={dispatch.actions}: {dispatch.reason}", source=dispatch.source),
        Hop(target.host, Element.BRIDGE, view.bridge, f"table {int(table)} priority {decap.priority}",
            f"{decap.match} actions={decap.actions}: {decap.reason}",
            (Rewrite("tunnel", sealed, ""), Rewrite("vlan", "", vlan)), decap.source),
        Hop(target.host, Element.BRIDGE, view.bridge, f"table {int(TunnelTable.LEARN_FROM_TUN)} priority {learn.priority}",
            f"{learn.reason}; out {names.TUNNEL_INTEGRATION_PATCH}", source=learn.source),
        Hop(target.host, Element.BRIDGE, _integration(target), "table 0 -> 60 NORMAL",
            f"in from {names.INTEGRATION_TUNNEL_PATCH} on local VLAN {vlan}: out {target.device}",
            (Rewrite("vlan", vlan, ""),), f"network:{network.id}"),
    ]


def no_tunnel_endpoint(plans: Plans, network: Network, host: str, remote: str) -> Stop:
    """``host`` has no tunnel of the network's type to ``remote``: say what ``remote``'s agent reports."""
    kind = network.network_type
    agents = sorted((a for a in plans.state.agents.values() if a.host == remote and a.agent_type == OVS_AGENT),
                    key=lambda a: a.id)
    why = _why_no_endpoint(plans, agents, kind, host, remote)
    fix = (f"on host {remote}: set tunnel_types to include \"{kind}\" and tunnel_ip to its endpoint address in the "
           "[host] section of its agent configuration, then restart its agent (neutrino agent --config "
           "<agent.toml>)")
    return stop(Reason.NO_TUNNEL_ENDPOINT,
                f"network {label(network)} is {encapsulation(network)}, but host {host} has no {kind} tunnel to "
                f"host {remote}: {why}", [network_ref(network), *map(agent_ref, agents)], [fix])


def _why_no_endpoint(plans: Plans, agents: list[Agent], kind: str, host: str, remote: str) -> str:
    if not agents:
        return f"no Open vSwitch agent of {remote} is registered"
    agent = agents[0]
    config = plans.hosts.get(host)
    if not agent.tunneling_ip:
        return f"the Open vSwitch agent on {remote} reports no tunneling_ip"
    if kind not in agent.tunnel_types:
        return (f"the Open vSwitch agent on {remote} reports tunnel_types {list(agent.tunnel_types)}, without "
                f"{kind}")
    if config is not None and agent.tunneling_ip == config.tunnel_ip:
        return f"the agents on {host} and {remote} report the same tunneling_ip {agent.tunneling_ip}"
    return f"its endpoint {agent.tunneling_ip} is taken by another host's agent"


def _flow(view: TunnelView, table: int, match: str) -> Flow | None:
    return next((flow for flow in view.flows_in(table) if flow.match == match), None)


def _integration(at: Attachment) -> str:
    return at.bridge


def _words(network: Network) -> str:
    return f"network {network.name or network.id}"
