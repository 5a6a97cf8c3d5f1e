"""Instances: a network namespace plugged into br-int the way a hypervisor plugs a VM.

A veth pair: ``tap<port id>`` on the host, attached to br-int with the Interface external_ids
Nova/os-vif write (iface-id, attached-mac, iface-status, vm-uuid), and ``eth0`` created directly in
the namespace (moving a link costs ~30 ms) with the port's MAC, addresses, MTU and default route.
TCP over a veth on OVS's userspace datapath needs tx checksum offload off on the namespace end.
"""

from __future__ import annotations

from dataclasses import dataclass

from neutrino.host.runner import Host
from neutrino.model import names


@dataclass(frozen=True)
class InstanceSpec:
    namespace: str
    port_id: str
    mac: str
    addresses: tuple[str, ...] = ()  # "10.0.0.5/24"
    gateway: str | None = None
    mtu: int = 1500
    bridge: str = "br-int"

    @property
    def device(self) -> str:
        return names.tap_name(self.port_id)


def _namespace_exists(host: Host, namespace: str) -> bool:
    listed = host.run(["ip", "netns", "list"]).stdout.split()
    return namespace in listed


def plug_instance(host: Host, spec: InstanceSpec) -> None:
    """Plug, or on any failure remove what was made so far and raise (nothing half-plugged is left)."""
    try:
        _plug(host, spec)
    except Exception:
        unplug_instance(host, spec.namespace, spec.port_id, spec.bridge)
        raise


def _plug(host: Host, spec: InstanceSpec) -> None:
    if not _namespace_exists(host, spec.namespace):
        host.run(["ip", "netns", "add", spec.namespace])
    host.run(["ip", "link", "del", spec.device], check=False)
    host.run(["ip", "link", "add", spec.device, "mtu", str(spec.mtu), "type", "veth", "peer", "name", "eth0",
              "netns", spec.namespace])
    batch = ["link set lo up", f"link set eth0 address {spec.mac} mtu {spec.mtu} up"]
    batch += [f"addr add {address} dev eth0" for address in spec.addresses]
    if spec.gateway:
        batch.append(f"route replace default via {spec.gateway} dev eth0")
    host.run(["ip", "-n", spec.namespace, "-b", "-"], input="\n".join(batch) + "\n")
    host.run(["ip", "link", "set", spec.device, "up"])
    host.run(["ip", "netns", "exec", spec.namespace, "ethtool", "-K", "eth0", "tx", "off"])
    host.run(["ovs-vsctl", "--timeout=10", "--", "--may-exist", "add-port", spec.bridge, spec.device,
              "--", "set", "Interface", spec.device, f"external_ids:iface-id={spec.port_id}",
              f"external_ids:attached-mac={spec.mac}", "external_ids:iface-status=active",
              f"external_ids:vm-uuid={spec.namespace}"])


def unplug_instance(host: Host, namespace: str, port_id: str, bridge: str = "br-int") -> None:
    device = names.tap_name(port_id)
    host.run(["ovs-vsctl", "--timeout=10", "--if-exists", "del-port", bridge, device], check=False)
    host.run(["ip", "link", "del", device], check=False)
    if _namespace_exists(host, namespace):
        host.run(["ip", "netns", "del", namespace])
