"""``neutrino demo`` / ``neutrino demo --clean``: the memo's node and its failure, rebuilt beside the all-in-one.

The node runs as a simulated host (option B of reference/multi-host.md, neutrino/host/simhost.py): its own
network, mount and UTS namespaces, its own Open vSwitch and its own ``ip netns`` names, so its br-int,
br-ex and br-bond0 never meet the all-in-one's br-int. Its NICs p1p1 and p1p2 are veths into the
all-in-one's physical network (bridge fab0 of namespace neutrino-fabric), as is the NIC of a second
simulated host, "outside", whose OVS bridge untags VLAN 201 onto an access port (this kernel has no
802.1Q sub-interfaces): that is the memo's external network, and where the pings come from.

The node's agent reaches the all-in-one's API server (bound on 127.0.0.1 of this namespace) through
``neutrino.host.relay``: one process that listens on 127.0.0.1:<port> *inside* the node's namespace and
connects from this one - no address, route or firewall rule is added anywhere. Everything is recorded
under ``<state dir>/demo``; ``--clean`` removes the hosts, the relay (by its pid) and the API objects
(found by name: project ``memo`` and its resources, the node's agents).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import click

from neutrino.config import DEFAULT_STATE_DIR, Settings

PREFIX = "neutrino-memo"  # the simulated hosts' namespaces: neutrino-memo-node, neutrino-memo-outside
NODE_NAME = "memo-node"  # the node's agent host name (binding:host_id)
FABRIC = "neutrino-fabric"  # made by `neutrino up`: the all-in-one's physical network
FABRIC_BRIDGE = "fab0"
PHYSNET = "physnet1"
EXTERNAL_VLAN = 201
EXTERNAL_CIDR = "192.0.2.0/24"  # RFC 5737, only inside namespaces
OUTSIDE_IP = "192.0.2.1"  # the external subnet's gateway: the outside host
TENANT_CIDR = "10.201.5.0/24"
PROJECT = "memo"
NETWORK, EXTERNAL, ROUTER, GROUP = "memo-net", "memo-ext", "memo-router", "web"
INSTANCES = (("vm1", "10.201.5.11"), ("vm2", "10.201.5.12"))
NO_REPLY_WAIT = 1.0


class DemoError(click.ClickException):
    pass


@dataclass(frozen=True)
class Place:
    """Where the demo keeps its things, from the all-in-one's state dir."""

    state_dir: Path

    @property
    def base(self) -> Path:
        return self.state_dir / "demo"

    @property
    def handles(self) -> Path:
        return self.base / "ns"

    @property
    def relay_pid(self) -> Path:
        return self.base / "relay.pid"


def say(number: int | str, text: str) -> None:
    click.echo(f"{number:>2}. {text}" if isinstance(number, int) else f"    {text}")


def shown(title: str, text: str) -> None:
    click.echo(f"\n--- {title} ---\n{text.rstrip()}\n")


# --- the all-in-one ---

def aio_settings(state_dir: Path) -> tuple[Settings, dict]:
    """The all-in-one's settings as `neutrino up` left them, and its agent's [server] section."""
    from neutrino.cli.allinone import answers

    config = state_dir / "agent.toml"
    if not config.exists():
        raise DemoError(f"neutrino demo needs `neutrino up` running: no {config}. Run `neutrino up` first.")
    server = tomllib.loads(config.read_text()).get("server", {})
    url = urlsplit(server.get("url", "http://127.0.0.1:9696"))
    settings = Settings(state_dir=state_dir, host=url.hostname or "127.0.0.1", port=url.port or 9696,
                        auth=server.get("auth", "keystone"))
    if not answers(settings.url):
        raise DemoError(f"neutrino demo needs `neutrino up` running: the API server does not answer on "
                        f"{settings.url}. Run `neutrino up` first.")
    if not Path(f"/run/netns/{FABRIC}").exists():
        raise DemoError(f"neutrino demo needs `neutrino up` running: namespace {FABRIC} (its physnet) is missing.")
    return settings, server


def cli_env(settings: Settings) -> dict[str, str]:
    """The environment of `openstack` and `neutrino trace` as the all-in-one's admin."""
    env = dict(os.environ)
    if settings.auth == "noauth":
        env["NEUTRINO_URL"] = settings.url
    else:
        env.update(OS_CLIENT_CONFIG_FILE=str(settings.state_dir / "clouds.yaml"), OS_CLOUD="neutrino-admin")
    return env


# --- the API ---

class Api:
    """The calls the demo makes, as the all-in-one's admin; refusals raise DemoError."""

    def __init__(self, client):
        self.client = client

    def call(self, method: str, path: str, body: dict | None = None, expect: tuple[int, ...] = (200, 201, 204),
             params: dict | None = None) -> dict:
        if method == "GET":
            status, answer = self.client.get(path, params)
        elif method == "DELETE":
            status, answer = self.client.delete(path)
        else:
            status, answer = getattr(self.client, method.lower())(path, body)
        if status not in expect:
            error = answer.get("NeutronError") or answer.get("error") or answer
            raise DemoError(f"{method} {path} refused ({status}): {error}")
        return answer

    def find(self, collection: str, **params) -> list[dict]:
        return self.call("GET", f"/v2.0/{collection}", params=params)[collection.replace("-", "_")]

    def create(self, kind: str, **body) -> dict:
        return self.call("POST", f"/v2.0/{kind}s", {kind: body})[kind]


def project_id(api: Api, settings: Settings, create: bool) -> str | None:
    """Project ``memo``'s id (made when ``create``); with noauth, a fixed id (no identity service)."""
    if settings.auth == "noauth":
        return "6d656d6f" + "0" * 24  # "memo"
    found = api.call("GET", "/identity/v3/projects", params={"name": PROJECT})["projects"]
    if found or not create:
        return found[0]["id"] if found else None
    return api.call("POST", "/identity/v3/projects", {"project": {
        "name": PROJECT, "description": "the memo's project (neutrino demo)"}})["project"]["id"]


# --- the hosts ---

def hosts(place: Place):
    from neutrino.host.simhost import SimHost

    return SimHost("node", PREFIX, place.base), SimHost("outside", PREFIX, place.base)


def private_handles(place: Place) -> None:
    """The mount/UTS namespace handles must sit on a private mount (multi-host.md §1)."""
    from neutrino.host.simhost import sh

    place.handles.mkdir(parents=True, exist_ok=True)
    sh(["mount", "--bind", str(place.handles), str(place.handles)])
    sh(["mount", "--make-private", str(place.handles)])


def cable(host, nic: str, fabric_end: str) -> None:
    """A veth "NIC" of ``host`` whose other end is a port of the all-in-one's fab0."""
    from neutrino.host.simhost import sh

    sh(["ip", "-n", FABRIC, "link", "add", fabric_end, "type", "veth", "peer", "name", nic, "netns", host.netns])
    sh(["ip", "-n", FABRIC, "link", "set", fabric_end, "master", FABRIC_BRIDGE, "up"])
    host.run(["ip", "link", "set", nic, "up"])


def start_relay(place: Place, node, settings: Settings) -> int:
    from neutrino.host.simhost import sh

    target = "127.0.0.1" if settings.host in ("0.0.0.0", "") else settings.host
    process = subprocess.Popen(
        [sys.executable, "-m", "neutrino.host.relay", f"/run/netns/{node.netns}", str(settings.port), target,
         str(settings.port)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, start_new_session=True)
    place.relay_pid.write_text(str(process.pid))
    if process.stdout.readline().strip() != "ready":
        raise DemoError("the relay to the API server did not start")
    process.stdout.close()
    probe = f"import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:{settings.port}/').status)"
    answered = sh(["ip", "netns", "exec", node.netns, sys.executable, "-c", probe], check=False).stdout.strip()
    if answered != "200":
        raise DemoError(f"the API server does not answer through the relay inside {node.netns} ({answered!r})")
    return process.pid


def stop_relay(place: Place) -> int | None:
    try:
        pid = int(place.relay_pid.read_text())
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except (FileNotFoundError, ValueError):
        return None
    if "neutrino.host.relay" not in argv or PREFIX not in argv:
        return None  # exited; the pid is someone else's now
    os.kill(pid, signal.SIGTERM)
    place.relay_pid.unlink(missing_ok=True)
    return pid


def node_config(node, server: dict) -> str:
    """The memo's node: br-int, br-bond0 on bond0 of p1p1+p1p2, br-ex patched into br-bond0 on VLAN 201,
    the hybrid iptables firewall; routers' gateways on br-ex."""
    keys = "\n".join(f'{key} = "{value}"' for key, value in server.items() if isinstance(value, str))
    return f"""# written by `neutrino demo`: the memo's node
[server]
{keys}

[agent]
state_dir = "{node.state_dir}"
dhcp_dir = "{node.dhcp_dir}"
resync_seconds = 2
heartbeat_seconds = 2.0

[host]
name = "{NODE_NAME}"
integration_bridge = "br-int"
datapath_type = "netdev"
firewall_driver = "iptables_hybrid"
bridge_mappings = {{ {PHYSNET} = "br-bond0" }}
external_network_bridge = "br-ex"

[host.bridges.br-bond0]
uplinks = ["p1p1", "p1p2"]
bond = "bond0"

[[host.patch_links]]
bridge = "br-ex"
port = "patch-bond0"
peer_bridge = "br-bond0"
peer_port = "patch-ex"
peer_tag = {EXTERNAL_VLAN}
"""


def build_outside(outside) -> None:
    """The upstream switch port: br-up takes VLAN 201 off the wire to access port ``out``, whose namespace
    ``outside`` holds the external subnet's gateway address."""
    outside.vsctl("add-br", "br-up", "--", "set", "Bridge", "br-up", "datapath_type=netdev",
                  "--", "add-port", "br-up", "eth1")
    outside.run(["ip", "netns", "add", "outside"])
    outside.run(["ip", "link", "add", "out", "type", "veth", "peer", "name", "eth0", "netns", "outside"])
    outside.vsctl("add-port", "br-up", "out", f"tag={EXTERNAL_VLAN}")
    outside.run(["ip", "link", "set", "out", "up"])
    prefix = EXTERNAL_CIDR.split("/")[1]
    outside.run(["ip", "-n", "outside", "-b", "-"],
                input=f"link set lo up\nlink set eth0 up\naddr add {OUTSIDE_IP}/{prefix} dev eth0\n")


def ping_from_outside(outside, address: str, wait: float = NO_REPLY_WAIT) -> bool:
    done = outside.run(["ip", "netns", "exec", "outside", "ping", "-n", "-q", "-c", "1", "-W", str(wait), address],
                       check=False)
    return done.returncode == 0


# --- the demo ---

def run_demo(state_dir: Path) -> None:
    from neutrino.cli.allinone import admin_client
    from neutrino.cli.cloud import CloudError
    from neutrino.host.simhost import CommandError

    settings, server = aio_settings(state_dir)
    place = Place(state_dir)
    started = time.monotonic()
    if place.base.exists():
        say(0, "a previous demo is there: removing it first")
        clean_demo(state_dir, settings)
    try:
        with admin_client(settings) as client:
            Demo(settings, server, place, Api(client)).run()
    except (CommandError, CloudError, subprocess.SubprocessError) as error:
        raise DemoError(f"{error}\n(leave it for inspection, or remove it: neutrino demo --clean)") from error
    click.echo(f"\nThe demo took {time.monotonic() - started:.0f} s. Remove it with: neutrino demo --clean"
               + (f" --state-dir {state_dir}" if state_dir != DEFAULT_STATE_DIR else ""))


class Demo:
    def __init__(self, settings: Settings, server: dict, place: Place, api: Api):
        self.settings, self.server, self.place, self.api = settings, server, place, api
        self.node, self.outside = hosts(place)

    def run(self) -> None:
        self.build_node()
        self.build_outside()
        objects = self.build_cloud()
        self.show_failure_and_fix(objects)
        self.show_node(objects)

    def build_node(self) -> None:
        node = self.node
        say(1, f"The memo's node, as a simulated host beside the all-in-one: namespace {node.netns} with its own "
               "Open vSwitch and its own `ip netns` names, so its br-int is not the all-in-one's")
        private_handles(self.place)
        node.up()
        say(2, f"Its NICs p1p1 and p1p2: cables (veths) into the all-in-one's physical network ({FABRIC_BRIDGE} "
               f"in {FABRIC})")
        cable(node, "p1p1", "memo-p1p1")
        cable(node, "p1p2", "memo-p1p2")
        pid = start_relay(self.place, node, self.settings)
        say(3, f"The node reaches the API server {self.settings.url} through a relay (pid {pid}) listening on "
               f"127.0.0.1:{self.settings.port} inside {node.netns}")
        node.config_path.write_text(node_config(node, self.server))
        node.config_path.chmod(0o600)
        say(4, f"Its agent ({NODE_NAME}, firewall_driver iptables_hybrid): br-int; br-bond0 with bond0 of "
               "p1p1+p1p2 for physnet1; br-ex for routers' gateways, patched into br-bond0 as an access port "
               f"of VLAN {EXTERNAL_VLAN}")
        node.start_agent()
        say("", f"agent converged; config {node.config_path}, log {node.agent_log}")

    def build_outside(self) -> None:
        say(5, f"The outside world: simulated host {self.outside.netns}, its NIC in {FABRIC_BRIDGE}; OVS "
               f"untags VLAN {EXTERNAL_VLAN} to namespace `outside` holding {OUTSIDE_IP}, the external gateway")
        self.outside.up()
        cable(self.outside, "eth1", "memo-out")
        build_outside(self.outside)

    def build_cloud(self) -> dict:
        api = self.api
        project = project_id(api, self.settings, create=True)
        say(6, f"Project {PROJECT} ({project}) with VLAN tenant network {NETWORK} {TENANT_CIDR} on {PHYSNET}")
        net = api.create("network", name=NETWORK, project_id=project, **{
            "provider:network_type": "vlan", "provider:physical_network": PHYSNET})
        sub = api.create("subnet", name=NETWORK, project_id=project, network_id=net["id"], ip_version=4,
                         cidr=TENANT_CIDR, enable_dhcp=False)
        say("", f"{NETWORK}: VLAN {net['provider:segmentation_id']} on the wire; br-int will carry it on a local "
                "VLAN and the flows on int-br-bond0/phy-br-bond0 translate")
        say(7, f"External network {EXTERNAL}: VLAN {EXTERNAL_VLAN} of {PHYSNET}, {EXTERNAL_CIDR}, gateway "
               f"{OUTSIDE_IP} - what leaves br-ex through patch-ex, tagged {EXTERNAL_VLAN} on bond0")
        ext = api.create("network", name=EXTERNAL, **{
            "router:external": True, "provider:network_type": "vlan", "provider:physical_network": PHYSNET,
            "provider:segmentation_id": EXTERNAL_VLAN})
        api.create("subnet", name=EXTERNAL, network_id=ext["id"], ip_version=4, cidr=EXTERNAL_CIDR,
                   gateway_ip=OUTSIDE_IP, enable_dhcp=False)
        say(8, f"Security group {GROUP}: Neutron's default egress rules and NO ingress rule (the memo's mistake)")
        group = api.create("security_group", name=GROUP, project_id=project,
                           description="the memo's group: no ingress rule")
        ports = {}
        for name, address in INSTANCES:
            ports[name] = api.create("port", name=name, project_id=project, network_id=net["id"],
                                     security_groups=[group["id"]],
                                     fixed_ips=[{"subnet_id": sub["id"], "ip_address": address}])
        say(9, "Two instances on the node, plugged as Nova would (neutrino plug): each behind its Linux bridge "
               "qbr…, linked to br-int by the veth qvb…/qvo… (the hybrid plumbing)")
        for name, address in INSTANCES:
            self.node.neutrino("plug", ports[name]["id"], "--name", name, timeout=60)
            say("", f"{name} {address} ACTIVE on {NODE_NAME}")
        say(10, f"Router {ROUTER} on the node's L3 agent: gateway on {EXTERNAL} (qg… on br-ex), interface on "
                f"{NETWORK} (qr… on br-int)")
        router = api.create("router", name=ROUTER, project_id=project)
        agents = api.find("agents", host=NODE_NAME, agent_type="L3 agent")
        if not agents:
            raise DemoError(f"no L3 agent of {NODE_NAME} in the API")
        api.call("POST", f"/v2.0/agents/{agents[0]['id']}/l3-routers", {"router_id": router["id"]})
        router = api.call("PUT", f"/v2.0/routers/{router['id']}", {"router": {
            "external_gateway_info": {"network_id": ext["id"]}}})["router"]
        api.call("PUT", f"/v2.0/routers/{router['id']}/add_router_interface", {"subnet_id": sub["id"]})
        gateway = router["external_gateway_info"]["external_fixed_ips"][0]["ip_address"]
        fip = api.create("floatingip", floating_network_id=ext["id"], port_id=ports["vm1"]["id"], project_id=project)
        address = fip["floating_ip_address"]
        say(11, f"Floating IP {address} -> vm1 {INSTANCES[0][1]} (1:1 NAT in qrouter-{router['id']})")
        return {"router": router, "gateway": gateway, "fip": address, "fip_id": fip["id"], "group": group,
                "ports": ports}

    def show_failure_and_fix(self, objects: dict) -> None:
        from neutrino.host.simhost import eventually

        fip, gateway = objects["fip"], objects["gateway"]
        eventually(lambda: ping_from_outside(self.outside, gateway, wait=0.3), timeout=30, interval=0.2,
                   what=f"the router's gateway {gateway} answers the outside")
        eventually(lambda: self.api.call("GET", f"/v2.0/floatingips/{objects['fip_id']}")["floatingip"][
            "status"] == "ACTIVE", timeout=30, interval=0.2, what="the floating IP ACTIVE")
        say(12, f"From outside ({OUTSIDE_IP}): the router's gateway {gateway} answers; now the floating IP:")
        failed = not ping_from_outside(self.outside, fip)
        click.echo(f"    $ ping {fip}   ->  {'no reply (the memo: traffic to the floating IP does not work)' if failed else 'REPLY (unexpected)'}")
        if not failed:
            raise DemoError(f"the floating IP {fip} answered before the fix: the demo's failure is not there")
        say(13, f"Why? neutrino trace {OUTSIDE_IP} {fip}")
        said = self.neutrino("trace", OUTSIDE_IP, fip)
        click.echo(said.stdout.rstrip())
        fixes = re.findall(r"^\s*fix: (openstack .+)$", said.stdout, re.M)
        if said.returncode != 3 or not fixes:
            raise DemoError(f"the trace did not name a fix (exit {said.returncode}): {said.stderr}")
        fix = fixes[0]
        say(14, f"The trace's fix: {fix}")
        self.apply(fix)
        started = time.monotonic()
        eventually(lambda: ping_from_outside(self.outside, fip, wait=0.3), timeout=20, interval=0.1,
                   what=f"the floating IP {fip} answers after the fix")
        say(15, f"$ ping {fip}   ->  reply, {time.monotonic() - started:.1f} s after the rule was added")

    def neutrino(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "neutrino.cli.main", *args], capture_output=True, text=True,
                              env=cli_env(self.settings), timeout=60)

    def apply(self, fix: str) -> None:
        """The fix as the trace prints it, with the `openstack` CLI (the API directly under noauth)."""
        import shlex

        argv = shlex.split(fix)
        if self.settings.auth == "noauth":
            group = argv[-1]
            protocol = argv[argv.index("--protocol") + 1] if "--protocol" in argv else None
            self.api.create("security_group_rule", security_group_id=group, direction="ingress", ethertype="IPv4",
                            **({"protocol": protocol} if protocol else {}))
            return
        openstack = str(Path(sys.executable).parent / argv[0])
        done = subprocess.run([openstack, *argv[1:]], capture_output=True, text=True,
                              env=cli_env(self.settings), timeout=60)
        if done.returncode != 0:
            raise DemoError(f"{fix} failed: {done.stderr.strip()}")

    def show_node(self, objects: dict) -> None:
        from neutrino.plan.l3 import NAT_TABLE

        namespace = f"qrouter-{objects['router']['id']}"
        say(16, "The node as the memo shows it:")
        shown(f"ovs-vsctl show ({NODE_NAME})", self.node.vsctl("show"))
        shown(f"ip netns ({NODE_NAME})", self.node.run(["ip", "netns"]).stdout)
        shown(f"ip netns exec {namespace} nft list table ip {NAT_TABLE}",
              self.node.run(["ip", "netns", "exec", namespace, "nft", "list", "table", "ip", NAT_TABLE]).stdout)


# --- clean ---

def clean_demo(state_dir: Path, settings: Settings | None = None) -> None:
    from neutrino.cli.allinone import admin_client, answers
    from neutrino.cli.cloud import CloudError
    from neutrino.host.simhost import sh

    place = Place(state_dir)
    if settings is None and (state_dir / "agent.toml").exists():
        try:
            settings, _ = aio_settings(state_dir)
        except DemoError as error:
            say("", f"API objects not removed: {error.message}")
    for host in hosts(place):  # first: a running agent would report itself again
        if host.adopt():
            errors = host.down()
            say("", f"removed simulated host {host.netns}" + (f" ({'; '.join(errors)})" if errors else ""))
    pid = stop_relay(place)
    if pid:
        say("", f"stopped the relay (pid {pid})")
    if settings is not None and answers(settings.url):
        try:
            with admin_client(settings) as client:
                for line in delete_objects(Api(client), settings):
                    say("", f"removed {line}")
        except (CloudError, DemoError) as error:
            say("", f"API objects not all removed: {error}")
    if place.handles.exists():
        sh(["umount", str(place.handles)], check=False)
    for end in ("memo-p1p1", "memo-p1p2", "memo-out"):  # gone with the hosts' namespaces, unless one failed
        sh(["ip", "-n", FABRIC, "link", "del", end], check=False)
    failures: list[str] = []
    shutil.rmtree(place.base, onerror=lambda _f, path, info: failures.append(f"{path}: {info[1]}"))
    for failure in failures[:5]:
        say("", f"could not remove {failure}")
    for name in ("node", "outside"):
        shutil.rmtree(f"/tmp/{PREFIX}-{name}-dhcp", ignore_errors=True)


def delete_objects(api: Api, settings: Settings) -> list[str]:
    """Project memo's resources, the external network, the node's agents, the project: what is there."""
    removed = []
    ext = api.find("networks", name=EXTERNAL)
    for network in ext:
        for fip in api.find("floatingips", floating_network_id=network["id"]):
            api.call("DELETE", f"/v2.0/floatingips/{fip['id']}")
            removed.append(f"floating IP {fip['floating_ip_address']}")
    for router in api.find("routers", name=ROUTER):
        for port in api.find("ports", device_id=router["id"], device_owner="network:router_interface"):
            api.call("PUT", f"/v2.0/routers/{router['id']}/remove_router_interface", {"port_id": port["id"]})
        api.call("DELETE", f"/v2.0/routers/{router['id']}")
        removed.append(f"router {ROUTER}")
    for network in api.find("networks", name=NETWORK):
        for port in api.find("ports", network_id=network["id"]):
            api.call("DELETE", f"/v2.0/ports/{port['id']}", expect=(204, 404))
    for network in [*api.find("networks", name=NETWORK), *ext]:
        api.call("DELETE", f"/v2.0/networks/{network['id']}")
        removed.append(f"network {network['name']}")
    project = project_id(api, settings, create=False)
    if project:
        for group in api.find("security-groups", name=GROUP, project_id=project):
            api.call("DELETE", f"/v2.0/security-groups/{group['id']}")
            removed.append(f"security group {GROUP}")
    for agent in api.find("agents", host=NODE_NAME):
        api.call("DELETE", f"/v2.0/agents/{agent['id']}")
    if project and settings.auth != "noauth":
        for group in api.find("security-groups", project_id=project):  # the project's default group
            api.call("DELETE", f"/v2.0/security-groups/{group['id']}", expect=(204, 404, 409))
        api.call("DELETE", f"/identity/v3/projects/{project}")
        removed.append(f"project {PROJECT}")
    return removed


@click.command("demo")
@click.option("--state-dir", default=str(DEFAULT_STATE_DIR), show_default=True, envvar="NEUTRINO_STATE_DIR",
              help="The state dir of the running `neutrino up`.")
@click.option("--clean", is_flag=True, help="Remove the demo: its simulated hosts, processes and API objects.")
def demo(state_dir: str, clean: bool) -> None:
    """Rebuild the memo's node beside the all-in-one and its failure: a floating IP that does not answer, the
    trace that names the security group without an ingress rule, the fix, and the ping answering."""
    if os.geteuid() != 0:
        raise DemoError("neutrino demo needs root (namespaces, mounts, Open vSwitch daemons)")
    if clean:
        clean_demo(Path(state_dir))
        say("", "the demo is removed")
        return
    run_demo(Path(state_dir))
