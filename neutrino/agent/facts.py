"""Reads what the plan needs from the host: the ports plugged into br-int with an iface-id (as
Nova/os-vif and ``neutrino plug`` plug them, and the legs neutrino plugs itself, marked ``owned``), the
local VLAN each one carried before, and (iptables_hybrid) the conntrack zone each port's raw rules set,
so a restarted agent renumbers neither."""

from __future__ import annotations

from neutrino.model.host_config import HostConfig
from neutrino.plan.facts import HostFacts, PluggedPort
from neutrino.realize.ovsdb import ObservedOvs


def facts_from(observed: ObservedOvs, config: HostConfig, conntrack_zones: dict[str, int] | None = None
               ) -> HostFacts:
    """``conntrack_zones``: port id -> zone, as ``ObservedFilter.conntrack_zones`` reads them back."""
    plugged = []
    for port in observed.ports.values():
        ids = dict(port.iface_external_ids)
        if port.bridge != config.integration_bridge or "iface-id" not in ids:
            continue
        other = dict(port.other_config)
        tag = other.get("tag", "")
        plugged.append(PluggedPort(
            name=port.name, bridge=port.bridge, iface_id=ids["iface-id"],
            mac=ids.get("attached-mac") or port.mac_in_use, ofport=port.ofport,
            net_uuid=other.get("net_uuid") or None, local_vlan=int(tag) if tag.isdigit() else None,
            owned=port.owned,
        ))
    plugged.sort(key=lambda p: p.name)
    return HostFacts(plugged=tuple(plugged), conntrack_zones=tuple(sorted((conntrack_zones or {}).items())))
