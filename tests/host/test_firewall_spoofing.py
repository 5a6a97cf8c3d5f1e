"""Anti-spoofing, allowed address pairs, port security, ARP and DHCP (issue 4), for each firewall driver.

Frames are crafted and sent with a raw AF_PACKET socket from the instance namespace (probe.py), and
tcpdump on the receiving instance proves what arrived: frames are sent in order, the control frame
(right source) last, so once the control frame is captured any earlier frame that passed would have
been captured too.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.host.firewall_lab import (
    DRIVERS,
    Capture,
    Instance,
    Lab,
    Probe,
    arp_reply,
    eventually_expect,
    expect,
    lab_for,
    print_logs_if_failed,
    probes,
    udp_frame,
)
from tests.host.simhost import eventually

FOREIGN_MAC = "fa:16:3e:66:66:66"  # no port's MAC
SINK_PORT = 7777


@pytest.fixture(scope="module", params=DRIVERS)
def lab(request, host_session, fabric, api_server, cloud) -> Iterator[Lab]:
    yield from lab_for(request.param, host_session, fabric, api_server, cloud)


@pytest.fixture(autouse=True)
def agent_logs_on_failure(request, lab) -> Iterator[None]:
    yield
    print_logs_if_failed(request, lab)


def sender_and_sink(lab: Lab, name: str, **more: tuple) -> tuple[str, str, dict[str, Instance]]:
    """``sender`` in group "senders" (egress any, no ingress), ``sink`` admitting any UDP, and ICMP from
    members of "senders"; returns (senders, network prefix, instances)."""
    network = lab.network(name)
    senders, sinks = lab.group("senders"), lab.group("sinks")
    lab.add_rule(sinks, protocol="udp")
    lab.add_rule(sinks, protocol="icmp", remote_group=senders)
    vm = lab.instances(network, sender=(11, [senders]), sink=(21, [sinks]), **more)
    return senders, network.ip(0).rsplit(".", 1)[0], vm


def to_sink(sender: Instance, sink: Instance, mac: str, ip: str, sport: int) -> bytes:
    return udp_frame(mac, sink.mac, ip, sink.ip, sport, SINK_PORT)


def seen(capture: Capture, ip: str, sport: int) -> bool:
    return capture.has(rf" {ip}\.{sport} > [\d.]+\.{SINK_PORT}: UDP")


def send_with_control(capture: Capture, sender: Instance, sink: Instance, *frames: bytes) -> None:
    """Sends ``frames``, then a control frame from the sender's own MAC and IP, and waits until the
    control frame arrives."""
    for frame in frames:
        sender.send_frame(frame)
    control_port = 40000 + len(capture.lines())  # a new one each time: this control, not an earlier one
    sender.send_frame(to_sink(sender, sink, sender.mac, sender.ip, control_port))
    capture.wait_for(rf" {sender.ip}\.{control_port} > ")


def test_spoofed_source_ip_and_mac_are_dropped(lab, tmp_path):
    _, net, vm = sender_and_sink(lab, "spoofing")
    sender, sink = vm["sender"], vm["sink"]
    spoofed_ip = f"{net}.99"
    with Capture(sink, f"udp dst port {SINK_PORT} or arp", tmp_path / "sink.txt") as capture:
        send_with_control(capture, sender, sink,
                          to_sink(sender, sink, sender.mac, spoofed_ip, 41001),
                          to_sink(sender, sink, FOREIGN_MAC, sender.ip, 41002),
                          to_sink(sender, sink, FOREIGN_MAC, spoofed_ip, 41003),
                          arp_reply(sender.mac, spoofed_ip, sink.mac, sink.ip),
                          arp_reply(FOREIGN_MAC, sender.ip, sink.mac, sink.ip),
                          arp_reply(sender.mac, sender.ip, sink.mac, sink.ip))
    lines = "\n".join(capture.lines())
    assert not [p for p in (41001, 41002, 41003) if f".{p} > " in lines], lines
    assert f"Reply {sender.ip} is-at {sender.mac}" in lines, lines  # the honest ARP reply
    assert f"Reply {spoofed_ip} is-at" not in lines and FOREIGN_MAC not in lines, lines


def test_allowed_address_pairs_admit_the_extra_address(lab, tmp_path):
    _, net, vm = sender_and_sink(lab, "pairs")
    sender, sink = vm["sender"], vm["sink"]
    extra, paired = f"{net}.99", f"{net}.98"  # extra: with the port's MAC; paired: with FOREIGN_MAC
    sender.run("ip", "addr", "add", f"{extra}/32", "dev", "eth0")
    from_extra = Probe(sender, sink, "icmp", from_ip=extra)
    with Capture(sink, f"udp dst port {SINK_PORT}", tmp_path / "before.txt") as capture:
        send_with_control(capture, sender, sink, to_sink(sender, sink, sender.mac, extra, 41001))
    assert not seen(capture, extra, 41001), capture.lines()
    expect(allowed=[Probe(sender, sink, "icmp")], denied=[from_extra])

    lab.update_port(sender.id, allowed_address_pairs=[{"ip_address": extra},
                                                      {"ip_address": paired, "mac_address": FOREIGN_MAC},
                                                      {"ip_address": f"{net}.64/28"}])
    # The extra address is the port's own now, and a member of its group (the sink admits ICMP from it).
    eventually_expect(allowed=[from_extra])
    with Capture(sink, f"udp dst port {SINK_PORT}", tmp_path / "after.txt") as capture:
        send_with_control(capture, sender, sink,
                          to_sink(sender, sink, sender.mac, extra, 41011),
                          to_sink(sender, sink, FOREIGN_MAC, paired, 41012),
                          to_sink(sender, sink, sender.mac, f"{net}.70", 41013),  # in the /28 pair
                          to_sink(sender, sink, FOREIGN_MAC, sender.ip, 41014),  # the pair's MAC, not its IP
                          to_sink(sender, sink, sender.mac, paired, 41015),  # the pair's IP, not its MAC
                          to_sink(sender, sink, sender.mac, f"{net}.80", 41016))  # just past the /28
    assert seen(capture, extra, 41011) and seen(capture, paired, 41012) and seen(capture, f"{net}.70", 41013), \
        capture.lines()
    assert not [port for port in (41014, 41015, 41016) if capture.has(rf"\.{port} > ")], capture.lines()


def test_port_security_disabled_opens_the_port(lab, tmp_path):
    senders, net, vm = sender_and_sink(lab, "port-security", peer=(12, []))
    sender, sink, peer = vm["sender"], vm["sink"], vm["peer"]
    peer_port = lab.port(peer.id)
    assert peer_port["security_groups"] == [] and peer_port["port_security_enabled"]
    spoofed = to_sink(sender, sink, FOREIGN_MAC, f"{net}.97", 41001)
    with Capture(sink, f"udp dst port {SINK_PORT}", tmp_path / "before.txt") as capture:
        send_with_control(capture, sender, sink, spoofed)
    assert not seen(capture, f"{net}.97", 41001), capture.lines()
    expect(denied=[*probes(sink, sender, "icmp", "tcp", "udp"), Probe(peer, sender, "tcp")])

    lab.update_port(sender.id, security_groups=[], port_security_enabled=False)
    eventually_expect(allowed=[*probes(sink, sender, "icmp", "tcp", "udp")])
    with Capture(sink, f"udp dst port {SINK_PORT}", tmp_path / "after.txt") as capture:
        send_with_control(capture, sender, sink, spoofed)
    assert seen(capture, f"{net}.97", 41001), capture.lines()
    # A port with port security but no group still drops everything (but ARP): not opened by the sender's change.
    expect(denied=[Probe(sender, peer, "tcp"), Probe(sender, peer, "icmp")])


def test_arp_and_dhcp_work_without_any_rule(lab, tmp_path):
    network = lab.network("arp-dhcp")
    mute, sinks = lab.group("mute", egress=False), lab.group("sinks")
    lab.add_rule(sinks, protocol="udp")
    vm = lab.instances(network, m1=(11, [mute]), m2=(12, []), sink=(21, [sinks]))
    m1, m2, sink = vm["m1"], vm["m2"], vm["sink"]
    assert lab.rules_of(mute) == []
    expect(denied=[*probes(m1, m2, "icmp", "tcp"), *probes(m2, m1, "icmp", "tcp"), Probe(m1, sink, "udp")])

    def resolved(instance: Instance, other: Instance) -> bool:
        neighbour = instance.run("ip", "neigh", "show", other.ip, "dev", "eth0").stdout
        return f"lladdr {other.mac}" in neighbour and "FAILED" not in neighbour and "INCOMPLETE" not in neighbour

    # The probes above made each ask for the other's MAC: ARP passes where nothing else does.
    eventually(lambda: resolved(m1, m2) and resolved(m2, m1), timeout=3, what="ARP resolved both ways")

    offer = udp_frame(m1.mac, "ff:ff:ff:ff:ff:ff", m1.ip, "255.255.255.255", 67, 68)
    discover = udp_frame(m1.mac, "ff:ff:ff:ff:ff:ff", "0.0.0.0", "255.255.255.255", 68, 67)
    with Capture(sink, "udp port 67 or udp port 68", tmp_path / "dhcp.txt") as capture:
        m1.send_frame(offer)  # an instance may not answer as a DHCP server
        m1.send_frame(discover)
        capture.wait_for(r" 0\.0\.0\.0\.68 > 255\.255\.255\.255\.67: ")
    assert not capture.has(rf" {m1.ip}\.67 > "), capture.lines()
