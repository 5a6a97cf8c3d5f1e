"""routers: Neutron's L3 router with ext-gw-mode (enable_snat) and extraroute (routes).

Interfaces and the atomic route changes are member actions (api/router_actions.py), not attributes.
"""

from neutrino.api import validators as v
from neutrino.api.definition import CIDR, IP_ADDRESS, UUID, Attribute, Resource, standard_attributes

FIXED_IPS = {"type": "array", "items": {"type": "object", "properties": {
    "subnet_id": UUID, "ip_address": IP_ADDRESS}, "minProperties": 1, "additionalProperties": False}}
ROUTES = {"type": "array", "items": {"type": "object", "properties": {
    "destination": CIDR, "nexthop": IP_ADDRESS}, "required": ["destination", "nexthop"],
    "additionalProperties": False}}

ATTRIBUTES = standard_attributes() + (
    Attribute("admin_state_up", post=True, put=True, default=True, validate=v.boolean, schema={"type": "boolean"}),
    Attribute("status"),
    # The keys enable_snat and external_fixed_ips are for admins only (checked by the service).
    Attribute("external_gateway_info", post=True, put=True, default=None, validate=v.gateway_info,
              filter=False, sort=False, schema={"type": "object", "nullable": True, "properties": {
                  "network_id": UUID, "enable_snat": {"type": "boolean"}, "external_fixed_ips": FIXED_IPS},
                  "additionalProperties": False}),
    Attribute("routes", put=True, validate=v.none_as_empty_list(v.routes), filter=False, sort=False,
              schema=ROUTES),
)


def resource(service) -> Resource:
    return Resource("routers", "router", ATTRIBUTES, service)
