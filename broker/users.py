"""Lab members: who may submit sweeps and act on them.

Tokens are 256-bit random strings, so a plain SHA-256 of the token is a safe
lookup key (nothing to brute-force); the token itself is never stored.
Passwords are low-entropy, so they get scrypt with a per-user salt.
Members are kept in Redis by broker/store/users.py.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass

from trials.errors import SweeprankError

NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")  # the same rule as a sweep's owner
# scrypt cost: ~50 ms per check here, ~16 MiB of memory (RFC 7914 interactive-login range).
_SCRYPT = {"n": 2**14, "r": 8, "p": 1, "dklen": 32}


class UserError(SweeprankError):
    pass


@dataclass(frozen=True)
class User:
    name: str
    admin: bool = False

    def may_act_on(self, owner: str) -> bool:
        return self.admin or self.name == owner


def check_name(name: str) -> None:
    if not NAME.match(name):
        raise UserError(f"user name must match {NAME.pattern}, got {name!r}")


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _scrypt(password: str, salt: bytes) -> bytes:
    return hashlib.scrypt(password.encode(), salt=salt, maxmem=64 * 2**20, **_SCRYPT)


def hash_password(password: str) -> dict[str, str]:
    """The fields to store for a member's password."""
    if len(password) < 8:
        raise UserError(f"a password needs at least 8 characters, got {len(password)}")
    salt = secrets.token_bytes(16)
    return {"salt": salt.hex(), "password": _scrypt(password, salt).hex()}


def verify_password(password: str, stored: Mapping[str, str]) -> bool:
    """Whether `password` matches the member's stored fields (False if they have no password)."""
    if "password" not in stored:
        return False
    expected = bytes.fromhex(stored["password"])
    return hmac.compare_digest(_scrypt(password, bytes.fromhex(stored["salt"])), expected)
