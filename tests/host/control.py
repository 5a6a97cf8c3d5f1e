"""The control plane the simulated hosts talk to: a ``neutrino serve`` process and a small client.

The server listens on the fabric's management address (reachable from every SimHost and from the
test process, nowhere else) with noauth, so every request is an admin's.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.host.simhost import REPO, stop_process

VLAN_RANGES = "physnet1:100:199,physnet2:100:199"


def free_port(address: str) -> int:
    with socket.socket() as probe:
        probe.bind((address, 0))
        return probe.getsockname()[1]


class ApiServer:
    """``neutrino serve --auth noauth`` in a subprocess; ``stop()``/``start()`` keep its store and port."""

    def __init__(self, state_dir: Path, address: str):
        self.state_dir = state_dir
        self.address = address
        self.port = free_port(address)
        self.url = f"http://{address}:{self.port}"
        self.log = state_dir / "server.log"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        argv = [sys.executable, "-m", "neutrino.cli.main", "serve", "--auth", "noauth", "--state-dir",
                str(self.state_dir), "--host", self.address, "--port", str(self.port), "--vlan-ranges", VLAN_RANGES]
        with open(self.log, "a") as log:
            self.process = subprocess.Popen(argv, cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                                            start_new_session=True)
        deadline = time.monotonic() + 30
        while not self.answers():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"neutrino serve did not start on {self.url}:\n{self.log.read_text()}")
            time.sleep(0.05)

    def answers(self) -> bool:
        try:
            return httpx.get(self.url + "/", timeout=1.0).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process, grace=10.0)


class Cloud:
    """The few Neutron v2.0 calls the host tests make (noauth: no token)."""

    def __init__(self, url: str):
        self.url = url
        self.http = httpx.Client(base_url=url, timeout=10)
        self._vlan = 1000  # provider VLANs the tests ask for, outside the tenant ranges

    def close(self) -> None:
        self.http.close()

    def _call(self, method: str, path: str, expect: int, **kwargs) -> dict:
        response = self.http.request(method, path, **kwargs)
        assert response.status_code == expect, f"{method} {path}: {response.status_code} {response.text}"
        return response.json() if response.content else {}

    def next_vlan(self) -> int:
        self._vlan += 1
        return self._vlan

    def create_network(self, name: str, physnet: str = "physnet1", vlan: int | None = None,
                       cidr: str = "10.9.0.0/24", **attrs) -> dict:
        """A VLAN provider network with one IPv4 subnet (no gateway, no DHCP: instances are static)."""
        body = {"name": name, "provider:network_type": "vlan", "provider:physical_network": physnet,
                "provider:segmentation_id": vlan or self.next_vlan(), **attrs}
        network = self._call("POST", "/v2.0/networks", 201, json={"network": body})["network"]
        self._call("POST", "/v2.0/subnets", 201, json={"subnet": {
            "network_id": network["id"], "cidr": cidr, "ip_version": 4, "gateway_ip": None,
            "enable_dhcp": False, "name": name}})
        return network

    def create_port(self, network: dict, ip: str | None = None, host: str | None = None, **attrs) -> dict:
        body = {"network_id": network["id"], **attrs}
        if ip:
            body["fixed_ips"] = [{"ip_address": ip}]
        if host:
            body["binding:host_id"] = host
        return self._call("POST", "/v2.0/ports", 201, json={"port": body})["port"]

    def port(self, port_id: str) -> dict:
        return self._call("GET", f"/v2.0/ports/{port_id}", 200)["port"]

    def update_port(self, port_id: str, **attrs) -> dict:
        return self._call("PUT", f"/v2.0/ports/{port_id}", 200, json={"port": attrs})["port"]

    def trace(self, source: str, destination: str, protocol: str = "icmp") -> dict:
        """POST /neutrino/v1/trace: the server's trace of one packet (its JSON)."""
        body = {"trace": {"source": source, "destination": destination, "protocol": protocol}}
        return self._call("POST", "/neutrino/v1/trace", 200, json=body)["trace"]

    def agents(self, host: str) -> list[dict]:
        return self._call("GET", "/v2.0/agents", 200, params={"host": host})["agents"]

    def status_is(self, port_id: str, status: str) -> bool:
        return self.port(port_id)["status"] == status
