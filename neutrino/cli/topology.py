"""``neutrino topology``: the deployment as a tree (``ovs-vsctl show`` annotated with Neutron names) or a
Graphviz picture (dot source, SVG, PNG), optionally with a trace's path drawn on it.

Reads the API as ``neutrino status`` does (an admin's cloud; the feed's snapshot), and builds each host's plan
as its agent would (``build_plan``, with the HostConfig its Open vSwitch agent reported and the ports the API
says are plugged there); with ``--config`` this host's own agent file, its OVS (the local VLAN numbers it
really holds) and the instances ``neutrino plug`` recorded. cli/topology_view.py and topology_dot.py hold the
logic; this module only does the I/O.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path

import click

from neutrino.cli.status import with_cloud_options


@click.command("topology")
@with_cloud_options
@click.option("--format", "output_format", type=click.Choice(["text", "dot", "svg", "png"]), default="text",
              show_default=True, help="A text tree, or a Graphviz picture (svg and png need `dot`).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write to this file (png: required) instead of standard output.")
@click.option("--config", "config_path", type=click.Path(exists=True, dir_okay=False), default=None,
              envvar="NEUTRINO_AGENT_CONFIG", help="This host's agent TOML: read its real local VLANs and instances.")
@click.option("--trace-json", "trace_file", type=click.File("r"), default=None,
              help="Draw this trace (the output of `neutrino trace --json`) on the picture.")
@click.option("--trace", "trace_ends", nargs=2, default=None, metavar="SOURCE DESTINATION",
              help="Trace an ICMP packet from SOURCE to DESTINATION and draw it on the picture.")
def topology(os_cloud, url, output_format, output, config_path, trace_file, trace_ends) -> None:
    """Networks -> subnets -> ports (device, local VLAN, host, status, fixed and floating IPs), routers -> legs
    -> namespace, and each host's bridges as `ovs-vsctl show` lists them, with the API object behind each."""
    from neutrino.cli.status import read_snapshot
    from neutrino.cli.topology_dot import dot_source
    from neutrino.cli.topology_view import render_tree, topology_for
    from neutrino.model.state import state_from_resources

    if output_format == "png" and output is None:
        raise click.UsageError("--format png writes a file: give --output FILE.png")
    server, snapshot = read_snapshot(os_cloud, url)
    if snapshot is None:
        raise click.ClickException(f"cannot read the API state from {server.url}: {server.error}")
    state = state_from_resources(snapshot.revision, snapshot.resources)
    plans, instances = plans_for(state, snapshot.resources.get("agent", {}).values(), config_path)
    found = topology_for(state, plans, instances)
    trace = _trace(os_cloud, url, trace_file, trace_ends)
    if output_format == "text":
        if trace is not None:
            raise click.UsageError("a trace is drawn on a picture: add --format svg, png or dot")
        _write_text(found, output, render_tree)
        return
    source = dot_source(found, trace)
    if output_format == "dot":
        _write(output, source)
    else:
        _render(source, output_format, output)


def plans_for(state, agents, config_path: str | None):
    """Each host's plan (host name -> HostPlan) and, with ``config_path``, the instances recorded on this host
    (port id -> namespace)."""
    from neutrino.api.trace import hosts_from_agents
    from neutrino.plan.build import build_plan
    from neutrino.trace.hosts import facts_from_api

    hosts = hosts_from_agents(agents)
    local, facts, instances = _local_host(config_path)
    if local is not None:
        hosts[local.host] = local
    plans = {}
    for name, config in hosts.items():
        plans[name] = build_plan(state, config, facts if local is not None and name == local.host
                                 else facts_from_api(state, config))
    return plans, instances


def _local_host(config_path: str | None):
    """(this host's HostConfig, its HostFacts read from OVS, its recorded instances), or Nones."""
    if config_path is None:
        return None, None, {}
    from neutrino.agent.cleanup import recorded_instances
    from neutrino.agent.facts import facts_from
    from neutrino.config import load_agent_settings
    from neutrino.host.errors import HostError
    from neutrino.host.runner import RealHost
    from neutrino.realize.ovsdb import observe_ovs

    settings = load_agent_settings(Path(config_path), socket.gethostname())
    try:
        facts = facts_from(observe_ovs(RealHost()), settings.host)
    except HostError as error:
        raise click.ClickException(f"cannot read this host's Open vSwitch: {error}") from error
    instances = {record["port_id"]: namespace for namespace, record in recorded_instances(settings.state_dir).items()}
    return settings.host, facts, instances


def _trace(os_cloud, url, trace_file, trace_ends):
    from neutrino.trace.render import trace_from_json

    if trace_file is not None:
        data = json.load(trace_file)
        return trace_from_json(data.get("trace", data))
    if not trace_ends:
        return None
    from neutrino.cli.cloud import CloudError
    from neutrino.cli.status import api_client

    source, destination = trace_ends
    asked = {"source": source, "destination": destination, "protocol": "icmp", "port": None, "source_ip": None}
    try:
        with api_client(os_cloud, url) as client:
            status, answer = client.post("/neutrino/v1/trace", {"trace": asked})
    except CloudError as error:
        raise click.ClickException(str(error)) from error
    if status != 200:
        refused = answer.get("NeutronError") or {}
        raise click.ClickException(f"the trace failed: {refused.get('type', status)}: {refused.get('message', '')}")
    return trace_from_json(answer["trace"])


def _write_text(found, output: Path | None, render) -> None:
    from rich.console import Console

    if output is None:
        Console(highlight=False, soft_wrap=True).print(render(found), end="")
    else:
        with open(output, "w") as out:
            Console(file=out, highlight=False, soft_wrap=True, color_system=None).print(render(found), end="")


def _write(output: Path | None, text: str) -> None:
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text)


def _render(source: str, output_format: str, output: Path | None) -> None:
    """``dot -Tsvg``/``-Tpng``: Graphviz's renderer (scripts/bootstrap.sh installs graphviz)."""
    from neutrino.host.runner import RealHost

    argv = ["dot", f"-T{output_format}"] + (["-o", str(output)] if output is not None else [])
    done = RealHost(timeout=60).run(argv, input=source, check=False)
    if done.rc != 0:
        raise click.ClickException(f"dot -T{output_format} failed ({done.rc}): {done.stderr.strip()[:500]}"
                                   " - is Graphviz installed (apt-get install graphviz)?")
    if output is None:
        click.echo(done.stdout, nl=False)
