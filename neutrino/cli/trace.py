"""``neutrino trace SRC DST``: asks the server (POST /neutrino/v1/trace) and prints the answer.

Exit status: 0 when the packet is delivered, 3 when it is not (as ping says 1 for no reply; 1 is click's for
an error), 1 when the trace could not be run. With ``--live`` the probe decides when it ran: 0 when it got an
answer, 3 when not.

``--live`` runs on the source's host with its agent's configuration (``--config``): it probes for real from
the source's namespace and, where the model says delivered but the probe gets no answer, finds the hop where
the packets stop (neutrino/doctor/live.py). Without ``--url`` or a cloud it asks the server with the agent's
credentials.
"""

from __future__ import annotations

import json
from dataclasses import replace

import click

from neutrino.cli.doctor import agent_config_option, agent_settings

NOT_DELIVERED = 3


@click.command("trace")
@click.argument("source")
@click.argument("destination")
@click.option("--protocol", type=click.Choice(["icmp", "tcp", "udp"]), default="icmp", show_default=True)
@click.option("--port", type=click.IntRange(1, 65535), default=None, help="Destination port (tcp, udp).")
@click.option("--source-ip", default=None,
              help="Send from this address instead of the port's own (what anti-spoofing would make of it).")
@click.option("--json", "as_json", is_flag=True, help="Print the answer as JSON (schema neutrino.trace/1).")
@click.option("--summary", is_flag=True, help="One line per hop, as ovn-trace --summary.")
@click.option("--os-cloud", default=None, envvar="OS_CLOUD", help="The cloud of clouds.yaml to use (an admin's).")
@click.option("--url", default=None, envvar="NEUTRINO_URL",
              help="The API of a server run with --auth noauth (no clouds.yaml, no token).")
@click.option("--live", is_flag=True, help="Also probe for real from the source's namespace on this host and, "
                                           "if the packets are lost, find the hop where they stop.")
@agent_config_option
def trace(source, destination, protocol, port, source_ip, as_json, summary, os_cloud, url, live,
          config_path) -> None:
    """Why can (or can't) SOURCE reach DESTINATION: every hop of the packet (and of its reply) through what the
    agents install, the verdict, the objects that decide it and the command that fixes it.

    SOURCE and DESTINATION: a port id or name, an instance (its namespace or device), a fixed IP
    (ADDRESS@NETWORK where addresses overlap), a floating IP, or an address outside neutrino."""
    from rich.console import Console

    from neutrino.cli.cloud import CloudError
    from neutrino.trace.render import render_summary, render_text, trace_from_json

    asked = {"source": source, "destination": destination, "protocol": protocol, "port": port, "source_ip": source_ip}
    settings = agent_settings(config_path) if live else None
    try:
        with _client(url, os_cloud, settings) as client:
            status, answer = client.post("/neutrino/v1/trace", {"trace": asked})
    except CloudError as error:
        raise click.ClickException(str(error)) from error
    if status != 200:
        refused = answer.get("NeutronError") or {}
        raise click.ClickException(f"{refused.get('type', status)}: {refused.get('message', 'the trace failed')}")
    result = trace_from_json(answer["trace"])
    checked = _live(settings, config_path, result) if live else None
    if as_json:
        click.echo(json.dumps({**answer["trace"], **({"live": _live_json(checked)} if checked else {})}, indent=2))
    else:
        console = Console(highlight=False, soft_wrap=True)
        console.print(render_summary(result) if summary else render_text(result), end="")
        if checked is not None:
            console.print(_live_text(checked), end="")
    if checked is not None and checked.outcome is not None:
        if not checked.outcome.answered:
            raise SystemExit(NOT_DELIVERED)
    elif not result.verdict.delivered:
        raise SystemExit(NOT_DELIVERED)


def _client(url, os_cloud, settings):
    """The API as the caller asked: a noauth URL, a cloud of clouds.yaml, or (``--live`` without either) with
    the agent's credentials."""
    from neutrino.cli.cloud import ApiClient, CloudError, load_cloud

    if url:
        return ApiClient(url)
    if settings is not None and not os_cloud:
        from neutrino.agent.server import Credentials, ServerError

        try:
            return ApiClient(settings.server_url, Credentials(settings)())
        except ServerError as error:
            raise CloudError(str(error)) from error
    return ApiClient.for_cloud(load_cloud(os_cloud))


def _live(settings, config_path: str, model):
    from neutrino.doctor.doctor import (
        DoctorError,
        examine,
        plan_host,
        read_state,
        related_to,
        with_config_path,
    )
    from neutrino.doctor.live import live_check
    from neutrino.host.runner import RealHost

    host = RealHost()
    try:
        state = read_state(settings)
        planned = plan_host(host, settings, state)
    except DoctorError as error:
        raise click.ClickException(str(error)) from error

    def related(hop):
        return list(related_to(examine(host, settings, planned=planned).findings, hop))

    checked = live_check(host, settings, state, model, planned.plan, planned.ovs, related)
    return replace(checked, findings=with_config_path(checked.findings, config_path))


def _live_json(checked) -> dict:
    from neutrino.doctor.render import live_json

    return live_json(checked)


def _live_text(checked):
    from neutrino.doctor.render import render_live

    return render_live(checked)
