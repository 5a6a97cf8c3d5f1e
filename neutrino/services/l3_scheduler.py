"""Where routers run: each router is hosted by one live, admin-up L3 agent, the one hosting the fewest
routers, chosen when the router first gets a gateway or an interface. Every port of the router (its
interfaces and its gateway) carries that host as binding:host_id and is bound like any port, so the
agent there knows the router is its own because the router's ports are bound to it. Routers left
waiting (no L3 agent was alive) are scheduled at the next L3 agent heartbeat.
"""

from __future__ import annotations

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session

from neutrino.services.agents import binding_for, is_alive
from neutrino.services.common import touch_row
from neutrino.store import tables as t
from neutrino.store.revisions import Transaction

L3_AGENT = "L3 agent"
ROUTER_INTERFACE = "network:router_interface"
ROUTER_GATEWAY = "network:router_gateway"
ROUTER_PORT_OWNERS = (ROUTER_INTERFACE, ROUTER_GATEWAY)


def l3_agents(session: Session) -> list[t.Agent]:
    return list(session.execute(select(t.Agent).where(t.Agent.agent_type == L3_AGENT)).scalars())


def agent_row(session: Session, agent_id: str) -> t.Agent | None:
    return session.get(t.Agent, agent_id)


def host_for_new_router(session: Session) -> str | None:
    """The host of the live, admin-up L3 agent with the fewest routers (ties: by host name), or None."""
    candidates = [a.host for a in l3_agents(session) if a.admin_state_up and is_alive(a)]
    if not candidates:
        return None
    load = dict(session.execute(select(t.Router.host, func.count()).where(t.Router.host.in_(candidates))
                                .group_by(t.Router.host)).all())
    return min(sorted(candidates), key=lambda host: load.get(host, 0))


def router_ports(session: Session, router_id: str) -> list[t.Port]:
    return list(session.execute(select(t.Port).where(
        t.Port.device_id == router_id, t.Port.device_owner.in_(ROUTER_PORT_OWNERS))).scalars())


def schedule(tx: Transaction, router: t.Router) -> None:
    """Give an unscheduled router a host, if an L3 agent can take it (it stays waiting otherwise)."""
    if router.host:
        return
    tx.session.flush()  # the router and its new ports must be counted and found
    host = host_for_new_router(tx.session)
    if host is not None:
        move(tx, router, host)


def move(tx: Transaction, router: t.Router, host: str) -> None:
    """Host the router on ``host`` ("" for nowhere): all its ports go along, bound there."""
    router.host = host
    for port in router_ports(tx.session, router.id):
        bind_router_port(tx, port, host)


def bind_router_port(tx: Transaction, port: t.Port, host: str) -> None:
    if port.host_id == host:
        return
    port.host_id = host
    port.vif_type, port.vif_details = binding_for(tx.session, port)
    touch_row(port)
    tx.touch("port", port.id)


def schedule_waiting(tx: Transaction) -> None:
    """Schedule every router that has ports but no host yet (an L3 agent has just reported)."""
    ports = t.Port.__table__
    has_ports = exists().where(ports.c.device_id == t.Router.id, ports.c.device_owner.in_(ROUTER_PORT_OWNERS))
    waiting = list(tx.session.execute(select(t.Router).where(t.Router.host == "", has_ports)
                                      .order_by(t.Router.created_at, t.Router.id)).scalars())
    for router in waiting:
        schedule(tx, router)


def release_host(tx: Transaction, host: str) -> None:
    """The L3 agent of ``host`` is gone: its routers move to other agents, or wait for one."""
    for router in tx.session.execute(select(t.Router).where(t.Router.host == host)).scalars().all():
        move(tx, router, "")
    tx.session.flush()
    schedule_waiting(tx)


def routers_on(session: Session, host: str) -> list[str]:
    return list(session.execute(select(t.Router.id).where(t.Router.host == host)).scalars())
