"""Every device, bridge, namespace and chain name neutrino creates comes from here.

| prefix        | what                                                      | where it lives                 |
|---------------|-----------------------------------------------------------|--------------------------------|
| ``tap``       | an instance's (VM's) port, or a DHCP port                 | br-int (instance), qdhcp- ns   |
| ``qbr``       | the hybrid plug's Linux bridge (iptables firewall)        | host                           |
| ``qvb``       | veth end in qbr                                           | host, in qbr                   |
| ``qvo``       | veth end on br-int, tagged with the local VLAN            | br-int                         |
| ``qr-``       | a router's interface on a tenant subnet                   | qrouter- ns, on br-int         |
| ``qg-``       | a router's gateway port on the external network           | qrouter- ns, on br-int / br-ex |
| ``int-``      | patch port on br-int towards a physical bridge            | br-int                         |
| ``phy-``      | patch port on a physical bridge towards br-int            | br-<physnet>                   |
| ``patch-tun`` | patch port on br-int towards the tunnel bridge            | br-int                         |
| ``patch-int`` | patch port on the tunnel bridge towards br-int            | br-tun                         |
| ``vxlan-``    | a VXLAN tunnel port; then the remote IPv4 in 8 hex digits | br-tun                         |
| ``gre-``      | a GRE tunnel port, named likewise (``gre-c6336402``)      | br-tun                         |
| ``qrouter-``  | a router's namespace (full router id)                     | host                           |
| ``qdhcp-``    | a network's DHCP namespace (full network id)              | host                           |

Port-derived names are the prefix plus the first 11 characters of the port id (14 characters, as
Neutron and os-vif do; Linux allows 15). Names built from a bridge name that would pass 15
characters are cut and suffixed with a short hash, as neutron-lib does.
"""

from __future__ import annotations

import hashlib
import ipaddress

DEVICE_NAME_MAX = 15  # Linux IFNAMSIZ - 1
PORT_ID_CHARS = 11
HASH_CHARS = 6


def _port_device(prefix: str, port_id: str) -> str:
    return prefix + port_id[:PORT_ID_CHARS]


def tap_name(port_id: str) -> str:
    return _port_device("tap", port_id)


def hybrid_bridge_name(port_id: str) -> str:
    return _port_device("qbr", port_id)


def hybrid_bridge_veth_name(port_id: str) -> str:
    return _port_device("qvb", port_id)


def hybrid_ovs_veth_name(port_id: str) -> str:
    return _port_device("qvo", port_id)


def router_port_name(port_id: str) -> str:
    return _port_device("qr-", port_id)


def gateway_port_name(port_id: str) -> str:
    return _port_device("qg-", port_id)


def fit_device_name(prefix: str, name: str) -> str:
    """``prefix + name`` if it fits 15 characters, else cut and made unique with a SHA-1 suffix."""
    full = prefix + name
    if len(full) <= DEVICE_NAME_MAX:
        return full
    digest = hashlib.sha1(name.encode()).hexdigest()[:HASH_CHARS]
    return (prefix + name)[: DEVICE_NAME_MAX - HASH_CHARS] + digest


def integration_patch_name(physical_bridge: str) -> str:
    """br-int's patch port towards a physical bridge: ``int-br-bond0``."""
    return fit_device_name("int-", physical_bridge)


def physical_patch_name(physical_bridge: str) -> str:
    """The physical bridge's patch port towards br-int: ``phy-br-bond0``."""
    return fit_device_name("phy-", physical_bridge)


INTEGRATION_TUNNEL_PATCH = "patch-tun"  # Neutron's int_peer_patch_port
TUNNEL_INTEGRATION_PATCH = "patch-int"  # Neutron's tun_peer_patch_port


def tunnel_port_name(network_type: str, remote_ip: str) -> str:
    """``vxlan-c6336402`` for 198.51.100.2: the type, then the remote IPv4 address as 8 hex digits (Neutron's
    get_tunnel_name), so each host names its tunnel to one endpoint alike."""
    return f"{network_type}-{int(ipaddress.IPv4Address(remote_ip)):08x}"


def router_namespace(router_id: str) -> str:
    return "qrouter-" + router_id


def dhcp_namespace(network_id: str) -> str:
    return "qdhcp-" + network_id


def port_id_prefix(device_name: str) -> str | None:
    """The 11-character port id prefix a port-derived device name carries, or None."""
    for prefix in ("tap", "qvo", "qvb", "qbr", "qr-", "qg-"):
        if device_name.startswith(prefix) and len(device_name) == len(prefix) + PORT_ID_CHARS:
            return device_name[len(prefix):]
    return None
