"""``neutrino up`` / ``neutrino down``: the all-in-one on this machine - Open vSwitch, the API server on
its SQLite store, a host agent with a virtual physnet (never a real NIC), the world upstream of that
physnet (a router namespace holding the external gateway address, an "internet" host behind it) and the
external network ``public`` that reaches it - started idempotently with a line per step, and removed
completely.

The upstream sits on the untagged side of the physnet (this kernel has no 802.1Q sub-interfaces and no
VLAN-filtering bridges), so ``public`` is a flat network of physnet1; tenant networks stay VLANs 100-199
of the same physnet, which the upstream never sees untagged."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import click
import httpx

from neutrino.config import Settings, load_agent_settings
from neutrino.host.services import Upstream

UPLINK = "nphys1"  # the virtual physnet's uplink veth; its peer is in namespace neutrino-fabric
PHYSICAL_BRIDGE = "br-phys1"
PHYSNET = "physnet1"
# Documentation addresses (RFC 5737), inside namespaces only: the external subnet, its gateway the
# upstream router, and behind it the "internet" host.
UPSTREAM = Upstream(gateway="203.0.113.1/24", router_side="198.51.100.1/24", internet="198.51.100.10/24")
EXTERNAL_NETWORK = "public"
EXTERNAL_CIDR = "203.0.113.0/24"
FLOATING_POOL = ("203.0.113.10", "203.0.113.250")  # router gateways and floating IPs come from here
INTERNET_HOST = UPSTREAM.internet.split("/")[0]


def step(done: bool | None, text: str) -> None:
    """A line of progress: ✓ done, … under way, ✗ (None) failed but not fatal."""
    click.echo(f"{'✗' if done is None else '✓' if done else '…'} {text}")


def pid_of(state: Path, name: str) -> int | None:
    try:
        pid = int((state / f"{name}.pid").read_text().strip())
        os.kill(pid, 0)
        return pid
    except (FileNotFoundError, ValueError, ProcessLookupError, PermissionError):
        return None


def answers(url: str) -> bool:
    try:
        return httpx.get(url + "/", timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False


def spawn(state: Path, name: str, argv: list[str]) -> subprocess.Popen:
    log = open(state / f"{name}.log", "ab")
    process = subprocess.Popen(argv, stdout=log, stderr=log, start_new_session=True)
    (state / f"{name}.pid").write_text(str(process.pid))
    return process


def stop(state: Path, name: str) -> int | None:
    pid = pid_of(state, name)
    if pid is not None:
        os.kill(pid, signal.SIGTERM)
        for _ in range(100):
            if pid_of(state, name) is None:
                break
            time.sleep(0.1)
        else:
            os.kill(pid, signal.SIGKILL)
    (state / f"{name}.pid").unlink(missing_ok=True)
    return pid


def start_server(settings: Settings, argv_tail: list[str]) -> None:
    state = settings.state_dir
    pid = pid_of(state, "server")
    if pid and answers(settings.url):
        step(True, f"API server already running (pid {pid}) on {settings.url}")
        return
    step(False, f"starting the API server on {settings.url}")
    process = spawn(state, "server", [sys.executable, "-m", "neutrino.cli.main", "serve", *argv_tail])
    deadline = time.monotonic() + 30
    while not answers(settings.url):
        if process.poll() is not None or time.monotonic() > deadline:
            raise click.ClickException(f"the API server did not start; see {state / 'server.log'}")
        time.sleep(0.1)
    step(True, f"API server running (pid {process.pid}); log {state / 'server.log'}")


def agent_config(settings: Settings, password: str, datapath: str) -> str:
    return f'''# written by `neutrino up`; see docs/configuration.md
[server]
url = "{settings.url}"
username = "neutrino-agent"
password = "{password}"
project = "service"

[agent]
state_dir = "{settings.state_dir / 'agent'}"

[host]
name = "{socket.gethostname()}"
datapath_type = "{datapath}"
bridge_mappings = {{ {PHYSNET} = "{PHYSICAL_BRIDGE}" }}

[host.bridges.{PHYSICAL_BRIDGE}]
uplinks = ["{UPLINK}"]
'''


def agent_password(settings: Settings) -> str:
    from neutrino.services.identity import IdentityService
    from neutrino.store.session import Store

    store = Store(settings.db_url)
    try:
        return IdentityService(store, settings).passwords()["neutrino-agent"]
    finally:
        store.dispose()


def start_host_side(settings: Settings) -> None:
    from neutrino.host.runner import RealHost
    from neutrino.host.services import datapath_type, ensure_fabric, ensure_ovs, ensure_upstream

    host, state = RealHost(), settings.state_dir
    started = ensure_ovs(host)
    if started:
        (state / "ovs-started").write_text("neutrino up started Open vSwitch; neutrino down stops it\n")
    step(True, f"Open vSwitch {'started' if started else 'already running'} (datapath {datapath_type()})")
    created = ensure_fabric(host, UPLINK)
    step(True, f"virtual {PHYSNET}: uplink {UPLINK} into namespace neutrino-fabric "
               f"{'created' if created else 'already there'}")
    created = ensure_upstream(host, UPSTREAM)
    step(True, f"upstream router neutrino-upstream ({UPSTREAM.gateway} on the fabric) and internet host "
               f"neutrino-internet ({UPSTREAM.internet}) {'created' if created else 'already there'}")
    config = state / "agent.toml"
    if settings.auth == "noauth":
        text = agent_config(settings, "", datapath_type()).replace('username = "neutrino-agent"', 'auth = "noauth"')
    else:
        text = agent_config(settings, agent_password(settings), datapath_type())
    config.write_text(text)
    config.chmod(0o600)
    pid = pid_of(state, "agent")
    if pid:
        step(True, f"host agent already running (pid {pid})")
        return
    process = spawn(state, "agent", [sys.executable, "-m", "neutrino.cli.main", "agent", "--config", str(config)])
    step(True, f"host agent running (pid {process.pid}); config {config}; log {state / 'agent.log'}")


def stop_everything(state: Path, purge: bool) -> None:
    from neutrino.agent.cleanup import cleanup_host
    from neutrino.host.runner import RealHost
    from neutrino.host.services import remove_fabric, remove_upstream, stop_ovs

    host = RealHost()
    pid = stop(state, "agent")
    step(True, f"host agent {f'stopped (pid {pid})' if pid else 'not running'}")
    config = state / "agent.toml"
    if config.exists() and host.run(["ovs-vsctl", "--timeout=3", "show"], check=False).rc == 0:
        settings = load_agent_settings(config, socket.gethostname())
        report = cleanup_host(host, settings.state_dir, settings.host.host, settings.dhcp_directory)
        step(True, f"removed {', '.join(report.removed) or 'no bridge or instance of ours'}")
        for error in report.errors:
            step(None, error)
    if remove_upstream(host):
        step(True, "removed the upstream router and the internet host (neutrino-upstream, neutrino-internet)")
    if remove_fabric(host, UPLINK):
        step(True, "removed the virtual physnet (neutrino-fabric)")
    pid = stop(state, "server")
    step(True, f"API server {f'stopped (pid {pid})' if pid else 'not running'}")
    if (state / "ovs-started").exists():
        stop_ovs(host)
        (state / "ovs-started").unlink()
        step(True, "stopped Open vSwitch (neutrino up had started it)")
    if purge:
        for name in ("neutrino.db", "neutrino.db-wal", "neutrino.db-shm", "clouds.yaml", "server.log", "agent.log",
                     "agent.toml"):
            (state / name).unlink(missing_ok=True)
        shutil.rmtree(state / "agent", ignore_errors=True)  # the agent's state dir as `up` configures it
        step(True, f"removed the store and files in {state}")


def external_network_body() -> dict:
    return {"network": {"name": EXTERNAL_NETWORK, "router:external": True, "provider:network_type": "flat",
                        "provider:physical_network": PHYSNET}}


def external_subnet_body(network_id: str) -> dict:
    start, end = FLOATING_POOL
    return {"subnet": {"name": f"{EXTERNAL_NETWORK}-subnet", "network_id": network_id, "ip_version": 4,
                       "cidr": EXTERNAL_CIDR, "gateway_ip": UPSTREAM.gateway.split("/")[0], "enable_dhcp": False,
                       "allocation_pools": [{"start": start, "end": end}]}}


def ensure_external_network(client) -> tuple[bool | None, str]:
    """The external network ``public`` and its subnet, each made only when missing (``client``: an admin's
    ApiClient). Answers the step's mark and line; a refusal is reported, not raised: the rest of the
    all-in-one works without it."""
    status, found = client.get("/v2.0/networks", {"name": EXTERNAL_NETWORK})
    if status != 200:
        return None, f"could not list networks ({status}): external network {EXTERNAL_NETWORK} not checked"
    networks = found["networks"]
    network = next((n for n in networks if n.get("router:external")), None)
    if network is None and networks:
        return None, f"a network named {EXTERNAL_NETWORK} exists and is not external: left as it is"
    made = []
    if network is None:
        status, answer = client.post("/v2.0/networks", external_network_body())
        if status != 201:
            return None, f"external network {EXTERNAL_NETWORK} refused: {_refusal(status, answer)}"
        network = answer["network"]
        made.append("network")
    if not network.get("subnets"):
        status, answer = client.post("/v2.0/subnets", external_subnet_body(network["id"]))
        if status != 201:
            return None, f"subnet {EXTERNAL_CIDR} of {EXTERNAL_NETWORK} refused: {_refusal(status, answer)}"
        made.append("subnet")
    what = f"external network {EXTERNAL_NETWORK} (flat on {PHYSNET}, {EXTERNAL_CIDR}, gateway the upstream router)"
    return True, f"{what} {'created (' + ' and '.join(made) + ')' if made else 'already there'}"


def _refusal(status: int, answer: dict) -> str:
    error = answer.get("NeutronError") or {}
    return f"{status} {error.get('type', '')}: {error.get('message', '')}".strip()


def admin_client(settings: Settings):
    """The API as the all-in-one's admin: through the clouds.yaml the server wrote, or without a token."""
    from neutrino.cli.cloud import ApiClient, load_cloud

    if settings.auth == "noauth":
        return ApiClient(settings.url)
    environ = {"OS_CLIENT_CONFIG_FILE": str(settings.state_dir / "clouds.yaml")}
    return ApiClient.for_cloud(load_cloud("neutrino-admin", environ))


def create_external_network(settings: Settings) -> None:
    from neutrino.cli.cloud import CloudError

    try:
        with admin_client(settings) as client:
            step(*ensure_external_network(client))
    except CloudError as error:
        step(None, f"external network {EXTERNAL_NETWORK} not checked: {error}")


def usage(settings: Settings) -> str:
    """What ``up`` prints last: where the clouds.yaml is and three commands to start with."""
    state = settings.state_dir
    lines = ["", "neutrino is up. Use it with the openstack CLI, openstacksdk or Ansible's openstack.cloud:"]
    programs = Path(sys.executable).parent  # the virtualenv's bin: neutrino, openstack
    if shutil.which("neutrino") != str(programs / "neutrino"):
        lines += [f"  export PATH={programs}:$PATH"]
    if settings.auth == "noauth":
        lines += [f"  # the API runs with --auth noauth: no token, every caller is admin (curl {settings.url}/v2.0/networks)"]
    else:
        lines += [f"  export OS_CLIENT_CONFIG_FILE={state / 'clouds.yaml'}",
                  "  export OS_CLOUD=neutrino-admin        # or neutrino-demo, a member of project demo"]
    lines += [
        "  openstack network create net1 && openstack subnet create --network net1 --subnet-range 10.0.0.0/24 sub1",
        f"  openstack router create --external-gateway {EXTERNAL_NETWORK} router1 && "
        "openstack router add subnet router1 sub1",
        "  openstack port create --network net1 port1 && "
        f"neutrino plug --config {state / 'agent.toml'} port1 --name vm1",
        f"Then vm1 reaches the internet host through the router's SNAT: ip netns exec vm1 ping {INTERNET_HOST}",
        f"See it: neutrino status · neutrino topology · neutrino trace port1 {INTERNET_HOST}",
        f"Stop everything with: neutrino down --state-dir {state}",
    ]
    return "\n".join(lines)
