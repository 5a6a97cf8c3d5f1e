"""What the router and floating IP tests build again and again: an external network, a project's
subnet, a router on both, and agents reporting (the services' heartbeat, as the agent's POST does)."""

from __future__ import annotations

from neutrino.services.agents import OVS_AGENT
from tests.api.expect import ok

L3_AGENT = "L3 agent"
MAPPINGS = {"bridge_mappings": {"physnet1": "br-bond0", "physnet2": "br-ex", "physnet3": "br-ex3"}}


def external_network(admin, cidr: str = "203.0.113.0/24", **subnet_attrs) -> tuple[dict, dict]:
    """An admin's external network (a tenant VLAN: any network may be external) and its subnet."""
    network = admin.create("networks", "network", name="public", **{"router:external": True})
    subnet = admin.create("subnets", "subnet", network_id=network["id"], cidr=cidr, ip_version=4,
                          enable_dhcp=False, **subnet_attrs)
    return network, subnet


def private_subnet(api, cidr: str = "10.0.0.0/24", network: dict | None = None, **attrs) -> dict:
    network = network or api.create("networks", "network", name="private")
    return api.create("subnets", "subnet", network_id=network["id"], cidr=cidr, ip_version=4,
                      enable_dhcp=False, **attrs)


def router_on(api, external: dict | None = None, *subnets: dict, name: str = "router") -> dict:
    """A router with a gateway on ``external`` (if given) and an interface on each subnet."""
    attrs = {"external_gateway_info": {"network_id": external["id"]}} if external else {}
    router = api.create("routers", "router", name=name, **attrs)
    for subnet in subnets:
        ok(add_interface(api, router, subnet_id=subnet["id"]))
    return router


def add_interface(api, router: dict, **info):
    return api.put(f"/v2.0/routers/{router['id']}/add_router_interface", json=info)


def remove_interface(api, router: dict, **info):
    return api.put(f"/v2.0/routers/{router['id']}/remove_router_interface", json=info)


def update_router(api, router: dict, **attrs):
    return api.put(f"/v2.0/routers/{router['id']}", json={"router": attrs})


def show(api, collection: str, resource_id: str) -> dict:
    return ok(api.get(f"/v2.0/{collection}/{resource_id}"))[collection[:-1]]


def router_ports(admin, router: dict, owner: str | None = None) -> list[dict]:
    params = {"device_id": router["id"], **({"device_owner": owner} if owner else {})}
    return ok(admin.get("/v2.0/ports", params=params))["ports"]


def heartbeat(api, host: str, agent_type: str = OVS_AGENT, configurations: dict | None = None) -> str:
    """``host``'s agent of ``agent_type`` reports (as POST /neutrino/v1/agents/heartbeat does)."""
    services = api.client.app.state.services
    return services.store.write(lambda tx: services.agents.heartbeat(
        tx, agent_type, "neutrino-agent", host, configurations if configurations is not None else MAPPINGS,
        start_flag=True))


def host_up(api, host: str) -> str:
    """``host`` runs the OVS and L3 agents (as ``neutrino agent`` does); returns the L3 agent's id."""
    heartbeat(api, host)
    return heartbeat(api, host, L3_AGENT, {"agent_mode": "legacy"})


def changes_since(admin, revision: int) -> dict[tuple[str, str], dict | None]:
    """The last body of each resource changed after ``revision`` (None: deleted)."""
    latest = {}
    while True:
        answer = ok(admin.get("/neutrino/v1/changes", params={"since": revision}))
        for change in answer["changes"]:
            latest[(change["kind"], change["id"])] = change["body"]
        if answer["revision"] == revision:
            return latest
        revision = answer["revision"]
