"""The simulated world the multi-host benches run in: simulated hosts (each with its own Open vSwitch and
private namespaces, as the host tests make them) on one fabric, and an API server they reach over the
fabric's management network. Each bench's Lab adds its own hosts and objects on top."""

from __future__ import annotations

import secrets
from pathlib import Path

from tests.host.control import ApiServer, Cloud
from tests.host.fabric import Fabric
from tests.host.simhost import SimHost, leftovers, sh


class SimLab:
    def __init__(self, base: Path, prefix: str):
        self.prefix = prefix + secrets.token_hex(2)
        self.base = base
        self.hosts: list[SimHost] = []
        self.fabric = Fabric(self.prefix)
        self.server: ApiServer | None = None

    def up(self) -> None:
        handles = self.base / "ns"
        handles.mkdir()
        # The mount/UTS namespace handles must sit on a private mount (multi-host.md §1).
        sh(["mount", "--bind", str(handles), str(handles)])
        sh(["mount", "--make-private", str(handles)])
        self.fabric.up()
        self.server = ApiServer(self.base / "server", self.fabric.server_address)
        self.server.start()
        self.cloud = Cloud(self.server.url)

    def add_host(self, name: str, config_toml: str, agent: bool) -> SimHost:
        """A simulated host on the fabric (uplink eth1), configured for the server, its agent started or not."""
        host = SimHost(name, self.prefix, self.base)
        self.hosts.append(host)
        host.up()
        self.fabric.connect_management(host)
        self.fabric.connect_uplink(host, "eth1")
        host.write_config(self.server.url, config_toml, resync_seconds=5.0)
        if agent:
            host.start_agent()
        return host

    def down(self) -> list[str]:
        errors = []
        for host in reversed(self.hosts):
            errors += host.down()
        if self.server is not None:
            self.server.stop()
        errors += self.fabric.down()
        sh(["umount", str(self.base / "ns")], check=False)
        inodes = [inode for host in self.hosts for inode in host.inodes] + self.fabric.inodes
        return errors + leftovers(self.prefix, inodes)
