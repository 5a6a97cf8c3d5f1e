"""The L3 lab of the host tests (and bench/l3.py): the router and floating IP calls an admin makes, the outside
world on its own host, and readers of a router's namespace.

The outside world is a host of its own on the fabric: its OVS bridge ``br-up`` takes the external VLAN from
the wire to an access port, whose namespace ``outside`` holds the external subnet's gateway address (the
fabric is a plain Linux bridge and this kernel has no 802.1Q interfaces, so only OVS tags and untags).
``whoami.py`` says which address a TCP connection came from, so SNAT and floating IPs are seen at work.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from tests.host.control import Cloud
from tests.host.simhost import SimHost, eventually

WHOAMI = Path(__file__).with_name("whoami.py")
WHOAMI_PORT = 7001
OUTSIDE = "203.0.113.1"  # the external subnet's gateway: the upstream router, and the outside host
EXTERNAL_CIDR = "203.0.113.0/24"
DENY_WAIT = 0.5  # no reply expected: a reply on these paths takes milliseconds


# --- the API, as an admin would drive it (the host tests' server runs with noauth) ---

class L3:
    """Calls as an admin of ``project`` (noauth takes the project from X-Project-Id; default "admin")."""

    def __init__(self, cloud: Cloud, project: str | None = None):
        self.cloud = cloud
        self.headers = {"X-Project-Id": project} if project else {}

    def call(self, method: str, path: str, expect: int = 200, **body) -> dict:
        return self.cloud._call(method, path, expect, headers=self.headers, **({"json": body} if body else {}))

    def port(self, network: dict, address: str, **attrs) -> dict:
        return self.call("POST", "/v2.0/ports", 201, port={
            "network_id": network["id"], "fixed_ips": [{"ip_address": address}], **attrs})["port"]

    def network(self, name: str, cidr: str, **attrs) -> tuple[dict, dict]:
        """A provider VLAN network on physnet1 with one IPv4 subnet whose gateway is its .1 (no DHCP)."""
        network = self.call("POST", "/v2.0/networks", 201, network={
            "name": name, "provider:network_type": "vlan", "provider:physical_network": "physnet1",
            "provider:segmentation_id": self.cloud.next_vlan(), **attrs})["network"]
        subnet = self.call("POST", "/v2.0/subnets", 201, subnet={
            "network_id": network["id"], "cidr": cidr, "ip_version": 4, "enable_dhcp": False,
            "gateway_ip": cidr.rsplit(".", 1)[0] + ".1", "name": name})["subnet"]
        return network, subnet

    def group(self, name: str) -> dict:
        """A security group whose members reach each other (its own egress rules are Neutron's defaults)."""
        group = self.call("POST", "/v2.0/security-groups", 201, security_group={"name": name})["security_group"]
        self.rule(group, remote_group_id=group["id"])
        return group

    def rule(self, group: dict, **attrs) -> dict:
        return self.call("POST", "/v2.0/security-group-rules", 201, security_group_rule={
            "security_group_id": group["id"], "direction": "ingress", "ethertype": "IPv4", **attrs})

    def router(self, name: str, host: SimHost) -> dict:
        """A router hosted by ``host``'s L3 agent, placed there before it has a port (other hosts' agents
        may still count as alive)."""
        router = self.call("POST", "/v2.0/routers", 201, router={"name": name})["router"]
        agent = next(a for a in self.cloud.agents(host.name) if a["agent_type"] == "L3 agent")
        self.call("POST", f"/v2.0/agents/{agent['id']}/l3-routers", 201, router_id=router["id"])
        return router

    def update_router(self, router: dict, **attrs) -> dict:
        return self.call("PUT", f"/v2.0/routers/{router['id']}", router=attrs)["router"]

    def interface(self, router: dict, subnet: dict, add: bool = True) -> dict:
        action = "add_router_interface" if add else "remove_router_interface"
        return self.call("PUT", f"/v2.0/routers/{router['id']}/{action}", subnet_id=subnet["id"])

    def floating_ip(self, network: dict) -> dict:
        return self.call("POST", "/v2.0/floatingips", 201, floatingip={"floating_network_id": network["id"]})[
            "floatingip"]

    def associate(self, fip: dict, port: dict | None) -> dict:
        return self.call("PUT", f"/v2.0/floatingips/{fip['id']}",
                         floatingip={"port_id": port["id"] if port else None})["floatingip"]

    def fip_status(self, fip: dict) -> str:
        return self.call("GET", f"/v2.0/floatingips/{fip['id']}")["floatingip"]["status"]

    def ports_of(self, router: dict) -> dict[str, dict]:
        """The router's ports by device_owner suffix: "gateway", and each interface by its subnet id."""
        ports = self.cloud._call("GET", "/v2.0/ports", 200, params={"device_id": router["id"]})["ports"]
        found = {}
        for port in ports:
            key = "gateway" if port["device_owner"] == "network:router_gateway" else port["fixed_ips"][0]["subnet_id"]
            found[key] = port
        return found


@dataclass(frozen=True)
class External:
    network: dict
    subnet: dict
    vlan: int


def create_external(cloud: Cloud, name: str = "l3-public") -> External:
    """The external network: a provider VLAN of physnet1 (the seed's 201; here one no other test uses)."""
    vlan = cloud.next_vlan()
    network = cloud._call("POST", "/v2.0/networks", 201, json={"network": {
        "name": name, "provider:network_type": "vlan", "provider:physical_network": "physnet1",
        "provider:segmentation_id": vlan, "router:external": True}})["network"]
    subnet = cloud._call("POST", "/v2.0/subnets", 201, json={"subnet": {
        "network_id": network["id"], "cidr": EXTERNAL_CIDR, "ip_version": 4, "gateway_ip": OUTSIDE,
        "enable_dhcp": False, "name": name}})["subnet"]
    return External(network, subnet, vlan)


# --- the outside world ---

class Outside:
    """Namespace ``outside`` on the upstream host: an access port of the external VLAN on its OVS bridge."""

    namespace = "outside"

    def __init__(self, host: SimHost, vlan: int):
        self.host = host
        host.vsctl("add-br", "br-up", "--", "set", "Bridge", "br-up", "datapath_type=netdev",
                   "--", "add-port", "br-up", "eth1")
        host.run(["ip", "netns", "add", self.namespace])
        host.run(["ip", "link", "add", "out", "type", "veth", "peer", "name", "eth0", "netns", self.namespace])
        host.vsctl("add-port", "br-up", "out", f"tag={vlan}")
        host.run(["ip", "link", "set", "out", "up"])
        host.run(["ip", "-n", self.namespace, "-b", "-"], input=(
            f"link set lo up\nlink set eth0 up\naddr add {OUTSIDE}/24 dev eth0\n"))
        self.run("ethtool", "-K", "eth0", "tx", "off")  # TCP through the userspace datapath
        serve(host, self.namespace)

    def run(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess:
        return self.host.run(self.host.in_instance(self.namespace, list(argv)), check=check)

    def ping(self, address: str, wait: float = 1.0) -> str | None:
        """The address the reply came from, or None."""
        done = self.run("ping", "-n", "-c", "1", "-W", str(wait), address, check=False)
        found = re.search(r"bytes from ([\d.]+)", done.stdout)
        return found[1] if done.returncode == 0 and found else None

    def ask(self, address: str) -> str | None:
        return ask(self.host, self.namespace, address)


def serve(host: SimHost, namespace: str) -> subprocess.Popen:
    process = host.popen(host.in_instance(namespace, [sys.executable, "-u", str(WHOAMI), "serve", str(WHOAMI_PORT)]),
                         stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "ready"
    return process


def ask(host: SimHost, namespace: str, address: str) -> str | None:
    """Which address ``address`` sees a TCP connection from ``namespace`` come from (None: no answer)."""
    done = host.run(host.in_instance(namespace, [sys.executable, str(WHOAMI), "ask", address, str(WHOAMI_PORT)]),
                    check=False)
    return done.stdout.strip() if done.returncode == 0 else None


def pings(host: SimHost, namespace: str, address: str, wait: float = 1.0) -> bool:
    return host.ping(namespace, address, wait=wait)


def first_reply(probe, what: str, since: float | None = None, timeout: float = 10.0) -> float:
    """Seconds from ``since`` (a time.monotonic(); default: now) until ``probe()`` first succeeds."""
    started = time.monotonic() if since is None else since
    eventually(probe, timeout=timeout, interval=0.01, what=what)
    return time.monotonic() - started


# --- reading the router on its host ---

def namespace_links(host: SimHost, namespace: str) -> dict[str, dict]:
    links = json.loads(host.run(["ip", "-n", namespace, "-j", "addr"]).stdout)
    return {link["ifname"]: link for link in links if link["ifname"] != "lo"}


def addresses(link: dict) -> set[str]:
    return {f"{a['local']}/{a['prefixlen']}" for a in link.get("addr_info", ()) if a.get("scope") == "global"}


def ruleset(host: SimHost, namespace: str) -> str:
    return host.run(["ip", "netns", "exec", namespace, "nft", "-a", "list", "ruleset"]).stdout


def namespaces(host: SimHost) -> list[str]:
    return [line.split()[0] for line in host.run(["ip", "netns", "list"]).stdout.splitlines()]
