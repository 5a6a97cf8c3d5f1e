"""Host tests: real OVS (userspace datapath) in simulated hosts, agents and ``neutrino plug`` run as
on a hypervisor. They need root, Open vSwitch's programs, nsenter and unshare; without them every
test here is skipped with the reason.

Fixtures: ``fabric`` and ``api_server``/``cloud`` are shared by the session (tests never assume an
empty store: each makes its own networks and ports, on hosts of its own); ``make_host`` builds
SimHosts for one test and removes them afterwards, even when the test fails. At the end of the
session nothing carrying the session's random prefix may remain (namespaces, links, mounts,
processes); otherwise the session errors.
"""

from __future__ import annotations

import itertools
import os
import secrets
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.host.control import ApiServer, Cloud
from tests.host.fabric import Fabric
from tests.host.simhost import SCHEMA, TOOLS, SimHost, leftovers, sh, standard_host

PREFIX = "nt" + secrets.token_hex(2)


def missing_requirements() -> str | None:
    if os.geteuid() != 0:
        return "host tests need root (namespaces, mounts, Open vSwitch daemons)"
    missing = [tool for tool in (*TOOLS, "tcpdump", "ethtool", "ping", "findmnt") if shutil.which(tool) is None]
    if missing:
        return f"host tests need {', '.join(missing)} on PATH"
    if not Path(SCHEMA).exists():
        return f"host tests need the OVSDB schema at {SCHEMA}"
    return None


@dataclass
class HostSession:
    prefix: str
    base: Path
    inodes: list[int] = field(default_factory=list)  # every netns we made: no process may stay in one


@pytest.fixture(scope="session", autouse=True)
def host_session(tmp_path_factory) -> Iterator[HostSession]:
    reason = missing_requirements()
    if reason:
        pytest.skip(reason)
    base = tmp_path_factory.mktemp(PREFIX)
    handles = base / "ns"
    handles.mkdir()
    # The mount/UTS namespace handles must sit on a private mount (multi-host.md §1).
    sh(["mount", "--bind", str(handles), str(handles)])
    sh(["mount", "--make-private", str(handles)])
    session = HostSession(PREFIX, base)
    try:
        yield session
    finally:
        sh(["umount", str(handles)], check=False)
        left = leftovers(PREFIX, session.inodes)
        assert not left, "host tests left behind:\n" + "\n".join(left)


@pytest.fixture(scope="session")
def fabric(host_session) -> Iterator[Fabric]:
    fabric = Fabric(host_session.prefix)
    try:
        fabric.up()
        yield fabric
    finally:
        host_session.inodes += fabric.inodes
        errors = fabric.down()
        assert not errors, errors


def _serve(directory: Path, fabric: Fabric) -> Iterator[ApiServer]:
    server = ApiServer(directory, fabric.server_address)
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def api_server(host_session, fabric) -> Iterator[ApiServer]:
    """One API server for the session, on the management network."""
    yield from _serve(host_session.base / "server", fabric)


@pytest.fixture
def own_api_server(host_session, fabric, request) -> Iterator[ApiServer]:
    """A server for one test only (one that stops and restarts it)."""
    yield from _serve(host_session.base / f"server-{request.node.name}", fabric)


@pytest.fixture(scope="session")
def cloud(api_server) -> Iterator[Cloud]:
    client = Cloud(api_server.url)
    yield client
    client.close()


_host_numbers = itertools.count(1)


@pytest.fixture
def make_host(host_session, fabric, api_server, request) -> Iterator[Callable[..., SimHost]]:
    """``make_host(host_config_toml=standard_host(), server=api_server, uplinks=("eth1",), attach=True,
    agent=True)``: a SimHost on the fabric whose agent (started unless ``agent=False``) has run a
    whole pass. All are removed at the end of the test; if it failed, their agent logs are printed."""
    made: list[SimHost] = []

    def make(host_config_toml: str | None = None, server: ApiServer | None = None,
             uplinks: tuple[str, ...] = ("eth1",), attach: bool = True, agent: bool = True) -> SimHost:
        host = SimHost(f"h{next(_host_numbers)}", host_session.prefix, host_session.base)
        made.append(host)
        host.up()
        fabric.connect_management(host)
        for nic in uplinks:
            fabric.connect_uplink(host, nic, attach)
        host.write_config((server or api_server).url, host_config_toml or standard_host())
        if agent:
            host.start_agent()
        return host

    yield make
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        for host in made:
            print(f"--- agent log of {host.name} (last lines) ---\n{host.log_tail(60)}")
    errors = []
    for host in reversed(made):
        errors += host.down()
        host_session.inodes += host.inodes
    assert not errors, errors


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)
