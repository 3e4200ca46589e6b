"""Change markers for live pages: cheap reads across the other concepts, in one round trip each.

The web's event stream polls these several times a second for every open page, so
they read counters and stream heads only, never records.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypedDict

import redis

from broker import keys


class PoolActivity(TypedDict):
    """Compared between two readings, never shown: any difference means the pool changed."""

    queues: list[int]  # messages waiting, per device class asked for
    last_result: str  # id of the newest result event ('' before the first)
    failures: tuple[int, str | None]  # failures kept, and the newest one as stored


class ActivityStore:
    def __init__(self, client: redis.Redis) -> None:
        self._r = client

    def sweeps(self, sweep_ids: list[str]) -> dict[str, tuple[str, int, int, int]]:
        """Per sweep: (status, final results, epoch records, rankings stored)."""
        pipe = self._r.pipeline(transaction=False)
        for sweep_id in sweep_ids:
            pipe.hmget(keys.sweep(sweep_id), ["status", "n_final"])
            pipe.xlen(keys.metrics(sweep_id))
            # Rankings stored: the trajectory's last publication number (a history kept as a list, before the
            # trajectory, until it is moved: its length).
            pipe.hget(keys.ranking_trajectory_meta(sweep_id), "seq")
            pipe.llen(keys.ranking_history(sweep_id))
        raw = pipe.execute()
        return {
            sid: (
                str(raw[4 * i][0]),
                int(raw[4 * i][1] or 0),
                int(raw[4 * i + 1]),
                max(int(raw[4 * i + 2] or 0), int(raw[4 * i + 3])),
            )
            for i, sid in enumerate(sweep_ids)
        }

    def pool(self, device_classes: Sequence[str]) -> PoolActivity:
        """The pool's: newest result event, queue depth per device class, failures (count and newest)."""
        pipe = self._r.pipeline(transaction=False)
        pipe.xrevrange(keys.RESULTS_STREAM, count=1)
        for device_class in device_classes:
            pipe.llen(keys.queue_name(device_class))
        pipe.llen(keys.FAILURES)
        pipe.lindex(keys.FAILURES, 0)
        last, *queues, n_failures, newest_failure = pipe.execute()
        return PoolActivity(
            queues=[int(q) for q in queues],
            last_result=last[0][0] if last else "",
            failures=(int(n_failures), newest_failure),
        )
