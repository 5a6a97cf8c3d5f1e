"""OpenFlow on br-int and the physical bridges: local VLAN <-> provider VLAN, exactly where Neutron
puts it (in on br-int from int-br-X, out on the physical bridge from phy-br-X), drops for stray
traffic and parked ports, and plain NORMAL switching on local tags."""

from __future__ import annotations

from neutrino.model import names
from neutrino.model.host_config import HostConfig
from neutrino.model.resources import Network
from neutrino.plan.host_plan import Flow
from neutrino.plan.tables import DEAD_VLAN, Priority, Table


def integration_defaults_for(config: HostConfig) -> list[Flow]:
    br = config.integration_bridge
    flows = [
        Flow(br, Table.LOCAL_SWITCHING, Priority.DEAD_VLAN, f"dl_vlan={DEAD_VLAN}", "drop",
             "dead-vlan", "VLAN 4095 is the dead VLAN: parked ports' traffic is dropped"),
        Flow(br, Table.LOCAL_SWITCHING, Priority.DEFAULT, "", f"resubmit(,{Table.TRANSIENT})",
             "default", "everything else is switched on its local VLAN"),
        Flow(br, Table.CANARY, Priority.DEFAULT, "", "drop", "canary",
             "canary: if this flow is gone, ovs-vswitchd restarted"),
        Flow(br, Table.TRANSIENT, Priority.NORMAL, "", "NORMAL", "default", "MAC learning within each local VLAN"),
    ]
    for bridge in config.mapped_bridges:
        flows.append(Flow(br, Table.LOCAL_SWITCHING, Priority.DROP_PORT,
                          f"in_port={names.integration_patch_name(bridge.name)}", "drop",
                          f"config:bridges.{bridge.name}", "frames from the physical bridge of no network here"))
    return flows


def physical_defaults_for(config: HostConfig) -> list[Flow]:
    flows = []
    for bridge in config.mapped_bridges:
        flows.append(Flow(bridge.name, Table.LOCAL_SWITCHING, Priority.DEFAULT, "", "NORMAL",
                          f"config:bridges.{bridge.name}", "the physical bridge switches normally"))
        flows.append(Flow(bridge.name, Table.LOCAL_SWITCHING, Priority.DROP_PORT,
                          f"in_port={names.physical_patch_name(bridge.name)}", "drop",
                          f"config:bridges.{bridge.name}", "frames from br-int of no network here"))
    for name in config.extra_bridges:
        flows.append(Flow(name, Table.LOCAL_SWITCHING, Priority.DEFAULT, "", "NORMAL",
                          f"config:extra_bridges.{name}", "an extra bridge switches normally"))
    return flows


def translation_flows_for(network: Network, local_vlan: int, config: HostConfig) -> list[Flow]:
    """The pair of flows carrying one network between its local VLAN and its physnet."""
    bridge = config.bridge_mappings.get(network.physical_network or "")
    if bridge is None:
        return []
    int_patch, phy_patch = names.integration_patch_name(bridge), names.physical_patch_name(bridge)
    source = f"network:{network.id}"
    label = network.name or network.id
    if network.network_type == "vlan":
        vid = network.segmentation_id
        return [
            Flow(config.integration_bridge, Table.LOCAL_SWITCHING, Priority.TRANSLATE_IN,
                 f"in_port={int_patch},dl_vlan={vid}", f"mod_vlan_vid:{local_vlan},resubmit(,{Table.TRANSIENT})",
                 source, f"{label}: provider VLAN {vid} on {network.physical_network} -> local VLAN {local_vlan}"),
            Flow(bridge, Table.LOCAL_SWITCHING, Priority.TRANSLATE_OUT,
                 f"in_port={phy_patch},dl_vlan={local_vlan}", f"mod_vlan_vid:{vid},NORMAL",
                 source, f"{label}: local VLAN {local_vlan} -> provider VLAN {vid} on {network.physical_network}"),
        ]
    if network.network_type == "flat":
        return [
            Flow(config.integration_bridge, Table.LOCAL_SWITCHING, Priority.TRANSLATE_IN,
                 f"in_port={int_patch},vlan_tci=0x0000/0x1fff",
                 f"mod_vlan_vid:{local_vlan},resubmit(,{Table.TRANSIENT})",
                 source, f"{label}: untagged on {network.physical_network} -> local VLAN {local_vlan}"),
            Flow(bridge, Table.LOCAL_SWITCHING, Priority.TRANSLATE_OUT,
                 f"in_port={phy_patch},dl_vlan={local_vlan}", "strip_vlan,NORMAL",
                 source, f"{label}: local VLAN {local_vlan} -> untagged on {network.physical_network}"),
        ]
    return []


def parked_port_flows_for(config: HostConfig, parked: dict[str, str]) -> list[Flow]:
    return [Flow(config.integration_bridge, Table.LOCAL_SWITCHING, Priority.DROP_PORT, f"in_port={name}", "drop",
                 f"device:{name}", f"parked: {reason}") for name, reason in sorted(parked.items())]
