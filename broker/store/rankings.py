"""Rankings: the latest full ranking record of a sweep and the compact history of every one stored."""

from __future__ import annotations

from typing import cast

import redis

from broker import keys
from trials.records import RankingHistoryEntry, RankingRecord


class RankingStore:
    def __init__(self, client: redis.Redis) -> None:
        self._r = client

    def save(self, sweep_id: str, record: RankingRecord, compact: RankingHistoryEntry) -> None:
        """Replace the latest record and append its compact entry to the history, in one transaction."""
        pipe = self._r.pipeline(transaction=True)
        pipe.set(keys.ranking(sweep_id), record.model_dump_json())
        pipe.rpush(keys.ranking_history(sweep_id), compact.model_dump_json())
        pipe.execute()

    def latest(self, sweep_id: str) -> RankingRecord | None:
        raw = self._r.get(keys.ranking(sweep_id))
        return None if raw is None else RankingRecord.model_validate_json(cast(str, raw))

    def history(self, sweep_id: str) -> list[RankingHistoryEntry]:
        """Compact records, oldest first (the trajectory)."""
        raw = cast(list[str], self._r.lrange(keys.ranking_history(sweep_id), 0, -1))
        return [RankingHistoryEntry.model_validate_json(x) for x in raw]
