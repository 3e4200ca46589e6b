"""Lab members: who may submit sweeps and act on them.

Tokens are 256-bit random strings, so a plain SHA-256 of the token is a safe
lookup key (nothing to brute-force); the token itself is never stored.
Passwords are low-entropy, so they get werkzeug's password hash (scrypt with a
per-user salt), whose string carries its method, cost and salt: a later werkzeug
can raise the cost of new hashes and still check the old ones. Hashes stored by
earlier versions (bare scrypt hex, salt and cost kept apart) still log in, and are
replaced by the current format at that login.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from typing import cast

import redis
from werkzeug.security import check_password_hash, generate_password_hash

from broker import keys
from trials.errors import SweeprankError

NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")  # the same rule as a sweep's owner
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


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _legacy_password_ok(password: str, stored: dict[str, str]) -> bool:
    """A hash from before werkzeug's format: scrypt hex in "password", its salt apart in "salt"."""
    computed = hashlib.scrypt(
        password.encode(), salt=bytes.fromhex(stored["salt"]), maxmem=64 * 2**20, **_LEGACY_SCRYPT
    )
    return hmac.compare_digest(computed, bytes.fromhex(stored["password"]))


class Users:
    def __init__(self, client: redis.Redis) -> None:
        self.r = client

    def add(self, name: str, admin: bool = False, password: str | None = None) -> str:
        """Create or replace a member; returns a fresh API token (the old one stops working)."""
        if not NAME.match(name):
            raise UserError(f"user name must match {NAME.pattern}, got {name!r}")
        token = secrets.token_urlsafe(32)
        hashed = token_hash(token)
        old = cast(str | None, self.r.hget(keys.user(name), "token"))
        pipe = self.r.pipeline(transaction=True)
        if old:
            pipe.hdel(keys.TOKENS, old)
        pipe.hset(keys.user(name), mapping={"admin": int(admin), "token": hashed})
        pipe.hset(keys.TOKENS, hashed, name)
        pipe.sadd(keys.USERS, name)
        pipe.execute()
        if password is not None:
            self.set_password(name, password)
        return token

    def set_password(self, name: str, password: str) -> None:
        if len(password) < 8:
            raise UserError(f"a password needs at least 8 characters, got {len(password)}")
        pipe = self.r.pipeline(transaction=True)
        pipe.hset(keys.user(name), "password", generate_password_hash(password))
        pipe.hdel(keys.user(name), "salt")  # left by a legacy hash
        pipe.execute()

    def get(self, name: str) -> User | None:
        raw = cast(dict[str, str], self.r.hgetall(keys.user(name)))
        return User(name, raw.get("admin") == "1") if raw else None

    def by_token(self, token: str) -> User | None:
        name = cast(str | None, self.r.hget(keys.TOKENS, token_hash(token)))
        return self.get(name) if name else None

    def by_password(self, name: str, password: str) -> User | None:
        raw = cast(dict[str, str], self.r.hgetall(keys.user(name))) if NAME.match(name) else {}
        if "password" not in raw:
            return None
        if "salt" not in raw:
            ok = check_password_hash(raw["password"], password)
        elif ok := _legacy_password_ok(password, raw):
            self._upgrade_password(name, raw["password"], password)
        return User(name, raw.get("admin") == "1") if ok else None

    def _upgrade_password(self, name: str, legacy: str, password: str) -> None:
        """Store the current format in place of the legacy hash just checked, unless the password changed since."""
        with self.r.pipeline(transaction=True) as pipe:
            try:
                pipe.watch(keys.user(name))
                if pipe.hget(keys.user(name), "password") != legacy:
                    return
                pipe.multi()
                pipe.hset(keys.user(name), "password", generate_password_hash(password))
                pipe.hdel(keys.user(name), "salt")
                pipe.execute()
            except redis.WatchError:
                pass  # changed meanwhile: the new value stands

    def names(self) -> list[str]:
        return sorted(cast(set[str], self.r.smembers(keys.USERS)))

    def web_secret(self) -> str:
        """The session key all web processes share: the first one to start creates it."""
        self.r.set(keys.WEB_SECRET, secrets.token_hex(32), nx=True)
        return cast(str, self.r.get(keys.WEB_SECRET))
