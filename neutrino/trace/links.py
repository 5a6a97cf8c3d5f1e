"""A packet between two ports of one network, as the plan wires it (plan/l2.py, plan/flows.py): on one host
br-int switches it on the network's local VLAN; between hosts it leaves through the physical bridge of the
network's physnet, where the plan's flow turns the local VLAN into the provider VLAN (or strips it: flat),
crosses the fabric, and comes in by the mirror flow on the other host's br-int (a tunnelled network crosses
br-tun instead: trace/tunnels.py). A router gateway on the
external network bridge (the seed's br-ex) is untagged there, and reaches the physnet through the bridge's
patch link (an access port of the external network's VLAN on the physical bridge).
"""

from __future__ import annotations

from neutrino.model import names
from neutrino.model.host_config import HostConfig, PatchLink
from neutrino.model.resources import Network
from neutrino.plan import l2
from neutrino.plan.host_plan import Flow
from neutrino.trace import tunnels
from neutrino.trace.explain import label, network_ref, stop
from neutrino.trace.hosts import Attachment, Plans
from neutrino.trace.result import Element, Hop, Reason, Rewrite


def hops_between(plans: Plans, network: Network, origin: Attachment, target: Attachment, mac: str = "") -> list[Hop]:
    """``mac``: the destination port's (a tunnelled network's br-tun sends it by its MAC)."""
    if origin.host == target.host and origin.bridge == target.bridge:
        return [_switch_hop(network, origin, target)]
    if network.network_type in l2.TUNNELLED_TYPES and _integrated(plans, origin) and _integrated(plans, target):
        return tunnels.hops_between(plans, network, origin, target, mac)
    hops = exit_hops(plans, network, origin)
    if origin.host != target.host:
        hops.append(fabric_hop(network, origin.host, target.host))
    return hops + entry_hops(plans, network, target)


def exit_hops(plans: Plans, network: Network, origin: Attachment) -> list[Hop]:
    """From the port's bridge onto the network's physnet, out of the host."""
    config = plans.view(origin.host).config
    if origin.bridge != config.integration_bridge:
        return _external_bridge_exit(config, network, origin)
    inbound, outbound = _translation(plans, network, origin.host)
    vlan = str(origin.local_vlan)
    return [
        Hop(origin.host, Element.BRIDGE, origin.bridge, "table 0 -> 60 NORMAL",
            f"from {origin.device} on local VLAN {vlan} ({_words(network)}); out "
            f"{names.integration_patch_name(outbound.bridge)}", (Rewrite("vlan", "", vlan),), f"network:{network.id}"),
        Hop(origin.host, Element.BRIDGE, outbound.bridge, f"table {outbound.table} priority {outbound.priority}",
            f"{outbound.match} actions={outbound.actions}: {outbound.reason}",
            (Rewrite("vlan", vlan, _provider_vlan(network)),), outbound.source),
    ]


def entry_hops(plans: Plans, network: Network, target: Attachment) -> list[Hop]:
    """From the network's physnet into the host, to the port."""
    config = plans.view(target.host).config
    if target.bridge != config.integration_bridge:
        return _external_bridge_entry(config, network, target)
    inbound, outbound = _translation(plans, network, target.host)
    vlan, provider = str(target.local_vlan), _provider_vlan(network)
    return [
        Hop(target.host, Element.BRIDGE, outbound.bridge, "table 0 NORMAL",
            f"{_segment(network)} in from the uplink; out {names.physical_patch_name(outbound.bridge)}",
            source=f"network:{network.id}"),
        Hop(target.host, Element.BRIDGE, target.bridge, f"table {inbound.table} priority {inbound.priority}",
            f"{inbound.match} actions={inbound.actions}: {inbound.reason}", (Rewrite("vlan", provider, vlan),),
            inbound.source),
        Hop(target.host, Element.BRIDGE, target.bridge, "table 60 NORMAL", f"local VLAN {vlan}: out {target.device}",
            (Rewrite("vlan", vlan, ""),), f"network:{network.id}"),
    ]


def _integrated(plans: Plans, at: Attachment) -> bool:
    return at.bridge == plans.view(at.host).config.integration_bridge


def fabric_hop(network: Network, from_host: str, to_host: str) -> Hop:
    return Hop("", Element.FABRIC, network.physical_network or "", _segment(network),
               f"{from_host} -> {to_host}", source=f"network:{network.id}")


def _switch_hop(network: Network, origin: Attachment, target: Attachment) -> Hop:
    where = f"on local VLAN {origin.local_vlan} ({_words(network)})" if origin.local_vlan else "untagged"
    return Hop(origin.host, Element.BRIDGE, origin.bridge, "table 0 -> 60 NORMAL",
               f"from {origin.device} {where}: out {target.device}", source=f"network:{network.id}")


def _translation(plans: Plans, network: Network, host: str) -> tuple[Flow, Flow]:
    found = plans.translation_flows(host, network)
    if len(found) != 2:
        config = plans.view(host).config
        if network.physical_network not in config.bridge_mappings:
            raise stop(Reason.NO_BRIDGE_MAPPING,
                       f"network {label(network)} is on physnet {network.physical_network!r}, which has no bridge "
                       f"mapping on host {host}: add it to bridge_mappings in that host's agent configuration",
                       [network_ref(network)])
        raise stop(Reason.BINDING_FAILED, f"network {label(network)} has type {network.network_type!r}: "
                                          f"the agent on {host} does not wire it", [network_ref(network)])
    inbound, outbound = found
    return inbound, outbound


def _external_bridge_exit(config: HostConfig, network: Network, origin: Attachment) -> list[Hop]:
    hops = [Hop(origin.host, Element.BRIDGE, origin.bridge, "table 0 NORMAL",
                f"from {origin.device}, untagged (external_network_bridge)", source="config:external_network_bridge")]
    if config.bridge_mappings.get(network.physical_network or "") == origin.bridge:
        return hops  # the external bridge is the physnet's own bridge
    link, bridge, port, tag = _patch_of(config, network, origin)
    push = (Rewrite("vlan", "", str(tag)),) if tag else ()
    return hops + [Hop(origin.host, Element.BRIDGE, bridge, f"access port {port}",
                       f"patched from {origin.bridge}: VLAN {tag or 'untagged'} on the uplink", push,
                       f"config:patch_links.{link.port}")]


def _external_bridge_entry(config: HostConfig, network: Network, target: Attachment) -> list[Hop]:
    hops = [Hop(target.host, Element.BRIDGE, target.bridge, "table 0 NORMAL", f"untagged: out {target.device}",
                source="config:external_network_bridge")]
    if config.bridge_mappings.get(network.physical_network or "") == target.bridge:
        return hops
    link, bridge, port, tag = _patch_of(config, network, target)
    pop = (Rewrite("vlan", str(tag), ""),) if tag else ()
    return [Hop(target.host, Element.BRIDGE, bridge, f"access port {port}",
                f"VLAN {tag or 'untagged'} from the uplink: out {port} to {target.bridge}", pop,
                f"config:patch_links.{link.port}")] + hops


def _patch_of(config: HostConfig, network: Network, at: Attachment) -> tuple[PatchLink, str, str, int | None]:
    """The patch link joining the external bridge to a bridge of the physnet: (link, that bridge, its port
    there, the access VLAN of that port)."""
    for link in config.patch_links:
        if link.bridge == at.bridge:
            return link, link.peer_bridge, link.peer_port, link.peer_tag
        if link.peer_bridge == at.bridge:
            return link, link.bridge, link.port, link.tag
    raise stop(Reason.NO_BRIDGE_MAPPING, f"the external network bridge {at.bridge} on {at.host} is neither the "
                                         f"bridge of physnet {network.physical_network!r} nor patched into one",
               [network_ref(network)])


def _provider_vlan(network: Network) -> str:
    return str(network.segmentation_id) if network.network_type == "vlan" else ""


def _segment(network: Network) -> str:
    if network.network_type == "vlan":
        return f"provider VLAN {network.segmentation_id}"
    return "untagged (flat)"


def _words(network: Network) -> str:
    return f"network {network.name or network.id}"
