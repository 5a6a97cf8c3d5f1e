"""How findings cite things: the API objects behind a plan element's ``source`` ("port:<id>", "network:<id>",
"router:<id>", a security group rule's id), named from the API state when the doctor has it, and the
causes and fixes that depend on the object (why a port is parked, and what unparks it)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from neutrino.model.resources import Agent
from neutrino.model.state import ApiState
from neutrino.trace.explain import cli_name, label, network_ref, port_ref, router_ref
from neutrino.trace.result import Finding, ObjectRef

AGENT_FIX = "neutrino agent --config <agent.toml>"  # the CLI puts the configuration's path in
DRIFT = ("something changed it behind the agent's back, or the agent has not got to it: the agent puts back what "
         "differs at its next whole read of the host (within resync_seconds), so if this stays, the agent is not "
         "running or its passes fail (see its log)")
MAX_OBJECTS = 5
EXAMPLES = 3  # differences named in a finding's message; the rest are counted
_PORT_SOURCES = ("port:", "anti-spoofing:")
_NOT_OBJECTS = ("device:", "config:", "dead-vlan", "default", "canary")


class Namer:
    """Findings for one host, citing objects from ``state`` (None: by id only)."""

    def __init__(self, state: ApiState | None, host: str):
        self.state = state
        self.host = host
        self._rules = {rule.id: group for group in state.security_groups.values() for rule in group.rules} \
            if state else {}

    def finding(self, code: str, severity: str, message: str, element: str, planned: str, found: str,
                cause: str = "", fix: str = "", objects: Iterable[ObjectRef] = ()) -> Finding:
        return Finding(code, message, tuple(objects), severity, self.host, element, planned, found, cause, fix)

    def sources(self, sources: Iterable[str]) -> tuple[ObjectRef, ...]:
        """The distinct objects behind plan elements' sources, at most MAX_OBJECTS."""
        found: dict[tuple[str, str], ObjectRef] = {}
        for source in sources:
            ref = self.object_of(source)
            if ref is not None:
                found.setdefault((ref.type, ref.id), ref)
        return tuple(found.values())[:MAX_OBJECTS]

    def object_of(self, source: str) -> ObjectRef | None:
        if not source or source.startswith(_NOT_OBJECTS):
            return None
        kind, _, identifier = source.partition(":")
        if source.startswith(_PORT_SOURCES):
            port = self.state.ports.get(identifier) if self.state else None
            return port_ref(port) if port else ObjectRef("port", identifier)
        if kind == "network":
            network = self.state.networks.get(identifier) if self.state else None
            return network_ref(network) if network else ObjectRef("network", identifier)
        if kind == "router":
            router = self.state.routers.get(identifier) if self.state else None
            return router_ref(router) if router else ObjectRef("router", identifier)
        if ":" in source:
            return None
        group = self._rules.get(source)  # the OVS firewall's rule flows carry the bare rule id
        if group is None:
            return ObjectRef("security_group_rule", source)
        return ObjectRef("security_group_rule", source, f"rule of security group {group.name or group.id}",
                         group.project_id)

    # --- labels and commands ---

    def port_label(self, port_id: str) -> str:
        port = self.state.ports.get(port_id) if self.state else None
        return label(port) if port else port_id

    def network_label(self, network_id: str) -> str:
        network = self.state.networks.get(network_id) if self.state else None
        return label(network) if network else network_id

    def router_label(self, router_id: str) -> str:
        router = self.state.routers.get(router_id) if self.state else None
        return label(router) if router else router_id

    def port_cli(self, port_id: str) -> str:
        port = self.state.ports.get(port_id) if self.state else None
        return cli_name(self.state, port) if port else port_id

    def parked_cause(self, iface_id: str, device: str, bridge: str) -> tuple[str, str]:
        """(cause, fix) of a plugged port the plan parks on the dead VLAN (l2.why_unbindable, in its order)."""
        if self.state is None:
            return "", ""
        port = self.state.ports.get(iface_id)
        if port is None:
            return ("no API port has this iface-id: a leftover of a deleted port, or an instance plugged with a "
                    "wrong id", f"ovs-vsctl del-port {bridge} {device}")
        if port.host_id != self.host:
            where = f"host {port.host_id!r}" if port.host_id else "no host"
            return (f"the port is bound to {where} but plugged here", f"openstack port set --host {self.host} "
                                                                      f"{cli_name(self.state, port)}")
        network = self.state.networks.get(port.network_id)
        if network is not None and network.network_type not in ("vlan", "flat"):
            return f"this agent wires vlan and flat networks, not {network.network_type}", ""
        if not port.admin_state_up:
            return "the port has admin_state_up false", f"openstack port set --enable {cli_name(self.state, port)}"
        if network is not None and not network.admin_state_up:
            return "its network has admin_state_up false", \
                f"openstack network set --enable {cli_name(self.state, network)}"
        return "", ""


def heartbeat_age(agent: Agent, now: datetime) -> float | None:
    """Seconds since the agent's last heartbeat (None: never, or unreadable)."""
    if not agent.heartbeat_timestamp:
        return None
    try:
        moment = datetime.fromisoformat(agent.heartbeat_timestamp.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (now - moment).total_seconds()


def examples(words: Iterable[str], total: int) -> str:
    shown = list(words)[:EXAMPLES]
    more = f" (and {total - len(shown)} more)" if total > len(shown) else ""
    return "; ".join(shown) + more
