"""The trace agrees with the wire (issue 6): on one real topology, for every (source, destination, protocol,
port) case, the verdict of POST /neutrino/v1/trace (delivered or not) is what a real probe from the source
namespace finds.

The topology: two tenant networks (a, b) on a router whose gateway is on an external network, a third (c) on
no router, the outside world (l3_lab.Outside: 203.0.113.1), floating IPs on a1 and b2 and a spare one
associated with nothing. Two security groups: ``web`` admits icmp from members of ``ops``, tcp/22 from
10.62.1.0/24, tcp/8000 and udp/9000 from anywhere; ``ops`` admits icmp from the outside's prefix, tcp/9000
from members of ``web`` and udp/9001 from 10.62.0.0/16. Every namespace (and the outside) runs the probe
daemon (probe.py), which listens on those ports, so a refused or unanswered probe is the network's doing.

The cases span the same network, across the router, out by SNAT (and by a floating IP), in by a floating IP,
hairpin through a floating IP, and blocked by a group, a missing association or a missing router interface.
All traces and all probes run at once; a probe the trace says is delivered gets a second chance with a longer
wait (its first packet may have waited on ARP), one the trace says is blocked does not.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest

from tests.host.control import Cloud
from tests.host.firewall_lab import Instance
from tests.host.l3_lab import L3, OUTSIDE, Outside, create_external
from tests.host.simhost import eventually

PROBE_WAIT = 1.0  # a denied probe waits this long (ping -W1)
RETRY_WAIT = 3.0  # a delivered one that failed once: once more, longer


@dataclass(frozen=True)
class Case:
    source: str  # an instance's name (its port's name), or "outside"
    destination: str  # an instance's name, or an address
    protocol: str = "icmp"
    port: int | None = None
    kind: str = ""  # what the case exercises (for the coverage check and the failure message)

    def __str__(self) -> str:
        what = self.protocol + (f"/{self.port}" if self.port else "")
        return f"{self.source} -> {self.destination} {what} ({self.kind})"


@pytest.fixture
def cloud(own_api_server):
    """Its own server: the outside's address is on an external network of this test only."""
    client = Cloud(own_api_server.url)
    yield client
    client.close()


def build(make_host, own_api_server, cloud) -> tuple[L3, dict[str, Instance], dict[str, str]]:
    """The topology; returns the API, the instances (and the outside) by name, and addresses by label."""
    api = L3(cloud)
    external = create_external(cloud, "ta-public")
    upstream = Outside(make_host(agent=False, server=own_api_server), external.vlan)
    compute = make_host(server=own_api_server)
    (_, sub_a), (_, sub_b) = api.network("ta-a", "10.62.1.0/24"), api.network("ta-b", "10.62.2.0/24")
    net_c, _ = api.network("ta-c", "10.62.3.0/24")
    web = api.call("POST", "/v2.0/security-groups", 201, security_group={"name": "web"})["security_group"]
    ops = api.call("POST", "/v2.0/security-groups", 201, security_group={"name": "ops"})["security_group"]
    api.rule(web, protocol="icmp", remote_group_id=ops["id"])
    api.rule(web, protocol="tcp", port_range_min=22, port_range_max=22, remote_ip_prefix="10.62.1.0/24")
    api.rule(web, protocol="tcp", port_range_min=8000, port_range_max=8000, remote_ip_prefix="0.0.0.0/0")
    api.rule(web, protocol="udp", port_range_min=9000, port_range_max=9000, remote_ip_prefix="0.0.0.0/0")
    api.rule(ops, protocol="icmp", remote_ip_prefix="203.0.113.0/24")
    api.rule(ops, protocol="tcp", port_range_min=9000, port_range_max=9000, remote_group_id=web["id"])
    api.rule(ops, protocol="udp", port_range_min=9001, port_range_max=9001, remote_ip_prefix="10.62.0.0/16")
    networks = {"a": sub_a["network_id"], "b": sub_b["network_id"], "c": net_c["id"]}
    specs = {"a1": ("a", "10.62.1.10", web), "a2": ("a", "10.62.1.11", ops), "b1": ("b", "10.62.2.10", web),
             "b2": ("b", "10.62.2.11", ops), "c1": ("c", "10.62.3.10", web)}
    ports = {name: cloud.create_port({"id": networks[net]}, ip, name=f"ta-{name}", security_groups=[group["id"]])
             for name, (net, ip, group) in specs.items()}

    router = api.router("ta-router", compute)
    router = api.update_router(router, external_gateway_info={"network_id": external.network["id"]})
    api.interface(router, sub_a)
    api.interface(router, sub_b)
    fips = {name: api.floating_ip(external.network) for name in ("a1", "b2", "spare")}
    api.associate(fips["a1"], ports["a1"])
    api.associate(fips["b2"], ports["b2"])

    instances = {name: Instance(f"ta-{name}", compute, port, f"ta-{name}") for name, port in ports.items()}
    with ThreadPoolExecutor(len(instances)) as pool:
        list(pool.map(lambda i: compute.plug(i.id, i.namespace, wait=False), instances.values()))
    eventually(lambda: all(cloud.port(p["id"])["status"] == "ACTIVE" for p in ports.values()), timeout=20,
               what="every instance's port ACTIVE")
    outside = Instance("outside", upstream.host, {"id": "", "fixed_ips": [{"ip_address": OUTSIDE}],
                                                   "mac_address": None}, upstream.namespace)
    instances["outside"] = outside
    with ThreadPoolExecutor(len(instances)) as pool:
        list(pool.map(Instance.start, instances.values()))
    eventually(lambda: all(api.fip_status(f) == "ACTIVE" for f in (fips["a1"], fips["b2"])), timeout=20,
               what="the floating IPs ACTIVE")
    compute.wait_for_pass()
    addresses = {f"fip-{name}": fip["floating_ip_address"] for name, fip in fips.items()}
    addresses.update({name: instance.ip for name, instance in instances.items()})
    # the paths are up (ARP resolved on the router's legs and the external network)
    eventually(lambda: instances["a2"].call("icmp", 0.3, to=addresses["b1"], type=8) == "ok",
               what="a2 reaches b1 across the router")
    eventually(lambda: outside.call("icmp", 0.3, to=addresses["fip-b2"], type=8) == "ok",
               what="the outside reaches b2's floating IP")
    return api, instances, addresses


def cases(fip: dict[str, str]) -> list[Case]:
    same, across, snat, inbound, hairpin = "same network", "across the router", "SNAT", "floating IP", "hairpin"
    return [
        Case("a2", "a1", "icmp", kind=same),  # web: icmp from ops
        Case("a1", "a2", "icmp", kind=same),  # ops: icmp only from the outside's prefix
        Case("a2", "a1", "tcp", 22, same),  # web: tcp/22 from 10.62.1.0/24
        Case("a1", "a2", "tcp", 22, same),
        Case("a2", "a1", "udp", 9000, same),
        Case("a1", "a2", "udp", 9000, same),
        Case("a1", "a2", "tcp", 9000, same),  # ops: tcp/9000 from web
        Case("a2", "a1", "tcp", 9000, same),
        Case("a2", "a1", "tcp", 8000, same),
        Case("a1", "a2", "udp", 9001, same),  # ops: udp/9001 from 10.62.0.0/16
        Case("a2", "b1", "icmp", kind=across),
        Case("a1", "b2", "icmp", kind=across),
        Case("a2", "b1", "tcp", 22, across),
        Case("b2", "a1", "tcp", 22, across),  # 10.62.2.0/24 is not 10.62.1.0/24
        Case("b1", "a2", "tcp", 9000, across),
        Case("b2", "a1", "udp", 9000, across),
        Case("a1", "b2", "udp", 9001, across),
        Case("b1", "a1", "icmp", kind=across),  # web from web: no
        Case("b2", "a1", "tcp", 8000, across),
        Case("a1", "b1", "tcp", 22, across),
        Case("b1", "a2", "udp", 9001, across),
        Case("a1", OUTSIDE, "icmp", kind=snat),  # a1 leaves from its floating IP
        Case("a2", OUTSIDE, "icmp", kind=snat),
        Case("b1", OUTSIDE, "tcp", 9000, snat),
        Case("b2", OUTSIDE, "udp", 9000, snat),
        Case("a2", OUTSIDE, "tcp", 8000, snat),
        Case("c1", OUTSIDE, "icmp", kind="no router"),
        Case("c1", "a1", "tcp", 8000, "no router"),
        Case("outside", fip["fip-a1"], "icmp", kind=inbound),  # web: icmp only from ops
        Case("outside", fip["fip-a1"], "tcp", 8000, inbound),
        Case("outside", fip["fip-a1"], "udp", 9000, inbound),
        Case("outside", fip["fip-a1"], "tcp", 22, inbound),
        Case("outside", fip["fip-b2"], "icmp", kind=inbound),  # ops: icmp from 203.0.113.0/24
        Case("outside", fip["fip-b2"], "tcp", 9000, inbound),
        Case("outside", fip["fip-spare"], "icmp", kind=inbound),  # associated with nothing
        Case("outside", "10.62.1.11", "icmp", kind=inbound),  # a2 has no floating IP
        Case("a2", fip["fip-a1"], "tcp", 8000, hairpin),
        Case("b1", fip["fip-b2"], "icmp", kind=hairpin),  # SNATed to the gateway: from 203.0.113.0/24
    ]


def test_trace_verdicts_agree_with_real_probes(make_host, own_api_server, cloud):
    started = time.monotonic()
    api, instances, addresses = build(make_host, own_api_server, cloud)
    built = time.monotonic()
    table = cases(addresses)

    def traced(case: Case) -> dict:
        source = OUTSIDE if case.source == "outside" else instances[case.source].id
        destination = instances[case.destination].id if case.destination in instances else case.destination
        return api.call("POST", "/neutrino/v1/trace", 200, trace={
            "source": source, "destination": destination, "protocol": case.protocol, "port": case.port})["trace"]

    def probed(case: Case, wait: float) -> str:
        to = addresses.get(case.destination, case.destination)
        args = {"type": 8} if case.protocol == "icmp" else {"port": case.port}
        return instances[case.source].call(case.protocol, wait, to=to, **args)

    with ThreadPoolExecutor(16) as pool:
        verdicts = list(pool.map(lambda c: traced(c)["verdict"]["reason"], table))
        results = list(pool.map(lambda c: probed(c, PROBE_WAIT), table))
        retried = [i for i, (v, r) in enumerate(zip(verdicts, results, strict=True)) if v == "delivered" and r != "ok"]
        for i, result in zip(retried, pool.map(lambda i: probed(table[i], RETRY_WAIT), retried), strict=True):
            results[i] = result
    wrong = [f"{case}: trace says {verdict}, probe got {result}"
             for case, verdict, result in zip(table, verdicts, results, strict=True)
             if (verdict == "delivered") != (result == "ok")]
    assert not wrong, "\n".join(wrong)

    assert len(table) >= 30
    delivered = {case.kind for case, verdict in zip(table, verdicts, strict=True) if verdict == "delivered"}
    assert delivered >= {"same network", "across the router", "SNAT", "floating IP", "hairpin"}
    reasons = set(verdicts)
    assert {"dropped-by-security-group", "no-floating-ip-association"} <= reasons, reasons
    assert len(reasons) >= 4, reasons  # the blocked cases are blocked for different reasons
    print(f"\n{len(table)} cases ({verdicts.count('delivered')} delivered, {len(retried)} retried), "
          f"topology {built - started:.1f} s, traces and probes {time.monotonic() - built:.1f} s")
