"""Removes everything neutrino created on this host and nothing else (like ``mn -c``): bridges whose
external_ids:neutrino-managed names this host (their ports and flows go with them), the instances
``neutrino plug`` recorded in the agent's state dir (with their DHCP clients), the DHCP servers (dnsmasq,
qdhcp- namespace and files of each network with a directory in the dhcp dir), the routers (every
qrouter-<uuid> namespace with its legs), and the iptables_hybrid chains that neutrino's own
jump leads into (with their conntrack zones). The bridge-nf-call sysctls are left as they are: their
value before the agent set them is not known, and other bridges may rely on them."""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from neutrino.host.runner import Host
from neutrino.realize.dhcp import remove_dhcp_servers
from neutrino.realize.diff import Report
from neutrino.realize.instances import instance_dir, unplug_instance
from neutrino.realize.iptables import remove_filter
from neutrino.realize.ovsdb import observe_ovs
from neutrino.realize.routers import apply_routers

INSTANCES_FILE = "instances.json"


def recorded_instances(state_dir: Path) -> dict[str, dict]:
    path = state_dir / INSTANCES_FILE
    return json.loads(path.read_text()) if path.exists() else {}


@contextmanager
def _recorded_for_change(state_dir: Path) -> Iterator[dict[str, dict]]:
    """The recorded instances, to change under an exclusive lock (a hypervisor plugs many instances at
    once, each with its own ``neutrino plug``); written back whole with a rename, so a reader never
    sees half a file."""
    state_dir.mkdir(parents=True, exist_ok=True)
    with open(state_dir / f"{INSTANCES_FILE}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        instances = recorded_instances(state_dir)
        yield instances
        written = state_dir / f"{INSTANCES_FILE}.new"
        written.write_text(json.dumps(instances, indent=1))
        os.replace(written, state_dir / INSTANCES_FILE)


def record_instance(state_dir: Path, namespace: str, port_id: str, bridge: str) -> None:
    with _recorded_for_change(state_dir) as instances:
        instances[namespace] = {"port_id": port_id, "bridge": bridge}


def forget_instance(state_dir: Path, namespace: str) -> dict | None:
    with _recorded_for_change(state_dir) as instances:
        return instances.pop(namespace, None)


def cleanup_host(host: Host, state_dir: Path, host_name: str, dhcp_dir: Path | None = None) -> Report:
    """``dhcp_dir``: the agent's (AgentSettings.dhcp_directory), by default <state_dir>/dhcp."""
    report = Report("cleanup")
    for namespace, instance in recorded_instances(state_dir).items():
        unplug_instance(host, namespace, instance["port_id"], instance["bridge"], instance_dir(state_dir, namespace))
        forget_instance(state_dir, namespace)
        report.removed.append(f"instance {namespace}")
    servers = remove_dhcp_servers(host, dhcp_dir or state_dir / "dhcp")
    report.removed += servers.removed
    report.errors += servers.errors
    routers = apply_routers(host, ()).report  # no router is wanted: each namespace goes with its legs
    report.removed += routers.removed
    report.errors += routers.errors
    for name, bridge in observe_ovs(host).bridges.items():
        if bridge.managed_by == host_name:
            host.run(["ovs-vsctl", "--timeout=10", "--if-exists", "del-br", name])
            report.removed.append(f"bridge {name}")
    filters = remove_filter(host)
    report.removed += filters.removed
    report.errors += filters.errors
    return report
