"""DHCP ports: the server's half of Neutron's DHCP agent (its scheduler, and the port the agent asks
for over RPC).

Each network with at least one enable_dhcp subnet has ONE port with device_owner ``network:dhcp``,
device_id ``dhcp<uuid5(DNS, short host name)>-<network id>`` (Neutron's get_dhcp_agent_device_id), an
address on each DHCP-enabled subnet, and binding:host_id = the host of a live, admin-up DHCP agent
whose host can bind the network (of those, the one serving the fewest networks). The agent there serves
the network because the port is bound to it. ``reconcile`` keeps the port in step after every subnet
create, update and delete, and removes it when no DHCP-enabled subnet is left; networks that found no
agent are scheduled at the next DHCP agent heartbeat (``schedule_waiting``). Deleting the network deletes
its DHCP port (networks.py: network-owned ports do not keep a network in use).
"""

from __future__ import annotations

import uuid

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session

from neutrino.services import ipam
from neutrino.services.agents import binding_for, is_alive
from neutrino.services.context import ADMIN
from neutrino.services.ports import PortService
from neutrino.store import tables as t
from neutrino.store.revisions import Transaction
from neutrino.store.session import lock_named

DHCP_AGENT = "DHCP agent"
DHCP_OWNER = "network:dhcp"


def device_id_for(host: str, network_id: str) -> str:
    """Neutron's DHCP port device_id: the same for a host whether named short or fully qualified."""
    short = host.split(".")[0]
    return f"dhcp{uuid.uuid5(uuid.NAMESPACE_DNS, short)}-{network_id}"


def dhcp_subnet_ids(session: Session, network_id: str) -> list[str]:
    return list(session.execute(
        select(t.Subnet.id).where(t.Subnet.network_id == network_id, t.Subnet.enable_dhcp)
        .order_by(t.Subnet.created_at, t.Subnet.id)).scalars())


def dhcp_ports_of(session: Session, network_id: str) -> list[t.Port]:
    return list(session.execute(select(t.Port).where(
        t.Port.network_id == network_id, t.Port.device_owner == DHCP_OWNER).order_by(t.Port.id)).scalars())


def can_bind(session: Session, host: str, network_id: str) -> bool:
    """Whether a port of the network bound to ``host`` would bind (its OVS agent maps the network)."""
    return binding_for(session, t.Port(host_id=host, network_id=network_id))[0] == "ovs"


def host_for_network(session: Session, network_id: str) -> str | None:
    """The host of the live, admin-up DHCP agent that can bind the network and serves the fewest
    networks (ties: by host name); None when there is none (Neutron's filter_hosts_with_network_access)."""
    agents = session.execute(select(t.Agent).where(t.Agent.agent_type == DHCP_AGENT)).scalars()
    candidates = sorted(a.host for a in agents
                        if a.admin_state_up and is_alive(a) and can_bind(session, a.host, network_id))
    if not candidates:
        return None
    load = dict(session.execute(select(t.Port.host_id, func.count()).where(
        t.Port.device_owner == DHCP_OWNER, t.Port.host_id.in_(candidates)).group_by(t.Port.host_id)).all())
    return min(candidates, key=lambda host: load.get(host, 0))


def _with_room(session: Session, network_id: str, subnet_ids: list[str]) -> list[str]:
    """The subnets that still have a free address (a full one gives the DHCP port none, as a Neutron
    DHCP agent's port update would fail for it, without failing the subnet's own request)."""
    spaces = {s.id: s for s in ipam.subnet_spaces(session, network_id)}
    return [s for s in subnet_ids if s in spaces and ipam.pick_free_address(session, spaces[s]) is not None]


class DhcpPorts:
    def __init__(self, ports: PortService):
        self.ports = ports

    def reconcile(self, tx: Transaction, network_id: str) -> None:
        """Make the network's DHCP port match its DHCP-enabled subnets: create it (if an agent can take
        the network), give it an address on each, drop addresses elsewhere, or delete it."""
        session = tx.session
        lock_named(session, f"dhcp-port:{network_id}")  # two subnet writes must not make two ports
        session.flush()
        subnets = dhcp_subnet_ids(session, network_id)
        ports = dhcp_ports_of(session, network_id)
        if not subnets:
            for port in ports:
                self.ports.remove(tx, port)
            return
        if not ports:
            self._create(tx, network_id, subnets)
            return
        for port in ports:
            self._readdress(tx, port, subnets)

    def _create(self, tx: Transaction, network_id: str, subnets: list[str]) -> None:
        session = tx.session
        host = host_for_network(session, network_id)
        subnets = _with_room(session, network_id, subnets)
        if host is None or not subnets:
            return  # waits for a DHCP agent's heartbeat (or for a free address)
        network = session.get(t.Network, network_id)
        self.ports.create(tx, ADMIN, {
            "network_id": network_id, "name": "", "device_owner": DHCP_OWNER,
            "device_id": device_id_for(host, network_id), "project_id": network.project_id,
            "binding:host_id": host, "fixed_ips": [{"subnet_id": s} for s in subnets],
        }, check_quota=False)  # Neutron counts network-owned ports but never refuses them

    def _readdress(self, tx: Transaction, port: t.Port, subnets: list[str]) -> None:
        held = list(tx.session.execute(select(t.IpAllocation.subnet_id, t.IpAllocation.ip_address)
                                       .where(t.IpAllocation.port_id == port.id)).all())
        kept = [{"subnet_id": s, "ip_address": a} for s, a in held if s in subnets]
        missing = _with_room(tx.session, port.network_id, [s for s in subnets if s not in {s for s, _ in held}])
        if len(kept) == len(held) and not missing:
            return
        self.ports.update(tx, ADMIN, port.id, {"fixed_ips": kept + [{"subnet_id": s} for s in missing]})

    def agent_reported(self, tx: Transaction, agent: t.Agent) -> None:
        """At each heartbeat of an admin-up DHCP agent (alive, then), schedule the networks waiting."""
        if agent.agent_type == DHCP_AGENT and agent.admin_state_up:
            self.schedule_waiting(tx)

    def schedule_waiting(self, tx: Transaction) -> None:
        """Give a DHCP port to every network with a DHCP-enabled subnet and none yet (a DHCP agent has
        just reported, and may take them)."""
        session = tx.session
        session.flush()
        ports = t.Port.__table__
        served = exists().where(ports.c.network_id == t.Subnet.network_id, ports.c.device_owner == DHCP_OWNER)
        waiting = list(session.execute(select(t.Subnet.network_id).where(t.Subnet.enable_dhcp, ~served)
                                       .distinct()).scalars())
        for network_id in sorted(waiting):
            self.reconcile(tx, network_id)
