"""ports: a network attachment with fixed IPs, security groups, port security, address pairs, binding."""

from neutrino.api import validators as v
from neutrino.api.definition import (
    IP_ADDRESS,
    MAC_ADDRESS,
    REQUIRED,
    UUID,
    Attribute,
    Resource,
    standard_attributes,
)


def _fixed_ips_match(value, wanted: list[str]) -> bool:
    """``fixed_ips=ip_address=10.0.0.5&fixed_ips=subnet_id=…``: as Neutron, values of one key are
    alternatives, and every key given must be matched by some entry of the port."""
    by_key: dict[str, list[str]] = {}
    for item in wanted:
        key, _, expected = item.partition("=")
        by_key.setdefault(key, []).append(expected)
    entries = value or []
    for key, expected in by_key.items():
        if key == "ip_address_substr":
            matched = any(e in entry["ip_address"] for entry in entries for e in expected)
        else:
            matched = any(str(entry.get(key)) in expected for entry in entries)
        if not matched:
            return False
    return True


def _any_of(value, wanted: list[str]) -> bool:
    return bool(set(value or []) & set(wanted))


ATTRIBUTES = standard_attributes() + (
    Attribute("network_id", post=True, default=REQUIRED, validate=v.uuid_like,
              schema={"type": "string", "format": "uuid"}),
    Attribute("mac_address", post=True, put=True, validate=v.mac_address, schema=MAC_ADDRESS),
    Attribute("admin_state_up", post=True, put=True, default=True, validate=v.boolean, schema={"type": "boolean"}),
    Attribute("status"),
    Attribute("device_id", post=True, put=True, default="", validate=v.string(255),
              schema={"type": "string", "maxLength": 255}),
    Attribute("device_owner", post=True, put=True, default="", validate=v.string(255),
              schema={"type": "string", "maxLength": 255}),
    Attribute("fixed_ips", post=True, put=True, validate=v.fixed_ips, match=_fixed_ips_match, sort=False,
              schema={"type": "array", "items": {"type": "object", "properties": {
                  "subnet_id": UUID, "ip_address": IP_ADDRESS}, "minProperties": 1,
                  "additionalProperties": False}}),
    Attribute("security_groups", post=True, put=True, validate=v.uuid_list, match=_any_of, sort=False,
              schema={"type": "array", "items": UUID, "uniqueItems": True}),
    Attribute("port_security_enabled", post=True, put=True, validate=v.boolean, schema={"type": "boolean"}),
    Attribute("allowed_address_pairs", post=True, put=True, validate=v.address_pairs, sort=False,
              schema={"type": "array", "items": {"type": "object", "properties": {
                  "ip_address": IP_ADDRESS, "mac_address": MAC_ADDRESS}, "required": ["ip_address"],
                  "additionalProperties": False}}),
    Attribute("extra_dhcp_opts", filter=False, sort=False),
    Attribute("binding:host_id", post=True, put=True, default="", validate=v.string(255), admin_only=True,
              schema={"type": "string"}),
    Attribute("binding:vif_type", admin_only=True),
    Attribute("binding:vif_details", admin_only=True, filter=False, sort=False),
    Attribute("binding:vnic_type", post=True, put=True, default="normal",
              validate=v.values("normal", "direct", "macvtap", "baremetal", "direct-physical",
                                "virtio-forwarder", "smart-nic", "remote-managed"),
              schema={"type": "string", "enum": ["normal"]}),
    Attribute("binding:profile", post=True, put=True, validate=v.dict_or_empty, admin_only=True,
              filter=False, sort=False, schema={"type": "object"}),
    Attribute("ip_allocation", filter=False, sort=False),
)


def resource(service) -> Resource:
    return Resource("ports", "port", ATTRIBUTES, service)
