"""``neutrino agent``, ``neutrino plug`` and ``neutrino unplug``: the host side of neutrino."""

from __future__ import annotations

import ipaddress
import logging
import signal
import socket
import time
from pathlib import Path

import click
import httpx

from neutrino.config import AgentSettings, load_agent_settings

log = logging.getLogger(__name__)

config_option = click.option("--config", "config_path", required=True, type=click.Path(exists=True, dir_okay=False),
                             envvar="NEUTRINO_AGENT_CONFIG", help="The agent's TOML file (docs/configuration.md).")


def _settings(config_path: str) -> AgentSettings:
    return load_agent_settings(Path(config_path), socket.gethostname())


@click.command()
@config_option
@click.option("--cleanup", is_flag=True, help="Remove everything neutrino created on this host, then exit.")
def agent(config_path: str, cleanup: bool) -> None:
    """Run the host agent: wire this host's ports on Open vSwitch as the API says."""
    from neutrino.agent.cleanup import cleanup_host
    from neutrino.agent.loop import Agent
    from neutrino.agent.server import Credentials, ServerApi
    from neutrino.feed.client import FeedClient
    from neutrino.host.errors import Unsupported
    from neutrino.host.runner import RealHost

    settings = _settings(config_path)
    host = RealHost()
    if cleanup:
        report = cleanup_host(host, settings.state_dir, settings.host.host, settings.dhcp_directory)
        click.echo(f"✓ removed: {', '.join(report.removed) or 'nothing of ours was left'}")
        if report.errors:
            raise click.ClickException("; ".join(report.errors))
        return
    credentials = Credentials(settings)
    server = ServerApi(settings, credentials)
    feed = FeedClient(settings.server_url, credentials)
    worker = Agent(settings, host, server, feed)
    signal.signal(signal.SIGTERM, lambda *_: worker.shutdown())
    click.echo(f"neutrino agent for host {settings.host.host} -> {settings.server_url}", err=True)
    try:
        worker.run()
    except KeyboardInterrupt:
        worker.shutdown()
    except Unsupported as error:  # the host cannot do what the config asks (br_netfilter for iptables_hybrid)
        raise click.ClickException(str(error)) from error
    finally:
        server.close()
        feed.close()


class PortApi:
    """The few port calls ``plug`` needs, with the agent's service account."""

    def __init__(self, settings: AgentSettings):
        from neutrino.agent.server import Credentials

        self.credentials = Credentials(settings)
        self.client = httpx.Client(base_url=settings.server_url, timeout=10)

    def _call(self, method: str, path: str, **kwargs) -> dict:
        token = self.credentials()
        response = self.client.request(method, path, headers={"X-Auth-Token": token} if token else {}, **kwargs)
        if response.status_code >= 400:
            raise click.ClickException(f"{method} {path}: {response.status_code} {response.text[:300]}")
        return response.json()

    def port(self, name_or_id: str) -> dict:
        found = self._call("GET", "/v2.0/ports", params={"id": name_or_id})["ports"] or \
            self._call("GET", "/v2.0/ports", params={"name": name_or_id})["ports"]
        if len(found) != 1:
            raise click.ClickException(f"no single port named or with id {name_or_id!r} ({len(found)} found)")
        return found[0]

    def bind(self, port_id: str, host: str) -> dict:
        return self._call("PUT", f"/v2.0/ports/{port_id}", json={"port": {"binding:host_id": host}})["port"]

    def subnet(self, subnet_id: str) -> dict:
        return self._call("GET", f"/v2.0/subnets/{subnet_id}")["subnet"]

    def network(self, network_id: str) -> dict:
        return self._call("GET", f"/v2.0/networks/{network_id}")["network"]


def _instance_spec(api: PortApi, port: dict, namespace: str, bridge: str, static: bool):
    """How to plug the instance: by DHCP when one of its addresses is on a DHCP-enabled IPv4 subnet (unless
    ``static``; dhclient -4: its IPv6 addresses are set as given), else with the API's fixed IPs, the first
    IPv4 gateway and the network's MTU set directly."""
    from neutrino.realize.instances import InstanceSpec

    addresses, gateway, dhcp = [], None, False
    for fixed in port["fixed_ips"]:
        subnet = api.subnet(fixed["subnet_id"])
        prefix = ipaddress.ip_network(subnet["cidr"]).prefixlen
        addresses.append(f"{fixed['ip_address']}/{prefix}")
        if gateway is None and subnet["ip_version"] == 4:
            gateway = subnet["gateway_ip"]
        dhcp = dhcp or (subnet["ip_version"] == 4 and subnet["enable_dhcp"])
    mtu = api.network(port["network_id"])["mtu"]
    hybrid = bool((port.get("binding:vif_details") or {}).get("ovs_hybrid_plug"))  # as Nova hands it to os-vif
    if dhcp and not static:
        ipv6 = tuple(a for a in addresses if ":" in a)
        return InstanceSpec(namespace, port["id"], port["mac_address"], ipv6, None, mtu, bridge, hybrid, dhcp=True)
    return InstanceSpec(namespace, port["id"], port["mac_address"], tuple(addresses), gateway, mtu, bridge, hybrid)


@click.command()
@config_option
@click.argument("port")
@click.option("--name", "namespace", default=None, help="The instance's namespace (default: inst-<port id>).")
@click.option("--wait/--no-wait", default=True, show_default=True, help="Wait until the port is ACTIVE.")
@click.option("--static", is_flag=True, help="Set the port's fixed IPs, gateway and MTU directly instead of "
                                              "asking DHCP (the default when a subnet of the port has DHCP).")
def plug(config_path: str, port: str, namespace: str | None, wait: bool, static: bool) -> None:
    """Plug an instance (a network namespace) into PORT the way Nova/os-vif plugs a VM; it configures itself
    by DHCP (dhclient in the namespace) as a booting VM would, unless --static."""
    from neutrino.agent.cleanup import record_instance
    from neutrino.host.runner import RealHost
    from neutrino.model import names
    from neutrino.realize.instances import plug_instance

    settings = _settings(config_path)
    api = PortApi(settings)
    found = api.port(port)
    if found.get("binding:host_id") != settings.host.host:
        found = api.bind(found["id"], settings.host.host)
    namespace = namespace or "inst-" + found["id"][:8]
    spec = _instance_spec(api, found, namespace, settings.host.integration_bridge, static)
    started = time.monotonic()
    plug_instance(RealHost(), spec)
    record_instance(settings.state_dir, namespace, found["id"], settings.host.integration_bridge)
    via = f" through {names.hybrid_bridge_name(spec.port_id)} (hybrid plug)" if spec.hybrid else ""
    addressing = "by DHCP" if spec.dhcp else ", ".join(spec.addresses) or "no address"
    click.echo(f"✓ plugged {spec.device} into {spec.bridge}{via} as {spec.ovs_port} for port {found['id']}; "
               f"instance: ip netns exec {namespace} …  ({addressing})")
    if wait:
        while api.port(found["id"])["status"] != "ACTIVE":
            if time.monotonic() - started > 15:
                raise click.ClickException("the port did not become ACTIVE within 15 s: is the agent running? "
                                           "(openstack port show shows binding:vif_type)")
            time.sleep(0.05)
        click.echo(f"✓ port ACTIVE after {time.monotonic() - started:.2f} s")
    if spec.dhcp:
        _configure_by_dhcp(settings, namespace, started)


def _configure_by_dhcp(settings: AgentSettings, namespace: str, started: float) -> None:
    from neutrino.host.errors import CommandFailed
    from neutrino.host.runner import RealHost
    from neutrino.realize.instances import configure_by_dhcp, instance_dir

    asked = time.monotonic()
    try:
        said = configure_by_dhcp(RealHost(), namespace, instance_dir(settings.state_dir, namespace))
    except CommandFailed as error:
        raise click.ClickException(f"no DHCP lease for {namespace}: is the network's DHCP port bound to a "
                                   f"running agent? dhclient said:\n{error.stderr.strip()[-600:]}") from error
    bound = next((line for line in said.splitlines() if line.startswith("bound to")), "bound")
    click.echo(f"✓ DHCP {bound} ({time.monotonic() - asked:.2f} s; {time.monotonic() - started:.2f} s after plug)")


@click.command()
@config_option
@click.argument("namespace")
def unplug(config_path: str, namespace: str) -> None:
    """Remove an instance made by `neutrino plug` (its namespace, its port on br-int, a hybrid plug's qbr)."""
    from neutrino.agent.cleanup import forget_instance
    from neutrino.host.runner import RealHost
    from neutrino.realize.instances import instance_dir, unplug_instance

    settings = _settings(config_path)
    instance = forget_instance(settings.state_dir, namespace)
    if instance is None:
        raise click.ClickException(f"no instance {namespace!r} was plugged by neutrino on this host")
    unplug_instance(RealHost(), namespace, instance["port_id"], instance["bridge"],
                    instance_dir(settings.state_dir, namespace))
    click.echo(f"✓ unplugged {namespace}")
