"""DHCP on real OVS, end to end: the API schedules a network's DHCP port on the host, its agent makes the
qdhcp- namespace, the tap leg and dnsmasq, and instances plugged by ``neutrino plug`` configure themselves
with ISC dhclient, as booting VMs would."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

from neutrino.host.runner import Result
from neutrino.model.names import tap_name
from neutrino.realize.instances import configure_by_dhcp, instance_dir
from tests.host.simhost import eventually, is_running, standard_host

MTU = 1400
GATEWAY = "10.20.0.1"
ROUTE = ("198.51.100.0/24", "10.20.0.254")


class InstanceHost:
    """The Host protocol over a SimHost, so the plug's own DHCP client code runs as on a hypervisor."""

    def __init__(self, sim):
        self.sim = sim

    def run(self, argv, netns=None, input=None, check=True) -> Result:
        done = self.sim.run(self.sim.in_instance(netns, argv) if netns else argv, check=False, input=input)
        if check and done.returncode != 0:
            from neutrino.host.errors import CommandFailed

            raise CommandFailed(argv, done.returncode, done.stderr)
        return Result(done.returncode, done.stdout, done.stderr)


def call(cloud, method: str, path: str, expect: int, **kwargs) -> dict:
    return cloud._call(method, path, expect, **kwargs)


def dhcp_port_of(cloud, network: dict) -> dict | None:
    ports = call(cloud, "GET", "/v2.0/ports", 200, params={"network_id": network["id"],
                                                              "device_owner": "network:dhcp"})["ports"]
    return ports[0] if len(ports) == 1 else None


def dnsmasq_of(host, network: dict) -> int | None:
    """The pid of the network's dnsmasq, if one of ours runs (its pid file, and its command line)."""
    directory = host.dhcp_dir / network["id"]
    try:
        pid = int((directory / "pid").read_text())
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
    except (FileNotFoundError, ValueError):
        return None
    return pid if is_running(pid) and f"--pid-file={directory}/pid" in argv else None


def namespaces(host) -> set[str]:
    return {line.split()[0] for line in host.run(["ip", "netns", "list"]).stdout.splitlines()}


def link(host, namespace: str, device: str) -> dict:
    return json.loads(host.run(["ip", "-n", namespace, "-j", "addr", "show", "dev", device]).stdout)[0]


def addresses(host, namespace: str, device: str = "eth0") -> list[str]:
    return [f"{a['local']}/{a['prefixlen']}" for a in link(host, namespace, device)["addr_info"]
            if a["family"] == "inet"]


def routes(host, namespace: str) -> set[tuple[str, str]]:
    found = json.loads(host.run(["ip", "-n", namespace, "-j", "-4", "route", "show"]).stdout)
    return {(r["dst"], r["gateway"]) for r in found if "gateway" in r}


def test_instances_get_their_ports_addresses_routes_and_mtu_from_dnsmasq_kept_in_step(make_host, cloud):
    host = make_host(standard_host(physnet="physnet2"))  # physnet2: no other test's host takes its DHCP
    sim = InstanceHost(host)
    network = call(cloud, "POST", "/v2.0/networks", 201, json={"network": {
        "name": "dhcp", "provider:network_type": "vlan", "provider:physical_network": "physnet2",
        "provider:segmentation_id": cloud.next_vlan(), "mtu": MTU}})["network"]
    asked = time.monotonic()
    subnet = call(cloud, "POST", "/v2.0/subnets", 201, json={"subnet": {
        "network_id": network["id"], "cidr": "10.20.0.0/24", "ip_version": 4, "gateway_ip": GATEWAY,
        "dns_nameservers": ["192.0.2.53"], "host_routes": [{"destination": ROUTE[0], "nexthop": ROUTE[1]}]}})["subnet"]

    # The network is served here: port bound and ACTIVE, namespace, leg on its local VLAN, dnsmasq.
    dhcp = eventually(lambda: (p := dhcp_port_of(cloud, network)) and p["status"] == "ACTIVE" and p,
                      what="the DHCP port is ACTIVE")
    first_pid = eventually(lambda: dnsmasq_of(host, network), what="dnsmasq runs")
    served = time.monotonic() - asked
    assert dhcp["binding:host_id"] == host.name
    namespace, device = f"qdhcp-{network['id']}", tap_name(dhcp["id"])
    assert namespace in namespaces(host)
    leg = link(host, namespace, device)
    dhcp_address = dhcp["fixed_ips"][0]["ip_address"]
    assert (leg["address"], leg["mtu"], addresses(host, namespace, device)) == \
        (dhcp["mac_address"], MTU, [f"{dhcp_address}/24"])
    assert host.tag(device) not in (None, 4095)
    assert host.vsctl("get", "Interface", device, "external_ids:iface-id").strip('"') == dhcp["id"]
    assert host.run(["ip", "netns", "identify", str(first_pid)]).stdout.strip() == namespace

    # An instance plugged by DHCP gets exactly its port's address, the gateway, the host route, the MTU.
    vm1 = cloud.create_port(network)
    host.plug(vm1["id"], "vm1")
    assert addresses(host, "vm1") == [f"{vm1['fixed_ips'][0]['ip_address']}/24"]
    assert link(host, "vm1", "eth0")["mtu"] == MTU
    assert routes(host, "vm1") == {("default", GATEWAY), ROUTE}
    lease = (instance_dir(host.state_dir, "vm1") / "dhclient.leases").read_text()
    assert "option domain-name-servers 192.0.2.53;" in lease and "option interface-mtu 1400;" in lease
    assert host.ping("vm1", dhcp_address)

    # A port created later gets its lease from the same dnsmasq: new hosts file, SIGHUP, no restart.
    created = time.monotonic()
    vm2 = cloud.create_port(network)
    hosts_file = host.dhcp_dir / network["id"] / "host"
    eventually(lambda: vm2["mac_address"] in hosts_file.read_text(), what="the hosts file names the new port")
    in_hosts_file = time.monotonic() - created
    plugged = host.neutrino("plug", vm2["id"], "--name", "vm2").stdout
    assert addresses(host, "vm2") == [f"{vm2['fixed_ips'][0]['ip_address']}/24"]
    assert dnsmasq_of(host, network) == first_pid
    log = host.agent_log.read_text()
    assert log.count(f"started in {namespace}") == 1 and "reloaded (SIGHUP): new hosts" in log

    # A MAC the API does not know gets no lease (port security off, so only dnsmasq can refuse it).
    vm3 = cloud.create_port(network, port_security_enabled=False, security_groups=[])
    host.neutrino("plug", vm3["id"], "--name", "vm3", "--static")
    host.run(["ip", "-n", "vm3", "addr", "flush", "dev", "eth0"])
    host.run(["ip", "-n", "vm3", "link", "set", "eth0", "address", "fa:16:3e:de:ad:01"])
    lease_files = instance_dir(host.state_dir, "vm3")
    refused = _no_lease(sim, lease_files)
    assert refused and addresses(host, "vm3") == []

    # dnsmasq killed: the agent starts it again, and it serves.
    host.run(["kill", "-KILL", str(first_pid)])
    second_pid = eventually(lambda: (pid := dnsmasq_of(host, network)) != first_pid and pid, what="dnsmasq is back")
    host.run(["ip", "-n", "vm3", "link", "set", "eth0", "address", vm3["mac_address"]])
    configure_by_dhcp(sim, "vm3", lease_files, timeout=10)
    assert addresses(host, "vm3") == [f"{vm3['fixed_ips'][0]['ip_address']}/24"]

    # The agent restarting finds dnsmasq running and leaves it be.
    host.stop_agent()
    host.start_agent()
    host.wait_for_pass()
    assert dnsmasq_of(host, network) == second_pid

    # Unplugging an instance stops its DHCP client.
    client = int((instance_dir(host.state_dir, "vm1") / "dhclient.pid").read_text())
    assert is_running(client)
    host.neutrino("unplug", "vm1")
    eventually(lambda: not is_running(client), what="vm1's dhclient stopped")

    # Deleting the last DHCP subnet removes the port, the namespace, the leg and dnsmasq.
    for vm in (vm1, vm2, vm3):  # (vm2 and vm3 stay plugged: the host's teardown removes them)
        call(cloud, "DELETE", f"/v2.0/ports/{vm['id']}", 204)
    call(cloud, "DELETE", f"/v2.0/subnets/{subnet['id']}", 204)
    eventually(lambda: namespace not in namespaces(host), what="the qdhcp namespace is gone")
    assert not is_running(second_pid)
    assert device not in host.vsctl("list-ports", "br-int").split()
    assert not (host.dhcp_dir / network["id"]).exists()
    call(cloud, "DELETE", f"/v2.0/networks/{network['id']}", 204)

    lease = re.search(r"DHCP bound .*\((\d+\.\d+) s;", plugged)
    print(f"\nDHCP: network served {served * 1000:.0f} ms after its subnet was created; a new port in the "
          f"hosts file (SIGHUP) {in_hosts_file * 1000:.0f} ms after its creation; plug's DHCP exchange "
          f"{lease[1] if lease else '?'} s")


def _no_lease(sim: InstanceHost, directory: Path) -> bool:
    from neutrino.host.errors import CommandFailed

    try:
        configure_by_dhcp(sim, "vm3", directory, timeout=2)  # dnsmasq offers a known MAC within ms
    except CommandFailed:
        return True
    return False

