"""``neutrino status``: the server, its agents, this host's Open vSwitch and namespaces, ports and floating IPs
by status, and the problems seen - on one screen, or as JSON.

Reads the API as the ``openstack`` CLI does (a cloud of clouds.yaml, an admin's: the feed's snapshot is for
admins and services; after ``neutrino up`` the all-in-one's clouds.yaml is found without being named) and
this host (``ovs-vsctl``, ``ip netns``). cli/status_view.py holds the logic; this module only does the I/O.
Exit status 0 when all is well, 1 when the server cannot be read, 2 when problems were seen.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

import click

from neutrino.config import DEFAULT_STATE_DIR

ALL_IN_ONE_CLOUD = "neutrino-admin"
PROBLEMS = 2

cloud_options = [
    click.option("--os-cloud", default=None, envvar="OS_CLOUD",
                 help="The cloud of clouds.yaml to use (an admin's; default after `neutrino up`: neutrino-admin)."),
    click.option("--url", default=None, envvar="NEUTRINO_URL",
                 help="The API of a server run with --auth noauth (no clouds.yaml, no token)."),
]


def with_cloud_options(function):
    for option in reversed(cloud_options):
        function = option(function)
    return function


@click.command("status")
@with_cloud_options
@click.option("--host", "host_name", default=None, help="This host's name as its agents report it "
                                                         "(default: the hostname).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines (schema neutrino.status/1).")
def status(os_cloud, url, host_name, as_json) -> None:
    """The server (version, revision), agents (alive, last heartbeat), Open vSwitch, each router and DHCP
    namespace of this host, ports and floating IPs by status, and what looks wrong."""
    from rich.console import Console

    from neutrino.cli.status_view import render_status, status_for, status_json

    server, state = read_api(os_cloud, url)
    found = status_for(server, state, read_local_host(host_name or socket.gethostname()), datetime.now(UTC))
    if as_json:
        click.echo(json.dumps(status_json(found), indent=2))
    else:
        Console(highlight=False, soft_wrap=True).print(render_status(found), end="")
    if state is None:
        raise SystemExit(1)
    if found.problems:
        raise SystemExit(PROBLEMS)


def api_client(os_cloud: str | None, url: str | None, environ: Mapping[str, str] = os.environ):
    """The API client a command's --os-cloud/--url (or OS_CLOUD, OS_CLIENT_CONFIG_FILE) name. With none of
    them and no clouds.yaml where the openstack CLI looks, the all-in-one's, as its admin."""
    from neutrino.cli.cloud import SEARCH_PATH, ApiClient, load_cloud

    if url:
        return ApiClient(url)
    standard = [Path(p).expanduser() for p in SEARCH_PATH]
    all_in_one = Path(environ.get("NEUTRINO_STATE_DIR", DEFAULT_STATE_DIR)) / "clouds.yaml"
    if not environ.get("OS_CLIENT_CONFIG_FILE") and not any(p.is_file() for p in standard) and all_in_one.is_file():
        environ = {**environ, "OS_CLIENT_CONFIG_FILE": str(all_in_one)}
        os_cloud = os_cloud or ALL_IN_ONE_CLOUD
    return ApiClient.for_cloud(load_cloud(os_cloud, environ))


def read_api(os_cloud: str | None, url: str | None, environ: Mapping[str, str] = os.environ):
    """(ServerStatus, the API state at one revision or None when it could not be read)."""
    from neutrino.model.state import state_from_resources

    server, snapshot = read_snapshot(os_cloud, url, environ)
    return server, None if snapshot is None else state_from_resources(snapshot.revision, snapshot.resources)


def read_snapshot(os_cloud: str | None, url: str | None, environ: Mapping[str, str] = os.environ):
    """(ServerStatus, the feed's Snapshot - every kind's wire bodies at one revision - or None)."""
    from neutrino.cli.cloud import CloudError
    from neutrino.cli.status_view import ServerStatus
    from neutrino.feed.client import snapshot_from

    where = url or os_cloud or environ.get("OS_CLOUD") or "the API"
    try:
        with api_client(os_cloud, url, environ) as client:
            where = str(client.http.base_url)
            code, info = client.get("/neutrino/v1/info")
            if code != 200:
                return ServerStatus(where, True, error=_refused("GET /neutrino/v1/info", code, info)), None
            code, snapshot = client.get("/neutrino/v1/snapshot")
            if code != 200:
                return ServerStatus(where, True, error=_refused("GET /neutrino/v1/snapshot", code, snapshot)), None
    except CloudError as error:
        return ServerStatus(where, False, error=str(error)), None
    info, snapshot = info["info"], snapshot_from(snapshot)
    return ServerStatus(where, True, info["version"], snapshot.revision, info["store"], info["auth"]), snapshot


def _refused(call: str, code: int, answer: dict) -> str:
    error = answer.get("NeutronError") or {}
    return f"{call}: {code} {error.get('type', '')} {error.get('message', '')}".rstrip()


def read_local_host(host_name: str):
    """This host's OVS (bridges with their datapath type and port count) and ``ip netns`` names."""
    from neutrino.cli.status_view import LocalHost
    from neutrino.host.runner import RealHost

    host = RealHost(timeout=10)
    listed = host.run(["ip", "netns", "list"], check=False)
    namespaces = tuple(line.split()[0] for line in listed.stdout.splitlines() if line.strip()) \
        if listed.rc == 0 else None
    return LocalHost(host_name, read_ovs(host), namespaces)


def read_ovs(host):
    from neutrino.cli.status_view import BridgeStatus, OvsStatus
    from neutrino.host.services import ovs_answers

    if not ovs_answers(host):
        return OvsStatus(False, error="ovs-vsctl or ovs-appctl got none (not running, or not readable: root?)")
    listed = host.run(["ovs-vsctl", "--timeout=5", "--format=json", "--columns=name,datapath_type,ports",
                       "list", "Bridge"], check=False)
    if listed.rc != 0:
        return OvsStatus(True, error=listed.stderr.strip())
    bridges = [BridgeStatus(name, datapath_type, _set_size(ports))
               for name, datapath_type, ports in json.loads(listed.stdout)["data"]]
    return OvsStatus(True, tuple(sorted(bridges, key=lambda b: b.name)))


def _set_size(value) -> int:
    """An OVSDB set in JSON: ["set", [...]] or a single atom (["uuid", "…"])."""
    return len(value[1]) if value[0] == "set" else 1
