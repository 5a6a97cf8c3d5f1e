"""Host services the all-in-one needs: Open vSwitch started without systemd (userspace datapath when
the kernel has no openvswitch module), the virtual physnet's "fabric" - a namespace with a Linux
bridge standing in for the physical switch, so no real NIC is ever touched - and the world upstream of it:
a router namespace on the fabric holding the external subnet's gateway address, and an "internet" host
behind that router."""

from __future__ import annotations

import glob
import time
from dataclasses import dataclass
from pathlib import Path

from neutrino.host.errors import CommandFailed
from neutrino.host.runner import Host

OVS_CTL_CANDIDATES = ("/usr/share/openvswitch/scripts/ovs-ctl", "/usr/lib/openvswitch-switch/ovs-ctl")
RUN_DIR = Path("/var/run/openvswitch")
FABRIC_NAMESPACE = "neutrino-fabric"
FABRIC_BRIDGE = "fab0"
UPSTREAM_NAMESPACE = "neutrino-upstream"
INTERNET_NAMESPACE = "neutrino-internet"
UPSTREAM_PORT = "to-upstream"  # its fabric end, in fab0


def kernel_has_ovs() -> bool:
    return Path("/sys/module/openvswitch").exists()


def datapath_type() -> str:
    """``system`` with the kernel module, else the userspace datapath ``netdev``."""
    return "system" if kernel_has_ovs() else "netdev"


def ovs_answers(host: Host) -> bool:
    db = host.run(["ovs-vsctl", "--timeout=3", "show"], check=False).rc == 0
    vswitchd = host.run(["ovs-appctl", "-t", "ovs-vswitchd", "version"], check=False).rc == 0
    return db and vswitchd


def _ovs_ctl() -> str:
    for candidate in OVS_CTL_CANDIDATES + tuple(glob.glob("/usr/share/openvswitch/scripts/ovs-ctl*")):
        if Path(candidate).exists():
            return candidate
    raise CommandFailed(["ovs-ctl"], 127, "ovs-ctl not found: install openvswitch-switch")


def ensure_ovs(host: Host) -> bool:
    """Start Open vSwitch if it is not running; returns True when this call started it."""
    if ovs_answers(host):
        return False
    ctl = _ovs_ctl()
    started = host.run([ctl, "start", "--system-id=random", "--no-monitor", "--no-mlockall"], check=False)
    if started.rc != 0 and not ovs_answers(host):
        # ovs-ctl stops at modprobe when the kernel has module support but no openvswitch module
        host.run([ctl, "start", "--system-id=random", "--no-monitor", "--no-ovs-vswitchd"], check=False)
        host.run(["ovs-vswitchd", f"unix:{RUN_DIR}/db.sock", "-vconsole:emer", "-vsyslog:err", "-vfile:info",
                  "--no-chdir", "--log-file=/var/log/openvswitch/ovs-vswitchd.log",
                  f"--pidfile={RUN_DIR}/ovs-vswitchd.pid", "--detach"])
    for _ in range(40):
        if ovs_answers(host):
            return True
        time.sleep(0.25)
    raise CommandFailed(["ovs-ctl", "start"], 1, "Open vSwitch did not come up; see /var/log/openvswitch")


def stop_ovs(host: Host) -> None:
    host.run([_ovs_ctl(), "stop"], check=False)


def _netns_exists(host: Host, name: str) -> bool:
    return name in host.run(["ip", "netns", "list"]).stdout.split()


def ensure_fabric(host: Host, uplink: str) -> bool:
    """The virtual physnet: ``uplink`` (a veth in the root namespace, for a physical bridge) whose peer
    sits in bridge fab0 of namespace neutrino-fabric. Returns True when it had to be created."""
    existing = host.run(["ip", "-d", "link", "show", uplink], check=False)
    if existing.rc == 0 and " veth " not in existing.stdout:
        raise CommandFailed(["ip", "link", "show", uplink], 1,
                            f"{uplink} exists and is not a veth neutrino made: refusing to use it as the virtual uplink")
    if _netns_exists(host, FABRIC_NAMESPACE) and existing.rc == 0:
        return False
    if not _netns_exists(host, FABRIC_NAMESPACE):
        host.run(["ip", "netns", "add", FABRIC_NAMESPACE])
    host.run(["ip", "-n", FABRIC_NAMESPACE, "-b", "-"], input=(
        f"link add {FABRIC_BRIDGE} type bridge\nlink set {FABRIC_BRIDGE} up\nlink set lo up\n"), check=False)
    host.run(["ip", "link", "add", uplink, "type", "veth", "peer", "name", f"to-{uplink}"[:15],
              "netns", FABRIC_NAMESPACE])
    host.run(["ip", "-n", FABRIC_NAMESPACE, "-b", "-"], input=(
        f"link set {f'to-{uplink}'[:15]} master {FABRIC_BRIDGE}\nlink set {f'to-{uplink}'[:15]} up\n"))
    host.run(["ip", "link", "set", uplink, "up"])
    return True


def remove_fabric(host: Host, uplink: str) -> bool:
    removed = False
    if host.run(["ip", "link", "show", uplink], check=False).rc == 0:
        host.run(["ip", "link", "del", uplink])
        removed = True
    if _netns_exists(host, FABRIC_NAMESPACE):
        host.run(["ip", "netns", "del", FABRIC_NAMESPACE])
        removed = True
    return removed


@dataclass(frozen=True)
class Upstream:
    """The outside world of the virtual physnet: namespace neutrino-upstream, a router whose ``ext0`` sits
    in fab0 on the untagged side of the physnet (this kernel has no 802.1Q sub-interfaces, so a flat
    network reaches it) with ``gateway``, the external subnet's gateway address; and its ``inet0``
    (``router_side``) on a link of its own to namespace neutrino-internet, the "internet" host
    (``internet``, default route via the upstream router). Addresses are CIDRs ("203.0.113.1/24")."""

    gateway: str
    router_side: str
    internet: str


def _upstream_script(upstream: Upstream) -> tuple[str, str]:
    """``ip -b`` batches for the upstream router and the internet host (their links already made)."""
    router = (f"link set lo up\naddr add {upstream.gateway} dev ext0\nlink set ext0 up\n"
              f"addr add {upstream.router_side} dev inet0\nlink set inet0 up\n")
    gateway = upstream.router_side.split("/")[0]
    internet = (f"link set lo up\naddr add {upstream.internet} dev eth0\nlink set eth0 up\n"
                f"route add default via {gateway}\n")
    return router, internet


def has_upstream(host: Host) -> bool:
    return (_netns_exists(host, UPSTREAM_NAMESPACE) and _netns_exists(host, INTERNET_NAMESPACE)
            and host.run(["ip", "link", "show", "ext0"], netns=UPSTREAM_NAMESPACE, check=False).rc == 0
            and host.run(["ip", "link", "show", "eth0"], netns=INTERNET_NAMESPACE, check=False).rc == 0)


def ensure_upstream(host: Host, upstream: Upstream) -> bool:
    """The upstream router and the internet host (the fabric must exist). Returns True when they had to
    be made; a half-made pair (an interrupted run) is removed and made again."""
    if has_upstream(host):
        return False
    remove_upstream(host)
    for namespace in (UPSTREAM_NAMESPACE, INTERNET_NAMESPACE):
        host.run(["ip", "netns", "add", namespace])
    host.run(["ip", "-n", FABRIC_NAMESPACE, "link", "add", UPSTREAM_PORT, "type", "veth", "peer", "name", "ext0",
              "netns", UPSTREAM_NAMESPACE])
    host.run(["ip", "-n", FABRIC_NAMESPACE, "link", "set", UPSTREAM_PORT, "master", FABRIC_BRIDGE, "up"])
    host.run(["ip", "-n", UPSTREAM_NAMESPACE, "link", "add", "inet0", "type", "veth", "peer", "name", "eth0",
              "netns", INTERNET_NAMESPACE])
    router, internet = _upstream_script(upstream)
    host.run(["sysctl", "-qw", "net.ipv4.ip_forward=1"], netns=UPSTREAM_NAMESPACE)
    host.run(["ip", "-n", UPSTREAM_NAMESPACE, "-b", "-"], input=router)
    host.run(["ip", "-n", INTERNET_NAMESPACE, "-b", "-"], input=internet)
    # ext0's frames reach the userspace datapath through the fabric: with tx checksum offload on, TCP
    # segments leave with a partial checksum that netdev forwards unfixed (host-measurements.md)
    host.run(["ethtool", "-K", "ext0", "tx", "off"], netns=UPSTREAM_NAMESPACE)
    host.run(["ethtool", "-K", "eth0", "tx", "off"], netns=INTERNET_NAMESPACE)
    return True


def remove_upstream(host: Host) -> bool:
    """Both namespaces go, and their veths with them (the fabric end of ext0 too)."""
    removed = False
    for namespace in (INTERNET_NAMESPACE, UPSTREAM_NAMESPACE):
        if _netns_exists(host, namespace):
            host.run(["ip", "netns", "del", namespace])
            removed = True
    return removed
