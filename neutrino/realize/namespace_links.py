"""Reading the links of a namespace the agent made (a router's or a DHCP server's), as ``ip -j`` reports them."""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass

from neutrino.host.runner import Host


@dataclass(frozen=True)
class ObservedLink:
    mac: str
    mtu: int
    up: bool
    addresses: tuple[str, ...]  # global-scope CIDRs


def read_ip_batch(host: Host, namespace: str, *commands: str) -> list[list[dict]]:
    """The JSON answer of each ``ip`` command, run in one ``ip -n NS -j -b -`` exec (``[]`` for one that printed
    nothing)."""
    out = host.run(["ip", "-n", namespace, "-j", "-b", "-"], input="".join(f"{c}\n" for c in commands)).stdout
    answers = [json.loads(line) for line in out.splitlines() if line.strip()]
    return [*answers, *([[]] * len(commands))][:len(commands)]


def links_from(links: list[dict]) -> dict[str, ObservedLink]:
    """``ip -j addr show`` -> link name -> ObservedLink (lo left out)."""
    return {
        link["ifname"]: ObservedLink(
            mac=link.get("address", "").lower(), mtu=link.get("mtu", 0), up="UP" in link.get("flags", ()),
            addresses=tuple(cidr(f"{a['local']}/{a['prefixlen']}") for a in link.get("addr_info", ())
                            if a.get("scope") == "global"))
        for link in links if link["ifname"] != "lo"
    }


def cidr(address: str) -> str:
    return ipaddress.ip_interface(address).with_prefixlen
