"""Restarts on real OVS: the agent (no renumbering, no flow replaced, no ping lost), ovs-vswitchd
(flows lost, the host re-converges, its neighbour untouched) and the API server (the data plane
keeps working; the agent resumes)."""

from __future__ import annotations

import re
import subprocess
import time

from neutrino.model.names import tap_name
from tests.host.control import Cloud
from tests.host.simhost import eventually

STATS = re.compile(r"\b(duration|n_packets|n_bytes|idle_age|hard_age)=([\d.]+)s?,?\s*")


def flow_stats(host, bridge: str) -> dict[str, dict[str, float]]:
    """Each flow (its text without counters) -> its counters: duration, n_packets, n_bytes."""
    out = {}
    for line in host.flows(bridge, stats=True):
        counters = {name: float(value) for name, value in STATS.findall(line)}
        out[STATS.sub("", line)] = counters
    return out


def start_ping(host, namespace: str, address: str, count: int, interval: float = 0.05) -> subprocess.Popen:
    return host.popen(host.in_instance(namespace, ["ping", "-n", "-q", "-i", str(interval), "-c", str(count),
                                                   "-W", "1", address]), stdout=subprocess.PIPE, text=True)


def ping_counts(process: subprocess.Popen) -> tuple[int, int]:
    """(transmitted, received) of a finished ping."""
    out, _ = process.communicate(timeout=30)
    found = re.search(r"(\d+) packets transmitted, (\d+) received", out)
    assert found, out
    return int(found[1]), int(found[2])


def test_local_vlans_survive_restart(make_host, cloud):
    host = make_host()
    networks = [cloud.create_network(f"restart-{i}") for i in range(3)]
    ports = {
        "vm-x": cloud.create_port(networks[0], "10.9.0.1"),
        "vm-y1": cloud.create_port(networks[1], "10.9.0.11"),
        "vm-y2": cloud.create_port(networks[1], "10.9.0.12"),
        "vm-z": cloud.create_port(networks[2], "10.9.0.21"),
    }
    for namespace, port in ports.items():
        host.plug(port["id"], namespace)
    # The first network's VLAN is given back, so the kept ones are not simply the lowest numbers:
    # an agent that forgot them would renumber.
    host.neutrino("unplug", "vm-x")
    eventually(lambda: cloud.status_is(ports["vm-x"]["id"], "DOWN"))
    devices = [tap_name(ports[name]["id"]) for name in ("vm-y1", "vm-y2", "vm-z")]
    tags = {device: host.tag(device) for device in devices}
    assert tags[devices[0]] == tags[devices[1]] != tags[devices[2]]
    assert min(tags.values()) > 1, tags
    assert host.ping("vm-y1", "10.9.0.12")
    before = {bridge: flow_stats(host, bridge) for bridge in ("br-int", "br-phys")}
    checked = time.monotonic()

    ping = start_ping(host, "vm-y1", "10.9.0.12", count=120)  # 6 s, across the restart
    time.sleep(0.5)
    host.stop_agent()
    host.start_agent()  # returns after the restarted agent's first whole pass
    host.wait_for_pass()
    assert ping.poll() is None, "the ping ended before the restarted agent had run: the test proves nothing"
    transmitted, received = ping_counts(ping)
    assert (transmitted, received) == (120, 120)

    assert {device: host.tag(device) for device in devices} == tags
    elapsed = time.monotonic() - checked
    for bridge, flows in before.items():
        after = flow_stats(host, bridge)
        assert set(after) == set(flows), f"{bridge} flows changed"
        for flow, counters in flows.items():
            # A replaced flow starts again from duration 0 and zero counters.
            assert after[flow]["duration"] >= counters["duration"] + elapsed - 1, f"replaced: {flow}"
            assert after[flow]["n_packets"] >= counters["n_packets"], f"replaced: {flow}"
    # ...and they kept counting the ping (120 requests, 120 replies) while the agent restarted.
    counted = sum(c["n_packets"] for c in flow_stats(host, "br-int").values()) - \
        sum(c["n_packets"] for c in before["br-int"].values())
    assert counted >= 240


def test_vswitchd_restart(make_host, cloud):
    a, b = make_host(), make_host()
    network = cloud.create_network("vswitchd")
    port_a, port_b = cloud.create_port(network, "10.9.0.1"), cloud.create_port(network, "10.9.0.2")
    a.plug(port_a["id"], "vm")
    b.plug(port_b["id"], "vm")
    assert a.ping("vm", "10.9.0.2", count=2)
    flows_a = {bridge: set(a.flows(bridge)) for bridge in ("br-int", "br-phys")}
    before_b = {bridge: flow_stats(b, bridge) for bridge in ("br-int", "br-phys")}
    pid_b = (b.dir / "run/ovs-vswitchd.pid").read_text()
    pid_a = (a.dir / "run/ovs-vswitchd.pid").read_text()

    a.restart_vswitchd()
    restarted = time.monotonic()
    assert (a.dir / "run/ovs-vswitchd.pid").read_text() != pid_a
    eventually(lambda: a.ping("vm", "10.9.0.2", wait=0.5), timeout=10, what="ping through the restarted switch")
    assert time.monotonic() - restarted < 5
    assert {bridge: set(a.flows(bridge)) for bridge in flows_a} == flows_a
    since = time.monotonic() - restarted
    for bridge in flows_a:  # the switch came back empty (fail_mode secure): every flow is the agent's new one
        assert all(c["duration"] <= since + 1 for c in flow_stats(a, bridge).values()), bridge
    assert a.tag(tap_name(port_a["id"])) is not None

    assert (b.dir / "run/ovs-vswitchd.pid").read_text() == pid_b
    for bridge, flows in before_b.items():
        after = flow_stats(b, bridge)
        assert set(after) == set(flows)
        assert all(after[f]["duration"] >= flows[f]["duration"] for f in flows), f"{bridge} flows replaced on b"


def test_api_restart(make_host, own_api_server):
    server = own_api_server
    cloud = Cloud(server.url)
    try:
        host = make_host(server=server)
        network = cloud.create_network("api-restart")
        ports = [cloud.create_port(network, f"10.9.0.{i}") for i in (1, 2, 3, 4)]
        for index, port in enumerate(ports[:3], 1):
            host.plug(port["id"], f"vm{index}")
        assert host.ping("vm1", "10.9.0.2")

        ping = start_ping(host, "vm1", "10.9.0.2", count=60)  # 3 s
        server.stop()
        # While the server is away the host changes: vm3 is unplugged, so the agent has a status
        # it cannot report yet. Passes go on; the data plane is left as it is.
        host.neutrino("unplug", "vm3")
        host.wait_for_pass()
        assert ping_counts(ping) == (60, 60)
        assert host.agent.poll() is None, "the agent exited while the server was away:\n" + host.log_tail()

        server.start()
        eventually(lambda: cloud.status_is(ports[2]["id"], "DOWN"), timeout=15,
                   what="the status kept while the server was away reaches it")
        host.plug(ports[3]["id"], "vm4")  # a port created after the restart gets wired
        assert host.ping("vm4", "10.9.0.1")
    finally:
        cloud.close()
