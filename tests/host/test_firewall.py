"""Security groups in the data plane (issue 4), on real OVS and namespaces, for each firewall driver.

Every probe passes exactly when Neutron's semantics say so: ingress is denied unless a rule admits
it, egress is what the rules allow, replies of allowed connections pass, and a rule's fields
(protocol, port range, ICMP type/code, remote prefix, remote group) admit exactly what they name.
Each test first shows the denied case, then changes the API and waits for the allowed one (and the
other way round for removals), so each can fail. Hosts live for the module (one set per driver);
each test makes its own network, groups and instances (firewall_lab.py).

Anti-spoofing, allowed address pairs, port security, ARP and DHCP: test_firewall_spoofing.py.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.host.firewall_lab import (
    DENY_TIMEOUT,
    DRIVERS,
    TIMESTAMP_REQUEST,
    Instance,
    Lab,
    Probe,
    eventually_expect,
    expect,
    lab_for,
    print_logs_if_failed,
    probes,
)
from tests.host.simhost import eventually

PROTOCOLS = ("icmp", "tcp", "udp")


@pytest.fixture(scope="module", params=DRIVERS)
def lab(request, host_session, fabric, api_server, cloud) -> Iterator[Lab]:
    yield from lab_for(request.param, host_session, fabric, api_server, cloud)


@pytest.fixture(autouse=True)
def agent_logs_on_failure(request, lab) -> Iterator[None]:
    yield
    print_logs_if_failed(request, lab)


# --- the same group, another group, a remote prefix: for ICMP, TCP and UDP ---

@dataclass(frozen=True)
class Matrix:
    """a1, a2 in the project's default group; b1 in blue, c1 in cyan (new groups: egress only)."""

    default: str
    blue: str
    cyan: str
    a1: Instance
    a2: Instance
    b1: Instance
    c1: Instance


@pytest.fixture(scope="module")
def matrix(lab) -> Matrix:
    network = lab.network("matrix")
    default, blue, cyan = lab.default_group(), lab.group("blue"), lab.group("cyan")
    made = lab.instances(network, a1=(11, [default]), a2=(12, [default]), b1=(21, [blue]), c1=(31, [cyan]))
    return Matrix(default, blue, cyan, **made)


@pytest.mark.parametrize("proto", PROTOCOLS)
def test_default_group_admits_its_members(matrix, proto):
    m = matrix
    expect(allowed=[Probe(m.a1, m.a2, proto), Probe(m.a2, m.a1, proto)],
           denied=[Probe(m.b1, m.a1, proto), Probe(m.c1, m.a2, proto)])


@pytest.mark.parametrize("proto", PROTOCOLS)
def test_other_group_is_denied_until_a_rule_admits_it(lab, matrix, proto):
    m = matrix
    expect(denied=[Probe(m.a1, m.b1, proto), Probe(m.c1, m.b1, proto)])
    rule = lab.add_rule(m.blue, protocol=proto, remote_group=m.default)
    try:
        eventually_expect(allowed=[Probe(m.a1, m.b1, proto), Probe(m.a2, m.b1, proto)])
        others = [p for p in PROTOCOLS if p != proto]
        expect(denied=[Probe(m.c1, m.b1, proto), Probe(m.b1, m.a1, proto), *probes(m.a1, m.b1, *others)])
    finally:
        lab.delete_rule(rule)
    eventually_expect(denied=[Probe(m.a1, m.b1, proto), Probe(m.a2, m.b1, proto)])


@pytest.mark.parametrize("proto", PROTOCOLS)
def test_remote_prefix_admits_exactly_that_source(lab, matrix, proto):
    m = matrix
    expect(denied=[Probe(m.a1, m.c1, proto), Probe(m.a2, m.c1, proto), Probe(m.b1, m.c1, proto)])
    host_rule = lab.add_rule(m.cyan, protocol=proto, prefix=f"{m.a1.ip}/32")
    rules = [host_rule]
    try:
        eventually_expect(allowed=[Probe(m.a1, m.c1, proto)])
        expect(denied=[Probe(m.a2, m.c1, proto), Probe(m.b1, m.c1, proto)])
        # 10.8.N.16/28 holds b1 (.21) and neither a1 (.11) nor a2 (.12).
        rules.append(lab.add_rule(m.cyan, protocol=proto, prefix=m.b1.ip.rsplit(".", 1)[0] + ".16/28"))
        eventually_expect(allowed=[Probe(m.b1, m.c1, proto)])
        expect(allowed=[Probe(m.a1, m.c1, proto)], denied=[Probe(m.a2, m.c1, proto)])
    finally:
        for rule in rules:
            lab.delete_rule(rule)
    eventually_expect(denied=[Probe(m.a1, m.c1, proto), Probe(m.b1, m.c1, proto)])


# --- egress ---

def test_egress_rules_restrict_outbound_once_the_defaults_are_gone(lab):
    network = lab.network("egress")
    outbound, open_ = lab.group("outbound", egress=False), lab.group("open")
    lab.add_rule(open_)  # any protocol from anywhere
    vm = lab.instances(network, e1=(11, [outbound]), t1=(21, [open_]), t2=(22, [open_]))
    e1, t1, t2 = vm["e1"], vm["t1"], vm["t2"]
    expect(allowed=probes(t2, t1, *PROTOCOLS), denied=probes(e1, t1, *PROTOCOLS))

    to_t1 = lab.add_rule(outbound, "egress", "tcp", (9000, 9000), prefix=f"{t1.ip}/32")
    eventually_expect(allowed=[Probe(e1, t1, "tcp", 9000)])
    expect(denied=[Probe(e1, t1, "tcp", 9001), *probes(e1, t1, "udp", "icmp"), Probe(e1, t2, "tcp", 9000),
                   Probe(t1, e1, "tcp", 9000)])

    lab.add_rule(outbound, "egress", "udp", remote_group=open_)  # to the members of "open"
    eventually_expect(allowed=[Probe(e1, t1, "udp"), Probe(e1, t2, "udp")])
    expect(denied=[Probe(e1, t2, "tcp"), Probe(e1, t1, "icmp")])

    # Removing the egress rule cuts the connection it admitted, as removing an ingress rule does.
    assert e1.call("open", name="out", to=t1.ip, port=9000) == "ok"
    assert e1.call("ask", name="out") == "ok"
    lab.delete_rule(to_t1)
    eventually(lambda: e1.call("ask", DENY_TIMEOUT, name="out") != "ok", timeout=10,
               what="the connection admitted by the removed egress rule is cut")
    expect(allowed=[Probe(e1, t1, "udp")], denied=[Probe(e1, t1, "tcp")])


# --- rule fields ---

def test_port_range_rule_admits_exactly_its_ports(lab):
    network = lab.network("ranges")
    ranged, clients = lab.group("ranged"), lab.group("clients")
    vm = lab.instances(network, server=(11, [ranged]), client=(21, [clients]))
    server, client = vm["server"], vm["client"]
    expect(denied=[Probe(client, server, "tcp", 8005)])

    lab.add_rule(ranged, protocol="tcp", ports=(8000, 8010))
    eventually_expect(allowed=[Probe(client, server, "tcp", 8005)])
    expect(allowed=[Probe(client, server, "tcp", 8000), Probe(client, server, "tcp", 8010)],
           denied=[Probe(client, server, "tcp", 8011), Probe(client, server, "tcp", 9000),
                   Probe(client, server, "udp", 8005), Probe(client, server, "icmp")])

    lab.add_rule(ranged, protocol="17", ports=(8005, 8005))  # a protocol by number: udp
    eventually_expect(allowed=[Probe(client, server, "udp", 8005)])
    expect(denied=[Probe(client, server, "udp", 9000), Probe(client, server, "tcp", 8011)])


def test_icmp_type_rule_admits_only_that_type(lab):
    network = lab.network("icmp-types")
    pingable, clients = lab.group("pingable"), lab.group("clients")
    vm = lab.instances(network, target=(11, [pingable]), client=(21, [clients]))
    target, client = vm["target"], vm["client"]
    echo, timestamp = Probe(client, target, "icmp"), Probe(client, target, "icmp", TIMESTAMP_REQUEST)
    expect(denied=[echo, timestamp])

    lab.add_rule(pingable, protocol="icmp", ports=(8, None))  # echo-request, any code
    eventually_expect(allowed=[echo])
    expect(denied=[timestamp, Probe(client, target, "tcp")])

    lab.add_rule(pingable, protocol="icmp", ports=(13, 0))  # timestamp, code 0
    eventually_expect(allowed=[timestamp])
    expect(allowed=[echo], denied=[Probe(client, target, "udp")])


def test_remote_group_follows_membership_without_touching_unrelated_ports(lab):
    network = lab.network("membership")
    app, web, misc, other = (lab.group(name) for name in ("app", "web", "misc", "other"))
    lab.add_rule(app, protocol="tcp", remote_group=web)
    lab.add_rule(other, protocol="tcp")
    vm = lab.instances(network, target=(11, [app]), member=(21, [web]), newcomer=(22, [misc]),
                       bystander=(31, [other]))
    target, member, newcomer, bystander = vm["target"], vm["member"], vm["newcomer"], vm["bystander"]
    expect(allowed=[Probe(member, target)], denied=[Probe(newcomer, target)])
    untouched = lab.rendering_of(bystander)
    assert newcomer.call("open", name="steady", to=bystander.ip, port=9000) == "ok"

    lab.update_port(newcomer.id, security_groups=[web])
    eventually_expect(allowed=[Probe(newcomer, target)])
    expect(allowed=[Probe(member, target)], denied=[Probe(target, newcomer), Probe(newcomer, target, "udp")])
    assert newcomer.call("open", name="as-member", to=target.ip, port=9000) == "ok"

    lab.update_port(newcomer.id, security_groups=[misc])
    eventually_expect(denied=[Probe(newcomer, target)])
    expect(allowed=[Probe(member, target)])
    eventually(lambda: newcomer.call("ask", DENY_TIMEOUT, name="as-member") != "ok", timeout=10,
               what="the connection it made as a member is cut once it is not one")

    assert lab.rendering_of(bystander) == untouched
    assert newcomer.call("ask", name="steady") == "ok", "a bystander's connection was disturbed"


# --- connection tracking ---

def test_replies_pass_without_a_reverse_rule(lab):
    network = lab.network("replies")
    served, clients = lab.group("served"), lab.group("clients")
    for proto in PROTOCOLS:
        lab.add_rule(served, protocol=proto)
    vm = lab.instances(network, server=(11, [served]), client=(21, [clients]))
    server, client = vm["server"], vm["client"]
    expect(allowed=probes(client, server, *PROTOCOLS), denied=probes(server, client, *PROTOCOLS))
    # Related: the ICMP port unreachable of a UDP datagram to a closed port comes back to the client.
    assert client.call("udp", to=server.ip, port=9999) == "refused"


def test_established_tcp_survives_adding_a_rule_and_is_cut_by_removing_its_rule(lab):
    network = lab.network("conntrack")
    served, clients = lab.group("served"), lab.group("clients")
    admitting = lab.add_rule(served, protocol="tcp", ports=(9000, 9000))
    vm = lab.instances(network, server=(11, [served]), client=(21, [clients]), other=(22, [clients]))
    server, client, other = vm["server"], vm["client"], vm["other"]
    lab.add_rule(served, protocol="tcp", prefix=f"{other.ip}/32")  # other's connections: two rules admit them
    eventually_expect(allowed=[Probe(other, server, "tcp", 9001)])
    assert client.call("open", name="long", to=server.ip, port=9000) == "ok"
    assert client.call("ask", name="long") == "ok"
    assert other.call("open", name="twice", to=server.ip, port=9000) == "ok"

    with Asking(client, "long") as asking:  # request/response all the time the rule is added
        lab.add_rule(served, protocol="tcp", ports=(9001, 9001))
        eventually_expect(allowed=[Probe(client, server, "tcp", 9001)])
    assert asking.answered > 0 and asking.failures == [], asking.failures
    assert client.call("ask", name="long") == "ok"

    lab.delete_rule(admitting)
    eventually(lambda: client.call("ask", DENY_TIMEOUT, name="long") != "ok", timeout=10,
               what="the established connection is cut once its rule is gone")
    assert client.call("ask", DENY_TIMEOUT, name="long") != "ok", "the cut connection came back"
    expect(allowed=[Probe(client, server, "tcp", 9001)], denied=[Probe(client, server, "tcp", 9000)])
    assert other.call("ask", name="twice") == "ok", "a connection another rule still admits was cut"
    client.call("close", name="long")


def test_rules_of_all_the_ports_groups_add_up(lab):
    network = lab.network("many-groups")
    tcp_only, udp_only, clients = lab.group("tcp-only"), lab.group("udp-only"), lab.group("clients")
    lab.add_rule(tcp_only, protocol="tcp")
    lab.add_rule(udp_only, protocol="udp")
    vm = lab.instances(network, target=(11, [tcp_only, udp_only]), client=(21, [clients]))
    target, client = vm["target"], vm["client"]
    expect(allowed=probes(client, target, "tcp", "udp"), denied=[Probe(client, target, "icmp")])

    lab.update_port(target.id, security_groups=[tcp_only])
    eventually_expect(denied=[Probe(client, target, "udp")])
    expect(allowed=[Probe(client, target, "tcp")])


def test_router_port_is_trusted_and_still_meets_the_instances_ingress_rules(lab):
    """A ``network:router_interface`` port is not filtered (any traffic to and from it passes), but what
    it sends to an instance meets that instance's ingress rules, as any sender's does."""
    network = lab.network("router-port")
    guarded = lab.group("guarded")
    vm = lab.instances(network, router=(1, [], {"device_owner": "network:router_interface"}),
                       guest=(11, [guarded]))
    router, guest = vm["router"], vm["guest"]
    expect(allowed=probes(guest, router, *PROTOCOLS), denied=probes(router, guest, *PROTOCOLS))

    lab.add_rule(guarded, protocol="tcp", prefix=f"{router.ip}/32")
    eventually_expect(allowed=[Probe(router, guest, "tcp")])
    expect(denied=probes(router, guest, "udp", "icmp"))


class Asking:
    """A request/response every few ms on an open connection, in a thread, while the block runs."""

    def __init__(self, instance: Instance, name: str):
        self.instance, self.name = instance, name
        self.answered, self.failures = 0, []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            result = self.instance.call("ask", 1.0, name=self.name)
            if result == "ok":
                self.answered += 1
            else:
                self.failures.append(result)

    def __enter__(self) -> Asking:
        self._thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self._stop.set()
        self._thread.join()


# --- across two hosts ---

def test_groups_across_two_hosts(lab):
    network = lab.network("two-hosts")
    default, far = lab.default_group(), lab.group("far")
    vm = lab.instances(network, x=(11, [default], 0), y=(12, [default], 1), z=(21, [far], 1))
    x, y, z = vm["x"], vm["y"], vm["z"]
    assert x.host is not y.host and y.host is z.host
    expect(allowed=[*probes(x, y, *PROTOCOLS), *probes(y, x, *PROTOCOLS)],
           denied=[Probe(z, x, "tcp"), Probe(x, z, "tcp"), Probe(z, x, "icmp")])

    lab.update_port(z.id, security_groups=[default])  # z joins: x's host learns its address
    eventually_expect(allowed=[Probe(z, x, "tcp"), Probe(x, z, "tcp")])
    expect(allowed=[Probe(z, x, "icmp"), Probe(y, z, "udp")])
