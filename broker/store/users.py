"""Members in Redis: name -> admin flag, token hash, password and credential generation; token hash -> name.

Also the session-signing key that every web process shares, and the browser logins: each is a key with
a TTL naming its member and the member's generation at login. Logout deletes it; `reset` and `revoke`
give the member a new generation (or none), so every earlier login of theirs ends at its next request.
"""

from __future__ import annotations

import secrets
from typing import cast

import redis

from broker import keys
from broker.members import NAME, User, UserError, check_name, hash_password, is_legacy, token_hash, verify_password


class UserStore:
    def __init__(self, client: redis.Redis) -> None:
        self._r = client

    def add(self, name: str, admin: bool = False, password: str | None = None) -> str:
        """Create or replace a member; returns a fresh API token (the old one stops working)."""
        check_name(name)
        # A prefix, so no token starts with "-": `sweeprank status --token -Xy...` read it as an option (1 in 64).
        token = f"sr_{secrets.token_urlsafe(32)}"
        hashed = token_hash(token)
        old = cast(str | None, self._r.hget(keys.user(name), "token"))
        pipe = self._r.pipeline(transaction=True)
        if old:
            pipe.hdel(keys.TOKENS, old)
        pipe.hset(keys.user(name), mapping={"admin": int(admin), "token": hashed, "generation": secrets.token_hex(8)})
        pipe.hset(keys.TOKENS, hashed, name)
        pipe.sadd(keys.USERS, name)
        pipe.execute()
        if password is not None:
            self.set_password(name, password)
        return token

    def reset(self, name: str, password: str | None = None) -> str:
        """New credentials for a member: a new token, the password replaced (or removed), every login ended."""
        member = self.get(name)
        if member is None:
            raise UserError(f"no member named {name!r}")
        token = self.add(name, admin=member.admin)
        if password is None:
            self._r.hdel(keys.user(name), "password", "salt")
        else:
            self.set_password(name, password)
        return token

    def revoke(self, name: str) -> bool:
        """Remove a member: their token, password and every login stop working at once; False if none existed."""
        old = cast(str | None, self._r.hget(keys.user(name), "token"))
        pipe = self._r.pipeline(transaction=True)
        if old:
            pipe.hdel(keys.TOKENS, old)
        pipe.delete(keys.user(name))
        pipe.srem(keys.USERS, name)
        return bool(pipe.execute()[-1])

    def listing(self) -> list[tuple[User, bool]]:
        """Every member with whether they have a password, by name."""
        out = []
        for name in self.names():
            raw = cast(dict[str, str], self._r.hgetall(keys.user(name)))
            if raw:
                out.append((User(name, raw.get("admin") == "1"), "password" in raw))
        return out

    def open_session(self, name: str, ttl_s: int) -> str:
        """A browser login of `name`, bound to their current generation; returns its id."""
        session_id = secrets.token_urlsafe(32)
        generation = self._r.hget(keys.user(name), "generation") or ""
        self._r.set(keys.web_session(session_id), f"{name} {generation}", ex=ttl_s)
        return session_id

    def session_user(self, session_id: str) -> User | None:
        """The member of a login still open, whose credentials have not been reset or revoked since."""
        raw = cast(str | None, self._r.get(keys.web_session(session_id)))
        if raw is None:
            return None
        name, _, generation = raw.partition(" ")
        stored = cast(dict[str, str], self._r.hgetall(keys.user(name)))
        if not stored or stored.get("generation", "") != generation:
            return None
        return User(name, stored.get("admin") == "1")

    def end_session(self, session_id: str) -> None:
        self._r.delete(keys.web_session(session_id))

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
