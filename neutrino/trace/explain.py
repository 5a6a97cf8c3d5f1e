"""How a trace explains itself: the objects it cites (ObjectRef) and the ``openstack`` command that fixes what
stopped the packet. Commands name objects by name where the name is unique (as a person would type them),
else by id.

``Stop`` ends a walk with its Verdict (the walk is a straight line of steps; any step may end it).
"""

from __future__ import annotations

from collections.abc import Iterable

from neutrino.model.resources import Agent, FloatingIp, Network, Port, Router, SecurityGroup, Subnet
from neutrino.model.state import ApiState
from neutrino.plan.firewall import Direction
from neutrino.trace.packet import Packet, Protocol
from neutrino.trace.result import Admitted, ObjectRef, Reason, Verdict


class Stop(Exception):  # noqa: N818 - not an error: the walk's end
    def __init__(self, verdict: Verdict):
        super().__init__(verdict.message)
        self.verdict = verdict


def stop(reason: Reason, message: str, objects: Iterable[ObjectRef] = (), fixes: Iterable[str] = (),
         admitted: Iterable[Admitted] = ()) -> Stop:
    return Stop(Verdict(reason, message, tuple(objects), tuple(fixes), tuple(admitted)))


# --- the objects ---

def port_ref(port: Port) -> ObjectRef:
    return ObjectRef("port", port.id, port.name, port.project_id)


def network_ref(network: Network) -> ObjectRef:
    return ObjectRef("network", network.id, network.name, network.project_id)


def subnet_ref(subnet: Subnet) -> ObjectRef:
    return ObjectRef("subnet", subnet.id, subnet.name, subnet.project_id)


def router_ref(router: Router) -> ObjectRef:
    return ObjectRef("router", router.id, router.name, router.project_id)


def floating_ip_ref(fip: FloatingIp) -> ObjectRef:
    return ObjectRef("floatingip", fip.id, fip.floating_ip_address, fip.project_id)


def group_ref(group: SecurityGroup) -> ObjectRef:
    return ObjectRef("security_group", group.id, group.name, group.project_id)


def agent_ref(agent: Agent) -> ObjectRef:
    return ObjectRef("agent", agent.id, f"{agent.agent_type} on {agent.host}")


def label(obj) -> str:
    """'web (project demo)', or the id when it has no name."""
    name = getattr(obj, "name", "") or obj.id
    project = getattr(obj, "project_id", "")
    return f"{name} (project {project})" if project else name


# --- the commands ---

def cli_name(state: ApiState, obj) -> str:
    """How ``openstack`` should name the object: its name when no other object of its kind has it."""
    name = getattr(obj, "name", "")
    if not name:
        return obj.id
    kind = {Port: state.ports, Network: state.networks, Subnet: state.subnets, Router: state.routers,
            SecurityGroup: state.security_groups}[type(obj)]
    same = sum(1 for other in kind.values() if other.name == name)
    return _quoted(name) if same == 1 else obj.id


def rule_create_fix(state: ApiState, group: SecurityGroup, direction: Direction, packet: Packet) -> str:
    """The rule admitting exactly this packet's peer: ``--remote-ip <peer>/32``, its protocol and port."""
    peer = packet.source if direction is Direction.INGRESS else packet.destination
    words = ["openstack security group rule create", f"--{direction.value}"]
    if packet.version == 6:
        words.append("--ethertype IPv6")
    words.append(f"--protocol {'ipv6-icmp' if packet.protocol is Protocol.ICMP and packet.version == 6 else packet.protocol}")
    if packet.port is not None:
        words.append(f"--dst-port {packet.port}")
    words += [f"--remote-ip {peer}/{32 if packet.version == 4 else 128}", cli_name(state, group)]
    return " ".join(words)


def allowed_address_fix(state: ApiState, port: Port, address: str) -> str:
    return f"openstack port set --allowed-address ip-address={address} {cli_name(state, port)}"


def router_add_subnet_fix(state: ApiState, router: Router | None, subnet: Subnet) -> str:
    return f"openstack router add subnet {cli_name(state, router) if router else '<router>'} {cli_name(state, subnet)}"


def router_gateway_fix(state: ApiState, router: Router, network: Network | None) -> str:
    external = cli_name(state, network) if network else "<external network>"
    return f"openstack router set --external-gateway {external} {cli_name(state, router)}"


def floating_ip_set_fix(state: ApiState, fip: FloatingIp, port: Port | None) -> str:
    target = cli_name(state, port) if port else "<port>"
    return f"openstack floating ip set --port {target} {fip.floating_ip_address}"


def floating_ip_create_fix(state: ApiState, port: Port, network: Network | None) -> str:
    external = cli_name(state, network) if network else "<external network>"
    return f"openstack floating ip create --port {cli_name(state, port)} {external}"


def _quoted(name: str) -> str:
    return name if name.replace("-", "").replace("_", "").replace(".", "").isalnum() else f"'{name}'"
