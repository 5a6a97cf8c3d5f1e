"""The seed memo's compute node as literal inputs, shared by the plan and realizer tests.

br-int; br-bond0 for physnet1, uplinked by bond0 (p1p1 + p1p2); br-ex patched into br-bond0 as an
access port on VLAN 201 (patch-bond0 <-> patch-ex).
"""

from __future__ import annotations

from dataclasses import replace

from neutrino.model import names
from neutrino.model.host_config import HostConfig, PatchLink, PhysicalBridge
from neutrino.model.resources import Network, Port
from neutrino.model.state import ApiState
from neutrino.plan.facts import HostFacts, PluggedPort

HOST = "compute1"
SEED = HostConfig(
    host=HOST,
    bridge_mappings={"physnet1": "br-bond0"},
    physical_bridges=(PhysicalBridge("br-bond0", ("p1p1", "p1p2"), bond="bond0"),),
    extra_bridges=("br-ex",),
    patch_links=(PatchLink("br-ex", "patch-bond0", "br-bond0", "patch-ex", peer_tag=201),),
    firewall_driver="openvswitch",  # Neutron's default; its flows have their own tests (test_*firewall*.py)
)
# For the tests that list every flow of a bridge: the L2 layer alone, without the firewall's ~50 flows
# per port (driver noop leaves table 60 plain NORMAL).
SEED_L2 = replace(SEED, firewall_driver="noop")


def vlan_network(network_id: str, vid: int, physnet: str = "physnet1", **attrs) -> Network:
    return Network(network_id, name=network_id, network_type="vlan", physical_network=physnet,
                   segmentation_id=vid, **attrs)


def flat_network(network_id: str, physnet: str = "physnet1", **attrs) -> Network:
    return Network(network_id, name=network_id, network_type="flat", physical_network=physnet, **attrs)


def port(port_id: str, network_id: str, host: str = HOST, **attrs) -> Port:
    return Port(port_id, network_id, mac_of(port_id), host_id=host, **attrs)


def mac_of(port_id: str) -> str:
    return f"fa:16:3e:00:00:{sum(port_id.encode()) % 256:02x}"


def api(networks=(), ports=()) -> ApiState:
    return ApiState(revision=1, networks={n.id: n for n in networks}, ports={p.id: p for p in ports})


def tap(port_id: str) -> str:
    return names.tap_name(port_id)


def plugged(port_id: str, net_uuid: str | None = None, local_vlan: int | None = None,
            bridge: str = "br-int") -> PluggedPort:
    """A VM's tap plugged with iface-id=port_id; net_uuid/local_vlan: the bookkeeping it carries."""
    return PluggedPort(tap(port_id), bridge, port_id, mac_of(port_id), None, net_uuid, local_vlan)


def facts(*ports: PluggedPort) -> HostFacts:
    return HostFacts(plugged=ports)
