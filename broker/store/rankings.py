"""Rankings: the latest full ranking record of a sweep and the compact history of every one stored."""

from __future__ import annotations

import json
from typing import Any, cast

import redis

from broker import keys
from broker.store._json import loads_or_none


class RankingStore:
    def __init__(self, client: redis.Redis) -> None:
        self._r = client

    def save(self, sweep_id: str, record: dict[str, Any], compact: dict[str, Any]) -> None:
        """Replace the latest record and append its compact entry to the history, in one transaction."""
        pipe = self._r.pipeline(transaction=True)
        pipe.set(keys.ranking(sweep_id), json.dumps(record))
        pipe.rpush(keys.ranking_history(sweep_id), json.dumps(compact))
        pipe.execute()

    def latest(self, sweep_id: str) -> dict[str, Any] | None:
        return cast(dict[str, Any] | None, loads_or_none(self._r.get(keys.ranking(sweep_id))))

    def history(self, sweep_id: str) -> list[dict[str, Any]]:
        """Compact records, oldest first (the trajectory)."""
        return [json.loads(x) for x in cast(list[str], self._r.lrange(keys.ranking_history(sweep_id), 0, -1))]
