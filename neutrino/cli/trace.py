"""``neutrino trace SRC DST``: asks the server (POST /neutrino/v1/trace) and prints the answer.

Exit status: 0 when the packet is delivered, 3 when it is not (as ping says 1 for no reply; 1 is click's for
an error), 1 when the trace could not be run.
"""

from __future__ import annotations

import json

import click

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
def trace(source, destination, protocol, port, source_ip, as_json, summary, os_cloud, url) -> None:
    """Why can (or can't) SOURCE reach DESTINATION: every hop of the packet (and of its reply) through what the
    agents install, the verdict, the objects that decide it and the command that fixes it.

    SOURCE and DESTINATION: a port id or name, an instance (its namespace or device), a fixed IP
    (ADDRESS@NETWORK where addresses overlap), a floating IP, or an address outside neutrino."""
    from rich.console import Console

    from neutrino.cli.cloud import ApiClient, CloudError, load_cloud
    from neutrino.trace.render import render_summary, render_text, trace_from_json

    asked = {"source": source, "destination": destination, "protocol": protocol, "port": port, "source_ip": source_ip}
    try:
        with ApiClient(url) if url else ApiClient.for_cloud(load_cloud(os_cloud)) as client:
            status, answer = client.post("/neutrino/v1/trace", {"trace": asked})
    except CloudError as error:
        raise click.ClickException(str(error)) from error
    if status != 200:
        refused = answer.get("NeutronError") or {}
        raise click.ClickException(f"{refused.get('type', status)}: {refused.get('message', 'the trace failed')}")
    result = trace_from_json(answer["trace"])
    if as_json:
        click.echo(json.dumps(answer["trace"], indent=2))
    else:
        Console(highlight=False, soft_wrap=True).print(render_summary(result) if summary else render_text(result),
                                                       end="")
    if not result.verdict.delivered:
        raise SystemExit(NOT_DELIVERED)
