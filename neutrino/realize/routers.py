"""Routers: for each ``RouterPlan``, the ``qrouter-<router id>`` namespace, its legs, addresses, routes and NAT
table; observe -> changes (pure) -> apply, like every realizer. Only namespaces named ``qrouter-<uuid>`` are
ever looked at, and one of them that no plan names is removed whole (its legs first, so their root ends go at
once); the OVS ports of the legs are the OVSDB realizer's (owned ports of the plan).

Observing a router costs two execs: ``ip -n NS -j -b -`` (links, addresses and routes) and ``nft list table
ip neutrino`` in the namespace. Applying runs only what differs, in Neutron's order (neutron-dataplane.md §4):

1. the namespace, with Neutron's sysctls (forwarding on; ARP answered only for an interface's own addresses
   and announced from them) and ``arp_notify``, so the kernel itself sends a gratuitous ARP for every address
   of a link when it comes up or its MAC is set (an ``ip link set X address <its MAC>`` announces the
   addresses just added: no arping process, which would wait a second per address);
2. each new leg: a veth created with its peer directly in the namespace (moving a link costs ~30 ms), both
   ends named after the port, the inner end with the port's MAC and MTU and tx checksum offload off (TCP
   through the userspace datapath needs it);
3. the NAT table, when it differs: ``nft -f`` replacing ``table ip neutrino`` in one transaction (its rules
   come before the floating IP addresses, as in Neutron, so no packet to a new floating IP meets the router
   itself);
4. one ``ip -b`` batch in the namespace: links up with their MAC and MTU, addresses added and removed,
   announcements, routes replaced and removed, then the legs no plan names (both ends go);
5. conntrack entries of floating IPs that went or now lead elsewhere are deleted, so established flows
   stop with them.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from neutrino.host.errors import CommandFailed, HostError
from neutrino.host.runner import Host
from neutrino.plan.l3 import NAT_TABLE, RouterLeg, RouterPlan
from neutrino.realize.diff import Report
from neutrino.realize.namespace_links import ObservedLink, cidr, links_from, read_ip_batch

NAMESPACE = re.compile(r"^qrouter-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
SYSCTLS = ("net.ipv4.ip_forward=1", "net.ipv4.conf.all.arp_ignore=1", "net.ipv4.conf.all.arp_announce=2",
           "net.ipv4.conf.all.arp_notify=1", "net.ipv4.conf.all.send_redirects=0",
           "net.netfilter.nf_conntrack_tcp_be_liberal=1")
DNAT = re.compile(r"^\s*ip daddr (\S+) dnat to (\S+)", re.MULTILINE)
CONNTRACK_NOTHING_DELETED = 1


@dataclass(frozen=True)
class ObservedRouter:
    namespace: str
    links: dict[str, ObservedLink]  # every link but lo
    routes: frozenset[tuple[str, str | None]]  # (destination, via) of the main table, connected routes aside
    nat_table: str | None  # as `nft list table ip neutrino` prints it


@dataclass(frozen=True)
class RouterChanges:
    """What one router's namespace needs; empty (false) when it matches its plan."""

    namespace: str
    remove: bool = False
    create_namespace: bool = False
    stale_links: tuple[str, ...] = ()
    new_legs: tuple[RouterLeg, ...] = ()
    nat_table: str | None = None  # the table to install (when ``replace_nat``); None: delete it
    replace_nat: bool = False
    commands: tuple[str, ...] = ()  # `ip -n <namespace> -b -` lines
    forget: tuple[str, ...] = ()  # floating IPs whose conntrack entries go

    def __bool__(self) -> bool:
        return bool(self.remove or self.create_namespace or self.stale_links or self.new_legs or self.replace_nat
                    or self.commands or self.forget)


@dataclass
class RoutersApplied:
    report: Report
    failed: frozenset[str]  # ids of the routers whose plan could not be put in place


# --- observe ---

def observe_routers(host: Host) -> dict[str, ObservedRouter]:
    """Every ``qrouter-<uuid>`` namespace of the host, by name."""
    namespaces = sorted(n for n in host.run(["ip", "netns", "list"]).stdout.split() if NAMESPACE.match(n))
    return {namespace: observe_router(host, namespace) for namespace in namespaces}


def observe_router(host: Host, namespace: str) -> ObservedRouter:
    links, routes = read_ip_batch(host, namespace, "addr show", "route show")
    table = host.run(["nft", "list", "table", "ip", NAT_TABLE], netns=namespace, check=False)
    return ObservedRouter(namespace, links_from(links), routes_from(routes), table.stdout if table.rc == 0 else None)


def routes_from(routes: list[dict]) -> frozenset[tuple[str, str | None]]:
    """``ip -j route show`` -> (destination CIDR, via) of every route but the kernel's connected ones."""
    found = set()
    for route in routes:
        if route.get("protocol") == "kernel":
            continue
        destination = "0.0.0.0/0" if route["dst"] == "default" else str(ipaddress.ip_network(route["dst"]))
        found.add((destination, route.get("gateway")))
    return frozenset(found)


def observed_after(plans: tuple[RouterPlan, ...]) -> dict[str, ObservedRouter]:
    """The routers' namespaces as apply_routers leaves them for ``plans`` (what observe_routers reads then)."""
    return {plan.namespace: ObservedRouter(
        plan.namespace,
        {leg.device: ObservedLink(leg.mac.lower(), leg.mtu, True, tuple(cidr(a) for a in leg.addresses))
         for leg in plan.legs},
        frozenset(route.key for route in plan.routes), plan.nat_table()) for plan in plans}


# --- changes (pure) ---

def changes_for(plan: RouterPlan | None, observed: ObservedRouter | None) -> RouterChanges:
    """What makes a router's namespace match ``plan`` (None: the router is not hosted here any more)."""
    if plan is None:
        return RouterChanges(observed.namespace, remove=True) if observed is not None else RouterChanges("")
    create_namespace = observed is None
    observed = observed or ObservedRouter(plan.namespace, {}, frozenset(), None)
    wanted = {leg.device for leg in plan.legs}
    table = plan.nat_table()
    return RouterChanges(
        plan.namespace, create_namespace=create_namespace,
        stale_links=tuple(sorted(set(observed.links) - wanted)),
        new_legs=tuple(leg for leg in plan.legs if leg.device not in observed.links),
        nat_table=table, replace_nat=table != observed.nat_table,
        commands=tuple(leg_commands_for(plan, observed) + route_commands_for(plan, observed)),
        forget=forgotten_floating_ips(table, observed.nat_table),
    )


def leg_commands_for(plan: RouterPlan, observed: ObservedRouter) -> list[str]:
    """`ip -b` lines for every leg: everything for a new one, else only what differs. Addresses go on before
    a link comes up, and a link that got addresses has its MAC set again: either way the kernel announces
    them (arp_notify)."""
    lines = []
    for leg in plan.legs:
        link = observed.links.get(leg.device)
        have = set(link.addresses) if link is not None else set()
        want = [cidr(address) for address in leg.addresses]
        added = [address for address in want if address not in have]
        for address in added:
            nodad = " nodad" if ipaddress.ip_interface(address).version == 6 else ""  # usable at once
            lines.append(f"addr replace {address} dev {leg.device}{nodad}")
        lines += [f"addr del {address} dev {leg.device}" for address in sorted(have - set(want))]
        if link is None or (link.mac, link.mtu, link.up) != (leg.mac.lower(), leg.mtu, True) or added:
            lines.append(f"link set {leg.device} address {leg.mac} mtu {leg.mtu} up")
    return lines


def route_commands_for(plan: RouterPlan, observed: ObservedRouter) -> list[str]:
    wanted = {route.key: route for route in plan.routes}
    lines = [route.command() for key, route in wanted.items() if key not in observed.routes]
    for destination, via in sorted(observed.routes - set(wanted), key=str):
        lines.append(f"route del {destination}" + (f" via {via}" if via else ""))
    return lines


def forgotten_floating_ips(table: str | None, installed: str | None) -> tuple[str, ...]:
    """Floating IPs of the installed table that the new one drops or sends to another fixed IP."""
    before = dict(DNAT.findall(installed or ""))
    after = dict(DNAT.findall(table or ""))
    return tuple(sorted(fip for fip, fixed in before.items() if after.get(fip) != fixed))


# --- apply ---

def apply_routers(host: Host, plans: tuple[RouterPlan, ...],
                  observed: dict[str, ObservedRouter] | None = None) -> RoutersApplied:
    report, failed = Report("routers"), set()
    observed = observed if observed is not None else observe_routers(host)
    wanted = {plan.namespace: plan for plan in plans}
    for namespace in sorted(set(wanted) | set(observed)):
        plan = wanted.get(namespace)
        changes = changes_for(plan, observed.get(namespace))
        if not changes:
            continue
        try:
            if changes.remove:
                _remove(host, observed[namespace], report)
            else:
                _apply_router(host, plan, changes, report)
        except HostError as error:
            report.errors.append(f"{namespace}: {error}")
            if plan is not None:
                failed.add(plan.router_id)
    return RoutersApplied(report, frozenset(failed))


def _apply_router(host: Host, plan: RouterPlan, changes: RouterChanges, report: Report) -> None:
    namespace = plan.namespace
    if changes.create_namespace:
        host.run(["ip", "netns", "add", namespace])
        host.run(["sysctl", "-q", "-e", "-w", *SYSCTLS], netns=namespace)
        host.run(["ip", "-n", namespace, "link", "set", "lo", "up"])
        report.added.append(f"namespace {namespace}")
    for leg in changes.new_legs:
        _create_leg(host, namespace, leg)
        report.added.append(f"leg {leg.device} of {namespace} on {leg.bridge}")
    if changes.replace_nat:
        _replace_nat_table(host, namespace, changes.nat_table)
        report.changed.append(f"NAT table of {namespace}")
    # Stale legs go last: the routes through them are removed first, while they still resolve.
    batch = [*changes.commands, *(f"link del {device}" for device in changes.stale_links)]
    if batch:
        host.run(["ip", "-n", namespace, "-b", "-"], input="".join(f"{line}\n" for line in batch))
        report.changed += [f"{namespace}: {line}" for line in changes.commands]
        report.removed += [f"leg {device} of {namespace}" for device in changes.stale_links]
    for address in changes.forget:
        _forget_connections(host, namespace, address)


def _create_leg(host: Host, namespace: str, leg: RouterLeg) -> None:
    host.run(["ip", "link", "del", leg.device], check=False)  # a root end left without its peer
    host.run(["ip", "link", "add", leg.device, "mtu", str(leg.mtu), "type", "veth", "peer", "name", leg.device,
              "netns", namespace, "address", leg.mac, "mtu", str(leg.mtu)])
    host.run(["ip", "link", "set", leg.device, "up"])
    host.run(["ethtool", "-K", leg.device, "tx", "off"], netns=namespace)


def _replace_nat_table(host: Host, namespace: str, table: str | None) -> None:
    """One nft transaction: the table is made if missing (so the delete cannot fail), deleted and written
    whole; nothing outside it is touched."""
    text = f"table ip {NAT_TABLE}\ndelete table ip {NAT_TABLE}\n" + (table or "")
    host.run(["nft", "-f", "-"], netns=namespace, input=text)


def _forget_connections(host: Host, namespace: str, address: str) -> None:
    """Delete the floating IP's connections, to it (DNAT) and from it (SNAT replies come back to it)."""
    for direction in ("--dst", "--reply-dst"):
        done = host.run(["conntrack", "-D", direction, address], netns=namespace, check=False)
        if done.rc not in (0, CONNTRACK_NOTHING_DELETED):
            raise CommandFailed(["conntrack", "-D", direction, address], done.rc, done.stderr)


def _remove(host: Host, observed: ObservedRouter, report: Report) -> None:
    """The router is not hosted here any more: its legs (both ends), then the namespace."""
    for device in sorted(observed.links):
        host.run(["ip", "-n", observed.namespace, "link", "del", device], check=False)
    host.run(["ip", "netns", "del", observed.namespace])
    report.removed.append(f"namespace {observed.namespace}")


def floating_ip_statuses_for(plans: tuple[RouterPlan, ...], failed: frozenset[str]) -> dict[str, str]:
    """ACTIVE for each floating IP whose router's NAT and address are in place, ERROR when they failed."""
    return {fip: ("ERROR" if plan.router_id in failed else "ACTIVE") for plan in plans for fip in plan.floating_ips}
