"""``neutrino topology --format dot|svg|png``: the Topology as a Graphviz graph (pure: the dot source only;
cli/topology.py runs ``dot``).

API objects and the host objects behind them, each node naming both: a network (with its segment and local
VLAN per host) and its subnets in a box; ports under their subnet, each labelled with its device, bridge,
local VLAN and host, and joined to that host's bridge; instances behind their ports; routers with their
namespace and host, joined to their legs' ports; floating IPs pointing at the port they translate to; each
host a box of its bridges (patched to each other, the physical ones to their physnet) and namespaces.

A trace is drawn over it: the nodes its hops pass through, in order, joined by numbered red edges; the
deciding hop (where the packet stopped, or was delivered) filled red or green, with the verdict beside it.
"""

from __future__ import annotations

from neutrino.cli.topology_view import NetworkNode, PortNode, RouterNode, Topology, Wiring
from neutrino.trace.result import Element, Hop, Trace

COLOURS = {"ACTIVE": "#d8f5d0", "DOWN": "#fff1b8", "BUILD": "#d0eef5", "ERROR": "#f8c8c8"}
TRACE = "#d62728"
DELIVERED = "#2ca02c"


def quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _node(node_id: str, label: str, **attrs: str) -> str:
    extra = "".join(f", {key}={quote(value)}" for key, value in attrs.items())
    return f"  {quote(node_id)} [label={quote(label)}{extra}];"


def _edge(tail: str, head: str, **attrs: str) -> str:
    extra = ", ".join(f"{key}={quote(value)}" for key, value in attrs.items())
    return f"  {quote(tail)} -> {quote(head)}" + (f" [{extra}];" if extra else ";")


def dot_source(topology: Topology, trace: Trace | None = None) -> str:
    lines = ["digraph neutrino {", "  rankdir=LR; newrank=true; compound=true;",
             '  node [shape=box, style="rounded,filled", fillcolor="white", fontname="Helvetica", fontsize=10];',
             '  edge [fontname="Helvetica", fontsize=9, color="#777777"];',
             f"  label={quote(f'neutrino topology at revision {topology.revision}')}; labelloc=t;"]
    physnets: set[str] = set()
    for host in topology.hosts:
        lines += _host_cluster(host, physnets)
    for network in topology.networks:
        lines += _network_cluster(network)
    for router in topology.routers:
        lines += _router(router)
    for fip in topology.floating_ips:
        label = f"floating IP {fip.address}\n{fip.status}"
        lines.append(_node(f"fip:{fip.id}", label, shape="note", fillcolor="#f3e0f7"))
        target = f"port:{fip.port_id}" if fip.port_id else f"network:{fip.network_id}"
        lines.append(_edge(f"fip:{fip.id}", target, label=f"DNAT to {fip.fixed_ip}" if fip.fixed_ip else "",
                           color="#9467bd", style="solid" if fip.port_id else "dotted"))
        if fip.router_id:
            lines.append(_edge(f"router:{fip.router_id}", f"fip:{fip.id}", style="dotted", arrowhead="none"))
    for physnet in sorted(physnets):
        lines.append(_node(f"physnet:{physnet}", f"physnet {physnet}\n(the wire)", shape="cylinder",
                           fillcolor="#eeeeee"))
    if trace is not None:
        lines += _trace_overlay(topology, trace)
    return "\n".join(lines + ["}"]) + "\n"


def _host_cluster(host, physnets: set[str]) -> list[str]:
    lines = [f"  subgraph {quote('cluster_host_' + host.name)} {{",
             f"    label={quote('host ' + host.name)}; style=dashed; color=\"#999999\";"]
    for bridge in host.bridges:
        physnets.update(_physnets(bridge.what))
        lines.append("  " + _node(f"bridge:{host.name}:{bridge.name}", f"{bridge.name}\n{bridge.what}",
                                  shape="box3d", fillcolor="#e8eefc"))
    for namespace, what in host.namespaces:
        lines.append("  " + _node(f"ns:{host.name}:{namespace}", f"{namespace}\n{what}", shape="component",
                                  fillcolor="#fdf3e1"))
    lines.append("  }")
    for bridge in host.bridges:
        for port in bridge.ports:
            if port.source.startswith("patch:") and bridge.name < _peer_bridge(host, port.source[6:], bridge.name):
                peer = _peer_bridge(host, port.source[6:], bridge.name)
                lines.append(_edge(f"bridge:{host.name}:{bridge.name}", f"bridge:{host.name}:{peer}",
                                   label=f"{port.name} / {port.source[6:]}", dir="none"))
            elif port.source == "uplink":
                for physnet in _physnets(bridge.what):
                    lines.append(_edge(f"bridge:{host.name}:{bridge.name}", f"physnet:{physnet}",
                                       label=f"uplink {port.name}", dir="none"))
    return lines


def _peer_bridge(host, peer_port: str, this: str) -> str:
    for bridge in host.bridges:
        if bridge.name != this and any(p.name == peer_port for p in bridge.ports):
            return bridge.name
    return this


def _network_cluster(network: NetworkNode) -> list[str]:
    vlans = "\n".join(f"local VLAN {vlan} on {host}" for host, vlan in network.local_vlans)
    label = f"network {network.name or network.id}\n{network.segment}{', external' if network.external else ''}"
    lines = [f"  subgraph {quote('cluster_network_' + network.id)} {{", "    label=\"\"; style=invis;",
             "  " + _node(f"network:{network.id}", label + (f"\n{vlans}" if vlans else ""), shape="ellipse",
                          fillcolor="#dff0f7" if not network.external else "#fde2c8")]
    for subnet in network.subnets:
        text = f"subnet {subnet.name}\n{subnet.cidr}\ngateway {subnet.gateway_ip or 'none'}" \
               f"{', DHCP' if subnet.enable_dhcp else ''}"
        lines.append("  " + _node(f"subnet:{subnet.id}", text, shape="folder", fillcolor="#eef7fb"))
    lines.append("  }")
    for subnet in network.subnets:
        lines.append(_edge(f"network:{network.id}", f"subnet:{subnet.id}", arrowhead="none"))
        for port in subnet.ports:
            lines += _port(port, f"subnet:{subnet.id}")
    for port in network.other_ports:
        lines += _port(port, f"network:{network.id}")
    return lines


def _port(port: PortNode, parent: str) -> list[str]:
    text = f"port {port.label}\n{', '.join(port.fixed_ips) or 'no address'}  {port.status}"
    if port.wiring is not None:
        text += "\n" + _wiring_label(port.wiring)
    lines = [_node(f"port:{port.id}", text, fillcolor=COLOURS.get(port.status, "white")),
             _edge(parent, f"port:{port.id}", arrowhead="none")]
    wiring = port.wiring
    if wiring is not None and wiring.device and wiring.bridge:
        lines.append(_edge(f"port:{port.id}", f"bridge:{wiring.host}:{wiring.bridge}", style="dashed",
                           arrowhead="none", label=wiring.device))
    if port.role == "instance" and port.instance:
        lines.append(_node(f"instance:{port.id}", f"instance {port.instance}", shape="box3d", fillcolor="#f0f0f0"))
        lines.append(_edge(f"instance:{port.id}", f"port:{port.id}", arrowhead="none", label="eth0"))
    if port.role in ("router_interface", "router_gateway", "dhcp") and wiring is not None and wiring.namespace:
        lines.append(_edge(f"port:{port.id}", f"ns:{wiring.host}:{wiring.namespace}", style="dotted",
                           arrowhead="none"))
    return lines


def _wiring_label(wiring: Wiring) -> str:
    if wiring.device is None:
        return f"not wired on {wiring.host}"
    vlan = f"VLAN {wiring.local_vlan}" if wiring.local_vlan is not None else "untagged"
    return f"{wiring.device} on {wiring.bridge} {vlan}\n@ {wiring.host}"


def _router(router: RouterNode) -> list[str]:
    where = f"on {router.host}\n{router.namespace}" if router.namespace else \
        (f"on {router.host}" if router.host else "hosted nowhere (no L3 agent)")
    snat = f"\ngateway on {router.gateway_network}{', SNAT' if router.enable_snat else ''}" \
        if router.gateway_network else ""
    lines = [_node(f"router:{router.id}", f"router {router.name or router.id}\n{where}{snat}", shape="octagon",
                   fillcolor=COLOURS.get(router.status, "white") if router.admin_state_up else "#dddddd")]
    for leg in router.legs:
        lines.append(_edge(f"router:{router.id}", f"port:{leg.port_id}", arrowhead="none",
                           label=f"{leg.device}\n{', '.join(leg.addresses)}"))
    if router.namespace:
        lines.append(_edge(f"router:{router.id}", f"ns:{router.host}:{router.namespace}", style="dotted",
                           arrowhead="none"))
    return lines


# --- a trace over the picture ---

def node_for_hop(hop: Hop, known: set[str]) -> str | None:
    """The node a hop passes through, or None when the picture has none for it (a firewall's rule)."""
    if hop.element in (Element.PORT, Element.FIREWALL):
        node = hop.source if hop.source.startswith("port:") else None
    elif hop.element is Element.NAMESPACE:
        node = "router:" + hop.name.removeprefix("qrouter-") if hop.name.startswith("qrouter-") else None
    elif hop.element is Element.BRIDGE:
        node = f"bridge:{hop.host}:{hop.name}"
    elif hop.element is Element.FABRIC:
        node = f"physnet:{hop.name}"
    else:
        node = "outside"
    return node if node in known else None


def _cited(hop: Hop) -> str | None:
    """A floating IP or port a hop cites, to outline beside the path."""
    kind, _, object_id = hop.source.partition(":")
    return {"floatingip": f"fip:{object_id}", "port": f"port:{object_id}"}.get(kind)


def _trace_overlay(topology: Topology, trace: Trace) -> list[str]:
    known = _node_ids(topology) | {"outside"}
    path: list[str] = []
    for hop in trace.hops:
        node = node_for_hop(hop, known)
        if node is not None and (not path or path[-1] != node):
            path.append(node)
    cited = {_cited(hop) for hop in trace.hops} & known
    cited |= {f"{'fip' if o.type == 'floatingip' else o.type}:{o.id}" for o in trace.verdict.objects} & known
    lines = []
    if "outside" in path:
        outside = next(h.name for h in trace.hops if h.element is Element.OUTSIDE)
        lines.append(_node("outside", f"outside\n{outside}", shape="doublecircle", fillcolor="#eeeeee"))
    for node in sorted((set(path[:-1]) | cited) - set(path[-1:])):
        lines.append(f"  {quote(node)} [color={quote(TRACE)}, penwidth=3];")
    if path:
        delivered = trace.verdict.delivered
        lines.append(f"  {quote(path[-1])} [color={quote(TRACE if not delivered else DELIVERED)}, penwidth=4, "
                     f"fillcolor={quote('#f8c8c8' if not delivered else '#c8f0c8')}, "
                     f"xlabel={quote(('✗ ' if not delivered else '✓ ') + trace.verdict.message)}];")
    for index, (tail, head) in enumerate(zip(path, path[1:], strict=False), start=1):
        lines.append(_edge(tail, head, color=TRACE, penwidth="2.5", label=str(index), fontcolor=TRACE,
                           constraint="false"))
    return lines


def _node_ids(topology: Topology) -> set[str]:
    ids = {f"network:{n.id}" for n in topology.networks}
    ids |= {f"port:{p.id}" for n in topology.networks for s in n.subnets for p in s.ports}
    ids |= {f"port:{p.id}" for n in topology.networks for p in n.other_ports}
    ids |= {f"router:{r.id}" for r in topology.routers} | {f"fip:{f.id}" for f in topology.floating_ips}
    ids |= {f"bridge:{h.name}:{b.name}" for h in topology.hosts for b in h.bridges}
    ids |= {f"physnet:{physnet}" for h in topology.hosts for b in h.bridges for physnet in _physnets(b.what)}
    return ids


def _physnets(what: str) -> list[str]:
    """The physnets of a physical bridge, from the plan's words for it ("physical bridge of physnet1")."""
    return what.split("physical bridge of ", 1)[1].split(", ") if "physical bridge of " in what else []
