"""/v2.0/quotas: Neutron's quotasv2 and quota_details, over the services' QuotaBook."""

from __future__ import annotations

from neutrino.api import validators as v
from neutrino.api.controller import parse_json
from neutrino.services import errors as e
from neutrino.services.context import Context
from neutrino.services.core import Services


class QuotaController:
    def __init__(self, services: Services):
        self.services = services
        self.book = services.quotas
        self.store = services.store

    def _may_read(self, context: Context, project_id: str) -> None:
        if not context.is_admin and context.project_id != project_id:
            raise e.PolicyNotAuthorized(action="rule:get_quota")

    @staticmethod
    def _may_change(context: Context, action: str) -> None:
        """Neutron's update_quota and delete_quota policies: admins only."""
        if not context.is_admin:
            raise e.PolicyNotAuthorized(action=f"rule:{action}")

    def list(self, context: Context) -> dict:
        """Every project with limits of its own; Neutron's get_quota policy makes it admin-only."""
        if not context.is_admin:
            raise e.PolicyNotAuthorized(action="rule:get_quota")
        with self.store.read() as session:
            projects = self.book.projects_with_overrides(session)
            return {"quotas": [dict(self.book.limits(session, p), project_id=p, tenant_id=p) for p in projects]}

    def show(self, context: Context, project_id: str) -> dict:
        self._may_read(context, project_id)
        with self.store.read() as session:
            return {"quota": self.book.limits(session, project_id)}

    def defaults(self, context: Context, project_id: str) -> dict:
        self._may_read(context, project_id)
        return {"quota": self.book.defaults.as_dict()}

    def details(self, context: Context, project_id: str) -> dict:
        self._may_read(context, project_id)
        with self.store.read() as session:
            limits = self.book.limits(session, project_id)
            return {"quota": {name: {"limit": limit, "used": self.book.used(session, project_id, name),
                                     "reserved": 0} for name, limit in limits.items()}}

    def update(self, context: Context, project_id: str, raw: bytes) -> dict:
        self._may_change(context, "update_quota")
        data = parse_json(raw)
        if not isinstance(data, dict) or not isinstance(data.get("quota"), dict):
            raise e.HTTPBadRequest("Unable to find 'quota' in request body")
        known = self.book.defaults.as_dict()
        values = {}
        for name, value in data["quota"].items():
            if name == "force" or name == "check_limit":
                continue
            if name not in known:
                raise e.HTTPBadRequest(f"Unrecognized attribute(s) '{name}'")
            try:
                values[name] = v.integer(-1, 2**31 - 1)(value)
            except v.Invalid as exc:
                raise e.HTTPBadRequest(f"Invalid input for {name}. Reason: {exc}.") from None

        def work(tx):
            self.book.set(tx.session, project_id, values)
            tx.session.flush()
            return self.book.limits(tx.session, project_id)

        return {"quota": self.store.write(work)}

    def reset(self, context: Context, project_id: str) -> None:
        self._may_change(context, "delete_quota")
        self.store.write(lambda tx: self.book.reset(tx.session, project_id))
