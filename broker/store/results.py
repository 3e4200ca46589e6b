"""What trials produce: per-epoch metrics, exactly one final result each, and the result events.

Exactly one final result per trial: results are written inside one Lua script that
checks the trial has none yet, appends the arrival order, bumps the counters, emits the
result event and closes a finished sweep, so no reader sees half of it. How a finished sweep
ends is decided in Python (broker/lifecycle.py `ending`) from the counts read just before; the
script applies that ending only if no other result was stored in between, else the caller decides
again (a check-and-set on the count of final results). The
analyst reads the events through a consumer group and acknowledges them only
after the ranking that includes them is stored (docs/architecture.md, "Guarantees").
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import cast

import redis

from broker import keys
from broker.lifecycle import Change, ending
from broker.store.archive_file import SweepArchive
from broker.store.pool_counters import HealthStore
from broker.store.trial_index import PUT_CELL_LUA, cells_args, metric_values
from trials.records import FailureRecord
from trials.specs import EpochMetrics, TrialResult, TrialStatus
from trials.trial_state import patch

# KEYS: results, arrival, sweep, trials, results stream, active sweeps, indexed columns, running, progress,
#       progress points, this minute's results by worker
# ARGV: trial id, result json, status, sweep id, now, attempt, worker, wall time, packed columns' key prefix,
#       the result's numbers by field (JSON of exact decimal strings), the columns' texts key prefix, the sweep's
#       final results before this one as the caller read them, the sweep's ending should this result be
#       its last (status, stop reason: broker/lifecycle.py), the statuses that ending applies from (JSON
#       list), the trial's state patch (JSON, trials/trial_state.py), then (column, cell) pairs
# Returns 1 stored, 0 the trial already had its final result, 2 a superseded attempt, 3 nothing stored: this
# would be the sweep's last result but the counts moved since the caller decided its ending (decide again).
# Besides the result, in the same step: the trial leaves the running set, its cells are written into the
# trials table's packed columns (broker/store/trial_index.py), and the sweep's best so far is updated (a sweep
# stored before that was kept has no progress hash; it is built once when first read, broker/store/progress.py).
_STORE_RESULT = (
    PUT_CELL_LUA
    + """
local raw = redis.call('HGET', KEYS[4], ARGV[1])
local state = raw and cjson.decode(raw) or {}
if state['attempt'] and tonumber(state['attempt']) ~= tonumber(ARGV[6]) then return 2 end
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return 0 end
local n = tonumber(redis.call('HGET', KEYS[3], 'n_trials'))
local before = tonumber(redis.call('HGET', KEYS[3], 'n_final') or '0')
if before + 1 >= n and before ~= tonumber(ARGV[12]) then return 3 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
for k, v in pairs(cjson.decode(ARGV[16])) do state[k] = v end
redis.call('HSET', KEYS[4], ARGV[1], cjson.encode(state))
redis.call('SREM', KEYS[8], ARGV[1])
redis.call('RPUSH', KEYS[2], ARGV[1])
local done = redis.call('HINCRBY', KEYS[3], 'n_final', 1)
redis.call('HINCRBY', KEYS[3], 'n_' .. ARGV[3], 1)
redis.call('XADD', KEYS[5], '*', 'sweep_id', ARGV[4], 'trial_id', ARGV[1])
redis.call('HINCRBY', KEYS[11], ARGV[7], 1)
redis.call('EXPIRE', KEYS[11], 3720)
local columns = redis.call('SMEMBERS', KEYS[7])
if #columns > 0 then
  local cells = {}
  for i = 17, #ARGV, 2 do cells[ARGV[i]] = ARGV[i + 1] end
  for _, column in ipairs(columns) do put(ARGV[9], ARGV[11], column, tonumber(ARGV[1]), cells[column] or '') end
end
if done == 1 or redis.call('EXISTS', KEYS[9]) == 1 then
  local counted = redis.call('HINCRBY', KEYS[9], 'n', 1)
  local seconds = redis.call('HINCRBYFLOAT', KEYS[9], 'trainer_s', ARGV[8])
  if ARGV[3] == 'completed' then
    local spec = cjson.decode(redis.call('HGET', KEYS[3], 'spec'))
    local value = cjson.decode(ARGV[10])[spec['metric']]
    local best = redis.call('HGET', KEYS[9], 'best_value')
    local sign = spec['direction'] == 'maximize' and 1 or -1
    if value and (not best or sign * tonumber(value) > sign * tonumber(best)) then
      redis.call('HSET', KEYS[9], 'best_value', value, 'best_trial', ARGV[1])
      redis.call('RPUSH', KEYS[10], counted .. '|' .. seconds .. '|' .. ARGV[1] .. '|' .. value)
    end
  end
end
if done >= n then
  local st = redis.call('HGET', KEYS[3], 'status')
  for _, open in ipairs(cjson.decode(ARGV[15])) do
    if st == open then
      redis.call('HSET', KEYS[3], 'status', ARGV[13], 'ended', ARGV[5], 'stop_reason', ARGV[14])
      redis.call('SREM', KEYS[6], ARGV[4])
    end
  end
end
return 1
"""
)

# KEYS: metrics stream, metrics index; ARGV: record json, trial id.
# The index (trial -> its stream entry ids) is kept from a sweep's first epoch on; a sweep whose stream was
# written before the index existed gets it built once when a curve is first read (_INDEX_METRICS).
_RECORD_EPOCH = """
local fresh = redis.call('XLEN', KEYS[1]) == 0
local id = redis.call('XADD', KEYS[1], '*', 'record', ARGV[1], 'trial', ARGV[2])
if fresh or redis.call('EXISTS', KEYS[2]) == 1 then
  local ids = redis.call('HGET', KEYS[2], ARGV[2])
  redis.call('HSET', KEYS[2], ARGV[2], ids and (ids .. ' ' .. id) or id)
end
return id
"""

# KEYS: metrics stream, metrics index. Builds the index of a stream written before it was kept, in one step
# (so no epoch recorded meanwhile is missed); a no-op once it exists.
_INDEX_METRICS = """
if redis.call('EXISTS', KEYS[2]) == 1 or redis.call('XLEN', KEYS[1]) == 0 then return 0 end
local by, start = {}, '-'
while true do
  local batch = redis.call('XRANGE', KEYS[1], start, '+', 'COUNT', 1000)
  if #batch == 0 then break end
  for _, e in ipairs(batch) do
    local f = e[2]
    local trial
    for i = 1, #f, 2 do if f[i] == 'trial' then trial = f[i + 1] end end
    if not trial then
      for i = 1, #f, 2 do if f[i] == 'record' then trial = tostring(cjson.decode(f[i + 1])['trial_id']) end end
    end
    by[trial] = by[trial] and (by[trial] .. ' ' .. e[1]) or e[1]
  end
  start = '(' .. batch[#batch][1]
end
for trial, ids in pairs(by) do redis.call('HSET', KEYS[2], trial, ids) end
return 1
"""

_FAILED = (TrialStatus.FAILED, TrialStatus.DIVERGED, TrialStatus.TIMEOUT)
_COUNTS_MOVED = 3


@dataclass(frozen=True)
class ResultEvent:
    """One stored final result, as the analyst's consumer group delivers it."""

    id: str
    sweep_id: str
    trial_id: int


class ResultStore:
    """The results and metrics of an archived sweep are read from its archive (broker/store/archive.py)."""

    def __init__(self, client: redis.Redis, health: HealthStore, archive: SweepArchive) -> None:
        self._r = client
        self._health = health
        self._archive = archive
        self._store = client.register_script(_STORE_RESULT)
        self._record_epoch = client.register_script(_RECORD_EPOCH)
        self._index_metrics = client.register_script(_INDEX_METRICS)

    # --- final results ------------------------------------------------------------

    def save(self, result: TrialResult) -> bool:
        """Store the trial's final result; False (and counted) for a duplicate or a superseded attempt."""
        sid = result.sweep_id
        outcome = _COUNTS_MOVED
        while outcome == _COUNTS_MOVED:
            before, last = self._ending_if_last(result)
            outcome = self._store_once(result, before, last)
        if outcome != 1:
            self._health.count("duplicate_results_discarded" if outcome == 0 else "superseded_results_discarded")
            return False
        if result.status in _FAILED:
            self._health.add_failure(
                FailureRecord(
                    sweep_id=sid,
                    trial_id=result.trial_id,
                    status=result.status,
                    error=result.error,
                    worker=result.worker,
                    time=time.time(),
                )
            )
        return True

    def _ending_if_last(self, result: TrialResult) -> tuple[int, Change]:
        """The sweep's final results so far, and how it ends should `result` be its last."""
        n_trials, n_final, n_completed, n_pruned = (
            int(v or 0)
            for v in self._r.hmget(keys.sweep(result.sweep_id), ["n_trials", "n_final", "n_completed", "n_pruned"])
        )
        n_completed += result.status == TrialStatus.COMPLETED
        n_pruned += result.status == TrialStatus.PRUNED
        return n_final, ending(n_trials, n_completed, n_pruned)

    def _store_once(self, result: TrialResult, n_final: int, last: Change) -> int:
        sid, now = result.sweep_id, time.time()
        return int(
            self._store(
                keys=[
                    keys.results(sid),
                    keys.arrival(sid),
                    keys.sweep(sid),
                    keys.trials(sid),
                    keys.RESULTS_STREAM,
                    keys.ACTIVE_SWEEPS,
                    keys.trial_index_columns(sid),
                    keys.running(sid),
                    keys.progress(sid),
                    keys.progress_points(sid),
                    keys.done_in_minute(int(now // 60)),
                ],
                args=[
                    result.trial_id,
                    result.model_dump_json(),
                    result.status.value,
                    sid,
                    now,
                    result.attempt,
                    result.worker,
                    repr(float(result.wall_time_s)),
                    keys.trial_index(sid, ""),
                    metric_values(result),
                    keys.trial_index_texts(sid, ""),
                    n_final,
                    last.target.value,
                    last.reason,
                    json.dumps([s.value for s in last.sources]),
                    patch(status=result.status, attempt=result.attempt, worker=result.worker, ended=now),
                    *cells_args(result),
                ],
            )
        )

    def get(self, sweep_id: str, trial_id: int) -> TrialResult | None:
        if (archived := self._archive.find(sweep_id)) is not None:
            return archived.results_of([trial_id]).get(trial_id)
        raw = self._r.hget(keys.results(sweep_id), str(trial_id))
        return None if raw is None else TrialResult.model_validate_json(cast(str, raw))

    def get_many(self, sweep_id: str, trial_ids: list[int]) -> dict[int, TrialResult]:
        """The final results of these trials that have one."""
        if not trial_ids:
            return {}
        if (archived := self._archive.find(sweep_id)) is not None:
            return archived.results_of(trial_ids)
        raw = cast(list[str | None], self._r.hmget(keys.results(sweep_id), [str(t) for t in trial_ids]))
        return {t: TrialResult.model_validate_json(r) for t, r in zip(trial_ids, raw, strict=True) if r is not None}

    def is_final(self, sweep_id: str, trial_id: int) -> bool:
        """Whether the trial has its final result (without reading it)."""
        if (archived := self._archive.find(sweep_id)) is not None:
            return trial_id in archived.results_of([trial_id])
        return bool(self._r.hexists(keys.results(sweep_id), str(trial_id)))

    def in_arrival_order(self, sweep_id: str, limit: int | None = None) -> list[TrialResult]:
        """Final results in the order they were stored (the order the analyst saw)."""
        if (archived := self._archive.find(sweep_id)) is not None:
            return archived.in_arrival_order(limit)
        order = cast(list[str], self._r.lrange(keys.arrival(sweep_id), 0, -1 if limit is None else limit - 1))
        if not order:
            return []
        raw = cast(list[str], self._r.hmget(keys.results(sweep_id), order))
        return [TrialResult.model_validate_json(r) for r in raw]

    def arrived_since(self, sweep_id: str, n: int, at_most: int) -> list[int] | None:
        """Trial ids of the results stored after the first `n`, or None when there are more than `at_most`."""
        if (archived := self._archive.find(sweep_id)) is not None:
            found = archived.arrived(n, at_most + 1)
            return None if len(found) > at_most else found
        ids = cast(list[str], self._r.lrange(keys.arrival(sweep_id), n, n + at_most))
        return None if len(ids) > at_most else [int(t) for t in ids]

    def arrival_list_name(self, sweep_id: str) -> str:
        """Where the arrival order is kept; ranking records cite it as the list their trials come from."""
        return keys.arrival(sweep_id)

    def done_by_worker_since(self, since: float) -> dict[str, int]:
        """Final results stored since `since` (to the minute), by the worker field of the result.

        Counted per minute as results are stored (kept an hour), so the monitor reads 60 small hashes, not every
        result of the hour.
        """
        pipe = self._r.pipeline(transaction=False)
        for minute in range(int(since // 60), int(time.time() // 60) + 1):
            pipe.hgetall(keys.done_in_minute(minute))
        counts: dict[str, int] = {}
        for bucket in cast(list[dict[str, str]], pipe.execute()):
            for worker, n in bucket.items():
                counts[worker] = counts.get(worker, 0) + int(n)
        return counts

    # --- epoch metrics ------------------------------------------------------------

    def record_epoch(self, metrics: EpochMetrics) -> None:
        sid = metrics.sweep_id
        self._record_epoch(
            keys=[keys.metrics(sid), keys.metrics_index(sid)], args=[metrics.model_dump_json(), metrics.trial_id]
        )

    def epoch_metrics(self, sweep_id: str, trial_id: int | None = None) -> list[EpochMetrics]:
        """Every epoch of the sweep in recorded order, or (with `trial_id`) of one trial, read through the index."""
        if (archived := self._archive.find(sweep_id)) is not None:
            return archived.epoch_metrics(trial_id)
        if trial_id is None:
            entries = cast(list[tuple[str, dict[str, str]]], self._r.xrange(keys.metrics(sweep_id)))
            return [EpochMetrics.model_validate_json(fields["record"]) for _, fields in entries]
        self._index_metrics(keys=[keys.metrics(sweep_id), keys.metrics_index(sweep_id)])
        ids = cast(str | None, self._r.hget(keys.metrics_index(sweep_id), str(trial_id)))
        if not ids:
            return []
        pipe = self._r.pipeline(transaction=False)
        for entry_id in ids.split():
            pipe.xrange(keys.metrics(sweep_id), entry_id, entry_id)
        found = cast(list[list[tuple[str, dict[str, str]]]], pipe.execute())
        return [EpochMetrics.model_validate_json(e[0][1]["record"]) for e in found if e]

    # --- the analyst's consumer group ---------------------------------------------

    def ensure_analyst_group(self) -> None:
        """Create the analysts' consumer group (reading from the first event) unless it exists."""
        try:
            self._r.xgroup_create(keys.RESULTS_STREAM, keys.ANALYST_GROUP, id="0", mkstream=True)
        except redis.ResponseError as err:
            if "BUSYGROUP" not in str(err):
                raise

    def unacknowledged(self, consumer: str, count: int) -> list[ResultEvent]:
        """Events delivered to `consumer` before and never acknowledged (after a crash), oldest first."""
        return self._read(consumer, "0", count, None)

    def next_events(self, consumer: str, count: int, block_ms: int | None) -> list[ResultEvent]:
        """Events no consumer of the group has seen, waiting up to `block_ms` for one (None: do not wait)."""
        return self._read(consumer, ">", count, block_ms)

    def acknowledge(self, events: list[ResultEvent]) -> None:
        if events:
            self._r.xack(keys.RESULTS_STREAM, keys.ANALYST_GROUP, *[e.id for e in events])

    def _read(self, consumer: str, stream_id: str, count: int, block_ms: int | None) -> list[ResultEvent]:
        reply = self._r.xreadgroup(
            keys.ANALYST_GROUP, consumer, {keys.RESULTS_STREAM: stream_id}, count=count, block=block_ms
        )
        entries = cast(list[tuple[str, dict[str, str]]], reply[0][1]) if reply else []
        return [ResultEvent(eid, fields["sweep_id"], int(fields["trial_id"])) for eid, fields in entries]
