"""The all-in-one as a newcomer meets it (issue 7): ``neutrino up`` on a machine with nothing of neutrino on it,
then the very commands it prints, an instance reaching the internet host behind the upstream router through
its router's SNAT, and ``neutrino down --purge`` leaving nothing behind.

The "machine" is a SimHost with its own Open vSwitch and its own ``ip netns`` names, so the all-in-one's fixed
names (br-int, br-phys1, nphys1, neutrino-fabric, neutrino-upstream, 127.0.0.1:9696) are its own and nobody
else's. Times are printed: run with ``-s`` to read them.
"""

from __future__ import annotations

import html
import json
import shutil
import sys
import time
from pathlib import Path

from tests.host.l3_lab import ask, serve
from tests.host.simhost import SimHost, eventually

INTERNET_HOST = "198.51.100.10"
UPSTREAM = "203.0.113.1"


def neutrino(host: SimHost, *args: str, timeout: float = 120.0) -> str:
    done = host.run([sys.executable, "-m", "neutrino.cli.main", *args], check=False, timeout=timeout)
    assert done.returncode == 0, f"neutrino {' '.join(args)} exited {done.returncode}:\n{done.stdout}{done.stderr}"
    return done.stdout


def printed_commands(said: str) -> list[str]:
    """The example commands ``up`` ends with (``export`` lines included), as a user would paste them."""
    return [line.strip() for line in said.splitlines() if line.startswith(("  export ", "  openstack "))]


def test_up_prints_commands_that_work_and_down_leaves_nothing(make_host, host_session):
    host = make_host(uplinks=(), agent=False)
    state = Path(f"/tmp/{host_session.prefix}-aio")  # dnsmasq (user nobody) must reach the dhcp dir
    state.mkdir(mode=0o755)
    try:
        _scenario(host, state)
    finally:
        host.run([sys.executable, "-m", "neutrino.cli.main", "down", "--state-dir", str(state), "--purge"],
                 check=False, timeout=60)
        shutil.rmtree(state, ignore_errors=True)


def _scenario(host: SimHost, state: Path) -> None:
    started = time.monotonic()
    first = neutrino(host, "up", "--state-dir", str(state))
    print(f"\nneutrino up (OVS already running): {time.monotonic() - started:.1f} s\n{first}")
    for line in ("✓ API server running", "virtual physnet1: uplink nphys1 into namespace neutrino-fabric created",
                 f"upstream router neutrino-upstream ({UPSTREAM}/24 on the fabric)",
                 "external network public (flat on physnet1, 203.0.113.0/24, gateway the upstream router) "
                 "created (network and subnet)", f"export OS_CLIENT_CONFIG_FILE={state / 'clouds.yaml'}",
                 "export OS_CLOUD=neutrino-admin"):
        assert line in first, first
    again = neutrino(host, "up", "--state-dir", str(state))
    assert "API server already running" in again and "host agent already running" in again
    assert again.count("already there") == 3 and "created" not in again, again

    # the printed commands, pasted into a shell: a network, a router with its gateway on public, an instance
    script = "\n".join(printed_commands(first))
    started = time.monotonic()
    done = host.run(["bash", "-ec", script], check=False, timeout=180)
    assert done.returncode == 0, f"{script}\n{done.stdout}{done.stderr}"
    print(f"the printed commands: {time.monotonic() - started:.1f} s")
    assert "DHCP bound to 10.0.0." in done.stdout, (script, done)
    assert host.ping("vm1", UPSTREAM)  # the external subnet's gateway, behind the router
    assert host.ping("vm1", INTERNET_HOST)  # routed on by the upstream router
    serve(host, "neutrino-internet")
    exports = "\n".join(c for c in printed_commands(first) if c.startswith("export "))
    gateway = _router_gateway_address(host, exports)
    assert ask(host, "vm1", INTERNET_HOST) == gateway, f"the internet host sees the router's SNAT address {gateway}"

    # neutrino status, with the same exports: all well, the router's and the DHCP server's namespaces here
    done = host.run(["bash", "-c", f"{exports}\nneutrino status --json"], check=False)
    status = json.loads(done.stdout)
    assert done.returncode == 0 and status["healthy"], done.stdout
    assert sorted((n["kind"], n["object_name"], n["present"]) for n in status["namespaces"]) == [
        ("dhcp", "net1", True), ("router", "router1", True)]
    assert {a["agent_type"] for a in status["agents"] if a["alive"]} == {
        "Open vSwitch agent", "L3 agent", "DHCP agent"}
    assert status["floating_ips"] == {} and status["ports"]["ACTIVE"] >= 4  # vm1, DHCP, router leg, gateway

    # the README's floating IP story: no answer from the internet host, the trace names the security group
    fip = host.run(["bash", "-c", f"{exports}\nopenstack floating ip create --port port1 public -f value "
                                  "-c floating_ip_address"]).stdout.strip()
    assert not _ping_from_internet(host, fip)
    said = host.run(["bash", "-c", f"{exports}\nneutrino trace {INTERNET_HOST} {fip}"], check=False)
    assert said.returncode == 3 and "✗ dropped-by-security-group: security group default" in said.stdout \
        and "of port port1 has no ingress rule admitting icmp" in said.stdout, said.stdout
    host.run(["bash", "-c", f"{exports}\nopenstack security group rule create --ingress --protocol icmp "
                            "$(openstack port show port1 -f value -c security_group_ids | tr -d \"[]',\")"])
    eventually(lambda: _ping_from_internet(host, fip), what=f"the internet host reaches floating IP {fip}")

    # neutrino topology: the tree with this host's real local VLANs and instances, and a trace drawn as SVG
    tree = host.run(["bash", "-c", f"{exports}\nneutrino topology --config {state / 'agent.toml'}"]).stdout
    for line in ("network net1  vlan 1", "    subnet sub1 10.0.0.0/24  gateway 10.0.0.1  DHCP\n",
                 "instance vm1\n", "router router1  ACTIVE  on ", "  gateway on public, SNAT",
                 "network public  flat on physnet1, external", "    Bridge br-phys1", "        Port nphys1  uplink NIC"):
        assert line in tree, tree
    picture = state / "trace.svg"
    host.run(["bash", "-c", f"{exports}\nneutrino topology --trace port1 {INTERNET_HOST} --format svg -o {picture}"])
    assert "✓ left neutrino" in html.unescape(picture.read_text())
    picture.unlink()

    said = neutrino(host, "down", "--state-dir", str(state), "--purge")
    assert "removed the upstream router and the internet host" in said and "API server stopped" in said, said
    assert host.run(["ip", "netns", "list"]).stdout.strip() == ""
    assert host.vsctl("list-br") == ""
    assert [line for line in host.run(["ip", "-o", "link"]).stdout.splitlines()
            if "nphys1" in line or "qr-" in line or "qg-" in line or "tap" in line] == []
    assert sorted(p.name for p in state.iterdir()) == [], "down --purge leaves no file of ours"


def _router_gateway_address(host: SimHost, exports: str) -> str:
    shown = host.run(["bash", "-c", f"{exports}\nopenstack router show router1 -f json"]).stdout
    return json.loads(shown)["external_gateway_info"]["external_fixed_ips"][0]["ip_address"]


def _ping_from_internet(host: SimHost, address: str) -> bool:
    return host.ping("neutrino-internet", address, wait=0.5)
