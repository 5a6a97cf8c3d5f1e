"""Security groups and their rules, with Neutron's default group per project and its default rules.

The ``default`` group of a project is created on its first use (listing groups, creating a port or
a group); its rules allow all egress and ingress from members of the same group. Every new group
gets the two egress rules. Rule checks and duplicate detection follow Neutron's semantics.
"""

from __future__ import annotations

import ipaddress

from sqlalchemy import bindparam, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from neutrino.services.common import (
    new_id,
    new_standard_row,
    now,
    owner_of,
    standard_view,
    tags_for,
    timestamp,
    touch_row,
)
from neutrino.services.context import Context
from neutrino.services.errors import (
    DuplicateSecurityGroupRuleInPost,
    SecurityGroupCannotRemoveDefault,
    SecurityGroupCannotUpdateDefault,
    SecurityGroupEthertypeConflictWithProtocol,
    SecurityGroupInUse,
    SecurityGroupInvalidIcmpValue,
    SecurityGroupInvalidPortRange,
    SecurityGroupInvalidPortValue,
    SecurityGroupInvalidProtocolForPort,
    SecurityGroupMissingIcmpType,
    SecurityGroupMultipleRemoteEntites,
    SecurityGroupNotFound,
    SecurityGroupProtocolRequiredWithPorts,
    SecurityGroupRuleExists,
    SecurityGroupRuleInvalidProtocol,
    SecurityGroupRuleNotFound,
    SecurityGroupRuleParameterConflict,
)
from neutrino.services.quotas import QuotaBook
from neutrino.store import tables as t
from neutrino.store.revisions import Transaction

PROTOCOL_NUMBERS = {
    "hopopt": 0, "icmp": 1, "igmp": 2, "ipip": 4, "tcp": 6, "egp": 8, "udp": 17, "ipv6-encap": 41,
    "ipv6-route": 43, "ipv6-frag": 44, "rsvp": 46, "gre": 47, "esp": 50, "ah": 51, "ipv6-icmp": 58,
    "icmpv6": 58, "ipv6-nonxt": 59, "ipv6-opts": 60, "ospf": 89, "pgm": 113, "vrrp": 112, "sctp": 132,
    "dccp": 33, "udplite": 136,
}
PORT_PROTOCOLS = {"tcp", "udp", "sctp", "dccp", "udplite", "6", "17", "132", "33", "136"}
ICMP_PROTOCOLS = {"icmp", "icmpv6", "ipv6-icmp", "1", "58"}
# Protocols that only exist over IPv6: a rule naming one must have ethertype IPv6.
IPV6_ONLY_PROTOCOLS = {"ipv6-encap", "ipv6-frag", "ipv6-icmp", "icmpv6", "ipv6-nonxt", "ipv6-opts",
                       "ipv6-route", "41", "44", "58", "59", "60", "43"}
RULE_FIELDS = ("direction", "ethertype", "protocol", "port_range_min", "port_range_max",
               "remote_ip_prefix", "remote_group_id")

# Asked before every port create: built once, run with a bound value.
_DEFAULT_GROUP = select(t.DefaultSecurityGroup.__table__.c.security_group_id).where(
    t.DefaultSecurityGroup.__table__.c.project_id == bindparam("project_id"))


def default_rules(group_id: str, for_default_group: bool) -> list[dict]:
    rules = [{"direction": "egress", "ethertype": ethertype} for ethertype in ("IPv4", "IPv6")]
    if for_default_group:
        rules += [{"direction": "ingress", "ethertype": ethertype, "remote_group_id": group_id}
                  for ethertype in ("IPv4", "IPv6")]
    return rules


def _canonical_protocol(protocol: str | None) -> str | None:
    """For duplicate checks: 'tcp' and '6' are the same rule; 'any'/None are no protocol."""
    if protocol in (None, "any"):
        return None
    if protocol.isdigit():
        return protocol
    return str(PROTOCOL_NUMBERS[protocol])


def _is_any_prefix(prefix: str | None) -> bool:
    return prefix is None or ipaddress.ip_network(prefix, strict=False).prefixlen == 0


def rule_key(rule: dict) -> tuple:
    """What makes two rules of one group the same rule, as Neutron's ``_rule_to_key`` compares them:
    'tcp' is '6', 'any' is no protocol, and 0.0.0.0/0 or ::/0 is no prefix. A prefix is otherwise
    compared as given, host bits included (10.0.0.5/24 is not 10.0.0.0/24, as in Neutron)."""
    prefix = rule.get("remote_ip_prefix")
    return (rule["direction"], rule.get("ethertype") or "IPv4", rule.get("port_range_min"),
            rule.get("port_range_max"), _canonical_protocol(rule.get("protocol")), rule.get("remote_group_id"),
            None if _is_any_prefix(prefix) else prefix)


def _ipv6_icmp(rule: dict) -> None:
    """Neutron stores legacy IPv6 ICMP names ('icmp', 'icmpv6', '1') of an IPv6 rule as ipv6-icmp/58."""
    if rule["ethertype"] == "IPv6":
        if rule["protocol"] in ("icmp", "icmpv6"):
            rule["protocol"] = "ipv6-icmp"
        elif rule["protocol"] == "1":
            rule["protocol"] = "58"


class SecurityGroupService:
    kind = "security_group"

    def __init__(self, quotas: QuotaBook):
        self.quotas = quotas
        self.rules = SecurityGroupRuleService(self, quotas)

    def not_found(self, resource_id: str) -> Exception:
        return SecurityGroupNotFound(id=resource_id)

    def views(self, session: Session, context: Context, ids: list[str] | None = None) -> list[dict]:
        query = select(t.SecurityGroup.__table__)
        if not context.is_admin:
            query = query.where(t.SecurityGroup.project_id == context.project_id)
        if ids is not None:
            query = query.where(t.SecurityGroup.id.in_(ids))
        rows = session.execute(query).all()
        group_ids = [r.id for r in rows]
        rules: dict[str, list[dict]] = {}
        for rule in self.rules.views(session, context, None, group_ids=group_ids if ids is not None else None):
            rules.setdefault(rule["security_group_id"], []).append(rule)
        defaults = set(session.execute(select(t.DefaultSecurityGroup.security_group_id)).scalars())
        tags = tags_for(session, self.kind, ids)
        out = []
        for row in rows:
            view = standard_view(row, tags)
            view.update({"security_group_rules": rules.get(row.id, []), "stateful": row.stateful,
                         "shared": False, "is_default": row.id in defaults})
            out.append(view)
        return out

    def ensure_default(self, tx: Transaction, project_id: str) -> str:
        """The id of the project's default group, created (with its rules) on first use."""
        session = tx.session
        existing = session.execute(_DEFAULT_GROUP, {"project_id": project_id}).scalar()
        if existing is not None:
            return existing
        moment = now()
        group = t.SecurityGroup(id=new_id(), project_id=project_id, name="default",
                                description="Default security group", created_at=moment,
                                updated_at=moment, revision_number=0, stateful=True)
        session.add(group)
        session.flush()
        session.add(t.DefaultSecurityGroup(project_id=project_id, security_group_id=group.id))
        session.flush()  # written now: the next port of a bulk create asks the store for it
        for rule in default_rules(group.id, for_default_group=True):
            self.rules.insert(tx, group, rule)
        tx.touch(self.kind, group.id)
        return group.id

    def has_default(self, session: Session, project_id: str) -> bool:
        return session.get(t.DefaultSecurityGroup, project_id) is not None

    def get_row(self, session: Session, context: Context, group_id: str) -> t.SecurityGroup:
        row = session.get(t.SecurityGroup, group_id)
        if row is None or (not context.is_admin and row.project_id != context.project_id):
            raise SecurityGroupNotFound(id=group_id)
        return row

    def create(self, tx: Transaction, context: Context, attrs: dict) -> str:
        session = tx.session
        row = new_standard_row(t.SecurityGroup, context, attrs, stateful=attrs.get("stateful", True))
        self.ensure_default(tx, row.project_id)
        self.quotas.check(session, row.project_id, "security_group")
        session.add(row)
        session.flush()
        for rule in default_rules(row.id, for_default_group=False):
            self.rules.insert(tx, row, rule)
        tx.touch(self.kind, row.id)
        return row.id

    def update(self, tx: Transaction, context: Context, group_id: str, attrs: dict) -> None:
        row = self.get_row(tx.session, context, group_id)
        if "name" in attrs and self._is_default(tx.session, row.id):
            raise SecurityGroupCannotUpdateDefault()
        for name, value in attrs.items():
            setattr(row, name, value)
        touch_row(row)
        tx.touch(self.kind, row.id)

    @staticmethod
    def _is_default(session: Session, group_id: str) -> bool:
        return session.execute(select(t.DefaultSecurityGroup).where(
            t.DefaultSecurityGroup.security_group_id == group_id)).first() is not None

    def delete(self, tx: Transaction, context: Context, group_id: str) -> None:
        session = tx.session
        row = self.get_row(session, context, group_id)
        if self._is_default(session, row.id) and not context.is_admin:
            raise SecurityGroupCannotRemoveDefault()
        if session.execute(select(t.PortSecurityGroup.port_id).where(
                t.PortSecurityGroup.security_group_id == row.id)).first():
            raise SecurityGroupInUse(id=row.id)
        # Rules of other groups naming this one as their remote group go with it (Neutron: ON DELETE CASCADE).
        for rule_id, owner in session.execute(select(t.SecurityGroupRule.id, t.SecurityGroupRule.security_group_id)
                                              .where(t.SecurityGroupRule.remote_group_id == row.id)).all():
            session.execute(delete(t.SecurityGroupRule).where(t.SecurityGroupRule.id == rule_id))
            tx.touch_deleted("security_group_rule", rule_id)
            if owner != row.id:
                tx.touch(self.kind, owner)
        for rule_id in session.execute(select(t.SecurityGroupRule.id).where(
                t.SecurityGroupRule.security_group_id == row.id)).scalars().all():
            tx.touch_deleted("security_group_rule", rule_id)
        session.execute(delete(t.SecurityGroupRule).where(t.SecurityGroupRule.security_group_id == row.id))
        session.execute(delete(t.DefaultSecurityGroup).where(t.DefaultSecurityGroup.security_group_id == row.id))
        session.execute(delete(t.Tag).where(t.Tag.resource_id == row.id))
        session.delete(row)
        tx.touch_deleted(self.kind, row.id)


class SecurityGroupRuleService:
    kind = "security_group_rule"

    def __init__(self, groups: SecurityGroupService, quotas: QuotaBook):
        self.groups = groups
        self.quotas = quotas

    def not_found(self, resource_id: str) -> Exception:
        return SecurityGroupRuleNotFound(id=resource_id)

    def views(self, session: Session, context: Context, ids: list[str] | None = None,
              group_ids: list[str] | None = None) -> list[dict]:
        query = select(t.SecurityGroupRule.__table__)
        if not context.is_admin:
            query = query.where(t.SecurityGroupRule.project_id == context.project_id)
        if ids is not None:
            query = query.where(t.SecurityGroupRule.id.in_(ids))
        if group_ids is not None:
            query = query.where(t.SecurityGroupRule.security_group_id.in_(group_ids))
        defaults = set(session.execute(select(t.DefaultSecurityGroup.security_group_id)).scalars())
        return [self._view(row, row.security_group_id in defaults) for row in session.execute(query)]

    @staticmethod
    def _view(row: t.SecurityGroupRule, in_default: bool) -> dict:
        """Neutron's rule: standard attributes but no name and no tags (rules are not taggable)."""
        prefix = row.remote_ip_prefix
        return {
            "id": row.id, "tenant_id": row.project_id, "project_id": row.project_id,
            "security_group_id": row.security_group_id, "direction": row.direction,
            "ethertype": row.ethertype, "protocol": row.protocol,
            "port_range_min": row.port_range_min, "port_range_max": row.port_range_max,
            "remote_ip_prefix": prefix, "remote_group_id": row.remote_group_id,
            "remote_address_group_id": None,
            "normalized_cidr": str(ipaddress.ip_network(prefix, strict=False)) if prefix else None,
            "description": row.description, "belongs_to_default_sg": in_default,
            "created_at": timestamp(row.created_at),
            "updated_at": timestamp(row.updated_at),
            "revision_number": row.revision_number,
        }

    def create(self, tx: Transaction, context: Context, attrs: dict) -> str:
        return self.create_many(tx, context, [attrs])[0]

    def create_many(self, tx: Transaction, context: Context, items: list[dict]) -> list[str]:
        """Every rule is checked, then checked against the others and the groups' rules, before any is made."""
        prepared = [self._prepared(tx.session, context, attrs) for attrs in items]
        seen: set[tuple] = set()
        for attrs, (group, rule) in zip(items, prepared, strict=True):
            key = (group.id, rule_key(rule))
            if key in seen:
                raise DuplicateSecurityGroupRuleInPost(rule=attrs)
            seen.add(key)
        for group, rule in prepared:
            self._check_duplicate(tx.session, group.id, rule)
        ids = []
        for attrs, (group, rule) in zip(items, prepared, strict=True):
            self.quotas.check(tx.session, group.project_id, "security_group_rule")
            ids.append(self.insert(tx, group, rule, description=attrs.get("description", ""), new_group=False).id)
        return ids

    def _prepared(self, session: Session, context: Context, attrs: dict) -> tuple[t.SecurityGroup, dict]:
        group = self.groups.get_row(session, context, attrs["security_group_id"])
        if not context.is_admin:
            owner_of(context, attrs)
        return group, self.validate(session, context, attrs)

    def validate(self, session: Session, context: Context, attrs: dict) -> dict:
        """The rule to store, checked in Neutron's order (``_validate_security_group_rule``)."""
        rule = {f: attrs.get(f) for f in RULE_FIELDS}
        rule["ethertype"] = rule["ethertype"] or "IPv4"
        protocol = rule["protocol"]
        if protocol is not None and not protocol.isdigit() and protocol not in PROTOCOL_NUMBERS and protocol != "any":
            raise SecurityGroupRuleInvalidProtocol(protocol=protocol, values=sorted(PROTOCOL_NUMBERS) + ["any"])
        if protocol == "any":
            rule["protocol"] = None
        _ipv6_icmp(rule)
        self._check_ports(rule)
        if rule["remote_ip_prefix"]:
            version = ipaddress.ip_network(rule["remote_ip_prefix"], strict=False).version
            if (version == 4) != (rule["ethertype"] == "IPv4"):
                raise SecurityGroupRuleParameterConflict(ethertype=rule["ethertype"], cidr=rule["remote_ip_prefix"])
        if rule["protocol"] in IPV6_ONLY_PROTOCOLS and rule["ethertype"] == "IPv4":
            raise SecurityGroupEthertypeConflictWithProtocol(ethertype=rule["ethertype"], protocol=rule["protocol"])
        if rule["remote_ip_prefix"] and rule["remote_group_id"]:
            raise SecurityGroupMultipleRemoteEntites()
        if rule["remote_group_id"]:
            self.groups.get_row(session, context, rule["remote_group_id"])
        return rule

    @staticmethod
    def _check_ports(rule: dict) -> None:
        """Neutron's ``_validate_port_range``: ports need a protocol that has them; TCP-like ranges need
        both ends, from 1, min <= max; ICMP type and code are 0..255 and a code needs a type."""
        protocol, low, high = rule["protocol"], rule["port_range_min"], rule["port_range_max"]
        if low is None and high is None:
            return
        if protocol is None:
            raise SecurityGroupProtocolRequiredWithPorts()
        if protocol in PORT_PROTOCOLS:
            if low == 0 or high == 0:
                raise SecurityGroupInvalidPortValue(port=0)
            if low is None or high is None or low > high:
                raise SecurityGroupInvalidPortRange()
        elif protocol in ICMP_PROTOCOLS:
            for field, attr, value in (("type", "port_range_min", low), ("code", "port_range_max", high)):
                if value is not None and not 0 <= value <= 255:
                    raise SecurityGroupInvalidIcmpValue(field=field, attr=attr, value=value)
            if low is None and high is not None:
                raise SecurityGroupMissingIcmpType(value=high)
        else:
            raise SecurityGroupInvalidProtocolForPort(protocol=protocol,
                                                      valid_port_protocols="TCP, UDP, SCTP, DCCP, UDPLITE")

    def _check_duplicate(self, session: Session, group_id: str, rule: dict) -> None:
        key = rule_key(rule)
        for existing in session.execute(select(t.SecurityGroupRule.__table__).where(
                t.SecurityGroupRule.security_group_id == group_id)):
            if rule_key(existing._mapping) == key:
                raise SecurityGroupRuleExists(rule_id=existing.id)

    def insert(self, tx: Transaction, group: t.SecurityGroup, rule: dict, description: str = "",
               new_group: bool = True) -> t.SecurityGroupRule:
        moment = now()
        row = t.SecurityGroupRule(
            id=new_id(), project_id=group.project_id, description=description or "", created_at=moment,
            updated_at=moment, revision_number=0, security_group_id=group.id,
            direction=rule["direction"], ethertype=rule.get("ethertype") or "IPv4",
            protocol=rule.get("protocol"), port_range_min=rule.get("port_range_min"),
            port_range_max=rule.get("port_range_max"), remote_ip_prefix=rule.get("remote_ip_prefix"),
            remote_group_id=rule.get("remote_group_id"),
        )
        tx.session.add(row)
        if not new_group:
            touch_row(group)
        tx.touch(self.kind, row.id)
        tx.touch("security_group", group.id)
        return row

    def update(self, tx: Transaction, context: Context, rule_id: str, attrs: dict) -> None:
        row = self._get_row(tx.session, context, rule_id)
        for name, value in attrs.items():
            setattr(row, name, value)
        touch_row(row)
        tx.touch(self.kind, row.id)

    def _get_row(self, session: Session, context: Context, rule_id: str) -> t.SecurityGroupRule:
        row = session.get(t.SecurityGroupRule, rule_id)
        if row is None or (not context.is_admin and row.project_id != context.project_id):
            raise SecurityGroupRuleNotFound(id=rule_id)
        return row

    def delete(self, tx: Transaction, context: Context, rule_id: str) -> None:
        row = self._get_row(tx.session, context, rule_id)
        group = tx.session.get(t.SecurityGroup, row.security_group_id)
        tx.session.delete(row)
        if group is not None:
            touch_row(group)
            tx.touch("security_group", group.id)
        tx.touch_deleted(self.kind, rule_id)


__all__ = ["SecurityGroupService", "SecurityGroupRuleService", "IntegrityError"]
