"""The namespaces of a host against the plan (PURE, part of findings_for): each router's ``qrouter-``
namespace (its legs, their addresses, its routes and NAT table) and each served network's ``qdhcp-``
namespace (its leg, dnsmasq running with the planned command line, its hosts and options files)."""

from __future__ import annotations

import ipaddress

from neutrino.doctor.objects import AGENT_FIX, DRIFT, Namer, examples
from neutrino.doctor.observation import HostObservation
from neutrino.plan.host_plan import HostPlan
from neutrino.plan.l3 import NAT_TABLE
from neutrino.realize.dhcp import is_ours
from neutrino.trace.result import SEVERITIES, Finding

ERROR, WARNING, INFO = SEVERITIES
FILE_WORDS = {"host": "hosts file", "addn_hosts": "addn_hosts file", "opts": "options file"}
NFT_STRUCTURE = ("table ", "chain ", "type ", "comment ")


def router_findings_for(plan: HostPlan, observed: HostObservation, namer: Namer) -> list[Finding]:
    found = []
    for router in plan.routers:
        have = observed.routers.get(router.namespace)
        name, objects = namer.router_label(router.router_id), namer.sources([router.source])
        where = f"namespace {router.namespace}"
        if have is None:
            message = f"router {name} has no namespace {router.namespace} here"
            planned = f"{len(router.legs)} legs, {len(router.routes)} routes"
            found.append(namer.finding("router-namespace-missing", ERROR, message, where, planned, "no namespace",
                                       DRIFT, AGENT_FIX, objects))
            continue
        for leg in router.legs:
            found += _leg_findings(namer, router.namespace, leg, have.links.get(leg.device), "router")
        missing = [route for route in router.routes if route.key not in have.routes]
        if missing:
            routes = examples((route.command().removeprefix("route replace ") for route in missing), len(missing))
            found.append(namer.finding("router-route-missing", ERROR, f"{len(missing)} routes of router {name} are "
                                                                      f"missing: {routes}",
                                       where, f"{len(router.routes)} routes", f"{len(missing)} missing", DRIFT,
                                       AGENT_FIX, objects))
        if router.nat_table() != have.nat_table:
            found.append(_nat_finding(namer, router, have.nat_table, where, objects))
    planned = {router.namespace for router in plan.routers}
    for namespace, have in sorted(observed.routers.items()):
        if namespace not in planned:
            found.append(namer.finding("router-namespace-stale", WARNING, f"namespace {namespace} belongs to no "
                                                                          "router this host hosts",
                                       f"namespace {namespace}", "no namespace", f"{len(have.links)} links",
                                       "the router moved to another host or was deleted, and the agent has not "
                                       "removed its namespace yet", AGENT_FIX))
    return found


def _leg_findings(namer: Namer, namespace: str, leg, link, kind: str) -> list[Finding]:
    """A router's (or a DHCP server's) leg against the link in its namespace."""
    where, objects = f"namespace {namespace} leg {leg.device}", namer.sources([leg.source])
    planned = f"{leg.device} up with {', '.join(leg.addresses) or 'no address'}"
    if link is None:
        return [namer.finding(f"{kind}-leg-missing", ERROR, f"{leg.device} is not in {namespace}", where, planned,
                              "no such link", DRIFT, AGENT_FIX, objects)]
    there = {_cidr(address) for address in link.addresses}
    missing = [address for address in leg.addresses if _cidr(address) not in there]
    found = []
    if missing:
        message, now = f"{leg.device} in {namespace} lacks {', '.join(missing)}", \
            f"addresses {', '.join(link.addresses) or 'none'}"
        found.append(namer.finding(f"{kind}-leg-address-missing", ERROR, message, where, planned, now, DRIFT,
                                   AGENT_FIX, objects))
    if not link.up:
        found.append(namer.finding(f"{kind}-leg-down", ERROR, f"{leg.device} in {namespace} is down", where,
                                   planned, "link down", DRIFT, AGENT_FIX, objects))
    return found


def _nat_finding(namer: Namer, router, have: str | None, where: str, objects) -> Finding:
    want = router.nat_table()
    wanted, there = _rule_lines(want), _rule_lines(have)
    missing, extra = [line for line in wanted if line not in there], [line for line in there if line not in wanted]
    name = namer.router_label(router.router_id)
    if have is None:
        message = f"router {name} has no NAT table in its namespace: its {len(router.nat_rules)} NAT rules (SNAT, " \
                  "floating IPs) are not there"
        found = "no table ip neutrino"
    elif want is None:
        message, found = f"router {name} has a NAT table the plan does not want", f"{len(there)} rules"
    else:
        details = f"missing {examples(missing, len(missing))}" if missing else \
            f"not planned {examples(extra, len(extra))}" if extra else "its chains differ"
        message = f"the NAT table of router {name} differs from the plan: {details}"
        found = f"{len(missing)} rules missing, {len(extra)} not planned"
    planned = f"{len(router.nat_rules)} NAT rules" if want else "no table"
    return namer.finding("router-nat-differs", ERROR, message, f"{where} nft table ip {NAT_TABLE}", planned, found,
                         DRIFT, AGENT_FIX, objects)


def _rule_lines(table: str | None) -> list[str]:
    """The rules of an nft table listing (its table, chain, hook and comment lines left out)."""
    lines = (line.strip() for line in (table or "").splitlines())
    return [line for line in lines if line and line != "}" and not line.startswith(NFT_STRUCTURE)]


# --- DHCP ---

def dhcp_findings_for(plan: HostPlan, observed: HostObservation, namer: Namer) -> list[Finding]:
    found = []
    for server in plan.dhcp:
        have = observed.dhcp.get(server.network_id)
        where = f"namespace {server.namespace}"
        objects = namer.sources([f"network:{server.network_id}", server.source])
        if have is None or not have.namespace:
            message = f"network {namer.network_label(server.network_id)} is served here, but {server.namespace} " \
                      "is missing"
            found.append(namer.finding("dhcp-namespace-missing", ERROR, message, where, "a namespace with dnsmasq",
                                       "no namespace", DRIFT, AGENT_FIX, objects))
            continue
        found += _leg_findings(namer, server.namespace, server, have.devices.get(server.device), "dhcp")
        found += _dnsmasq_findings(namer, server, have, f"{observed.dhcp_directory}/{server.network_id}", objects)
    planned = {server.network_id for server in plan.dhcp}
    for network_id, have in sorted(observed.dhcp.items()):
        if network_id not in planned and (have.namespace or have.command_line):
            found.append(namer.finding("dhcp-server-stale", WARNING, f"a DHCP server of network {network_id} is "
                                                                     "left on this host, which does not serve it",
                                       f"namespace qdhcp-{network_id}", "nothing", "its namespace or dnsmasq",
                                       "the network's DHCP port moved or went", AGENT_FIX))
    return found


def _dnsmasq_findings(namer: Namer, server, have, directory: str, objects) -> list[Finding]:
    where, argv = f"namespace {server.namespace} dnsmasq", server.argv(directory)
    network = namer.network_label(server.network_id)
    found = []
    if have.command_line is None or not is_ours(have.command_line, directory):
        runs = "nothing" if have.command_line is None else "another program"
        now = f"pid {have.pid} runs {runs}" if have.pid else "no pid file"
        found.append(namer.finding("dnsmasq-not-running", ERROR, f"dnsmasq does not run for network {network}: "
                                                                 "instances get no lease",
                                   where, "dnsmasq " + " ".join(argv[1:4]) + " ...", now,
                                   "it exited or was killed; the agent starts it again at its next pass",
                                   AGENT_FIX, objects))
    elif have.command_line != argv:
        found.append(namer.finding("dnsmasq-command-line-differs", WARNING, f"dnsmasq of network {network} runs "
                                                                            "with another command line than planned "
                                                                            "(a subnet or the MTU changed)",
                                   where, " ".join(argv), " ".join(have.command_line),
                                   "the agent restarts it at its next pass", AGENT_FIX, objects))
    stale = [name for name, text in server.files.items() if have.files.get(name) != text]
    if stale:
        found.append(_files_finding(namer, server, have, stale, f"{where} files in {directory}", objects))
    return found


def _files_finding(namer: Namer, server, have, stale: list[str], where: str, objects) -> Finding:
    files = ", ".join(FILE_WORDS.get(name, name) for name in stale)
    count = ""
    if "host" in stale:
        planned, there = set(server.hosts.splitlines()), set(have.files.get("host", "").splitlines())
        count = f"; hosts file: {len(planned - there)} entries missing, {len(there - planned)} not planned"
    message = f"dnsmasq's {files} of network {namer.network_label(server.network_id)} differ from the plan{count}"
    return namer.finding("dhcp-files-stale", WARNING, message, where, "the plan's hosts, addn_hosts and opts",
                         f"{files} differ", "written before the last port change; the agent rewrites them (and "
                                            "reloads dnsmasq) at its next pass", AGENT_FIX, objects)


def _cidr(address: str) -> str:
    return ipaddress.ip_interface(address).with_prefixlen
