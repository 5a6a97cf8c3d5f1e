"""The API state at one revision, as frozen values indexed by id: the plan's main input."""

from __future__ import annotations

from dataclasses import dataclass, field

from neutrino.model.resources import (
    Agent,
    Network,
    Port,
    SecurityGroup,
    Subnet,
    agent_from_body,
    network_from_body,
    port_from_body,
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

    def ports_bound_to(self, host: str) -> list[Port]:
        return [port for port in self.ports.values() if port.host_id == host]


def state_from_resources(revision: int, resources: dict[str, dict[str, dict]]) -> ApiState:
    """Convert the feed's wire bodies (kind -> id -> body) into an ApiState."""

    def build(kind: str, convert):
        return {rid: convert(body) for rid, body in resources.get(kind, {}).items()}

    return ApiState(
        revision=revision,
        networks=build("network", network_from_body),
        subnets=build("subnet", subnet_from_body),
        ports=build("port", port_from_body),
        security_groups=build("security_group", security_group_from_body),
        agents=build("agent", agent_from_body),
    )
