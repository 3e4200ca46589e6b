"""Lab members: who may submit sweeps and act on them.

Tokens are 256-bit random strings, so a plain SHA-256 of the token is a safe
lookup key (nothing to brute-force); the token itself is never stored.
Passwords are low-entropy, so they get werkzeug's password hash (scrypt with a
per-user salt), whose string carries its method, cost and salt: a later werkzeug
can raise the cost of new hashes and still check the old ones. Hashes stored by
earlier versions (bare scrypt hex, salt and cost kept apart) still log in, and are
replaced by the current format at that login (broker/store/users.py).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass

from werkzeug.security import check_password_hash, generate_password_hash

from trials.errors import SweeprankError
from trials.specs import NAME_PATTERN

NAME = re.compile(NAME_PATTERN)
# The cost of the hashes stored before werkzeug's format: checked at login, then replaced.
_LEGACY_SCRYPT = {"n": 2**14, "r": 8, "p": 1, "dklen": 32}


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


def hash_password(password: str) -> str:
    """The string to store for a member's password."""
    if len(password) < 8:
        raise UserError(f"a password needs at least 8 characters, got {len(password)}")
    return generate_password_hash(password)


def is_legacy(stored: Mapping[str, str]) -> bool:
    """A hash from before werkzeug's format keeps its salt in a field of its own."""
    return "salt" in stored


def verify_password(password: str, stored: Mapping[str, str]) -> bool:
    """Whether `password` matches the member's stored fields (False if they have no password)."""
    if "password" not in stored:
        return False
    if not is_legacy(stored):
        return check_password_hash(stored["password"], password)
    computed = hashlib.scrypt(
        password.encode(), salt=bytes.fromhex(stored["salt"]), maxmem=64 * 2**20, **_LEGACY_SCRYPT
    )
    return hmac.compare_digest(computed, bytes.fromhex(stored["password"]))
