"""One real neutrino server for the compatibility tests, driven by the real openstacksdk and ``openstack`` CLI.

The server is ``neutrino serve`` in a subprocess on a free 127.0.0.1 port, with keystone auth and SQLite
in a temporary state dir; clients find it only through the clouds.yaml it writes there (clouds
``neutrino-admin`` and ``neutrino-demo``), as a user would. The whole session shares it, so tests never
assume an empty store: each makes uniquely named resources and asserts on those.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
ADMIN, DEMO = "neutrino-admin", "neutrino-demo"
# Tenant networks take VLANs from 1000 up, so the provider VLANs the tests ask for by number
# (150 and up, on the same physnet) are never already held by a tenant network.
VLAN_RANGES = "physnet1:1000:1999"
# Commands whose output the CLI can format as JSON; the others (set, unset, delete, add) print nothing.
FORMATTED_VERBS = {"create", "list", "show", "issue"}


@dataclass(frozen=True)
class Server:
    url: str
    state_dir: Path

    @property
    def clouds_yaml(self) -> Path:
        return self.state_dir / "clouds.yaml"


def unique(prefix: str) -> str:
    """A name no other test in the session uses."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_until_answering(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"neutrino serve exited with {process.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(url + "/", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    pytest.fail(f"neutrino serve did not answer on {url} within 30 s:\n{log.read_text()}")


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="session")
def server(tmp_path_factory) -> Iterator[Server]:
    state_dir = tmp_path_factory.mktemp("neutrino-compat")
    port = _free_port()
    log_path = state_dir / "server.log"
    argv = [sys.executable, "-m", "neutrino.cli.main", "serve", "--state-dir", str(state_dir),
            "--port", str(port), "--auth", "keystone", "--vlan-ranges", VLAN_RANGES]
    env = {k: v for k, v in os.environ.items() if k not in ("NEUTRINO_DB", "NEUTRINO_PUBLIC_URL")}
    with open(log_path, "wb") as log:
        process = subprocess.Popen(argv, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=env)
        try:
            url = f"http://127.0.0.1:{port}"
            _wait_until_answering(url, process, log_path)
            yield Server(url, state_dir)
        finally:
            _stop(process)


@pytest.fixture(scope="session")
def sdk(server):
    """``sdk(cloud)``: an openstacksdk Connection for a cloud of the server's clouds.yaml (one per cloud)."""
    connections = {}
    yield lambda cloud: connections.get(cloud) or connections.setdefault(cloud, connect(server.clouds_yaml, cloud))
    for connection in connections.values():
        connection.close()


def connect(clouds_yaml: Path, cloud: str):
    from openstack.config import OpenStackConfig
    from openstack.connection import Connection

    config = OpenStackConfig(config_files=[str(clouds_yaml)], load_envvars=False)
    return Connection(config=config.get_one(cloud=cloud))


class CliFailed(AssertionError):
    pass


class Cli:
    """Runs the real ``openstack`` command against the clouds of one clouds.yaml.

    ``cli(cloud, *args)`` returns the parsed JSON of create/list/show commands (``-f json`` is added)
    and the text of the others; a non-zero exit fails the test with the command's stderr.
    ``cli.fails(cloud, *args)`` expects the command to fail and returns its stderr.
    """

    def __init__(self, clouds_yaml: Path):
        self.env = {**{k: v for k, v in os.environ.items() if not k.startswith("OS_")},
                    "OS_CLIENT_CONFIG_FILE": str(clouds_yaml)}

    def _run(self, cloud: str, args: tuple[str, ...]) -> tuple[subprocess.CompletedProcess, bool]:
        command_words = [a for a in args[:4] if not a.startswith("-")]
        formatted = bool(FORMATTED_VERBS & set(command_words))
        argv = [str(BIN / "openstack"), "--os-cloud", cloud, *args, *(("-f", "json") if formatted else ())]
        return subprocess.run(argv, env=self.env, capture_output=True, text=True, timeout=60), formatted

    def __call__(self, cloud: str, *args: str):
        result, formatted = self._run(cloud, args)
        if result.returncode != 0:
            raise CliFailed(f"openstack {' '.join(args)} exited {result.returncode}:\n{result.stderr}")
        return json.loads(result.stdout) if formatted else result.stdout

    def fails(self, cloud: str, *args: str) -> str:
        result, _ = self._run(cloud, args)
        if result.returncode == 0:
            raise CliFailed(f"openstack {' '.join(args)} succeeded, expected a failure:\n{result.stdout}")
        return result.stderr


@pytest.fixture(scope="session")
def cli(server) -> Cli:
    return Cli(server.clouds_yaml)
