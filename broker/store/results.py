"""What trials produce: per-epoch metrics, exactly one final result each, and the result events.

Exactly one final result per trial: results are written with HSETNX inside one
Lua script that also appends the arrival order, bumps the counters, emits the
result event and closes a finished sweep, so no reader sees half of it. A finished sweep is
`completed` when at least one trial completed (the others are counted in its record and named in
its stop reason), and `failed` when none did: there is nothing to rank. The
analyst reads the events through a consumer group and acknowledges them only
after the ranking that includes them is stored (docs/architecture.md, "Guarantees").
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import cast

import redis

from broker import keys
from broker.store.health import HealthStore
from trials.records import FailureRecord
from trials.specs import EpochMetrics, TrialResult, TrialStatus

# KEYS: results, arrival, sweep, trials, results stream, active sweeps
# ARGV: trial id, result json, status, sweep id, now, attempt, worker
# Returns 1 stored, 0 the trial already had its final result, 2 a superseded attempt.
_STORE_RESULT = """
local raw = redis.call('HGET', KEYS[4], ARGV[1])
local state = raw and cjson.decode(raw) or {}
if state['attempt'] and tonumber(state['attempt']) ~= tonumber(ARGV[6]) then return 2 end
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
state['status'] = ARGV[3]
state['attempt'] = tonumber(ARGV[6])
state['worker'] = ARGV[7]
state['ended'] = tonumber(ARGV[5])
redis.call('HSET', KEYS[4], ARGV[1], cjson.encode(state))
redis.call('RPUSH', KEYS[2], ARGV[1])
local done = redis.call('HINCRBY', KEYS[3], 'n_final', 1)
redis.call('HINCRBY', KEYS[3], 'n_' .. ARGV[3], 1)
redis.call('XADD', KEYS[5], '*', 'sweep_id', ARGV[4], 'trial_id', ARGV[1])
local n = tonumber(redis.call('HGET', KEYS[3], 'n_trials'))
local st = redis.call('HGET', KEYS[3], 'status')
if done >= n and (st == 'queued' or st == 'running' or st == 'paused') then
  local ok = tonumber(redis.call('HGET', KEYS[3], 'n_completed') or '0')
  local pruned = tonumber(redis.call('HGET', KEYS[3], 'n_pruned') or '0')
  local final, reason = 'completed', 'all trials finished'
  if ok == 0 then
    final, reason = 'failed', 'no trial completed: every one of the ' .. n .. ' failed, diverged or timed out'
  elseif ok + pruned < n then
    reason = reason .. '; ' .. (n - ok - pruned) .. ' of ' .. n .. ' did not complete'
  end
  if ok > 0 and pruned > 0 then reason = reason .. '; ' .. pruned .. ' pruned' end
  redis.call('HSET', KEYS[3], 'status', final, 'ended', ARGV[5], 'stop_reason', reason)
  redis.call('SREM', KEYS[6], ARGV[4])
end
return 1
"""

_FAILED = (TrialStatus.FAILED, TrialStatus.DIVERGED, TrialStatus.TIMEOUT)


@dataclass(frozen=True)
class ResultEvent:
    """One stored final result, as the analyst's consumer group delivers it."""

    id: str
    sweep_id: str
    trial_id: int


class ResultStore:
    def __init__(self, client: redis.Redis, health: HealthStore) -> None:
        self._r = client
        self._health = health
        self._store = client.register_script(_STORE_RESULT)

    # --- final results ------------------------------------------------------------

    def save(self, result: TrialResult) -> bool:
        """Store the trial's final result; False (and counted) for a duplicate or a superseded attempt."""
        sid = result.sweep_id
        outcome = self._store(
            keys=[
                keys.results(sid),
                keys.arrival(sid),
                keys.sweep(sid),
                keys.trials(sid),
                keys.RESULTS_STREAM,
                keys.ACTIVE_SWEEPS,
            ],
            args=[
                result.trial_id,
                result.model_dump_json(),
                result.status.value,
                sid,
                time.time(),
                result.attempt,
                result.worker,
            ],
        )
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

    def get(self, sweep_id: str, trial_id: int) -> TrialResult | None:
        raw = self._r.hget(keys.results(sweep_id), str(trial_id))
        return None if raw is None else TrialResult.model_validate_json(cast(str, raw))

    def is_final(self, sweep_id: str, trial_id: int) -> bool:
        """Whether the trial has its final result (without reading it)."""
        return bool(self._r.hexists(keys.results(sweep_id), str(trial_id)))

    def in_arrival_order(self, sweep_id: str, limit: int | None = None) -> list[TrialResult]:
        """Final results in the order they were stored (the order the analyst saw)."""
        order = cast(list[str], self._r.lrange(keys.arrival(sweep_id), 0, -1 if limit is None else limit - 1))
        if not order:
            return []
        raw = cast(list[str], self._r.hmget(keys.results(sweep_id), order))
        return [TrialResult.model_validate_json(r) for r in raw]

    def arrival_list_name(self, sweep_id: str) -> str:
        """Where the arrival order is kept; ranking records cite it as the list their trials come from."""
        return keys.arrival(sweep_id)

    def stored_since(self, since: float) -> list[tuple[float, str, int]]:
        """(time, sweep id, trial id) of every result stored since `since` (unix s), from the stream's ids."""
        entries = cast(
            list[tuple[str, dict[str, str]]],
            self._r.xrange(keys.RESULTS_STREAM, min=f"{int(since * 1000)}-0", max="+"),
        )
        return [(int(eid.split("-")[0]) / 1000, f["sweep_id"], int(f["trial_id"])) for eid, f in entries]

    # --- epoch metrics ------------------------------------------------------------

    def record_epoch(self, metrics: EpochMetrics) -> None:
        self._r.xadd(keys.metrics(metrics.sweep_id), {"record": metrics.model_dump_json()})

    def epoch_metrics(self, sweep_id: str, trial_id: int | None = None) -> list[EpochMetrics]:
        records = [
            EpochMetrics.model_validate_json(fields["record"])
            for _, fields in cast(list[tuple[str, dict[str, str]]], self._r.xrange(keys.metrics(sweep_id)))
        ]
        return [m for m in records if trial_id is None or m.trial_id == trial_id]

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
