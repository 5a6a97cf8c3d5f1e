"""Attribute validators and converters, named after neutron-lib's (``type:uuid``, ``convert_to_boolean``).

Each takes the raw JSON value and returns the value to store, or raises ``Invalid(reason)``; the
controller turns that into Neutron's 400 "Invalid input for <attr>. Reason: <reason>." Where Neutron's
validator raises a typed error of its own (allowed address pairs), ours raises that NeutronError.
"""

from __future__ import annotations

import ipaddress
import re
import uuid
from collections.abc import Callable
from typing import Any

from neutrino.services import errors

Validator = Callable[[Any], Any]


class Invalid(ValueError):
    pass


def string(max_len: int | None = 255, allow_none: bool = False) -> Validator:
    def check(value):
        if value is None and allow_none:
            return None
        if not isinstance(value, str):
            raise Invalid(f"'{value}' is not a valid string")
        if max_len is not None and len(value) > max_len:
            raise Invalid(f"'{value}' exceeds maximum length of {max_len}")
        if "\x00" in value:  # PostgreSQL text cannot hold U+0000
            raise Invalid(f"{value!r} contains a NUL character")
        return value

    return check


def name_not_default(max_len: int = 255) -> Validator:
    base = string(max_len)

    def check(value):
        value = base(value)
        if value.lower() == "default":
            raise Invalid("'default' is not allowed as a security group name")
        return value

    return check


def boolean(value):
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false", "1", "0"):
        return value.lower() in ("true", "1")
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise Invalid(f"'{value}' cannot be converted to boolean")


def uuid_like(value):
    if not isinstance(value, str):
        raise Invalid(f"'{value}' is not a valid UUID")
    try:
        uuid.UUID(value)
    except ValueError:
        raise Invalid(f"'{value}' is not a valid UUID") from None
    return value


def uuid_or_none(value):
    return None if value is None else uuid_like(value)


def uuid_list(value):
    if not isinstance(value, list):
        raise Invalid(f"'{value}' is not a list")
    items = [uuid_like(v) for v in value]
    if len(set(items)) != len(items):
        raise Invalid(f"Duplicate items in the list: '{', '.join(items)}'")
    return items


def integer(minimum: int | None = None, maximum: int | None = None, allow_none: bool = False) -> Validator:
    def check(value):
        if value is None and allow_none:
            return None
        if isinstance(value, bool):
            raise Invalid(f"'{value}' is not an integer")
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise Invalid(f"'{value}' is not an integer") from None
        if isinstance(value, float) and value != number:
            raise Invalid(f"'{value}' is not an integer")
        if minimum is not None and number < minimum:
            raise Invalid(f"'{number}' is too small - must be at least '{minimum}'")
        if maximum is not None and number > maximum:
            raise Invalid(f"'{number}' is too large - must be no larger than '{maximum}'")
        return number

    return check


def values(*allowed) -> Validator:
    def check(value):
        if value not in allowed:
            raise Invalid(f"'{value}' is not in {list(allowed)}")
        return value

    return check


def int_values(*allowed) -> Validator:
    """convert_to_int, then type:values: "4" is ip_version 4, as Neutron converts it."""
    as_int, inner = integer(), values(*allowed)
    return lambda value: inner(as_int(value))


def none_as_empty_list(inner: Validator) -> Validator:
    """convert_none_to_empty_list, then ``inner``."""
    return lambda value: [] if value is None else inner(value)


def values_or_none(*allowed) -> Validator:
    inner = values(*allowed)
    return lambda value: None if value is None else inner(value)


_MAC = re.compile(r"^([0-9a-f]{2}[:-]){5}[0-9a-f]{2}$", re.IGNORECASE)


def mac_address(value):
    if not isinstance(value, str) or not _MAC.match(value):
        raise Invalid(f"'{value}' is not a valid MAC address")
    mac = value.lower().replace("-", ":")
    if mac in ("00:00:00:00:00:00", "ff:ff:ff:ff:ff:ff") or int(mac[:2], 16) & 1:
        raise Invalid(f"'{value}' is not a valid MAC address")
    return mac


def ip_address(value):
    if not isinstance(value, str):
        raise Invalid(f"'{value}' is not a valid IP address")
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        raise Invalid(f"'{value}' is not a valid IP address") from None
    return str(address)


def ip_address_or_none(value):
    return None if value is None else ip_address(value)


def cidr(value):
    """A network in CIDR form (Neutron's type:subnet), as the network it names: Neutron accepts host
    bits (10.0.0.5/24) and creates the subnet of the network (10.0.0.0/24)."""
    if not isinstance(value, str) or "/" not in value:
        raise Invalid(f"'{value}' is not a valid IP subnet")
    try:
        return str(ipaddress.ip_network(value, strict=False))
    except ValueError:
        raise Invalid(f"'{value}' is not a valid IP subnet") from None


def ip_prefix_or_none(value):
    """remote_ip_prefix (convert_ip_prefix_to_cidr): an address or a network, always with its mask
    (10.0.0.7 -> 10.0.0.7/32). Host bits are kept, as Neutron keeps them; normalized_cidr drops them."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise Invalid(f"'{value}' is not a valid IP subnet")
    try:
        return str(ipaddress.ip_interface(value))
    except ValueError:
        raise Invalid(f"'{value}' is not a valid IP subnet") from None


def address_or_cidr(value):
    """allowed_address_pairs ip_address: an address or a network."""
    if not isinstance(value, str):
        raise Invalid(f"'{value}' is not a valid IP address")
    try:
        if "/" in value:
            return str(ipaddress.ip_network(value, strict=False))
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise Invalid(f"'{value}' is not a valid IP address") from None


def list_of(item: Validator, max_items: int | None = None) -> Validator:
    def check(value):
        if not isinstance(value, list):
            raise Invalid(f"'{value}' is not a list")
        if max_items is not None and len(value) > max_items:
            raise Invalid(f"'{value}' has more than {max_items} items")
        return [item(v) for v in value]

    return check


def nameservers(value):
    addresses = list_of(ip_address)(value)
    if len(set(addresses)) != len(addresses):
        raise Invalid(f"Duplicate nameserver '{value}'")
    return addresses


def _dict_with(value, required: tuple[str, ...], optional: tuple[str, ...] = ()) -> dict:
    if not isinstance(value, dict):
        raise Invalid(f"'{value}' is not a dictionary")
    unknown = set(value) - set(required) - set(optional)
    if unknown:
        raise Invalid(f"Unrecognized attribute(s) '{', '.join(sorted(unknown))}'")
    missing = [k for k in required if k not in value]
    if missing:
        raise Invalid(f"Validation of dictionary's keys failed. Expected keys: {set(required)} Provided keys: {set(value)}")
    return value


def allocation_pools(value):
    def pool(item):
        item = _dict_with(item, ("start", "end"))
        return {"start": ip_address(item["start"]), "end": ip_address(item["end"])}

    return list_of(pool)(value)


def host_routes(value):
    def route(item):
        item = _dict_with(item, ("destination", "nexthop"))
        return {"destination": cidr(item["destination"]), "nexthop": ip_address(item["nexthop"])}

    return list_of(route)(value)


def routes(value):
    """type:hostroutes for a router's routes: each destination a network in CIDR form (no host bits, not
    loopback), each next hop an address, no route twice."""

    def route(item):
        item = _dict_with(item, ("destination", "nexthop"))
        destination = item["destination"]
        try:
            network = ipaddress.ip_network(destination, strict=True) if isinstance(destination, str) else None
        except ValueError:
            network = None
        if network is None or "/" not in destination:
            raise Invalid(f"'{destination}' is not a valid CIDR")
        if network.is_loopback:
            raise Invalid(f"'{destination}' is not a routable CIDR")
        return {"destination": str(network), "nexthop": ip_address(item["nexthop"])}

    checked = list_of(route)(value)
    for index, item in enumerate(checked):
        if item in checked[:index]:
            raise Invalid(f"Duplicate hostroute '{item}'")
    return checked


def gateway_info(value):
    """external_gateway_info (type:dict_or_nodata): null or {} for no gateway, else network_id and
    optionally enable_snat and external_fixed_ips."""
    if value is None or value == {}:
        return None
    if not isinstance(value, dict):
        raise Invalid(f"'{value}' is not a dictionary")
    if "network_id" not in value:
        raise Invalid(f"Validation of dictionary's keys failed. Expected keys: {{'network_id'}} "
                      f"Provided keys: {set(value)}")
    unexpected = [key for key in value if key not in ("network_id", "enable_snat", "external_fixed_ips")]
    if unexpected:
        raise Invalid(f"Unexpected keys supplied: {', '.join(unexpected)}")
    checked = {"network_id": uuid_like(value["network_id"])}
    if "enable_snat" in value:
        checked["enable_snat"] = boolean(value["enable_snat"])
    if "external_fixed_ips" in value:
        checked["external_fixed_ips"] = fixed_ips(value["external_fixed_ips"] or [])
    return checked


def fixed_ips(value):
    def entry(item):
        item = _dict_with(item, (), ("subnet_id", "ip_address"))
        if not item:  # the plugin's check in Neutron, hence its InvalidInput rather than a 400 of the API
            raise errors.InvalidInput(error_message="IP allocation requires subnet_id or ip_address")
        out = {}
        if "subnet_id" in item:
            out["subnet_id"] = uuid_like(item["subnet_id"])
        if "ip_address" in item:
            out["ip_address"] = ip_address(item["ip_address"])
        return out

    entries = list_of(entry)(value)
    requested = [e["ip_address"] for e in entries if "ip_address" in e]
    for address in requested:
        if requested.count(address) > 1:
            raise Invalid(f"Duplicate IP address '{address}'")
    return entries


MAX_ADDRESS_PAIRS = 10  # neutron.conf max_allowed_address_pair


def address_pairs(value):
    """Neutron's allowed-address-pairs validator, with its own error types for a missing ip_address, a
    repeated pair and too many pairs."""
    if isinstance(value, list) and len(value) > MAX_ADDRESS_PAIRS:
        raise errors.AllowedAddressPairExhausted(quota=MAX_ADDRESS_PAIRS)

    def pair(item):
        if isinstance(item, dict) and "ip_address" not in item:
            raise errors.AllowedAddressPairsMissingIP()
        item = _dict_with(item, ("ip_address",), ("mac_address",))
        out = {"ip_address": address_or_cidr(item["ip_address"])}
        if item.get("mac_address") is not None:
            out["mac_address"] = mac_address(item["mac_address"])
        return out

    pairs = list_of(pair)(value)
    seen = set()
    for p in pairs:
        key = (p["ip_address"], p.get("mac_address"))
        if key in seen:
            raise errors.DuplicateAddressPairInRequest(mac_address=p.get("mac_address"), ip_address=p["ip_address"])
        seen.add(key)
    return pairs


def dict_or_empty(value):
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise Invalid(f"'{value}' is not a dictionary")
    return value


def port_value(value):
    """convert_validate_port_value: None or 0..65535 (also an ICMP type/code)."""
    if value is None:
        return None
    return integer(0, 65535)(value)


def protocol(value):
    """convert_protocol: a name (lower-cased) or a number 0..255 kept as a string, or None."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise Invalid(f"'{value}' is not a valid protocol")
    if isinstance(value, int):
        value = str(value)
    if not isinstance(value, str):
        raise Invalid(f"'{value}' is not a valid protocol")
    value = value.lower()
    if value.isdigit():
        if not value.isascii():  # '²' and '١' are digits to Python, not protocol numbers
            raise Invalid(f"'{value}' is not a valid protocol")
        if not 0 <= int(value) <= 255:
            raise Invalid(f"Protocol {value} is not in range [0, 255]")
        return str(int(value))
    return value


def ethertype(value):
    if isinstance(value, str) and value.lower() in ("ipv4", "ipv6"):
        return "IPv4" if value.lower() == "ipv4" else "IPv6"
    raise Invalid(f"'{value}' is not in ['IPv4', 'IPv6']")


def tags(value):
    """type:list_of_unique_strings, as Neutron's tagging extension checks a whole tag list."""
    checked = list_of(tag)(value)
    if len(set(checked)) != len(checked):
        raise Invalid(f"Duplicate items in the list: '{', '.join(checked)}'")
    return checked


def tag(value):
    if not isinstance(value, str) or not value or len(value) > 255 or "," in value or "\x00" in value:
        raise Invalid(f"'{value}' is not a valid tag")
    return value
