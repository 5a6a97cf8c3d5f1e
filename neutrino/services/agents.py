"""Agents: heartbeats from host agents, liveness, and port binding against them (ML2's job)."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from neutrino.services.common import new_id, now, timestamp, touch_row
from neutrino.services.context import Context
from neutrino.services.errors import AdminRequired, AgentNotFound
from neutrino.store import tables as t
from neutrino.store.revisions import Transaction

if TYPE_CHECKING:  # dhcp.py binds ports with binding_for below
    from neutrino.services.dhcp import DhcpPorts

OVS_AGENT = "Open vSwitch agent"
L3_AGENT = "L3 agent"
AGENT_DOWN_TIME = timedelta(seconds=75)  # Neutron's agent_down_time default


def is_alive(row: t.Agent) -> bool:
    return now() - row.heartbeat_timestamp <= AGENT_DOWN_TIME


def binding_for(session: Session, port: t.Port) -> tuple[str, dict]:
    """(vif_type, vif_details) for a port bound to ``port.host_id``."""
    if not port.host_id:
        return "unbound", {}
    agent = session.execute(select(t.Agent).where(
        t.Agent.host == port.host_id, t.Agent.agent_type == OVS_AGENT)).scalar_one_or_none()
    network = session.get(t.Network, port.network_id)
    if agent is None or not agent.admin_state_up or not is_alive(agent):
        return "binding_failed", {}
    config = agent.configurations or {}
    mappings = config.get("bridge_mappings", {})
    tunnel_types = config.get("tunnel_types", [])
    if network.network_type in ("vlan", "flat") and network.physical_network not in mappings:
        return "binding_failed", {}
    if network.network_type in ("vxlan", "gre") and network.network_type not in tunnel_types:
        return "binding_failed", {}
    hybrid = config.get("firewall_driver") == "iptables_hybrid"
    return "ovs", {
        "port_filter": True,
        "ovs_hybrid_plug": hybrid,
        "datapath_type": config.get("datapath_type", "system"),
        "bridge_name": config.get("integration_bridge", "br-int"),
        "connectivity": "l2",
    }


class AgentService:
    kind = "agent"

    def __init__(self, dhcp: DhcpPorts | None = None):
        self.dhcp = dhcp

    def not_found(self, resource_id: str) -> Exception:
        return AgentNotFound(id=resource_id)

    def views(self, session: Session, context: Context, ids: list[str] | None = None) -> list[dict]:
        if not context.is_admin:
            return []
        query = select(t.Agent)
        if ids is not None:
            query = query.where(t.Agent.id.in_(ids))
        return [self._view(row) for row in session.execute(query).scalars()]

    @staticmethod
    def _view(row: t.Agent) -> dict:
        return {
            "id": row.id, "agent_type": row.agent_type, "binary": row.binary, "topic": row.topic,
            "host": row.host, "admin_state_up": row.admin_state_up, "alive": is_alive(row),
            "description": row.description, "availability_zone": row.availability_zone,
            "configurations": row.configurations or {}, "created_at": timestamp(row.created_at),
            "started_at": timestamp(row.started_at), "heartbeat_timestamp": timestamp(row.heartbeat_timestamp),
            "resources_synced": None,
        }

    def create(self, tx: Transaction, context: Context, attrs: dict) -> str:
        raise AdminRequired(reason="agents register themselves with a heartbeat")

    def heartbeat(self, tx: Transaction, agent_type: str, binary: str, host: str, configurations: dict,
                  start_flag: bool = False) -> str:
        """Record an agent's report_state; returns its id. Creates the agent on first report."""
        session = tx.session
        row = session.execute(select(t.Agent).where(
            t.Agent.agent_type == agent_type, t.Agent.host == host)).scalar_one_or_none()
        moment = now()
        if row is None:
            row = t.Agent(id=new_id(), agent_type=agent_type, binary=binary, host=host,
                          configurations=configurations, created_at=moment, started_at=moment,
                          heartbeat_timestamp=moment, topic="N/A")
            session.add(row)
        else:
            was_alive = is_alive(row)
            changed = row.configurations != configurations
            row.configurations = configurations
            row.heartbeat_timestamp = moment
            if start_flag:
                row.started_at = moment
            if was_alive and not start_flag and not changed:
                self._schedule_waiting(tx, row)
                return row.id  # routine heartbeat: no change worth a feed revision
        tx.touch(self.kind, row.id)
        session.flush()
        self.rebind(tx, host)
        self._schedule_waiting(tx, row)
        return row.id

    def _schedule_waiting(self, tx: Transaction, row: t.Agent) -> None:
        """What waits for an agent of this kind gets one now (a DHCP agent: networks without a DHCP port)."""
        if self.dhcp is not None:
            self.dhcp.agent_reported(tx, row)
        if row.agent_type == L3_AGENT:  # routers no L3 agent hosts yet
            from neutrino.services import l3_scheduler  # it builds on this module's binding_for

            l3_scheduler.schedule_waiting(tx)

    def rebind(self, tx: Transaction, host: str) -> None:
        """Bind again every port whose binding:host_id is ``host``: its agent appeared, came back or
        changed its configuration (as ML2 retries binding when the agent asks for a port)."""
        session = tx.session
        for port in session.execute(select(t.Port).where(t.Port.host_id == host)).scalars():
            vif_type, details = binding_for(session, port)
            if (vif_type, details) != (port.vif_type, port.vif_details or {}):
                port.vif_type, port.vif_details = vif_type, details
                touch_row(port)
                tx.touch("port", port.id)

    def update(self, tx: Transaction, context: Context, agent_id: str, attrs: dict) -> None:
        row = tx.session.get(t.Agent, agent_id)
        if row is None or not context.is_admin:
            raise AgentNotFound(id=agent_id)
        for name, value in attrs.items():
            setattr(row, name, value)
        tx.touch(self.kind, row.id)

    def delete(self, tx: Transaction, context: Context, agent_id: str) -> None:
        row = tx.session.get(t.Agent, agent_id)
        if row is None or not context.is_admin:
            raise AgentNotFound(id=agent_id)
        tx.session.delete(row)
        tx.touch_deleted(self.kind, agent_id)
        if row.agent_type == L3_AGENT:  # its routers move to another L3 agent, or wait for one
            from neutrino.services import l3_scheduler

            tx.session.flush()
            l3_scheduler.release_host(tx, row.host)
