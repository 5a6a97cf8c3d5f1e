"""Fernet tokens: what a token carries and how it is sealed (AES-CBC + HMAC-SHA256, cryptography.fernet).

A token carries only who (user id), where (project id, or none when unscoped), how (methods), which
login (audit ids) and until when. Names and roles are looked up when a token is validated, so deleting
a user, disabling a project or revoking a role ends its tokens. The key lives in the store, so every API
server sharing the database accepts every other's tokens.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from cryptography.fernet import Fernet, InvalidToken

from neutrino.services.identity.errors import Unauthorized

PAYLOAD_VERSION = 1


@dataclass(frozen=True)
class TokenPayload:
    user_id: str
    project_id: str | None
    methods: tuple[str, ...]
    # The first id names this token; a re-scoped token also carries the id of the one it came from.
    audit_ids: tuple[str, ...]
    issued_at: int  # seconds since the epoch, as Fernet records it
    expires_at: int

    def is_expired(self, now: float) -> bool:
        return now >= self.expires_at


class TokenCodec:
    def __init__(self, key: str):
        self._fernet = Fernet(key.encode())

    @staticmethod
    def new_key() -> str:
        return Fernet.generate_key().decode()

    def seal(self, payload: TokenPayload) -> str:
        data = [PAYLOAD_VERSION, payload.user_id, payload.project_id, list(payload.methods),
                list(payload.audit_ids), payload.expires_at]
        plain = json.dumps(data, separators=(",", ":")).encode()
        token = self._fernet.encrypt_at_time(plain, payload.issued_at)
        # Keystone strips the base64 padding so a token can travel in a URL unescaped.
        return token.decode().rstrip("=")

    def open(self, token: str) -> TokenPayload:
        """The payload of a genuine token (expired or not); Unauthorized for anything forged or mangled."""
        padded = token + "=" * (-len(token) % 4)
        try:
            raw = self._fernet.decrypt(padded)
            issued_at = self._fernet.extract_timestamp(padded)
            version, user_id, project_id, methods, audit_ids, expires_at = json.loads(raw)
        except (InvalidToken, ValueError, TypeError):
            raise Unauthorized("The token is invalid.") from None
        if version != PAYLOAD_VERSION:
            raise Unauthorized("The token is invalid.")
        return TokenPayload(user_id, project_id, tuple(methods), tuple(audit_ids), issued_at, expires_at)
