"""One typed Settings value, built once by the CLI and passed explicitly to whatever needs it."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from neutrino.model.host_config import HostConfig, HostConfigError, host_config_from_dict
from neutrino.model.ranges import TunnelRange, VlanRange, parse_tunnel_ranges, parse_vlan_ranges

DEFAULT_STATE_DIR = Path(os.environ.get("NEUTRINO_STATE_DIR", "/var/lib/neutrino"))


@dataclass(frozen=True)
class Quotas:
    """Neutron's default per-project quotas (neutron.conf [quotas])."""

    network: int = 100
    subnet: int = 100
    port: int = 500
    security_group: int = 10
    security_group_rule: int = 100
    router: int = 10
    floatingip: int = 50

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Settings:
    db_url: str = "sqlite:///" + str(DEFAULT_STATE_DIR / "neutrino.db")
    host: str = "127.0.0.1"
    port: int = 9696
    # "keystone": the built-in Keystone v3 endpoint and signed tokens; "noauth": every caller is admin.
    auth: str = "keystone"
    state_dir: Path = DEFAULT_STATE_DIR
    public_url: str = ""
    region: str = "RegionOne"
    token_ttl_seconds: int = 3600 * 12
    admin_password: str = ""
    demo_password: str = ""
    network_vlan_ranges: tuple[VlanRange, ...] = field(
        default_factory=lambda: tuple(parse_vlan_ranges("physnet1:100:199"))
    )
    # ML2's tenant_network_types: a network created without provider:* takes the first of these types
    # that has a free id (vlan, vxlan, gre).
    tenant_network_types: tuple[str, ...] = ("vlan",)
    # Tenant ids of the tunnel types (ML2's [ml2_type_vxlan] vni_ranges, [ml2_type_gre] tunnel_id_ranges).
    vni_ranges: tuple[TunnelRange, ...] = field(
        default_factory=lambda: tuple(parse_tunnel_ranges("1000:1999", "vxlan")))
    tunnel_id_ranges: tuple[TunnelRange, ...] = field(
        default_factory=lambda: tuple(parse_tunnel_ranges("1000:1999", "gre")))
    # Neutron's global_physnet_mtu: the MTU of the physical (underlay) network. VLAN and flat networks get it;
    # a tunnelled network gets it less the encapsulation (VXLAN 50, GRE 42 bytes over IPv4).
    global_mtu: int = 1500
    quotas: Quotas = field(default_factory=Quotas)
    # How many revisions of changes the feed keeps before a watcher must relist.
    feed_retention: int = 100_000

    @property
    def url(self) -> str:
        return self.public_url or f"http://{self.host}:{self.port}"

    @property
    def physical_networks(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(r.physical_network for r in self.network_vlan_ranges))

    def tunnel_ranges(self, network_type: str) -> tuple[TunnelRange, ...]:
        return self.vni_ranges if network_type == "vxlan" else self.tunnel_id_ranges


@dataclass(frozen=True)
class AgentSettings:
    """A host agent's settings: its host (the plan's HostConfig) and how it reaches the server."""

    host: HostConfig
    server_url: str = "http://127.0.0.1:9696"
    auth_url: str = ""  # default: <server_url>/identity
    username: str = "neutrino-agent"
    password: str = ""
    project: str = "service"
    noauth: bool = False
    state_dir: Path = DEFAULT_STATE_DIR / "agent"
    heartbeat_seconds: float = 10.0
    resync_seconds: float = 5.0
    # dnsmasq's files, one directory per network (Neutron's $state_path/dhcp); default <state_dir>/dhcp.
    # dnsmasq reads them as an unprivileged user: it and its parents must be searchable by others.
    dhcp_dir: Path | None = None

    @property
    def identity_url(self) -> str:
        return self.auth_url or self.server_url.rstrip("/") + "/identity"

    @property
    def dhcp_directory(self) -> Path:
        return self.dhcp_dir or self.state_dir / "dhcp"


def load_agent_settings(path: Path, default_host: str) -> AgentSettings:
    """Read an agent's TOML file: a ``[server]`` table and a ``[host]`` table (docs/configuration.md)."""
    import tomllib

    data = tomllib.loads(Path(path).read_text())
    unknown = set(data) - {"server", "host", "agent"}
    if unknown:
        raise HostConfigError(f"{path}: unknown sections {', '.join(sorted(unknown))}")
    server = data.get("server", {})
    agent = data.get("agent", {})
    return AgentSettings(
        host=host_config_from_dict(data.get("host", {}), default_host),
        server_url=server.get("url", "http://127.0.0.1:9696"),
        auth_url=server.get("auth_url", ""),
        username=server.get("username", "neutrino-agent"),
        password=server.get("password", ""),
        project=server.get("project", "service"),
        noauth=server.get("auth", "keystone") == "noauth",
        state_dir=Path(agent.get("state_dir", str(DEFAULT_STATE_DIR / "agent"))),
        heartbeat_seconds=float(agent.get("heartbeat_seconds", 10.0)),
        resync_seconds=float(agent.get("resync_seconds", 5.0)),
        dhcp_dir=Path(agent["dhcp_dir"]) if agent.get("dhcp_dir") else None,
    )
