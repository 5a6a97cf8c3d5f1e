"""Password hashes (bcrypt) and a short memory of recent successful checks.

bcrypt is deliberately slow (tens of milliseconds), and every ``openstack`` command logs in afresh;
remembering that a user's current hash accepted this exact password a moment ago keeps repeated
logins fast without weakening the check: a changed hash or a different password misses.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import time

import bcrypt

# Keystone uses 12; each step doubles the cost, and the memory below absorbs repeats. The test suite
# lowers it (bcrypt's minimum is 4) because it bootstraps identities hundreds of times.
ROUNDS = int(os.environ.get("NEUTRINO_BCRYPT_ROUNDS", "10"))
# bcrypt reads only the first 72 bytes; bcrypt 5 refuses longer input instead of truncating.
MAX_BYTES = 72
REMEMBER_SECONDS = 300.0


def hash_password(password: str) -> str:
    return bcrypt.hashpw(_encoded(password), bcrypt.gensalt(ROUNDS)).decode()


def _encoded(password: str) -> bytes:
    return password.encode()[:MAX_BYTES]


class PasswordChecks:
    def __init__(self):
        self._key = secrets.token_bytes(32)  # per process: the remembered digests mean nothing elsewhere
        self._recent: dict[str, tuple[str, bytes, float]] = {}

    def is_correct(self, user_id: str, password_hash: str, password: str) -> bool:
        if not password_hash or not password:
            return False
        digest = hmac.new(self._key, _encoded(password), hashlib.sha256).digest()
        remembered = self._recent.get(user_id)
        if remembered and remembered[0] == password_hash and hmac.compare_digest(remembered[1], digest) \
                and remembered[2] > time.monotonic():
            return True
        try:
            correct = bcrypt.checkpw(_encoded(password), password_hash.encode())
        except ValueError:  # not a bcrypt hash
            return False
        if correct:
            self._recent[user_id] = (password_hash, digest, time.monotonic() + REMEMBER_SECONDS)
        return correct
