"""The physical network of the simulated hosts, in a namespace of its own (``<prefix>-fabric``).

Linux bridge ``fab0`` joins the hosts' uplinks (``eth1`` on every host, trunking every VLAN:
vlan_filtering is off, so 802.1Q frames pass as they are) and ``mgmt0`` is the management network
on which agents reach the API server. The test process reaches ``mgmt0`` through one veth in the
root namespace carrying a link-local address (169.254.N.1/24, N chosen free); the server listens on
that address only. Nothing else in the root namespace is touched.
"""

from __future__ import annotations

import ipaddress
import random
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

from tests.host.simhost import CommandError, netns_inode, sh, stop_process

if TYPE_CHECKING:
    from tests.host.simhost import SimHost


def free_management_subnet() -> ipaddress.IPv4Network:
    """A 169.254.N.0/24 no address or route of the root namespace overlaps (N in 192..254)."""
    used = sh(["ip", "-4", "-o", "addr"]).stdout + sh(["ip", "-4", "route", "show", "table", "all"]).stdout
    candidates = [n for n in range(192, 255) if f"169.254.{n}." not in used]
    if "169.254.0.0/16" in used or not candidates:
        raise CommandError("no free 169.254.N.0/24 for the management network")
    return ipaddress.ip_network(f"169.254.{random.choice(candidates)}.0/24")


def _holders(subnet: ipaddress.IPv4Network) -> list[str]:
    """Root-namespace interfaces with an address in ``subnet``."""
    return [line.split()[1] for line in sh(["ip", "-4", "-o", "addr", "show", "to", str(subnet)]).stdout.splitlines()]


class Fabric:
    """The physical network: ``fab0`` for uplinks, ``mgmt0`` for management, in ``<prefix>-fabric``."""

    def __init__(self, prefix: str):
        self.prefix = prefix
        self.netns = f"{prefix}-fabric"
        self.root_link = f"{prefix}-mg"
        self.subnet = ipaddress.ip_network("169.254.0.0/24")  # chosen by up()
        self._next_address = 10
        self.inodes: list[int] = []

    def ip(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return sh(["ip", "-n", self.netns, *args], check=check)

    def up(self) -> None:
        sh(["ip", "netns", "add", self.netns])
        self.inodes.append(netns_inode(f"/run/netns/{self.netns}"))
        self.ip("link", "set", "lo", "up")
        # A switch, not a host: no IPv6 of its own on the wire (RS, MLD from the fabric's ports).
        sh(["ip", "netns", "exec", self.netns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1",
            "net.ipv6.conf.default.disable_ipv6=1"])
        for bridge in ("fab0", "mgmt0"):
            self.ip("link", "add", bridge, "type", "bridge")  # vlan_filtering 0: 802.1Q frames pass as they are
            self.ip("link", "set", bridge, "up")
        sh(["ip", "link", "add", self.root_link, "type", "veth", "peer", "name", "root", "netns", self.netns])
        self._address_root_link()
        sh(["ip", "link", "set", self.root_link, "up"])
        self.ip("link", "set", "root", "master", "mgmt0", "up")

    def _address_root_link(self) -> None:
        """A free management subnet, retried when another session took the same one meanwhile."""
        for _ in range(5):
            self.subnet = free_management_subnet()
            sh(["ip", "addr", "add", f"{self.server_address}/{self.subnet.prefixlen}", "dev", self.root_link])
            if _holders(self.subnet) == [self.root_link]:
                return
            sh(["ip", "addr", "del", f"{self.server_address}/{self.subnet.prefixlen}", "dev", self.root_link])
        raise CommandError("no management subnet of our own after 5 tries")

    @property
    def server_address(self) -> str:
        return str(self.subnet[1])

    def uplink_name(self, host: SimHost, nic: str) -> str:
        """The fabric end of a host's NIC (where tcpdump sees the host's wire)."""
        return f"{self.prefix}{host.name}{nic[-1]}"

    def connect_uplink(self, host: SimHost, nic: str = "eth1", attach: bool = True) -> str:
        """A veth "NIC": ``nic`` in the host, its peer in the fabric (in ``fab0`` when ``attach``)."""
        end = self.uplink_name(host, nic)
        self.ip("link", "add", end, "type", "veth", "peer", "name", nic, "netns", host.netns)
        self.ip("link", "set", end, *(("master", "fab0") if attach else ()), "up")
        host.run(["ip", "link", "set", nic, "up"])
        return end

    def connect_management(self, host: SimHost) -> str:
        """Interface ``mgmt`` in the host, on ``mgmt0``, with the next free address; returns it."""
        address = f"{self.subnet[self._next_address]}/{self.subnet.prefixlen}"
        self._next_address += 1
        end = f"{self.prefix}{host.name}m"
        self.ip("link", "add", end, "type", "veth", "peer", "name", "mgmt", "netns", host.netns)
        self.ip("link", "set", end, "master", "mgmt0", "up")
        host.run(["ip", "addr", "add", address, "dev", "mgmt"])
        host.run(["ip", "link", "set", "mgmt", "up"])
        return address

    def capture(self, interface: str, output: Path, bpf: list[str]) -> subprocess.Popen:
        """tcpdump -e -n on a fabric port into ``output``; returns once it is listening."""
        log = open(output, "w")
        process = subprocess.Popen(["nsenter", f"--net=/run/netns/{self.netns}", "tcpdump", "-e", "-n", "-l",
                                    "-i", interface, *bpf], stdout=log, stderr=subprocess.PIPE, text=True,
                                   start_new_session=True)
        log.close()
        said = ""
        while "listening on" not in said:  # tcpdump says so once its socket is open
            line = process.stderr.readline()
            if not line:
                stop_process(process)
                raise CommandError(f"tcpdump on {interface} did not start: {said}{process.stderr.read()}")
            said += line
        return process

    def down(self) -> list[str]:
        errors = []
        for argv in (["ip", "link", "del", self.root_link], ["ip", "netns", "del", self.netns]):
            done = sh(argv, check=False)
            if done.returncode != 0 and "Cannot find" not in done.stderr and "No such" not in done.stderr:
                errors.append(f"{' '.join(argv)}: {done.stderr.strip()}")
        return errors
