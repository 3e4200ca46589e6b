"""Lab members: who may submit sweeps and act on them.

Tokens are 256-bit random strings, so a plain SHA-256 of the token is a safe
lookup key (nothing to brute-force); the token itself is never stored.
Passwords are low-entropy, so they get scrypt with a per-user salt.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from typing import cast

import redis

from broker import keys
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


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _scrypt(password: str, salt: bytes) -> bytes:
    return hashlib.scrypt(password.encode(), salt=salt, maxmem=64 * 2**20, **_SCRYPT)


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
        salt = secrets.token_bytes(16)
        self.r.hset(keys.user(name), mapping={"salt": salt.hex(), "password": _scrypt(password, salt).hex()})

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
        expected = bytes.fromhex(raw["password"])
        ok = hmac.compare_digest(_scrypt(password, bytes.fromhex(raw["salt"])), expected)
        return User(name, raw.get("admin") == "1") if ok else None

    def names(self) -> list[str]:
        return sorted(cast(set[str], self.r.smembers(keys.USERS)))

    def web_secret(self) -> str:
        """The session key all web processes share: the first one to start creates it."""
        self.r.set(keys.WEB_SECRET, secrets.token_hex(32), nx=True)
        return cast(str, self.r.get(keys.WEB_SECRET))
