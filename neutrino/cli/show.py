"""``neutrino show port PORT``: one port as this host's agent sees and realizes it.

Reads what the agent reads, once: the API state from the feed snapshot (with the agent's
credentials), OVSDB, br-int's flows (with their packet counts) and, for ``iptables_hybrid``, iptables.
Builds the plan the agent builds (``build_plan``), so what is shown is what the agent installs, and
prints the port's ``PortView`` (cli/port_view.py holds the logic; this module only does the I/O).
"""

from __future__ import annotations

import json

import click

from neutrino.cli.agent_commands import _settings, config_option


@click.group()
def show() -> None:
    """Show what neutrino does on this host."""


@show.command("port")
@config_option
@click.argument("port")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines instead of text for people.")
def show_port(config_path: str, port: str, as_json: bool) -> None:
    """PORT's binding, security groups, effective rules and the flows or iptables rules realizing them."""
    from rich.console import Console

    from neutrino.agent.facts import facts_from
    from neutrino.cli.port_view import Installed, find_port_id, port_json, port_view_for, render_port
    from neutrino.host.runner import RealHost
    from neutrino.plan.build import build_plan
    from neutrino.realize.ovsdb import observe_ovs

    settings = _settings(config_path)
    config, host = settings.host, RealHost()
    state = read_state(settings)
    try:
        port_id = find_port_id(state, port)
    except LookupError as error:
        raise click.ClickException(str(error)) from error
    observed = observe_ovs(host)
    filters = read_filters(host) if config.firewall_driver == "iptables_hybrid" else None
    zones = filters.conntrack_zones if filters is not None else None
    plan = build_plan(state, config, facts_from(observed, config, zones))
    installed = Installed(read_flows(host, config.integration_bridge), _filter_rules(filters))
    view = port_view_for(state, plan, config.firewall_driver, config.integration_bridge, port_id, installed)
    if as_json:
        click.echo(json.dumps(port_json(view), indent=2))
    else:
        Console(highlight=False, soft_wrap=True).print(render_port(view), end="")


def read_state(settings):
    """The API state at one revision, listed as the agent lists it."""
    from neutrino.agent.server import Credentials, ServerError
    from neutrino.feed.client import FeedClient, FeedError, FeedUnavailable
    from neutrino.model.state import state_from_resources

    try:
        with FeedClient(settings.server_url, Credentials(settings)) as feed:
            snapshot = feed.snapshot()
    except (FeedError, FeedUnavailable, ServerError) as error:
        raise click.ClickException(f"cannot read the API state from {settings.server_url}: {error}") from error
    return state_from_resources(snapshot.revision, snapshot.resources)


def read_flows(host, bridge: str):
    """br-int's flows with their counters (one dump); None when the bridge cannot be read."""
    from neutrino.cli.port_view import flows_from_dump

    result = host.run(["ovs-ofctl", "dump-flows", bridge, "--names"], check=False)
    return flows_from_dump(result.stdout) if result.rc == 0 else None


def read_filters(host):
    """What iptables holds of ours (realize/iptables.py reads it the agent's way); None if unreadable."""
    from neutrino.host.errors import HostError
    from neutrino.realize.iptables import observe_filter

    try:
        return observe_filter(host)
    except HostError:
        return None


def _filter_rules(filters):
    from neutrino.cli.port_view import filter_rules_from

    return None if filters is None else filter_rules_from(filters.chains, filters.jumps)
