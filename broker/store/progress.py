"""A sweep's best so far, kept as results arrive: read in O(improvements), shared by every web process.

The script that stores a final result (broker/store/results.py) counts it, adds its trainer-seconds and, when it
beats the best, records the improvement. A sweep stored before this was kept has no progress hash: the first
read builds it once from the results in arrival order, in a transaction that is retried if a result arrives
meanwhile, so no result is counted twice or missed.
"""

from __future__ import annotations

from typing import cast

import redis

from broker import keys
from broker.store.archive_file import SweepArchive
from broker.store.results import ResultStore
from trials.records import BestPoint, BestProgress, BestResult
from trials.specs import TrialResult, TrialStatus


class ProgressStore:
    """An archived sweep's best so far is read from its archive (broker/store/archive.py)."""

    def __init__(self, client: redis.Redis, results: ResultStore, archive: SweepArchive) -> None:
        self._r = client
        self._results = results
        self._archive = archive

    def best_progress(self, sweep_id: str, metric: str, maximize: bool) -> BestProgress:
        if (archived := self._archive.find(sweep_id)) is not None:
            stored, raw_points = archived.progress()
            if not stored:  # archived from a Redis that never kept it: replayed as the first read would have
                fields, raw_points = replay(archived.in_arrival_order(), metric, maximize)
                stored = {str(k): v for k, v in fields.items()}
        else:
            self._build_once(sweep_id, metric, maximize)
            pipe = self._r.pipeline(transaction=True)
            pipe.hgetall(keys.progress(sweep_id))
            pipe.lrange(keys.progress_points(sweep_id), 0, -1)
            stored, raw_points = cast(tuple[dict[str, str], list[str]], pipe.execute())
        points = []
        for raw in raw_points:
            n, seconds, trial_id, value = raw.split("|")
            points.append(
                BestPoint(
                    n=int(n), trainer_s=float(seconds), value=float(value), trial_id=int(trial_id), sweep_id=sweep_id
                )
            )
        best = None
        if "best_trial" in stored:
            result = self._results.get(sweep_id, int(stored["best_trial"]))
            assert result is not None  # the progress names only stored results
            best = BestResult(
                metric=metric,
                value=float(stored["best_value"]),
                trial_id=result.trial_id,
                config=result.config,
                sweep_id=sweep_id,
                dataset=result.dataset,
            )
        return BestProgress(
            best=best, points=points, n=int(stored.get("n", 0)), trainer_s=float(stored.get("trainer_s", 0.0))
        )

    def _build_once(self, sweep_id: str, metric: str, maximize: bool) -> None:
        progress, arrival = keys.progress(sweep_id), keys.arrival(sweep_id)
        while True:
            with self._r.pipeline(transaction=True) as pipe:
                try:
                    pipe.watch(progress, arrival)
                    if pipe.exists(progress) or not pipe.exists(arrival):
                        return
                    fields, points = replay(self._results.in_arrival_order(sweep_id), metric, maximize)
                    pipe.multi()
                    pipe.hset(progress, mapping=fields)
                    if points:
                        pipe.rpush(keys.progress_points(sweep_id), *points)
                    pipe.execute()
                    return
                except redis.WatchError:
                    continue


def replay(results: list[TrialResult], metric: str, maximize: bool) -> tuple[dict[str | bytes, str], list[str]]:
    """The progress hash and improvement points as the store script would have written them, result by result."""
    sign = 1.0 if maximize else -1.0
    n, seconds, best, best_trial = 0, 0.0, None, -1
    points = []
    for result in results:
        n, seconds = n + 1, seconds + result.wall_time_s
        value = result.metric(metric) if result.status is TrialStatus.COMPLETED else None
        if value is not None and value == value and (best is None or sign * value > sign * best):
            best, best_trial = value, result.trial_id
            points.append(f"{n}|{seconds!r}|{result.trial_id}|{value!r}")
    fields: dict[str | bytes, str] = {"n": str(n), "trainer_s": repr(seconds)}
    if best is not None:
        fields.update(best_value=repr(best), best_trial=str(best_trial))
    return fields, points
