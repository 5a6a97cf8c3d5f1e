"""agents: what the host agents report (read by admins; admin_state_up and description are settable)."""

from neutrino.api import validators as v
from neutrino.api.definition import Attribute, Resource

ATTRIBUTES = (
    Attribute("id"), Attribute("agent_type"), Attribute("binary"), Attribute("topic"), Attribute("host"),
    Attribute("admin_state_up", put=True, validate=v.boolean, schema={"type": "boolean"}),
    Attribute("alive"),
    Attribute("description", put=True, validate=v.string(255, allow_none=True), schema={"type": "string"}),
    Attribute("availability_zone"), Attribute("configurations", filter=False, sort=False),
    Attribute("created_at"), Attribute("started_at"), Attribute("heartbeat_timestamp"),
    Attribute("resources_synced"),
)


def resource(service) -> Resource:
    return Resource("agents", "agent", ATTRIBUTES, service, tags=False, bulk=False)
