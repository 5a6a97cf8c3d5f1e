"""Who is asking: the identity a request carries into the services."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Context:
    user_id: str
    project_id: str
    roles: tuple[str, ...] = ()
    user_name: str = ""
    project_name: str = ""

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles

    @property
    def is_service(self) -> bool:
        return "service" in self.roles or self.is_admin


ADMIN = Context(user_id="neutrino", project_id="", roles=("admin", "member", "reader"), user_name="neutrino")
