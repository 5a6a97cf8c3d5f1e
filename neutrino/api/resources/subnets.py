"""subnets: addressing of a network (IPv4 and IPv6), pools, DNS servers, host routes."""

from neutrino.api import validators as v
from neutrino.api.definition import CIDR, IP_ADDRESS, REQUIRED, Attribute, Resource, standard_attributes

IPV6_MODES = ("dhcpv6-stateful", "dhcpv6-stateless", "slaac")  # neutron_lib constants.IPV6_MODES

ATTRIBUTES = standard_attributes() + (
    Attribute("network_id", post=True, default=REQUIRED, validate=v.uuid_like,
              schema={"type": "string", "format": "uuid"}),
    Attribute("ip_version", post=True, default=REQUIRED, validate=v.int_values(4, 6),
              schema={"type": "integer", "enum": [4, 6]}),
    Attribute("cidr", post=True, validate=v.cidr, schema=CIDR),
    Attribute("gateway_ip", post=True, put=True, validate=v.ip_address_or_none,
              schema={**IP_ADDRESS, "nullable": True}),
    Attribute("allocation_pools", post=True, put=True, validate=v.allocation_pools, sort=False,
              schema={"type": "array", "items": {"type": "object", "properties": {
                  "start": IP_ADDRESS, "end": IP_ADDRESS}, "required": ["start", "end"],
                  "additionalProperties": False}}),
    Attribute("dns_nameservers", post=True, put=True, default=[], validate=v.none_as_empty_list(v.nameservers),
              sort=False, schema={"type": "array", "items": IP_ADDRESS, "nullable": True}),
    Attribute("host_routes", post=True, put=True, default=[], validate=v.none_as_empty_list(v.host_routes),
              sort=False,
              schema={"type": "array", "items": {"type": "object", "properties": {
                  "destination": CIDR, "nexthop": IP_ADDRESS}, "required": ["destination", "nexthop"],
                  "additionalProperties": False}, "nullable": True}),
    Attribute("enable_dhcp", post=True, put=True, default=True, validate=v.boolean, schema={"type": "boolean"}),
    Attribute("ipv6_ra_mode", post=True, validate=v.values_or_none(*IPV6_MODES),
              schema={"type": "string", "nullable": True, "enum": list(IPV6_MODES)}),
    Attribute("ipv6_address_mode", post=True, validate=v.values_or_none(*IPV6_MODES),
              schema={"type": "string", "nullable": True, "enum": list(IPV6_MODES)}),
    Attribute("subnetpool_id", post=True, validate=lambda value: _no_pools(value),
              schema={"type": "string", "nullable": True, "enum": [None]}),  # no subnet pools: null only
    Attribute("service_types", sort=False),
    Attribute("segment_id"),
)


def _no_pools(value):
    if value is not None:
        raise v.Invalid("subnet pools are not supported by neutrino")
    return None


def resource(service) -> Resource:
    return Resource("subnets", "subnet", ATTRIBUTES, service)
