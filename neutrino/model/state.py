"""The API state at one revision, as frozen values indexed by id: the plan's main input."""

from __future__ import annotations

from dataclasses import dataclass, field

from neutrino.model.resources import (
    Agent,
    FloatingIp,
    Network,
    Port,
    Router,
    SecurityGroup,
    Subnet,
    agent_from_body,
    floating_ip_from_body,
    network_from_body,
    port_from_body,
    router_from_body,
    security_group_from_body,
    subnet_from_body,
)


@dataclass(frozen=True)
class ApiState:
    revision: int = 0
    networks: dict[str, Network] = field(default_factory=dict)
    subnets: dict[str, Subnet] = field(default_factory=dict)
    ports: dict[str, Port] = field(default_factory=dict)
    security_groups: dict[str, SecurityGroup] = field(default_factory=dict)
    agents: dict[str, Agent] = field(default_factory=dict)
    routers: dict[str, Router] = field(default_factory=dict)
    floatingips: dict[str, FloatingIp] = field(default_factory=dict)

    def ports_bound_to(self, host: str) -> list[Port]:
        return [port for port in self.ports.values() if port.host_id == host]


# feed kind -> (ApiState field, converter from the wire body)
KINDS = {
    "network": ("networks", network_from_body),
    "subnet": ("subnets", subnet_from_body),
    "port": ("ports", port_from_body),
    "security_group": ("security_groups", security_group_from_body),
    "agent": ("agents", agent_from_body),
    "router": ("routers", router_from_body),
    "floatingip": ("floatingips", floating_ip_from_body),
}


class StateBuilder:
    """Keeps the converted values current as feed changes arrive; ``freeze()`` hands out an ApiState
    (shallow copies, so the builder may go on changing while a pass reads the state)."""

    def __init__(self, resources: dict[str, dict[str, dict]] | None = None):
        self.values: dict[str, dict] = {name: {} for name, _ in KINDS.values()}
        for kind, bodies in (resources or {}).items():
            for resource_id, body in bodies.items():
                self.apply(kind, resource_id, body)

    def apply(self, kind: str, resource_id: str, body: dict | None) -> None:
        if kind not in KINDS:
            return  # kinds this agent does not plan with (e.g. rules: their group's body carries them)
        name, convert = KINDS[kind]
        if body is None:
            self.values[name].pop(resource_id, None)
        else:
            self.values[name][resource_id] = convert(body)

    def freeze(self, revision: int) -> ApiState:
        return ApiState(revision=revision, **{name: dict(values) for name, values in self.values.items()})


def state_from_resources(revision: int, resources: dict[str, dict[str, dict]]) -> ApiState:
    """Convert the feed's wire bodies (kind -> id -> body) into an ApiState."""
    return StateBuilder(resources).freeze(revision)
