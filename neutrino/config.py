"""One typed Settings value, built once by the CLI and passed explicitly to whatever needs it."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from neutrino.model.ranges import VlanRange, parse_vlan_ranges

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
    tenant_network_type: str = "vlan"
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
