"""What the tunnel host test and bench/tunnels.py both build: hosts that tunnel from an endpoint address on
their physical bridge, tunnelled provider networks, and a look at a host's tunnel ports."""

from __future__ import annotations

UNDERLAY = "198.51.100.{}"  # the hosts' tunnel endpoints, untagged on the fabric (TEST-NET-2)


def tunnel_host(address: str, types: tuple[str, ...] = ("vxlan", "gre"), arp_responder: bool = False) -> str:
    """A host with br-phys on eth1 for physnet1, tunnelling ``types`` from ``address`` (/24) on br-phys."""
    return f"""\
[host]
integration_bridge = "br-int"
bridge_mappings = {{ physnet1 = "br-phys" }}
tunnel_types = [{", ".join(f'"{t}"' for t in types)}]
tunnel_ip = "{address}/24"
tunnel_ip_bridge = "br-phys"
arp_responder = {"true" if arp_responder else "false"}

[host.bridges.br-phys]
uplinks = ["eth1"]
"""


def tunnel_network(cloud, name: str, network_type: str, segmentation_id: int, cidr: str) -> dict:
    """A VXLAN or GRE provider network with one IPv4 subnet (no gateway, no DHCP: instances are static)."""
    return cloud.create_network(name, cidr=cidr, **{"provider:network_type": network_type,
                                                    "provider:physical_network": None,
                                                    "provider:segmentation_id": segmentation_id})


def tunnel_ports(host) -> set[str]:
    """The host's tunnel ports on br-tun (vxlan-<remote hex>, gre-<remote hex>)."""
    return {p for p in host.vsctl("list-ports", "br-tun").split() if p.startswith(("vxlan-", "gre-"))}
