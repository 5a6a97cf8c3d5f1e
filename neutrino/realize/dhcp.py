"""DHCP servers: for each ``DhcpPlan``, the ``qdhcp-<network id>`` namespace, the leg in it, dnsmasq's files
and dnsmasq itself; observe -> changes (pure) -> apply, like every realizer.

Each network served here has a directory ``<dhcp dir>/<network id>/`` holding ``host``, ``addn_hosts``,
``opts`` and dnsmasq's ``pid``: the directory is the mark of what is ours (only networks with one, or in the
plan, are looked at; a directory the plan no longer names is removed with its namespace and dnsmasq).

The leg is a veth created with its peer directly in the namespace (moving a link costs ~30 ms), both ends
named ``tap<port id[:11]>``: the root end is the OVS port the OVSDB realizer adds (an owned port of the
plan, tagged by L2), the namespace end carries the port's MAC, addresses and MTU, with tx checksum offload
off (TCP through the userspace datapath needs it). dnsmasq runs through ``ip netns exec`` (which execs,
so the pid we spawn is dnsmasq's) with ``--keep-in-foreground``, in a session of its own: it outlives an
agent restart, and the next agent finds it by its pid file and its exact command line. New file contents
-> SIGHUP (dnsmasq re-reads its hosts and options, no restart); a new command line (a subnet more, another
MTU), a new leg or a dead dnsmasq -> (re)start; a network no longer served -> stop it by its pid.

dnsmasq drops root for an unprivileged user before reading its files, so the dhcp dir and its parents must
be searchable by others (the default, /var/lib/neutrino/agent/dhcp, is).
"""

from __future__ import annotations

import ipaddress
import logging
import os
import shutil
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from neutrino.host.errors import HostError
from neutrino.host.processes import Processes
from neutrino.host.runner import Host
from neutrino.plan.dhcp import DhcpPlan
from neutrino.realize.diff import Report
from neutrino.realize.namespace_links import ObservedLink, links_from, read_ip_batch

log = logging.getLogger(__name__)

STOP_GRACE = 2.0  # seconds between SIGTERM and SIGKILL
PID_FILE = "pid"
LOG_FILE = "dnsmasq.log"


@dataclass(frozen=True)
class ObservedDhcp:
    network_id: str
    directory: bool  # ours: the network's directory exists
    namespace: bool
    devices: dict[str, ObservedLink]  # links in the namespace but lo
    gateway: str | None  # the namespace's default route
    files: dict[str, str]  # file name -> content found
    pid: int | None  # from dnsmasq's pid file
    command_line: tuple[str, ...] | None  # what that pid runs; None when it runs nothing


@dataclass(frozen=True)
class DhcpChanges:
    """What one network's DHCP server needs; ``process`` is "start", "restart", "reload" (SIGHUP) or None."""

    network_id: str
    remove: bool = False
    create_namespace: bool = False
    stale_devices: tuple[str, ...] = ()
    create_leg: bool = False
    leg_commands: tuple[str, ...] = ()  # `ip -n <namespace> -b -` lines fixing the namespace end and routes
    root_mtu: int | None = None  # the root end's new MTU
    files: tuple[str, ...] = ()
    process: str | None = None

    def __bool__(self) -> bool:
        return bool(self.remove or self.create_namespace or self.stale_devices or self.create_leg
                    or self.leg_commands or self.files or self.process)


# --- observe ---

def observe_dhcp(host: Host, processes: Processes, root: Path, desired: list[DhcpPlan],
                 trusted: dict[str, DhcpPlan] | None = None) -> dict[str, ObservedDhcp]:
    """Every network with a directory of ours or in the plan; nothing is run when there is none.

    ``trusted``: plans a previous pass realized without error; a network whose leg is planned the same is
    taken to have its namespace and leg as planned (no exec: drift there waits for the next pass without
    ``trusted``), while its files and its dnsmasq (a /proc read) are looked at every time."""
    ids = {plan.network_id for plan in desired}
    if root.is_dir():
        ids |= {entry.name for entry in root.iterdir() if entry.is_dir()}
    if not ids:
        return {}
    as_planned = {p.network_id: p for p in desired if _same_leg((trusted or {}).get(p.network_id), p)}
    namespaces = set(host.run(["ip", "netns", "list"]).stdout.split()) if ids - set(as_planned) else set()
    return {network_id: _observe_network(host, processes, root / network_id, network_id, namespaces,
                                         as_planned.get(network_id))
            for network_id in sorted(ids)}


def _observe_network(host: Host, processes: Processes, directory: Path, network_id: str,
                     namespaces: set[str], as_planned: DhcpPlan | None) -> ObservedDhcp:
    namespace = "qdhcp-" + network_id
    if as_planned is not None:
        namespaces = namespaces | {namespace}
        devices = {as_planned.device: ObservedLink(as_planned.mac, as_planned.mtu, True, as_planned.addresses)}
        gateway = as_planned.gateway
    else:
        devices, gateway = _observe_namespace(host, namespace) if namespace in namespaces else ({}, None)
    files = {name: (directory / name).read_text() for name in ("host", "addn_hosts", "opts")
             if (directory / name).is_file()}
    pid = _read_pid(directory / PID_FILE)
    return ObservedDhcp(network_id, directory.is_dir(), namespace in namespaces, devices, gateway, files, pid,
                        processes.command_line(pid) if pid else None)


def _same_leg(before: DhcpPlan | None, plan: DhcpPlan) -> bool:
    return before is not None and (before.namespace, before.device, before.mac, before.mtu, before.addresses,
                                   before.gateway) == (plan.namespace, plan.device, plan.mac, plan.mtu,
                                                       plan.addresses, plan.gateway)


def _observe_namespace(host: Host, namespace: str) -> tuple[dict[str, ObservedLink], str | None]:
    """The namespace's links (lo aside) and its default route, read in one exec."""
    links, routes = read_ip_batch(host, namespace, "addr show", "route show default")
    gateway = next((r["gateway"] for r in routes if "gateway" in r), None)
    return links_from(links), gateway


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


# --- changes (pure) ---

def changes_for(plan: DhcpPlan | None, observed: ObservedDhcp | None, directory: str) -> DhcpChanges:
    """What makes the network's DHCP server match ``plan`` (None: not served here any more)."""
    if plan is None:
        return DhcpChanges(observed.network_id, remove=True) if observed is not None else DhcpChanges("")
    observed = observed or ObservedDhcp(plan.network_id, False, False, {}, None, {}, None, None)
    leg = observed.devices.get(plan.device)
    create_leg = leg is None
    files = tuple(name for name, text in plan.files.items() if observed.files.get(name) != text)
    running = observed.command_line if observed.command_line and is_ours(observed.command_line, directory) else None
    return DhcpChanges(
        plan.network_id, create_namespace=not observed.namespace,
        stale_devices=tuple(sorted(set(observed.devices) - {plan.device})), create_leg=create_leg,
        leg_commands=_leg_commands_for(plan, leg, observed.gateway),
        root_mtu=plan.mtu if leg is not None and leg.mtu != plan.mtu else None, files=files,
        process=_process_change(plan.argv(directory), running, create_leg, bool(files)),
    )


def _leg_commands_for(plan: DhcpPlan, leg: ObservedLink | None, gateway: str | None) -> tuple[str, ...]:
    """`ip -b` lines in the namespace: everything for a new leg, else only what differs."""
    device, lines = plan.device, []
    if leg is None:
        lines.append("link set lo up")
    if leg is None or (leg.mac.lower(), leg.mtu, leg.up) != (plan.mac.lower(), plan.mtu, True):
        lines.append(f"link set {device} address {plan.mac} mtu {plan.mtu} up")
    have = set(leg.addresses) if leg is not None else set()
    for address in plan.addresses:
        if address not in have:
            dad = " nodad" if ipaddress.ip_interface(address).version == 6 else ""  # dnsmasq binds it at once
            lines.append(f"addr replace {address} dev {device}{dad}")
    lines += [f"addr del {address} dev {device}" for address in sorted(have - set(plan.addresses))]
    if plan.gateway and (leg is None or gateway != plan.gateway):
        lines.append(f"route replace default via {plan.gateway} dev {device}")
    elif not plan.gateway and gateway:
        lines.append("route del default")
    return tuple(lines)


def _process_change(argv: tuple[str, ...], running: tuple[str, ...] | None, new_leg: bool,
                    new_files: bool) -> str | None:
    if running is None:
        return "start"  # never started, exited, or its pid is not ours any more
    if running != argv or new_leg:
        return "restart"  # another command line; or its interface was made anew under it
    return "reload" if new_files else None


# --- apply ---

def apply_dhcp(host: Host, processes: Processes, root: Path, plans: tuple[DhcpPlan, ...],
               trusted: dict[str, DhcpPlan] | None = None) -> Report:
    """``trusted``: see observe_dhcp."""
    report = Report("dhcp")
    observed = observe_dhcp(host, processes, root, list(plans), trusted)
    wanted = {plan.network_id: plan for plan in plans}
    for network_id in sorted(set(wanted) | set(observed)):
        plan, directory = wanted.get(network_id), root / network_id
        changes = changes_for(plan, observed.get(network_id), str(directory))
        try:
            if changes.remove:
                _remove(host, processes, observed[network_id], directory, report)
            elif changes:
                _apply_network(host, processes, plan, changes, observed.get(network_id), directory, report)
        except (HostError, OSError) as error:
            report.errors.append(f"network {network_id}: {error}")
    return report


def remove_dhcp_servers(host: Host, root: Path, processes: Processes | None = None) -> Report:
    """Every DHCP server with a directory in ``root`` goes: dnsmasq stopped by its pid, leg, namespace,
    directory. For whoever tears a host down (``agent --cleanup``, benches): dnsmasq outlives its agent."""
    from neutrino.host.processes import RealProcesses

    return apply_dhcp(host, processes or RealProcesses(), root, ())


def _apply_network(host: Host, processes: Processes, plan: DhcpPlan, changes: DhcpChanges,
                   observed: ObservedDhcp | None, directory: Path, report: Report) -> None:
    _make_directory(directory)
    if changes.create_namespace:
        host.run(["ip", "netns", "add", plan.namespace])
        report.added.append(f"namespace {plan.namespace}")
    for device in changes.stale_devices:
        host.run(["ip", "-n", plan.namespace, "link", "del", device])
        report.removed.append(f"link {device} in {plan.namespace}")
    _apply_leg(host, plan, changes, report)
    for name in changes.files:
        _write(directory / name, plan.files[name])
    if changes.files:
        report.changed.append(f"{plan.namespace}: {', '.join(changes.files)}")
    _apply_process(processes, plan, changes.process, observed, directory, report)


def _apply_leg(host: Host, plan: DhcpPlan, changes: DhcpChanges, report: Report) -> None:
    if changes.create_leg:
        host.run(["ip", "link", "del", plan.device], check=False)  # a root end left without its peer
        host.run(["ip", "link", "add", plan.device, "mtu", str(plan.mtu), "type", "veth", "peer", "name",
                  plan.device, "netns", plan.namespace])
        report.added.append(f"leg {plan.device} in {plan.namespace}")
    elif changes.leg_commands:
        report.changed.append(f"leg {plan.device} in {plan.namespace}")
    if changes.root_mtu is not None:
        host.run(["ip", "link", "set", plan.device, "mtu", str(changes.root_mtu)])
    if changes.leg_commands:
        host.run(["ip", "-n", plan.namespace, "-b", "-"], input="".join(f"{line}\n" for line in changes.leg_commands))
    if changes.create_leg:
        host.run(["ip", "link", "set", plan.device, "up"])
        host.run(["ethtool", "-K", plan.device, "tx", "off"], netns=plan.namespace)


def _apply_process(processes: Processes, plan: DhcpPlan, change: str | None, observed: ObservedDhcp | None,
                   directory: Path, report: Report) -> None:
    if change == "reload":
        processes.signal(observed.pid, signal.SIGHUP)
        report.changed.append(f"dnsmasq {observed.pid} of {plan.namespace} reloaded (SIGHUP)")
        log.info("dnsmasq %d of %s reloaded (SIGHUP): new hosts or options", observed.pid, plan.namespace)
        return
    if change == "restart":
        _stop(processes, observed.pid)
    if change in ("start", "restart"):
        argv = plan.argv(str(directory))
        pid = processes.spawn(["ip", "netns", "exec", plan.namespace, *argv], directory / LOG_FILE)
        _write(directory / PID_FILE, f"{pid}\n")  # dnsmasq writes the same: the next pass must find it now
        (report.changed if change == "restart" else report.added).append(f"dnsmasq {pid} in {plan.namespace}")
        was = f"restarted (was {observed.pid})" if change == "restart" else "started"
        log.info("dnsmasq %d %s in %s", pid, was, plan.namespace)


def _remove(host: Host, processes: Processes, observed: ObservedDhcp, directory: Path, report: Report) -> None:
    """The network is not served here any more: dnsmasq, the leg, the namespace and the directory go."""
    namespace = "qdhcp-" + observed.network_id
    if observed.command_line is not None and is_ours(observed.command_line, directory):
        _stop(processes, observed.pid)
        report.removed.append(f"dnsmasq {observed.pid} of {namespace}")
        log.info("dnsmasq %d of %s stopped: the network is not served here any more", observed.pid, namespace)
    if observed.namespace:
        for device in sorted(observed.devices):
            host.run(["ip", "-n", namespace, "link", "del", device], check=False)
        host.run(["ip", "netns", "del", namespace])
        report.removed.append(f"namespace {namespace}")
    if observed.directory:
        shutil.rmtree(directory, ignore_errors=True)


def is_ours(command_line: tuple[str, ...], directory: Path | str) -> bool:
    """A dnsmasq of ours for this network (whatever its other options): it names our pid file."""
    return f"--pid-file={directory}/{PID_FILE}" in command_line


def _stop(processes: Processes, pid: int | None) -> None:
    if pid is None:
        return
    processes.signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE
    while processes.command_line(pid) is not None:
        if time.monotonic() > deadline:
            processes.signal(pid, signal.SIGKILL)
            deadline += STOP_GRACE
        time.sleep(0.005)


# --- files ---

def _make_directory(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o755)  # dnsmasq reads it as an unprivileged user


def _write(path: Path, text: str) -> None:
    """Replace the file whole (dnsmasq may read it at any moment), readable by dnsmasq's user."""
    new = path.with_name(path.name + ".new")
    new.write_text(text)
    new.chmod(0o644)
    os.replace(new, path)


def unsearchable_part(root: Path) -> Path | None:
    """The first directory on the way to ``root`` that others may not search: dnsmasq, running as an
    unprivileged user, could not read its files below it (and would hand out no lease)."""
    for directory in reversed((root, *root.parents)):
        if directory.exists() and not directory.stat().st_mode & 0o001:
            return directory
    return None
