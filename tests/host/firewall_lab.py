"""The security group lab of the host tests: simulated hosts running one firewall driver, the API calls
for security groups (in a project of the lab's own, so its ``default`` group is the lab's), and
instances plugged with the real ``neutrino plug``, each running the probe daemon (probe.py).

Probing: ``expect(allowed=[...], denied=[...])`` runs probes at once and fails naming every probe that
disagrees. An admitted probe answers within milliseconds on these local paths, so a denial is concluded
after ``DENY_TIMEOUT``; ``eventually(...)`` repeats until every probe agrees (after an API change, while
the agent applies it). Addresses are unique across the lab (a network per test, 10.8.N.0/24), since
remote groups admit addresses whatever their network, as in Neutron.
"""

from __future__ import annotations

import itertools
import json
import re
import secrets
import signal
import struct
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from neutrino.model import names
from tests.host.simhost import CommandError, SimHost, eventually, standard_host, stop_process

PROBE = Path(__file__).with_name("probe.py")
ALLOW_TIMEOUT = 2.0  # an answer is expected: the probe returns as soon as it comes
DENY_TIMEOUT = 0.4  # no answer is expected: an admitted probe here answers within a few ms
CHANGE_TIMEOUT = 10.0  # for an API change to reach the data plane
ECHO_REQUEST, TIMESTAMP_REQUEST = 8, 13

DRIVERS = ("openvswitch", "iptables_hybrid")

_host_numbers = itertools.count(1)
_networks = itertools.count(1)


def host_config(driver: str) -> str:
    return standard_host().replace("[host]\n", f'[host]\nfirewall_driver = "{driver}"\n', 1)


@dataclass(frozen=True)
class Network:
    id: str
    index: int

    @property
    def cidr(self) -> str:
        return f"10.8.{self.index}.0/24"

    def ip(self, last: int) -> str:
        return f"10.8.{self.index}.{last}"


class Instance:
    """A namespace plugged into a port, running the probe daemon (commands run concurrently)."""

    def __init__(self, name: str, host: SimHost, port: dict, namespace: str):
        self.name = name
        self.host = host
        self.port = port
        self.namespace = namespace
        self.ip = port["fixed_ips"][0]["ip_address"]
        self.mac = port["mac_address"]
        self._daemon: subprocess.Popen | None = None
        self._pending: dict[int, Future] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return self.name

    @property
    def id(self) -> str:
        return self.port["id"]

    def start(self) -> None:
        argv = self.host.in_instance(self.namespace, [sys.executable, "-u", str(PROBE)])
        self._daemon = self.host.popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        ready = self._daemon.stdout.readline()
        if json.loads(ready or "{}").get("id") != "ready":
            raise CommandError(f"the probe daemon of {self.name} did not start: {ready!r}")
        threading.Thread(target=self._read_answers, name=f"probe-{self.name}", daemon=True).start()

    def _read_answers(self) -> None:
        for line in self._daemon.stdout:
            answer = json.loads(line)
            with self._lock:
                future = self._pending.pop(answer["id"], None)
            if future is not None:
                future.set_result(answer["result"])
        with self._lock:  # the daemon is gone: nothing more will be answered
            for future in self._pending.values():
                future.set_result("error: the probe daemon exited")
            self._pending.clear()

    def call(self, op: str, timeout: float = ALLOW_TIMEOUT, **args) -> str:
        with self._lock:
            command_id = next(self._ids)
            future = self._pending[command_id] = Future()
            self._daemon.stdin.write(json.dumps({"id": command_id, "op": op, "timeout": timeout, **args}) + "\n")
            self._daemon.stdin.flush()
        return future.result(timeout=timeout + 10)

    def send_frame(self, frame: bytes) -> None:
        assert self.call("frame", hex=frame.hex()) == "ok"

    def run(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess:
        return self.host.run(self.host.in_instance(self.namespace, list(argv)), check=check)


@dataclass(frozen=True)
class Probe:
    """Traffic from ``source`` to ``target`` (an Instance or an address): ``proto`` icmp (``port`` is
    then the ICMP type: 8 echo, 13 timestamp), tcp or udp to ``port``; icmp may be sent ``from_ip``."""

    source: Instance
    target: Instance | str
    proto: str = "tcp"
    port: int | None = None
    from_ip: str | None = None

    @property
    def address(self) -> str:
        return self.target if isinstance(self.target, str) else self.target.ip

    def __str__(self) -> str:
        what = f"icmp type {self.port or ECHO_REQUEST}" if self.proto == "icmp" else f"{self.proto}/{self.port or 9000}"
        origin = f" from {self.from_ip}" if self.from_ip else ""
        return f"{self.source} -> {self.target} {what}{origin}"

    def run(self, timeout: float) -> str:
        if self.proto == "icmp":
            return self.source.call("icmp", timeout, to=self.address, type=self.port or ECHO_REQUEST,
                                    source=self.from_ip)
        return self.source.call(self.proto, timeout, to=self.address, port=self.port or 9000)


def probes(source: Instance, target: Instance | str, *protos: str, port: int | None = None) -> list[Probe]:
    return [Probe(source, target, proto, port) for proto in protos]


def disagreements(allowed: list[Probe], denied: list[Probe], allow_timeout: float = ALLOW_TIMEOUT) -> list[str]:
    """Runs every probe at once; the ones whose outcome is not the expected one, in words."""
    cases = [(probe, True) for probe in allowed] + [(probe, False) for probe in denied]
    if not cases:
        return []
    with ThreadPoolExecutor(len(cases)) as pool:
        results = list(pool.map(lambda case: case[0].run(allow_timeout if case[1] else DENY_TIMEOUT), cases))
    return [f"{probe}: expected {'allowed' if admitted else 'denied'}, got {result}"
            for (probe, admitted), result in zip(cases, results, strict=True) if (result == "ok") != admitted]


def expect(allowed: list[Probe] = (), denied: list[Probe] = ()) -> None:
    wrong = disagreements(list(allowed), list(denied))
    assert not wrong, "\n".join(wrong)


def eventually_expect(allowed: list[Probe] = (), denied: list[Probe] = (), timeout: float = CHANGE_TIMEOUT) -> None:
    """Until every probe agrees (the agent applies an API change within ``timeout``). Probes expected
    to pass are retried after DENY_TIMEOUT too: one sent before the change took effect is lost."""
    eventually(lambda: not disagreements(list(allowed), list(denied), DENY_TIMEOUT), timeout=timeout, interval=0.0,
               what=" / ".join([f"allowed: {p}" for p in allowed] + [f"denied: {p}" for p in denied]))


class Capture:
    """tcpdump on an instance's eth0 (``-e -n``, one line per frame) while the ``with`` block runs."""

    def __init__(self, instance: Instance, bpf: str, output: Path):
        self.instance = instance
        self.output = output
        self.argv = instance.host.in_instance(instance.namespace, ["tcpdump", "-e", "-n", "-l", "-U", "-i", "eth0",
                                                                   *bpf.split()])
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> Capture:
        with open(self.output, "w") as log:
            self.process = self.instance.host.popen(self.argv, stdout=log, stderr=subprocess.PIPE, text=True)
        said = ""
        while "listening on" not in said:  # tcpdump says so once its socket is open
            line = self.process.stderr.readline()
            if not line:
                stop_process(self.process)
                raise CommandError(f"tcpdump in {self.instance} did not start: {said}")
            said += line
        return self

    def __exit__(self, *_exc) -> None:
        self.process.send_signal(signal.SIGINT)
        stop_process(self.process)

    def lines(self) -> list[str]:
        return [line for line in self.output.read_text().splitlines() if line.strip()]

    def has(self, pattern: str) -> bool:
        return any(re.search(pattern, line) for line in self.lines())

    def wait_for(self, pattern: str, timeout: float = ALLOW_TIMEOUT) -> None:
        eventually(lambda: self.has(pattern), timeout=timeout, what=f"{pattern!r} captured on {self.instance}")


# --- frames for the raw socket ---

def mac_bytes(mac: str) -> bytes:
    return bytes(int(part, 16) for part in mac.split(":"))


def ip_bytes(address: str) -> bytes:
    return bytes(int(part) for part in address.split("."))


def ethernet(destination: str, source: str, ethertype: int, payload: bytes) -> bytes:
    return mac_bytes(destination) + mac_bytes(source) + struct.pack("!H", ethertype) + payload


def udp_frame(src_mac: str, dst_mac: str, src_ip: str, dst_ip: str, sport: int, dport: int,
              payload: bytes = b"neutrino") -> bytes:
    """An Ethernet frame carrying one IPv4 UDP datagram (UDP checksum 0: none, as IPv4 allows)."""
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0x4000, 64, 17, 0, ip_bytes(src_ip),
                         ip_bytes(dst_ip))
    header = header[:10] + struct.pack("!H", _checksum(header)) + header[12:]
    return ethernet(dst_mac, src_mac, 0x0800, header + udp)


def arp_reply(src_mac: str, src_ip: str, dst_mac: str, dst_ip: str) -> bytes:
    arp = struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 2, mac_bytes(src_mac), ip_bytes(src_ip),
                      mac_bytes(dst_mac), ip_bytes(dst_ip))
    return ethernet(dst_mac, src_mac, 0x0806, arp)


def _checksum(data: bytes) -> int:
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


# --- the lab ---

@dataclass
class Lab:
    """One firewall driver's hosts (made on first use) and the API, for one test module."""

    driver: str
    prefix: str
    base: Path
    fabric: object
    server_url: str
    vlans: object  # the session Cloud: provider VLANs come from its counter
    hosts: list[SimHost] = field(default_factory=list)
    project: str = field(default_factory=lambda: "fw" + secrets.token_hex(4))

    def __post_init__(self) -> None:
        self.http = httpx.Client(base_url=self.server_url, timeout=10, headers={"X-Project-Id": self.project})
        unlimited = {resource: -1 for resource in ("network", "subnet", "port", "security_group",
                                                   "security_group_rule")}
        self.call("PUT", f"/v2.0/quotas/{self.project}", 200, json={"quota": unlimited})

    # --- hosts ---

    def host(self, index: int = 0) -> SimHost:
        while len(self.hosts) <= index:
            host = SimHost(f"f{self.driver[0]}{next(_host_numbers)}", self.prefix, self.base)
            self.hosts.append(host)
            host.up()
            self.fabric.connect_management(host)
            self.fabric.connect_uplink(host, "eth1", True)
            host.write_config(self.server_url, host_config(self.driver), resync_seconds=2.0)
            host.start_agent()
        return self.hosts[index]

    def close(self) -> list[str]:
        self.http.close()
        errors = []
        for host in reversed(self.hosts):
            errors += host.down()
        return errors

    # --- the API ---

    def call(self, method: str, path: str, expect: int, **kwargs) -> dict:
        response = self.http.request(method, path, **kwargs)
        assert response.status_code == expect, f"{method} {path}: {response.status_code} {response.text}"
        return response.json() if response.content else {}

    def network(self, name: str) -> Network:
        index = next(_networks)
        assert index < 255, "the lab ran out of 10.8.N.0/24 subnets"
        body = {"name": name, "provider:network_type": "vlan", "provider:physical_network": "physnet1",
                "provider:segmentation_id": self.vlans.next_vlan()}
        network = self.call("POST", "/v2.0/networks", 201, json={"network": body})["network"]
        network = Network(network["id"], index)
        self.call("POST", "/v2.0/subnets", 201, json={"subnet": {
            "network_id": network.id, "cidr": network.cidr, "ip_version": 4, "gateway_ip": None,
            "enable_dhcp": False, "name": name}})
        return network

    def default_group(self) -> str:
        groups = self.call("GET", "/v2.0/security-groups", 200,
                           params={"name": "default", "project_id": self.project})["security_groups"]
        assert len(groups) == 1, groups
        return groups[0]["id"]

    def group(self, name: str, egress: bool = True) -> str:
        """A new group: Neutron gives it the two egress rules (any IPv4, any IPv6); ``egress=False``
        deletes them, leaving a group with no rule at all."""
        group = self.call("POST", "/v2.0/security-groups", 201, json={"security_group": {"name": name}})
        group = group["security_group"]
        if not egress:
            for rule in group["security_group_rules"]:
                self.delete_rule(rule["id"])
        return group["id"]

    def rules_of(self, group_id: str) -> list[dict]:
        return self.call("GET", "/v2.0/security-group-rules", 200,
                         params={"security_group_id": group_id})["security_group_rules"]

    def add_rule(self, group_id: str, direction: str = "ingress", protocol: str | None = None,
                 ports: tuple[int, int | None] | None = None, prefix: str | None = None,
                 remote_group: str | None = None, ethertype: str = "IPv4") -> str:
        body = {"security_group_id": group_id, "direction": direction, "ethertype": ethertype,
                "protocol": protocol, "remote_ip_prefix": prefix, "remote_group_id": remote_group}
        if ports is not None:
            body["port_range_min"], body["port_range_max"] = ports
        rule = self.call("POST", "/v2.0/security-group-rules", 201, json={"security_group_rule": body})
        return rule["security_group_rule"]["id"]

    def delete_rule(self, rule_id: str) -> None:
        self.call("DELETE", f"/v2.0/security-group-rules/{rule_id}", 204)

    def update_port(self, port_id: str, **attrs) -> dict:
        return self.call("PUT", f"/v2.0/ports/{port_id}", 200, json={"port": attrs})["port"]

    def port(self, port_id: str) -> dict:
        return self.call("GET", f"/v2.0/ports/{port_id}", 200)["port"]

    # --- instances ---

    def instances(self, network: Network, **specs: tuple) -> dict[str, Instance]:
        """``name=(last octet, [group ids], host index, {more port attributes})`` (the last two may be
        left out: host 0) -> instances whose ports exist before any is plugged, so once all are ACTIVE
        every agent has applied them all."""
        ports = {}
        for name, (last, groups, *rest) in specs.items():
            where = next((item for item in rest if isinstance(item, int)), 0)
            attrs = next((item for item in rest if isinstance(item, dict)), {})
            body = {"network_id": network.id, "name": name, "fixed_ips": [{"ip_address": network.ip(last)}],
                    "security_groups": list(groups), **attrs}
            ports[name] = (self.call("POST", "/v2.0/ports", 201, json={"port": body})["port"], self.host(where))
        made = {name: Instance(name, host, port, f"n{network.index}-{name}") for name, (port, host) in ports.items()}
        with ThreadPoolExecutor(len(made)) as pool:
            list(pool.map(lambda i: i.host.plug(i.id, i.namespace, wait=False), made.values()))
        eventually(lambda: all(self.port(i.id)["status"] == "ACTIVE" for i in made.values()), timeout=20,
                   what=f"ports of {', '.join(made)} ACTIVE")
        with ThreadPoolExecutor(len(made)) as pool:
            list(pool.map(Instance.start, made.values()))
        for instance in made.values():
            self._assert_plugged_for_driver(instance)
        return made

    def _assert_plugged_for_driver(self, instance: Instance) -> None:
        """As the binding says (vif_details ovs_hybrid_plug): the tap on br-int, or the hybrid qvo."""
        hybrid = self.driver == "iptables_hybrid"
        details = self.port(instance.id)["binding:vif_details"]
        assert bool(details.get("ovs_hybrid_plug")) is hybrid, details
        device = names.hybrid_ovs_veth_name(instance.id) if hybrid else names.tap_name(instance.id)
        assert device in instance.host.vsctl("list-ports", "br-int").split(), f"{device} of {instance} on br-int"

    # --- what the driver made of a port ---

    def rendering_of(self, instance: Instance) -> list[str]:
        """Everything the driver installed for one port: its br-int flows and, for iptables_hybrid, its
        iptables rules (chains named after its port id)."""
        host = instance.host
        device = names.hybrid_ovs_veth_name(instance.id) if self.driver == "iptables_hybrid" \
            else names.tap_name(instance.id)
        ofport = int(host.vsctl("get", "Interface", device, "ofport"))
        mine = re.compile(rf"reg5=0x{ofport:x}\b|{device}\b|{instance.mac}")
        rendering = sorted(flow for flow in host.flows("br-int") if mine.search(flow))
        if self.driver == "iptables_hybrid":
            saved = host.run(["iptables-save"]).stdout.splitlines()
            rendering += [line for line in saved if instance.id[:10] in line]
        return rendering


def lab_for(driver: str, host_session, fabric, api_server, cloud) -> Iterator[Lab]:
    """The body of a module's ``lab`` fixture: its hosts are removed at the end, whatever happened."""
    lab = Lab(driver, host_session.prefix, host_session.base, fabric, api_server.url, cloud)
    try:
        lab.host(0)
        yield lab
    finally:
        errors = lab.close()
        for host in lab.hosts:
            host_session.inodes += host.inodes
        assert not errors, errors


def print_logs_if_failed(request, lab: Lab) -> None:
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        for host in lab.hosts:
            print(f"--- agent log of {host.name} (last lines) ---\n{host.log_tail(40)}")
