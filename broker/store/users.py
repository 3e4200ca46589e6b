"""Members in Redis: name -> admin flag, token hash and password fields; token hash -> name.

Also the session-signing key that every web process shares.
"""

from __future__ import annotations

import secrets
from typing import cast

import redis

from broker import keys
from broker.users import NAME, User, check_name, hash_password, is_legacy, token_hash, verify_password


class UserStore:
    def __init__(self, client: redis.Redis) -> None:
        self._r = client

    def add(self, name: str, admin: bool = False, password: str | None = None) -> str:
        """Create or replace a member; returns a fresh API token (the old one stops working)."""
        check_name(name)
        token = secrets.token_urlsafe(32)
        hashed = token_hash(token)
        old = cast(str | None, self._r.hget(keys.user(name), "token"))
        pipe = self._r.pipeline(transaction=True)
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
        pipe = self._r.pipeline(transaction=True)
        pipe.hset(keys.user(name), "password", hash_password(password))
        pipe.hdel(keys.user(name), "salt")  # left by a legacy hash
        pipe.execute()

    def get(self, name: str) -> User | None:
        raw = cast(dict[str, str], self._r.hgetall(keys.user(name)))
        return User(name, raw.get("admin") == "1") if raw else None

    def by_token(self, token: str) -> User | None:
        name = cast(str | None, self._r.hget(keys.TOKENS, token_hash(token)))
        return self.get(name) if name else None

    def by_password(self, name: str, password: str) -> User | None:
        raw = cast(dict[str, str], self._r.hgetall(keys.user(name))) if NAME.match(name) else {}
        if not verify_password(password, raw):
            return None
        if is_legacy(raw):
            self._upgrade_password(name, raw["password"], password)
        return User(name, raw.get("admin") == "1")

    def _upgrade_password(self, name: str, legacy: str, password: str) -> None:
        """Store the current format in place of the legacy hash just checked, unless the password changed since."""
        with self._r.pipeline(transaction=True) as pipe:
            try:
                pipe.watch(keys.user(name))
                if pipe.hget(keys.user(name), "password") != legacy:
                    return
                pipe.multi()
                pipe.hset(keys.user(name), "password", hash_password(password))
                pipe.hdel(keys.user(name), "salt")
                pipe.execute()
            except redis.WatchError:
                pass  # changed meanwhile: the new value stands

    def names(self) -> list[str]:
        return sorted(cast(set[str], self._r.smembers(keys.USERS)))

    def web_secret(self) -> str:
        """The session key all web processes share: the first one to start creates it."""
        self._r.set(keys.WEB_SECRET, secrets.token_hex(32), nx=True)
        return cast(str, self._r.get(keys.WEB_SECRET))
