"""Instances: a network namespace plugged into br-int the way a hypervisor plugs a VM.

A veth pair: ``tap<port id>`` on the host and ``eth0`` created directly in the namespace (moving a link
costs ~30 ms) with the port's MAC, addresses, MTU and default route. TCP over a veth on OVS's userspace
datapath needs tx checksum offload off on the namespace end.

Plain (``ovs``): the tap is the port on br-int, with the Interface external_ids Nova/os-vif write
(iface-id, attached-mac, iface-status, vm-uuid). Hybrid (the binding's ``vif_details.ovs_hybrid_plug``,
which the server sets for an agent with firewall_driver iptables_hybrid), as os-vif's ovs_hybrid does:
the tap is a port of the Linux bridge ``qbr<id>`` (forward delay 0, no STP, no multicast snooping), whose
other port ``qvb<id>`` is a veth peer of ``qvo<id>``, the port on br-int with those external_ids, so
br_netfilter shows the instance's frames to iptables, matched by physdev on the tap. The OVS port is
added last: the agent, woken by it, finds the instance complete.

Addresses: given (static, as the API's fixed IPs say), or by DHCP (``configure_by_dhcp``), as a booting VM
gets them: ISC dhclient in the instance's namespace, its own conf, lease and pid files under the
instance's directory, and its own dhclient-script, which sets the address, MTU and routes (the classless
static routes of option 121 when offered, else the router) in the namespace and nothing else: the stock
script would rewrite the host's /etc/resolv.conf and run the host's hooks. dhclient stays to renew the
lease, as a VM's client does, until ``unplug_instance`` stops it.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from neutrino.host.runner import Host
from neutrino.model import names

DHCP_TIMEOUT = 15  # seconds dhclient -1 tries before giving up
DHCLIENT_CONF = """\
option rfc3442-classless-static-routes code 121 = array of unsigned integer 8;
request subnet-mask, broadcast-address, routers, domain-name-servers, domain-name, interface-mtu,
        rfc3442-classless-static-routes;
initial-interval 1;
backoff-cutoff 2;
timeout {timeout};
"""
# dhclient-script(8): the lease arrives in environment variables. Option 121 comes as space-separated
# octets: width, the destination's significant octets, then the router's four.
DHCLIENT_SCRIPT = """\
#!/bin/sh
# neutrino plug: applies a DHCP lease inside the instance's namespace, and nothing else.
dev="$interface"
case "$reason" in
PREINIT)
    ip link set dev "$dev" up ;;
BOUND|RENEW|REBIND|REBOOT)
    if [ -n "$new_interface_mtu" ]; then ip link set dev "$dev" mtu "$new_interface_mtu"; fi
    if [ -n "$old_ip_address" ] && [ "$old_ip_address" != "$new_ip_address" ]; then
        ip -4 addr flush dev "$dev" scope global
    fi
    ip -4 addr replace "$new_ip_address/$new_subnet_mask" dev "$dev"
    if [ -n "$new_rfc3442_classless_static_routes" ]; then
        set -- $new_rfc3442_classless_static_routes
        while [ $# -ge 5 ]; do
            width=$1; shift
            significant=$(( (width + 7) / 8 )); destination=""; i=0
            while [ $i -lt 4 ]; do
                if [ $i -lt $significant ]; then byte=$1; shift; else byte=0; fi
                destination="$destination${destination:+.}$byte"; i=$((i + 1))
            done
            router="$1.$2.$3.$4"; shift 4
            if [ "$router" = "0.0.0.0" ]; then
                ip -4 route replace "$destination/$width" dev "$dev"
            else
                ip -4 route replace "$destination/$width" via "$router" dev "$dev"
            fi
        done
    elif [ -n "$new_routers" ]; then
        for router in $new_routers; do ip -4 route replace default via "$router" dev "$dev"; break; done
    fi ;;
esac
exit 0
"""


@dataclass(frozen=True)
class InstanceSpec:
    namespace: str
    port_id: str
    mac: str
    addresses: tuple[str, ...] = ()  # "10.0.0.5/24"
    gateway: str | None = None
    mtu: int = 1500
    bridge: str = "br-int"
    hybrid: bool = False  # the binding's vif_details ovs_hybrid_plug
    dhcp: bool = False  # addresses come from DHCP (configure_by_dhcp), not from ``addresses``

    @property
    def device(self) -> str:
        return names.tap_name(self.port_id)

    @property
    def ovs_port(self) -> str:
        """The instance's port on br-int: the tap itself, or the hybrid plug's qvo."""
        return names.hybrid_ovs_veth_name(self.port_id) if self.hybrid else self.device


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
    if spec.hybrid:
        _plug_hybrid_bridge(host, spec)
    # The port goes on br-int first, as a hypervisor does before the guest boots: the agent wires it
    # while the guest side below is being configured.
    host.run(["ovs-vsctl", "--timeout=10", "--", "--may-exist", "add-port", spec.bridge, spec.ovs_port,
              "--", "set", "Interface", spec.ovs_port, f"external_ids:iface-id={spec.port_id}",
              f"external_ids:attached-mac={spec.mac}", "external_ids:iface-status=active",
              f"external_ids:vm-uuid={spec.namespace}"])
    # A DHCP guest boots with the default MTU and learns the network's from its lease.
    mtu = "" if spec.dhcp else f" mtu {spec.mtu}"
    batch = ["link set lo up", f"link set eth0 address {spec.mac}{mtu} up"]
    batch += [f"addr add {address} dev eth0" for address in spec.addresses]
    if spec.gateway:
        batch.append(f"route replace default via {spec.gateway} dev eth0")
    host.run(["ip", "-n", spec.namespace, "-b", "-"], input="\n".join(batch) + "\n")
    host.run(["ip", "link", "set", spec.device, "up"])
    host.run(["ip", "netns", "exec", spec.namespace, "ethtool", "-K", "eth0", "tx", "off"])


def _plug_hybrid_bridge(host: Host, spec: InstanceSpec) -> None:
    """qbr with the tap and qvb in it; qvb's peer qvo is left for br-int."""
    bridge = names.hybrid_bridge_name(spec.port_id)
    bridge_veth, ovs_veth = names.hybrid_bridge_veth_name(spec.port_id), names.hybrid_ovs_veth_name(spec.port_id)
    for stale in (bridge, bridge_veth):
        host.run(["ip", "link", "del", stale], check=False)
    host.run(["ip", "-b", "-"], input="".join(f"{line}\n" for line in [
        f"link add {bridge} mtu {spec.mtu} type bridge forward_delay 0 stp_state 0 mcast_snooping 0",
        f"link add {bridge_veth} mtu {spec.mtu} type veth peer name {ovs_veth} mtu {spec.mtu}",
        f"link set {bridge_veth} master {bridge} promisc on up",
        f"link set {ovs_veth} promisc on up",
        f"link set {spec.device} master {bridge}",
        f"link set {bridge} up",
    ]))
    # os-vif turns IPv6 off on the bridge: the host has no business on the instance's segment. The key is
    # missing where IPv6 is off everywhere, which is as good.
    host.run(["sysctl", "-qw", f"net.ipv6.conf.{bridge}.disable_ipv6=1"], check=False)


def instance_dir(state_dir: Path, namespace: str) -> Path:
    """Where an instance's DHCP client keeps its files."""
    return state_dir / "instances" / namespace


def configure_by_dhcp(host: Host, namespace: str, directory: Path, timeout: int = DHCP_TIMEOUT) -> str:
    """Run dhclient once in the instance (it stays, to renew); CommandFailed when no lease came in
    ``timeout`` seconds. Returns what it said."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "dhclient.conf").write_text(DHCLIENT_CONF.format(timeout=timeout))
    script = directory / "dhclient-script"
    script.write_text(DHCLIENT_SCRIPT)
    script.chmod(0o755)
    done = host.run(["dhclient", "-1", "-4", "-v", "-cf", str(directory / "dhclient.conf"), "-sf", str(script),
                     "-pf", str(directory / "dhclient.pid"), "-lf", str(directory / "dhclient.leases"), "eth0"],
                    netns=namespace)
    return done.stderr


def stop_dhcp_client(host: Host, namespace: str, directory: Path) -> None:
    """Stop the instance's dhclient by its pid file (``dhclient -x``: no release), and forget its files."""
    if (directory / "dhclient.pid").exists() and _namespace_exists(host, namespace):
        host.run(["dhclient", "-x", "-pf", str(directory / "dhclient.pid"), "-sf", str(directory / "dhclient-script")],
                 netns=namespace, check=False)
    shutil.rmtree(directory, ignore_errors=True)


def unplug_instance(host: Host, namespace: str, port_id: str, bridge: str = "br-int",
                    client_dir: Path | None = None) -> None:
    """Removes either kind of plug: the tap, and the hybrid plug's qvo, qvb (with its peer) and qbr; and the
    instance's DHCP client, if it has one (files in ``client_dir``)."""
    if client_dir is not None:
        stop_dhcp_client(host, namespace, client_dir)
    device = names.tap_name(port_id)
    host.run(["ovs-vsctl", "--timeout=10", "--", "--if-exists", "del-port", bridge, device,
              "--", "--if-exists", "del-port", bridge, names.hybrid_ovs_veth_name(port_id)], check=False)
    for link in (device, names.hybrid_bridge_veth_name(port_id), names.hybrid_bridge_name(port_id)):
        host.run(["ip", "link", "del", link], check=False)
    if _namespace_exists(host, namespace):
        host.run(["ip", "netns", "del", namespace])
