"""Heartbeats of the pool's long-running services (the analyst), and what Redis says about itself.

Trainers beat through `workers` (they are slots the dispatcher counts); a service here is one
process per role whose beat is kept after it stops, so that "not seen for N s" can be said.
"""

from __future__ import annotations

from typing import NotRequired, TypedDict, cast

import redis

from broker import keys
from trials.records import ServiceBeat

ANALYST = "analyst"

# One consumer group as XINFO GROUPS describes it (the fields read here; `lag` only from Redis 7 on).
_StreamGroup = TypedDict(
    "_StreamGroup", {"name": str, "pending": int, "last-delivered-id": str, "lag": NotRequired[int | None]}
)
# A section of INFO as redis-py parses it: field -> number or text.
_InfoSection = dict[str, int | float | str]


class RedisServer(TypedDict):
    pid: int
    version: str
    uptime_s: int
    aof: bool  # append-only file on: what is stored survives a restart


class ServiceStore:
    def __init__(self, client: redis.Redis) -> None:
        self._r = client

    def beat(self, role: str, beat: ServiceBeat) -> None:
        self._r.hset(keys.SERVICES, role, beat.model_dump_json())

    def last_beat(self, role: str) -> ServiceBeat | None:
        raw = self._r.hget(keys.SERVICES, role)
        return None if raw is None else ServiceBeat.model_validate_json(cast(str, raw))

    def results_lag(self) -> int:
        """Result events the analysts' group has not acknowledged: delivered and pending, or not yet delivered."""
        groups = cast(list[_StreamGroup], self._r.xinfo_groups(keys.RESULTS_STREAM)) if self._stream() else []
        group = next((g for g in groups if g["name"] == keys.ANALYST_GROUP), None)
        if group is None:
            return int(cast(int, self._r.xlen(keys.RESULTS_STREAM)))
        undelivered = group.get("lag")
        if undelivered is None:
            # Redis cannot say (entries deleted from the middle): count what follows the last delivered id.
            after = f"({group['last-delivered-id']}"
            undelivered = len(cast(list[object], self._r.xrange(keys.RESULTS_STREAM, min=after, max="+")))
        return int(group["pending"]) + int(undelivered)

    def _stream(self) -> bool:
        return bool(self._r.exists(keys.RESULTS_STREAM))

    def redis_server(self) -> RedisServer:
        """INFO server and persistence, raising BrokerUnavailable when Redis cannot be reached."""
        info = cast(_InfoSection, self._r.info("server"))
        persistence = cast(_InfoSection, self._r.info("persistence"))
        return RedisServer(
            pid=int(info["process_id"]),
            version=str(info["redis_version"]),
            uptime_s=int(info["uptime_in_seconds"]),
            aof=bool(int(persistence.get("aof_enabled", 0))),
        )
