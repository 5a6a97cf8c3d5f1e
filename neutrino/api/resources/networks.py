"""networks: Neutron's core network plus provider, external-net, net-mtu and port-security attributes."""

from neutrino.api import validators as v
from neutrino.api.definition import Attribute, Resource, standard_attributes

ATTRIBUTES = standard_attributes() + (
    Attribute("admin_state_up", post=True, put=True, default=True, validate=v.boolean, schema={"type": "boolean"}),
    Attribute("status"),
    Attribute("shared", post=True, put=True, default=False, validate=v.boolean, admin_write=True,
              schema={"type": "boolean"}),
    Attribute("router:external", post=True, put=True, default=False, validate=v.boolean, admin_write=True,
              schema={"type": "boolean"}),
    Attribute("mtu", post=True, put=True, validate=v.integer(0), schema={"type": "integer"}),
    Attribute("subnets", sort=False),
    Attribute("provider:network_type", post=True, validate=v.string(32), admin_only=True,
              schema={"type": "string", "enum": ["flat", "vlan", "vxlan", "gre"]}),
    Attribute("provider:physical_network", post=True, validate=v.string(64, allow_none=True), admin_only=True,
              schema={"type": "string"}),
    # convert_to_int only: the range (VLAN 1-4094, VNI 1-2^24-1) is the segment's rule, an InvalidInput as ML2's.
    Attribute("provider:segmentation_id", post=True, validate=v.integer(allow_none=True),
              admin_only=True, schema={"type": "integer"}),
    Attribute("port_security_enabled", post=True, put=True, default=True, validate=v.boolean,
              schema={"type": "boolean"}),
    Attribute("availability_zone_hints", post=True, default=[], validate=v.list_of(v.string(255), 0),
              filter=False, sort=False, schema={"type": "array", "items": {"type": "string"}, "maxItems": 0}),
    Attribute("availability_zones", filter=False, sort=False),
    Attribute("ipv4_address_scope"),
    Attribute("ipv6_address_scope"),
    Attribute("is_default"),
    Attribute("l2_adjacency"),
)


def resource(service) -> Resource:
    return Resource("networks", "network", ATTRIBUTES, service)
