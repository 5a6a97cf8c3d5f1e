"""The built-in Keystone v3 subset: enough for openstacksdk, the openstack CLI, Ansible and
keystonemiddleware, pointed at neutrino from a clouds.yaml.

    service.py    IdentityService: logins, token validation (cached) and revocation; owns the rest
    tokens.py     the Fernet token: what it carries, sealing and opening
    passwords.py  bcrypt hashes, and a short memory of recent successful checks
    projects.py   projects and the one (default) domain     users.py  users
    roles.py      roles, implied roles (admin -> member -> reader), grants, role assignments
    bootstrap.py  first start: key, roles, admin/demo/service accounts, passwords, clouds.yaml
    errors.py     Keystone's error family (400, 401, 403, 404, 409)
    common.py     the shared small pieces: domain, ids, policy checks, body fields

Like the other services it may import neutrino.store, neutrino.model and neutrino.config only.
"""

from neutrino.services.identity.errors import (
    Conflict,
    Forbidden,
    IdentityError,
    NotFound,
    Unauthorized,
    ValidationError,
)
from neutrino.services.identity.service import IdentityService, Token

__all__ = ["Conflict", "Forbidden", "IdentityError", "IdentityService", "NotFound", "Token", "Unauthorized",
           "ValidationError"]
