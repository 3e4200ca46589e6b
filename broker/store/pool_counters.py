"""The pool's health as the queue monitor shows it: pool-wide counters and the recent trial failures."""

from __future__ import annotations

from typing import cast

import redis

from broker import keys
from trials.records import FailureRecord

KEEP_FAILURES = 100


class HealthStore:
    def __init__(self, client: redis.Redis) -> None:
        self._r = client

    def count(self, counter: str) -> None:
        """One more of `counter` (duplicates discarded, redeliveries skipped, trials requeued...)."""
        self._r.hincrby(keys.COUNTERS, counter, 1)

    def probe_write(self) -> None:
        """One small write, to learn whether Redis takes writes (raises what Redis answers when it does not)."""
        self._r.set(keys.WRITE_PROBE, "1", ex=60)

    def counters(self) -> dict[str, int]:
        return {k: int(v) for k, v in cast(dict[str, str], self._r.hgetall(keys.COUNTERS)).items()}

    def add_failure(self, failure: FailureRecord) -> None:
        """Remember a failed trial; only the newest KEEP_FAILURES are kept."""
        self._r.lpush(keys.FAILURES, failure.model_dump_json())
        self._r.ltrim(keys.FAILURES, 0, KEEP_FAILURES - 1)

    def recent_failures(self, n: int = 20) -> list[FailureRecord]:
        """The newest `n` failures, newest first."""
        raw = cast(list[str], self._r.lrange(keys.FAILURES, 0, n - 1))
        return [FailureRecord.model_validate_json(x) for x in raw]
