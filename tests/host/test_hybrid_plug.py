"""The iptables_hybrid driver on a real host (issue 4, point 2): ``neutrino plug`` builds the qbr/qvb/qvo/tap
plumbing the port binding asks for, the qvo port carries the network's local VLAN on br-int, and the
security groups are enforced by iptables on the Linux bridge through br_netfilter: members of the default
group reach each other, another group's instance only once an ingress rule admits it, and removing that
rule cuts the TCP connection it admitted.

(The two-driver test matrix is tests/host/test_firewall*.py.)
"""

from __future__ import annotations

import sys
import textwrap
import time

from neutrino.model.names import hybrid_bridge_name, hybrid_bridge_veth_name, hybrid_ovs_veth_name, tap_name
from tests.host.simhost import eventually, standard_host

HYBRID_HOST = standard_host().replace("[host]\n", '[host]\nfirewall_driver = "iptables_hybrid"\n', 1)
SERVER = textwrap.dedent("""\
    import socket
    listener = socket.create_server(("0.0.0.0", 5001))
    connection, _ = listener.accept()
    while data := connection.recv(64):
        connection.sendall(data)
""")
# One byte each 50 ms on ONE connection; each exchange prints ok, or timeout after 300 ms.
CLIENT = textwrap.dedent("""\
    import socket, sys, time
    connection = socket.create_connection((sys.argv[1], 5001), timeout=2)
    connection.settimeout(0.3)
    while True:
        try:
            connection.sendall(b"x")
            print("ok" if connection.recv(64) else "closed", flush=True)
        except TimeoutError:
            print("timeout", flush=True)
        time.sleep(0.05)
""")


def _call(cloud, method: str, path: str, expect: int, **kwargs) -> dict:
    response = cloud.http.request(method, path, **kwargs)
    assert response.status_code == expect, f"{method} {path}: {response.status_code} {response.text}"
    return response.json() if response.content else {}


def _links(host) -> dict[str, str]:
    """Link name -> the name of its master (or '')."""
    links = {}
    for line in host.run(["ip", "-o", "link", "show"]).stdout.splitlines():
        name = line.split(": ")[1].split("@")[0]
        master = line.split(" master ")[1].split()[0] if " master " in line else ""
        links[name] = master
    return links


def test_hybrid_plug_and_iptables_firewall(make_host, cloud, tmp_path):
    host = make_host(HYBRID_HOST)
    network = cloud.create_network("hybrid")
    other = _call(cloud, "POST", "/v2.0/security-groups", 201, json={"security_group": {"name": "other"}})
    other_id = other["security_group"]["id"]
    a, b = cloud.create_port(network, "10.9.0.11"), cloud.create_port(network, "10.9.0.12")
    c = cloud.create_port(network, "10.9.0.13", security_groups=[other_id])
    default_id = a["security_groups"][0]
    assert b["security_groups"] == [default_id] and default_id != other_id
    for port, namespace in ((a, "vm-a"), (b, "vm-b"), (c, "vm-c")):
        host.plug(port["id"], namespace)
        assert cloud.port(port["id"])["binding:vif_details"]["ovs_hybrid_plug"] is True

    # The memo's plumbing: tap and qvb in qbr, qvo on br-int tagged with the network's local VLAN.
    links, show = _links(host), host.show()
    for port in (a, b, c):
        qbr, qvo = hybrid_bridge_name(port["id"]), hybrid_ovs_veth_name(port["id"])
        assert (links[tap_name(port["id"])], links[hybrid_bridge_veth_name(port["id"])], links[qbr]) == (qbr, qbr, "")
        assert qvo in links and tap_name(port["id"]) not in show["br-int"]["ports"]
        tag = show["br-int"]["ports"][qvo]["tag"]
        assert show["br-int"]["ports"][qvo]["interfaces"] == {qvo: {}}
        assert tag == show["br-int"]["ports"][hybrid_ovs_veth_name(a["id"])]["tag"]
        assert 1 <= int(tag) <= 4094
    assert host.vsctl("get", "Interface", hybrid_ovs_veth_name(a["id"]), "external_ids:iface-id") == f'"{a["id"]}"'
    assert host.run(["sysctl", "-n", "net.bridge.bridge-nf-call-iptables"]).stdout.strip() == "1"

    # The default group: its members reach each other; an instance of another group does not.
    assert eventually(lambda: host.ping("vm-a", "10.9.0.12"), what="vm-a reaches vm-b in the default group")
    assert host.ping("vm-b", "10.9.0.11")
    assert not host.ping("vm-c", "10.9.0.11", count=2), "vm-c of another group reached vm-a"

    rule = _call(cloud, "POST", "/v2.0/security-group-rules", 201, json={"security_group_rule": {
        "security_group_id": default_id, "direction": "ingress", "ethertype": "IPv4",
        "remote_group_id": other_id}})["security_group_rule"]
    assert eventually(lambda: host.ping("vm-c", "10.9.0.11"), what="the ingress rule admits vm-c")
    saved = host.run(["iptables-save"]).stdout
    assert f"--comment {rule['id']} -j RETURN" in saved

    # An established TCP connection the rule admitted stops when the rule goes.
    output = tmp_path / "client.txt"
    host.popen(host.in_instance("vm-a", [sys.executable, "-c", SERVER]))
    eventually(lambda: "0.0.0.0:5001" in host.run(host.in_instance("vm-a", ["ss", "-ltn"])).stdout,
               what="the server listens")
    with open(output, "w") as sink:
        client = host.popen(host.in_instance("vm-c", [sys.executable, "-c", CLIENT, "10.9.0.11"]), stdout=sink)
    eventually(lambda: output.read_text().count("ok") >= 5, what="the connection carries data")
    _call(cloud, "DELETE", f"/v2.0/security-group-rules/{rule['id']}", 204)
    host.wait_for_pass()
    seen = len(output.read_text().splitlines())
    time.sleep(1.0)  # ~3 exchanges: each must now time out
    after = output.read_text().splitlines()[seen:]
    assert client.poll() is None and after and set(after) == {"timeout"}, after
    assert f"--comment {rule['id']} " not in host.run(["iptables-save"]).stdout
    assert not host.ping("vm-c", "10.9.0.11"), "a new connection after the rule is gone"

    # Unplugging removes the whole trio; the agent then drops the port's chains and zone.
    host.neutrino("unplug", "vm-b")
    left = set(_links(host))
    assert not {tap_name(b["id"]), hybrid_bridge_name(b["id"]), hybrid_bridge_veth_name(b["id"]),
                hybrid_ovs_veth_name(b["id"])} & left
    assert hybrid_ovs_veth_name(b["id"]) not in host.show()["br-int"]["ports"]
    eventually(lambda: b["id"][:10] not in host.run(["iptables-save"]).stdout, what="vm-b's chains are gone")
    # The cleanup removes every chain and jump of ours, in both families.
    host.stop_agent()
    host.neutrino("agent", "--cleanup")
    for program in ("iptables-save", "ip6tables-save"):
        assert "neutron-openvswi" not in host.run([program]).stdout
