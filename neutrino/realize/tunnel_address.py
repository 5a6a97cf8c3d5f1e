"""The tunnel endpoint's address on a bridge's internal port, in the host's own network namespace.

With the userspace datapath, ovs-vswitchd sends encapsulated packets by its own route table, which it
learns from the kernel routes of its namespace: the endpoint address on the internal port of the bridge
that owns the uplink gives it the connected route out of that bridge (reference/multi-host.md §3).
It is only ever put on a bridge the host config names (``tunnel_ip_bridge``), an OVS internal port the
agent created, never on a NIC. A restarted ovs-vswitchd re-creates that port without its address; the
next pass that reads the host puts it back.

The address is added when missing and the port set up when down; nothing is ever removed (a kernel
address carries no mark that says it is ours).
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

from neutrino.host.runner import Host
from neutrino.plan.host_plan import TunnelAddress
from neutrino.realize.diff import Report


def apply_tunnel_address(host: Host, address: TunnelAddress) -> Report:
    report = Report("tunnel endpoint")
    shown = host.run(["ip", "-j", "-4", "addr", "show", "dev", address.bridge], check=False)
    if shown.rc != 0:  # the bridge's port is not there (yet): the OVSDB step failed, or vswitchd is away
        report.errors.append(f"{address.bridge}: {shown.stderr.strip() or 'no such device'}")
        return report
    links = json.loads(shown.stdout or "[]")
    have = {(entry.get("local"), entry.get("prefixlen")) for link in links for entry in link.get("addr_info", ())}
    if (address.address, address.prefix) not in have:
        host.run(["ip", "addr", "add", f"{address.address}/{address.prefix}", "dev", address.bridge])
        report.added.append(f"address {address.address}/{address.prefix} on {address.bridge}")
    if not any("UP" in link.get("flags", ()) for link in links):
        host.run(["ip", "link", "set", address.bridge, "up"])
        report.changed.append(f"{address.bridge} up")
    return report


def resolve_tunnel_neighbours(host: Host, remote_ips: list[str]) -> list[str]:
    """Have the underlay resolve new tunnel endpoints before the first tunnelled packet needs them; returns
    those that answered. ovs-vswitchd keeps its own neighbour table for tunnels, which it fills by
    snooping ARP, and it drops the packet that finds an endpoint unresolved: an instance's first ARP
    request would be lost, and the instance would ask again only a second later. One ping from the host
    to each new endpoint (the reply crosses the bridge) fills that table first."""
    if not remote_ips:
        return []
    with ThreadPoolExecutor(max_workers=min(8, len(remote_ips))) as pool:
        answers = list(pool.map(lambda ip: host.run(["ping", "-n", "-q", "-c", "1", "-W", "1", ip], check=False),
                                remote_ips))
    return [ip for ip, answer in zip(remote_ips, answers, strict=True) if answer.rc == 0]
