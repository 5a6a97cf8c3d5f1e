"""subnets: addressing of a network (IPv4 and IPv6), pools, DNS servers, host routes."""

from neutrino.api import validators as v
from neutrino.api.definition import REQUIRED, Attribute, Resource, standard_attributes

IPV6_MODES = ("dhcpv6-off", "dhcpv6-stateful", "dhcpv6-stateless", "slaac")

ATTRIBUTES = standard_attributes() + (
    Attribute("network_id", post=True, default=REQUIRED, validate=v.uuid_like,
              schema={"type": "string", "format": "uuid"}),
    Attribute("ip_version", post=True, default=REQUIRED, validate=v.values(4, 6),
              schema={"type": "integer", "enum": [4, 6]}),
    Attribute("cidr", post=True, validate=v.cidr, schema={"type": "string"}),
    Attribute("gateway_ip", post=True, put=True, validate=v.ip_address_or_none,
              schema={"type": "string", "nullable": True}),
    Attribute("allocation_pools", post=True, put=True, validate=v.allocation_pools, sort=False,
              schema={"type": "array", "items": {"type": "object", "properties": {
                  "start": {"type": "string"}, "end": {"type": "string"}}}}),
    Attribute("dns_nameservers", post=True, put=True, default=[], validate=v.nameservers, sort=False,
              schema={"type": "array", "items": {"type": "string"}}),
    Attribute("host_routes", post=True, put=True, default=[], validate=v.host_routes, sort=False,
              schema={"type": "array", "items": {"type": "object", "properties": {
                  "destination": {"type": "string"}, "nexthop": {"type": "string"}}}}),
    Attribute("enable_dhcp", post=True, put=True, default=True, validate=v.boolean, schema={"type": "boolean"}),
    Attribute("ipv6_ra_mode", post=True, validate=v.values_or_none(*IPV6_MODES),
              schema={"type": "string", "nullable": True, "enum": list(IPV6_MODES)}),
    Attribute("ipv6_address_mode", post=True, validate=v.values_or_none(*IPV6_MODES),
              schema={"type": "string", "nullable": True, "enum": list(IPV6_MODES)}),
    Attribute("subnetpool_id", post=True, validate=lambda value: _no_pools(value), schema={"nullable": True}),
    Attribute("service_types", sort=False),
    Attribute("segment_id"),
)


def _no_pools(value):
    if value is not None:
        raise v.Invalid("subnet pools are not supported by neutrino")
    return None


def resource(service) -> Resource:
    return Resource("subnets", "subnet", ATTRIBUTES, service)
