"""All services composed over one store: what the API server holds, and the feed's renderer."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy.orm import Session

from neutrino.config import Settings
from neutrino.services.agents import AgentService
from neutrino.services.context import ADMIN
from neutrino.services.dhcp import DhcpPorts
from neutrino.services.floating_ips import FloatingIpService
from neutrino.services.networks import NetworkService
from neutrino.services.ports import PortService
from neutrino.services.quotas import QuotaBook
from neutrino.services.routers import RouterService
from neutrino.services.security_groups import SecurityGroupService
from neutrino.services.subnets import SubnetService
from neutrino.store.session import Store


class Services:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.quotas = QuotaBook(settings.quotas)
        self.networks = NetworkService(settings, self.quotas)
        self.security_groups = SecurityGroupService(self.quotas)
        self.security_group_rules = self.security_groups.rules
        self.ports = PortService(self.networks, self.security_groups, self.quotas)
        self.dhcp = DhcpPorts(self.ports)
        self.subnets = SubnetService(self.networks, self.quotas, self.dhcp)
        self.agents = AgentService(self.dhcp)
        self.routers = RouterService(self.networks, self.subnets, self.ports, self.quotas)
        self.floating_ips = FloatingIpService(self.networks, self.ports, self.quotas)
        self.by_kind = {s.kind: s for s in (self.networks, self.subnets, self.ports, self.security_groups,
                                            self.security_group_rules, self.agents, self.routers,
                                            self.floating_ips)}
        self.store = Store(settings.db_url, renderer=self.render)
        self.store.retention = settings.feed_retention

    def render(self, session: Session, kind: str, ids: Iterable[str]) -> dict[str, dict]:
        """Admin views of resources, keyed by id: the bodies of feed changes."""
        service = self.by_kind[kind]
        return {view["id"]: view for view in service.views(session, ADMIN, list(ids))}
