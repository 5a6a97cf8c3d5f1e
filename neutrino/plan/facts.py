"""What the plan needs from the host that the API cannot tell: plugged ports and kept local VLANs."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PluggedPort:
    """An OVS port whose Interface names an API port in ``external_ids:iface-id`` (as Nova/os-vif plug)."""

    name: str
    bridge: str
    iface_id: str
    mac: str | None = None
    ofport: int | None = None
    # The network and local VLAN this port carried before (Port other_config), if any.
    net_uuid: str | None = None
    local_vlan: int | None = None
    owned: bool = False  # a leg neutrino plugs itself (a DHCP tap, a router's qr-/qg-), not a hypervisor's port


@dataclass(frozen=True)
class HostFacts:
    plugged: tuple[PluggedPort, ...] = ()
    kernel_has_ovs: bool = False
    # API port id -> the conntrack zone its iptables_hybrid rules use now (raw table ``-j CT --zone N``,
    # comment "Set zone for <port id>"), so a restarted agent renumbers no live port's connections.
    conntrack_zones: tuple[tuple[str, int], ...] = ()

    @property
    def by_iface_id(self) -> dict[str, PluggedPort]:
        return {port.iface_id: port for port in self.plugged}

    @property
    def remembered_vlans(self) -> dict[str, int]:
        """network id -> local VLAN, as recorded on the ports that are still plugged."""
        out: dict[str, int] = {}
        for port in self.plugged:
            if port.net_uuid and port.local_vlan:
                out.setdefault(port.net_uuid, port.local_vlan)
        return out


EMPTY = HostFacts(plugged=(), kernel_has_ovs=False)
