"""Removes everything neutrino created on this host and nothing else (like ``mn -c``): bridges whose
external_ids:neutrino-managed names this host (their ports and flows go with them) and the instances
``neutrino plug`` recorded in the agent's state dir."""

from __future__ import annotations

import json
from pathlib import Path

from neutrino.host.runner import Host
from neutrino.realize.diff import Report
from neutrino.realize.instances import unplug_instance
from neutrino.realize.ovsdb import observe_ovs

INSTANCES_FILE = "instances.json"


def recorded_instances(state_dir: Path) -> dict[str, dict]:
    path = state_dir / INSTANCES_FILE
    return json.loads(path.read_text()) if path.exists() else {}


def record_instance(state_dir: Path, namespace: str, port_id: str, bridge: str) -> None:
    instances = recorded_instances(state_dir)
    instances[namespace] = {"port_id": port_id, "bridge": bridge}
    state_dir.mkdir(parents=True, exist_ok=True)
    (state_dir / INSTANCES_FILE).write_text(json.dumps(instances, indent=1))


def forget_instance(state_dir: Path, namespace: str) -> dict | None:
    instances = recorded_instances(state_dir)
    found = instances.pop(namespace, None)
    if found is not None:
        (state_dir / INSTANCES_FILE).write_text(json.dumps(instances, indent=1))
    return found


def cleanup_host(host: Host, state_dir: Path, host_name: str) -> Report:
    report = Report("cleanup")
    for namespace, instance in recorded_instances(state_dir).items():
        unplug_instance(host, namespace, instance["port_id"], instance["bridge"])
        forget_instance(state_dir, namespace)
        report.removed.append(f"instance {namespace}")
    for name, bridge in observe_ovs(host).bridges.items():
        if bridge.managed_by == host_name:
            host.run(["ovs-vsctl", "--timeout=10", "--if-exists", "del-br", name])
            report.removed.append(f"bridge {name}")
    return report
