"""security_groups and security_group_rules."""

from neutrino.api import validators as v
from neutrino.api.definition import CIDR, REQUIRED, UUID, Attribute, Resource, standard_attributes

GROUP_ATTRIBUTES = tuple(a for a in standard_attributes() if a.name != "name") + (
    Attribute("name", post=True, put=True, default="", validate=v.name_not_default(255),
              schema={"type": "string", "maxLength": 255}),
    Attribute("security_group_rules", filter=False, sort=False),
    Attribute("stateful", post=True, put=True, default=True, validate=v.boolean, schema={"type": "boolean"}),
    Attribute("shared"),
    Attribute("is_default"),
)

# Neutron tags security groups but not their rules: a rule has no name, no tags and no /tags.
RULE_ATTRIBUTES = tuple(a for a in standard_attributes() if a.name not in ("name", "tags")) + (
    Attribute("security_group_id", post=True, default=REQUIRED, validate=v.uuid_like,
              schema={"type": "string", "format": "uuid"}),
    Attribute("direction", post=True, default=REQUIRED, validate=v.values("ingress", "egress"),
              schema={"type": "string", "enum": ["ingress", "egress"]}),
    Attribute("ethertype", post=True, default="IPv4", validate=v.ethertype,
              schema={"type": "string", "enum": ["IPv4", "IPv6"]}),
    Attribute("protocol", post=True, default=None, validate=v.protocol,
              schema={"type": "string", "nullable": True}),
    Attribute("port_range_min", post=True, default=None, validate=v.port_value,
              schema={"type": "integer", "nullable": True, "minimum": 0, "maximum": 65535}),
    Attribute("port_range_max", post=True, default=None, validate=v.port_value,
              schema={"type": "integer", "nullable": True, "minimum": 0, "maximum": 65535}),
    Attribute("remote_ip_prefix", post=True, default=None, validate=v.ip_prefix_or_none,
              schema={**CIDR, "nullable": True}),
    Attribute("remote_group_id", post=True, default=None, validate=v.uuid_or_none,
              schema={**UUID, "nullable": True}),
    Attribute("remote_address_group_id"),
    Attribute("normalized_cidr"),
    Attribute("belongs_to_default_sg"),
)


def group_resource(service) -> Resource:
    return Resource("security_groups", "security_group", GROUP_ATTRIBUTES, service)


def rule_resource(service) -> Resource:
    return Resource("security_group_rules", "security_group_rule", RULE_ATTRIBUTES, service, tags=False)
