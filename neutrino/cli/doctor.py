"""``neutrino doctor``: this host against the plan its agent would build now, and the deployment as the API
tells it, as findings grouped by severity (neutrino/doctor does the work; this module does the I/O).

Run on a host with the agent's configuration (``--config``; by default the one ``neutrino up`` writes in its
state dir). Exit status: 0 when clean, 3 when there are findings, 1 when the doctor could not read what it
compares.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

from neutrino.config import DEFAULT_STATE_DIR

FINDINGS = 3


def default_agent_config() -> str:
    """The agent configuration ``neutrino up`` writes: <state dir>/agent.toml."""
    return str(Path(os.environ.get("NEUTRINO_STATE_DIR", DEFAULT_STATE_DIR)) / "agent.toml")


agent_config_option = click.option(
    "--config", "config_path", default=default_agent_config, show_default="<state dir>/agent.toml",
    envvar="NEUTRINO_AGENT_CONFIG", type=click.Path(dir_okay=False),
    help="The agent's TOML file (default: the all-in-one's, which `neutrino up` writes).")


def agent_settings(config_path: str):
    import socket

    from neutrino.config import load_agent_settings

    if not Path(config_path).is_file():
        raise click.ClickException(f"no agent configuration at {config_path}: give --config (the agent's TOML)")
    return load_agent_settings(Path(config_path), socket.gethostname())


@click.command("doctor")
@agent_config_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON (schema neutrino.doctor/1).")
def doctor(config_path: str, as_json: bool) -> None:
    """Check this host against the plan its agent builds (flows, tags, routers, DHCP, agents, statuses) and the
    deployment against what the API says (dead agents, failed bindings, unhosted routers, DHCP)."""
    from rich.console import Console

    from neutrino.doctor.doctor import DoctorError, examine, with_config_path
    from neutrino.doctor.render import doctor_json, render_doctor
    from neutrino.host.runner import RealHost

    settings = agent_settings(config_path)
    try:
        result = examine(RealHost(), settings)
    except DoctorError as error:
        raise click.ClickException(str(error)) from error
    findings = with_config_path(result.findings, config_path)
    if as_json:
        click.echo(json.dumps(doctor_json(result.host, result.revision, findings, result.seconds), indent=2))
    else:
        Console(highlight=False, soft_wrap=True).print(render_doctor(result.host, result.revision, findings,
                                                                     result.seconds), end="")
    if findings:
        raise SystemExit(FINDINGS)
