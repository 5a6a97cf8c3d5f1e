"""The instances ``neutrino plug`` records for ``neutrino agent --cleanup``."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

from neutrino.agent.cleanup import INSTANCES_FILE, forget_instance, record_instance, recorded_instances


def test_plugs_at_once_are_all_recorded(tmp_path):
    """A hypervisor plugs many instances at once: no record is lost and no reader sees half a file."""
    names = [f"vm{n}" for n in range(40)]

    def plug(name: str) -> dict:
        record_instance(tmp_path, name, f"port-{name}", "br-int")
        return recorded_instances(tmp_path)  # read while others write: always a whole file

    with ThreadPoolExecutor(8) as pool:
        seen = list(pool.map(plug, names))
    assert all(name in snapshot for name, snapshot in zip(names, seen, strict=True))
    assert recorded_instances(tmp_path) == {name: {"port_id": f"port-{name}", "bridge": "br-int"} for name in names}

    with ThreadPoolExecutor(8) as pool:
        forgotten = list(pool.map(lambda name: forget_instance(tmp_path, name), names[:20]))
    assert forgotten == [{"port_id": f"port-{name}", "bridge": "br-int"} for name in names[:20]]
    assert sorted(json.loads((tmp_path / INSTANCES_FILE).read_text())) == sorted(names[20:])
    assert forget_instance(tmp_path, "vm0") is None
