"""``neutrino``: run the API server, start/stop the all-in-one service, and inspect it."""

from __future__ import annotations

import gc
import logging
import os
import sys
import traceback
from pathlib import Path

import click

from neutrino.config import DEFAULT_STATE_DIR, Settings
from neutrino.model.ranges import TUNNEL_TYPES, parse_tunnel_ranges, parse_vlan_ranges


def _settings(state_dir: str, db: str | None, host: str, port: int, auth: str, vlan_ranges: str,
              **segments) -> Settings:
    state = Path(state_dir)
    return Settings(
        db_url=db or f"sqlite:///{state / 'neutrino.db'}", host=host, port=port, auth=auth,
        state_dir=state, network_vlan_ranges=tuple(parse_vlan_ranges(vlan_ranges)),
        public_url=os.environ.get("NEUTRINO_PUBLIC_URL", ""), **_segment_settings(**segments),
    )


def _segment_settings(tenant_network_types: str, vni_ranges: str, tunnel_id_ranges: str, global_mtu: int) -> dict:
    """The segment options (ML2's tenant_network_types, vni_ranges, tunnel_id_ranges, global_physnet_mtu)."""
    types = tuple(t.strip() for t in tenant_network_types.split(",") if t.strip())
    unknown = [t for t in types if t not in ("vlan", *TUNNEL_TYPES)]
    if unknown or not types:
        raise click.BadParameter(f"types among vlan, {', '.join(TUNNEL_TYPES)}, not {tenant_network_types!r}",
                                 param_hint="--tenant-network-types")
    try:
        return {"tenant_network_types": types, "global_mtu": global_mtu,
                "vni_ranges": tuple(parse_tunnel_ranges(vni_ranges, "vxlan")),
                "tunnel_id_ranges": tuple(parse_tunnel_ranges(tunnel_id_ranges, "gre"))}
    except ValueError as error:
        raise click.BadParameter(str(error)) from None


def _segment_args(segments: dict) -> list[str]:
    """The segment options again, as the server's command line takes them."""
    return [arg for name, value in segments.items() for arg in (f"--{name.replace('_', '-')}", str(value))]


server_options = [
    click.option("--state-dir", default=str(DEFAULT_STATE_DIR), show_default=True, envvar="NEUTRINO_STATE_DIR",
                 help="Where the SQLite store, clouds.yaml, logs and pid files live."),
    click.option("--db", default=None, envvar="NEUTRINO_DB",
                 help="Database URL (default: SQLite in the state dir; e.g. postgresql://user:pw@host/db)."),
    click.option("--host", default="127.0.0.1", show_default=True, help="Address the API server listens on."),
    click.option("--port", default=9696, show_default=True, type=int, help="API port (Neutron's is 9696)."),
    click.option("--auth", type=click.Choice(["keystone", "noauth"]), default="keystone", show_default=True,
                 help="keystone: built-in Keystone v3 tokens; noauth: every caller is admin."),
    click.option("--vlan-ranges", default="physnet1:100:199", show_default=True, envvar="NEUTRINO_VLAN_RANGES",
                 help="Tenant VLAN ranges, Neutron's network_vlan_ranges syntax."),
    click.option("--tenant-network-types", default="vlan", show_default=True, envvar="NEUTRINO_TENANT_NETWORK_TYPES",
                 help="Types of tenant networks, the first with a free id wins (vlan, vxlan, gre)."),
    click.option("--vni-ranges", default="1000:1999", show_default=True, envvar="NEUTRINO_VNI_RANGES",
                 help="Tenant VXLAN VNIs, first:last[,first:last...] (ML2's vni_ranges)."),
    click.option("--tunnel-id-ranges", default="1000:1999", show_default=True, envvar="NEUTRINO_TUNNEL_ID_RANGES",
                 help="Tenant GRE keys, first:last[,first:last...] (ML2's tunnel_id_ranges)."),
    click.option("--global-mtu", default=1500, show_default=True, type=int, envvar="NEUTRINO_GLOBAL_MTU",
                 help="MTU of the physical network; tunnelled networks get it less VXLAN's 50 or GRE's 42 bytes."),
]


def with_server_options(function):
    for option in reversed(server_options):
        function = option(function)
    return function


@click.group()
@click.option("-v", "--verbose", is_flag=True, help="Log debug messages.")
def main(verbose: bool) -> None:
    """neutrino: Neutron-style networking on one to a few Linux hosts."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for chatty in ("httpx", "httpcore", "alembic"):  # one line per request is noise, not news
        logging.getLogger(chatty).setLevel(logging.DEBUG if verbose else logging.WARNING)


@main.command()
@with_server_options
@click.option("--workers", default=1, show_default=True, help="Server processes (SQLite: keep 1).")
def serve(state_dir, db, host, port, auth, vlan_ranges, workers, **segments) -> None:
    """Run the API server in the foreground (migrations are applied first)."""
    import uvicorn

    from neutrino.api.app import create_app
    from neutrino.services.core import Services

    settings = _settings(state_dir, db, host, port, auth, vlan_ranges, **segments)
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    _migrate_in_child(settings.db_url)
    services = Services(settings)
    app = create_app(settings, services)
    clouds = "none (auth=noauth: send requests without a token; every caller is admin)"
    if app.state.identity is not None:
        app.state.identity.bootstrap()
        clouds = app.state.identity.write_clouds_yaml(settings.state_dir / "clouds.yaml")
    click.echo(f"neutrino API on {settings.url} (store: {settings.db_url}); clouds.yaml: {clouds}", err=True)
    # Long-lived objects (app, engines, caches) are frozen out of the collector, and young-generation
    # collections made rarer: listing thousands of ports allocates many short-lived dicts.
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)
    # Feed watches are held open for up to a minute; on SIGTERM give in-flight requests a moment, then
    # drop the watches (their clients resume from their revision) instead of waiting them out.
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False, workers=workers,
                timeout_graceful_shutdown=3)


def _migrate_in_child(db_url: str) -> None:
    """Apply the store's migrations in a forked child, so that Alembic and Mako never load into the
    long-running server (some 14 MB of its resident memory)."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            from neutrino.store.session import Store

            Store(db_url).migrate()
            code = 0
        except BaseException:
            traceback.print_exc()
        finally:
            sys.stderr.flush()
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise click.ClickException("applying the store's migrations failed (see above)")


@main.command()
@with_server_options
def up(state_dir, db, host, port, auth, vlan_ranges, **segments) -> None:
    """Start the all-in-one (idempotent): Open vSwitch, the API server, a host agent with a virtual physnet, the
    upstream router and internet host behind it, and the external network "public"."""
    from neutrino.cli.allinone import create_external_network, start_host_side, start_server, usage

    settings = _settings(state_dir, db, host, port, auth, vlan_ranges, **segments)
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    tail = ["--state-dir", str(settings.state_dir), "--host", host, "--port", str(port), "--auth", auth,
            "--vlan-ranges", vlan_ranges, *_segment_args(segments)] + (["--db", db] if db else [])
    start_server(settings, tail)
    start_host_side(settings)
    create_external_network(settings)
    click.echo(usage(settings))


@main.command()
@click.option("--state-dir", default=str(DEFAULT_STATE_DIR), show_default=True, envvar="NEUTRINO_STATE_DIR")
@click.option("--purge", is_flag=True, help="Also delete the store, clouds.yaml and logs.")
def down(state_dir, purge) -> None:
    """Stop the all-in-one started by `neutrino up` and remove what it created on this host."""
    from neutrino.cli.allinone import stop_everything

    stop_everything(Path(state_dir), purge)


def _add_host_commands() -> None:
    from neutrino.cli.agent_commands import agent, plug, unplug
    from neutrino.cli.demo import demo
    from neutrino.cli.doctor import doctor
    from neutrino.cli.show import show
    from neutrino.cli.status import status
    from neutrino.cli.topology import topology
    from neutrino.cli.trace import trace

    for command in (agent, demo, doctor, plug, unplug, show, status, topology, trace):
        main.add_command(command)


_add_host_commands()

if __name__ == "__main__":
    main()
