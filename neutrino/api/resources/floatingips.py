"""floatingips: Neutron's L3 floating IP, with fip-port-details (port_details)."""

from neutrino.api import validators as v
from neutrino.api.definition import IP_ADDRESS, REQUIRED, UUID, Attribute, Resource, standard_attributes

ATTRIBUTES = tuple(a for a in standard_attributes() if a.name != "name") + (
    # Choosing the address is for admins (and project managers): checked by the service.
    Attribute("floating_ip_address", post=True, default=None, validate=v.ip_address_or_none,
              schema={**IP_ADDRESS, "nullable": True}),
    Attribute("floating_network_id", post=True, default=REQUIRED, validate=v.uuid_like, schema=UUID),
    Attribute("subnet_id", post=True, default=None, validate=v.uuid_or_none, filter=False, sort=False,
              schema={**UUID, "nullable": True}),
    Attribute("port_id", post=True, put=True, default=None, validate=v.uuid_or_none, sort=False,
              schema={**UUID, "nullable": True}),
    Attribute("fixed_ip_address", post=True, put=True, default=None, validate=v.ip_address_or_none,
              schema={**IP_ADDRESS, "nullable": True}),
    Attribute("router_id"),
    Attribute("status"),
    Attribute("port_details", filter=False, sort=False),
)


def resource(service) -> Resource:
    return Resource("floatingips", "floatingip", ATTRIBUTES, service)
