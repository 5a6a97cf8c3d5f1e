"""``neutrino up`` / ``neutrino down``: the all-in-one on this machine - Open vSwitch, the API server on
its SQLite store, a host agent with a virtual physnet (never a real NIC) - started idempotently
with a line per step, and removed completely."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import click
import httpx

from neutrino.config import Settings, load_agent_settings

UPLINK = "nphys1"  # the virtual physnet's uplink veth; its peer is in namespace neutrino-fabric
PHYSICAL_BRIDGE = "br-phys1"


def step(done: bool, text: str) -> None:
    click.echo(f"{'✓' if done else '…'} {text}")


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
bridge_mappings = {{ physnet1 = "{PHYSICAL_BRIDGE}" }}

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
    from neutrino.host.services import datapath_type, ensure_fabric, ensure_ovs

    host, state = RealHost(), settings.state_dir
    started = ensure_ovs(host)
    if started:
        (state / "ovs-started").write_text("neutrino up started Open vSwitch; neutrino down stops it\n")
    step(True, f"Open vSwitch {'started' if started else 'already running'} (datapath {datapath_type()})")
    created = ensure_fabric(host, UPLINK)
    step(True, f"virtual physnet1: uplink {UPLINK} into namespace neutrino-fabric "
               f"{'created' if created else 'already there'}")
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
    from neutrino.host.services import remove_fabric, stop_ovs

    host = RealHost()
    pid = stop(state, "agent")
    step(True, f"host agent {f'stopped (pid {pid})' if pid else 'not running'}")
    config = state / "agent.toml"
    if config.exists() and host.run(["ovs-vsctl", "--timeout=3", "show"], check=False).rc == 0:
        settings = load_agent_settings(config, socket.gethostname())
        report = cleanup_host(host, settings.state_dir, settings.host.host)
        step(True, f"removed {', '.join(report.removed) or 'no bridge or instance of ours'}")
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
        step(True, f"removed the store and files in {state}")
