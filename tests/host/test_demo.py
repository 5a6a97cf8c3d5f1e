"""``neutrino demo`` (issue 7): the memo's node rebuilt beside a running all-in-one, its floating IP failing, the
trace naming security group ``web`` and its fix, the ping answering after it, ``ovs-vsctl show`` of the memo's
shape; ``neutrino demo --clean`` leaving nothing of it.

As in test_allinone.py, the "machine" is a SimHost running ``neutrino up``, so the all-in-one's fixed names are its
own; the demo's simulated hosts are nested in it. Run with ``-s`` to read the demo's narration and times.
"""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

from neutrino.host.simhost import SimHost, parse_vsctl_show


def neutrino(host: SimHost, *args: str, timeout: float = 120.0) -> str:
    done = host.run([sys.executable, "-m", "neutrino.cli.main", *args], check=False, timeout=timeout)
    assert done.returncode == 0, f"neutrino {' '.join(args)} exited {done.returncode}:\n{done.stdout}{done.stderr}"
    return done.stdout


def test_demo_shows_the_memos_failure_and_fix_and_clean_leaves_nothing(make_host, host_session):
    host = make_host(uplinks=(), agent=False)
    state = Path(f"/tmp/{host_session.prefix}-aio")  # dnsmasq (user nobody) must reach the dhcp dir
    state.mkdir(mode=0o755)
    try:
        refused = host.run([sys.executable, "-m", "neutrino.cli.main", "demo", "--state-dir", str(state)],
                           check=False)
        assert refused.returncode != 0 and "needs `neutrino up` running" in refused.stderr, refused
        neutrino(host, "up", "--state-dir", str(state))
        aio_namespaces = _namespaces(host)
        _scenario(host, state, aio_namespaces)
    finally:
        host.run([sys.executable, "-m", "neutrino.cli.main", "demo", "--clean", "--state-dir", str(state)],
                 check=False, timeout=60)
        host.run([sys.executable, "-m", "neutrino.cli.main", "down", "--state-dir", str(state), "--purge"],
                 check=False, timeout=60)
        shutil.rmtree(state, ignore_errors=True)


def _scenario(host: SimHost, state: Path, aio_namespaces: list[str]) -> None:
    started = time.monotonic()
    said = neutrino(host, "demo", "--state-dir", str(state))
    print(f"\nneutrino demo: {time.monotonic() - started:.1f} s\n{said}")
    lines = said.splitlines()
    failing = next(line for line in lines if line.strip().startswith("$ ping") and "no reply" in line)
    assert lines.index(failing) < next(i for i, line in enumerate(lines) if "neutrino trace" in line)
    assert "✗ dropped-by-security-group: security group web" in said, said
    assert "has no ingress rule admitting icmp" in said, said
    assert "fix: openstack security group rule create --ingress --protocol icmp" in said, said
    answered = next(line for line in lines if line.strip().startswith("15. $ ping"))
    assert "reply" in answered and "no reply" not in answered, said
    for number in range(1, 17):
        assert any(line.startswith(f"{number:>2}. ") for line in lines), f"step {number} is not narrated"

    show = parse_vsctl_show(_section(said, "ovs-vsctl show"))
    assert set(show) == {"br-int", "br-bond0", "br-ex"}
    integration = show["br-int"]["ports"]
    qvo = [p for p in integration if p.startswith("qvo")]
    assert len(qvo) == 2 and all(integration[p].get("tag") for p in qvo), integration
    assert "int-br-bond0" in integration and any(p.startswith("qr-") for p in integration)
    bond_bridge = show["br-bond0"]["ports"]
    assert set(bond_bridge) == {"br-bond0", "bond0", "patch-ex", "phy-br-bond0"}
    assert set(bond_bridge["bond0"]["interfaces"]) == {"p1p1", "p1p2"}
    assert bond_bridge["patch-ex"]["tag"] == "201"
    assert bond_bridge["patch-ex"]["interfaces"]["patch-ex"] == {"type": "patch", "options": "{peer=patch-bond0}"}
    external = show["br-ex"]["ports"]
    assert {p for p in external if not p.startswith("qg-")} == {"br-ex", "patch-bond0"}
    qg = [p for p in external if p.startswith("qg-")]
    assert len(qg) == 1 and "tag" not in external[qg[0]]
    assert external["patch-bond0"]["interfaces"]["patch-bond0"] == {"type": "patch", "options": "{peer=patch-ex}"}
    netns = _section(said, "ip netns")
    assert "qrouter-" in netns and "vm1" in netns and "vm2" in netns, netns
    nat = _section(said, "nft list table")
    assert "dnat to 10.201.5.11" in nat and "snat to" in nat, nat

    again = neutrino(host, "demo", "--state-dir", str(state))  # a second run: the first is removed, then rebuilt
    assert "a previous demo is there: removing it first" in again and "15. $ ping" in again, again

    cleaned = neutrino(host, "demo", "--clean", "--state-dir", str(state))
    assert "removed simulated host neutrino-memo-node" in cleaned and "removed project memo" in cleaned, cleaned
    assert _namespaces(host) == aio_namespaces
    assert not (state / "demo").exists(), cleaned
    assert [line for line in host.run(["ip", "-n", "neutrino-fabric", "-o", "link"]).stdout.splitlines()
            if "memo-" in line] == []
    exports = (f"export PATH={Path(sys.executable).parent}:$PATH OS_CLIENT_CONFIG_FILE={state / 'clouds.yaml'} "
               "OS_CLOUD=neutrino-admin")
    listed = host.run(["bash", "-c", f"{exports}\nopenstack network list -f value -c Name\n"
                                     "openstack router list -f value -c Name\n"
                                     "openstack network agent list -f value -c Host"]).stdout
    assert "memo" not in listed, listed
    assert "the demo is removed" in neutrino(host, "demo", "--clean", "--state-dir", str(state))  # idempotent


def _section(said: str, title: str) -> str:
    """The output printed under the heading ``--- ...title... ---`` (a blank line inside it is kept)."""
    lines = said.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("--- ") and title in line)
    body = "\n".join(lines[start + 1:])
    return body.split("\n\n\n")[0]


def _namespaces(host: SimHost) -> list[str]:
    return sorted(line.split()[0] for line in host.run(["ip", "netns", "list"]).stdout.splitlines())
