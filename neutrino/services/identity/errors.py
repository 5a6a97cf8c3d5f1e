"""Identity errors, in Keystone's family and wording; api/identity.py renders each as
``{"error": {"code", "title", "message"}}`` with ``code`` as the HTTP status.

    IdentityError
    ├── ValidationError (400)   malformed body or a missing field
    ├── Unauthorized (401)      bad credentials; a bad, expired or revoked token
    ├── Forbidden (403)         the caller lacks the admin role the action needs
    ├── NotFound (404)          a missing project, user, role, domain, assignment or subject token
    └── Conflict (409)          a duplicate name in a domain
"""

from __future__ import annotations


class IdentityError(Exception):
    code = 500
    title = "Internal Server Error"
    message = "An unexpected error prevented the server from fulfilling your request."

    def __init__(self, message: str | None = None):
        super().__init__(message or self.message)


class ValidationError(IdentityError):
    code = 400
    title = "Bad Request"
    message = "The request you have made is malformed."


class Unauthorized(IdentityError):
    code = 401
    title = "Unauthorized"
    message = "The request you have made requires authentication."


class Forbidden(IdentityError):
    code = 403
    title = "Forbidden"
    message = "You are not authorized to perform the requested action."

    @classmethod
    def for_action(cls, action: str) -> Forbidden:
        return cls(f"You are not authorized to perform the requested action: identity:{action}.")


class NotFound(IdentityError):
    code = 404
    title = "Not Found"
    message = "The resource could not be found."

    @classmethod
    def for_kind(cls, kind: str, key: str) -> NotFound:
        return cls(f"Could not find {kind}: {key}.")


class Conflict(IdentityError):
    code = 409
    title = "Conflict"

    @classmethod
    def for_name(cls, kind: str, name: str) -> Conflict:
        return cls(f"Conflict occurred attempting to store {kind} - it is not permitted to have two "
                   f"{kind}s with the same name in the same domain : {name}.")
