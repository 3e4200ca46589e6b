"""The system of record: sweeps, trials, results, metrics and rankings in Redis.

Redis runs with AOF, so everything needed to rebuild a ranking is stored here:
the spec, the sampled configs, every final result in arrival order.
Exactly one final result per trial: results are written with HSETNX inside
one Lua script that also appends the arrival order, bumps the counters, emits
the result event and closes a finished sweep, so no reader sees half of it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, cast

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from broker import keys
from trials.errors import SweeprankError
from trials.records import FailureRecord, RankingHistoryEntry, RankingRecord, SweepRecord, WorkerInfo, WorkerRecord
from trials.space import Value
from trials.specs import EpochMetrics, SweepSpec, SweepStatus, TrialResult, TrialSpec, TrialStatus

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
  redis.call('HSET', KEYS[3], 'status', 'completed', 'ended', ARGV[5], 'stop_reason', 'all trials finished')
  redis.call('SREM', KEYS[6], ARGV[4])
end
return 1
"""

# KEYS: claim; ARGV: the holder's value. Deletes the claim only if it is still ours.
_RELEASE_CLAIM = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

# KEYS: trials hash; ARGV: trial id, JSON patch, expected attempt ('' for any).
# Merging inside Redis keeps concurrent updaters (trainer, reconciler) from
# overwriting each other; a superseded attempt's update is refused.
_UPDATE_TRIAL = """
local raw = redis.call('HGET', KEYS[1], ARGV[1])
local state = raw and cjson.decode(raw) or {}
if ARGV[3] ~= '' and tonumber(state['attempt'] or 1) ~= tonumber(ARGV[3]) then return 0 end
for k, v in pairs(cjson.decode(ARGV[2])) do state[k] = v end
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(state))
return 1
"""


class UnknownSweep(SweeprankError):
    def __init__(self, sweep_id: str) -> None:
        super().__init__(f"no sweep with id {sweep_id!r}")
        self.sweep_id = sweep_id


@dataclass(frozen=True)
class PlannedTrial:
    dataset: str
    config: dict[str, Value]
    seed: int


def _loads(raw: str | bytes | None) -> Any:
    return None if raw is None else json.loads(raw)


class Store:
    def __init__(self, client: redis.Redis) -> None:
        self.r = client
        self._store_result = client.register_script(_STORE_RESULT)
        self._update_trial = client.register_script(_UPDATE_TRIAL)
        self._release_claim = client.register_script(_RELEASE_CLAIM)

    @classmethod
    def from_url(cls, url: str) -> Store:
        """A store whose commands ride out a Redis restart of up to about half a minute."""
        retry = Retry(ExponentialBackoff(cap=2.0, base=0.05), retries=20)
        return cls(
            redis.Redis.from_url(
                url,
                decode_responses=True,
                health_check_interval=30,
                retry=retry,
                retry_on_error=[redis.ConnectionError, redis.TimeoutError],
            )
        )

    # --- sweeps -----------------------------------------------------------------

    def create_sweep(self, spec: SweepSpec, planned: list[PlannedTrial]) -> str:
        sweep_id = f"sw{self.r.incr(f'{keys.PREFIX}:sweep-seq')}"
        now = time.time()
        pipe = self.r.pipeline(transaction=True)
        pipe.hset(
            keys.sweep(sweep_id),
            mapping={
                "id": sweep_id,
                "spec": spec.model_dump_json(),
                "space": json.dumps(spec.search_space().to_dict()),
                "owner": spec.owner,
                "name": spec.name,
                "status": SweepStatus.QUEUED.value,
                "priority": spec.priority,
                "device_class": spec.device_class,
                "n_trials": len(planned),
                "n_final": 0,
                "created": now,
                "stop_reason": "",
            },
        )
        pipe.hset(
            keys.configs(sweep_id),
            mapping={
                str(i): json.dumps({"dataset": t.dataset, "config": t.config, "seed": t.seed})
                for i, t in enumerate(planned)
            },
        )
        pipe.hset(
            keys.trials(sweep_id),
            mapping={
                str(i): json.dumps({"status": TrialStatus.QUEUED.value, "dataset": t.dataset})
                for i, t in enumerate(planned)
            },
        )
        pipe.rpush(keys.pending(sweep_id), *range(len(planned)))
        pipe.zadd(keys.SWEEPS, {sweep_id: now})
        pipe.sadd(keys.ACTIVE_SWEEPS, sweep_id)
        pipe.execute()
        return sweep_id

    def sweep(self, sweep_id: str) -> SweepRecord:
        raw = cast(dict[str, str], self.r.hgetall(keys.sweep(sweep_id)))
        if not raw:
            raise UnknownSweep(sweep_id)
        # The hash holds strings: the model parses the numbers and the status, and checks every field.
        return SweepRecord.model_validate(
            {
                "id": raw["id"],
                "owner": raw["owner"],
                "name": raw["name"],
                "status": raw["status"],
                "priority": raw["priority"],
                "device_class": raw["device_class"],
                "n_trials": raw["n_trials"],
                "n_final": raw["n_final"],
                "pending": self.r.llen(keys.pending(sweep_id)),
                "counts": {s.value: int(raw.get(f"n_{s.value}", 0)) for s in TrialStatus if s.final},
                "spec": SweepSpec.model_validate_json(raw["spec"]),
                "space": json.loads(raw["space"]),
                "stop_reason": raw["stop_reason"],
                "created": raw["created"],
                "ended": raw.get("ended"),
            }
        )

    def sweep_ids(self) -> list[str]:
        return cast(list[str], self.r.zrange(keys.SWEEPS, 0, -1))

    def active_sweep_ids(self) -> list[str]:
        return sorted(cast(set[str], self.r.smembers(keys.ACTIVE_SWEEPS)))

    def pending_by_owner(self) -> dict[str, int]:
        """Undispatched trials of the active sweeps, summed per owner."""
        sweep_ids = self.active_sweep_ids()
        pipe = self.r.pipeline(transaction=False)
        for sweep_id in sweep_ids:
            pipe.hget(keys.sweep(sweep_id), "owner")
            pipe.llen(keys.pending(sweep_id))
        replies = pipe.execute()
        totals: dict[str, int] = {}
        for owner, pending in zip(replies[::2], replies[1::2], strict=True):
            totals[str(owner)] = totals.get(str(owner), 0) + int(pending)
        return totals

    def status(self, sweep_id: str) -> SweepStatus:
        raw = self.r.hget(keys.sweep(sweep_id), "status")
        if raw is None:
            raise UnknownSweep(sweep_id)
        return SweepStatus(raw)

    def set_status(self, sweep_id: str, status: SweepStatus, reason: str = "") -> None:
        fields: dict[str | bytes, bytes | float | int | str] = {"status": status.value}
        if reason:
            fields["stop_reason"] = reason
        if status.final:
            fields["ended"] = time.time()
        pipe = self.r.pipeline(transaction=True)
        pipe.hset(keys.sweep(sweep_id), mapping=fields)
        if status.final:
            pipe.srem(keys.ACTIVE_SWEEPS, sweep_id)
        pipe.execute()

    def drop_pending(self, sweep_id: str, status: TrialStatus) -> int:
        """Take every undispatched trial off the sweep, marking it with `status`."""
        pipe = self.r.pipeline(transaction=True)
        pipe.lrange(keys.pending(sweep_id), 0, -1)
        pipe.delete(keys.pending(sweep_id))
        dropped = cast(list[str], pipe.execute()[0])
        # One round trip for all of them: a cancelled 10,000-trial sweep is one request.
        marks = self.r.pipeline(transaction=False)
        patch = json.dumps({"status": status.value})
        for trial_id in dropped:
            self._update_trial(keys=[keys.trials(sweep_id)], args=[trial_id, patch, ""], client=marks)
        marks.execute()
        return len(dropped)

    # --- dispatch ---------------------------------------------------------------

    def pop_pending(self, sweep_id: str) -> int | None:
        raw = self.r.lpop(keys.pending(sweep_id))
        return None if raw is None else int(cast(str, raw))

    def trial_spec(self, sweep_id: str, trial_id: int, attempt: int = 1) -> TrialSpec:
        spec = SweepSpec.model_validate_json(cast(str, self.r.hget(keys.sweep(sweep_id), "spec")))
        planned = _loads(self.r.hget(keys.configs(sweep_id), str(trial_id)))
        return TrialSpec(
            sweep_id=sweep_id,
            trial_id=trial_id,
            attempt=attempt,
            dataset=planned["dataset"],
            config=planned["config"],
            seed=planned["seed"],
            max_train_examples=spec.max_train_examples,
            max_test_examples=spec.max_test_examples,
            limits=spec.limits,
        )

    def planned_configs(self, sweep_id: str) -> dict[int, dict[str, Value]]:
        raw = cast(dict[str, str], self.r.hgetall(keys.configs(sweep_id)))
        return {int(k): json.loads(v)["config"] for k, v in raw.items()}

    def inflight(self, device_class: str) -> set[str]:
        return cast(set[str], self.r.smembers(keys.inflight(device_class)))

    def add_inflight(self, device_class: str, trial_key: str) -> None:
        self.r.sadd(keys.inflight(device_class), trial_key)

    def remove_inflight(self, device_class: str, trial_key: str) -> None:
        self.r.srem(keys.inflight(device_class), trial_key)

    # --- trial lifecycle --------------------------------------------------------

    def update_trial(self, sweep_id: str, trial_id: int, if_attempt: int | None = None, **fields: Any) -> bool:
        """Merge fields into the trial's state; with `if_attempt`, only while that attempt is current."""
        return bool(
            self._update_trial(
                keys=[keys.trials(sweep_id)],
                args=[trial_id, json.dumps(fields), "" if if_attempt is None else if_attempt],
            )
        )

    def trial_state(self, sweep_id: str, trial_id: int) -> dict[str, Any]:
        return cast(dict[str, Any], _loads(self.r.hget(keys.trials(sweep_id), str(trial_id))) or {})

    def trial_states(self, sweep_id: str) -> dict[int, dict[str, Any]]:
        raw = cast(dict[str, str], self.r.hgetall(keys.trials(sweep_id)))
        return {int(k): json.loads(v) for k, v in raw.items()}

    def claim(self, spec: TrialSpec, holder: str, ttl_s: int) -> bool:
        """Hold the trial for this attempt; a second delivery of it finds the claim taken."""
        key = keys.claim(spec.sweep_id, spec.trial_id)
        return bool(self.r.set(key, f"{spec.attempt}|{holder}", nx=True, ex=ttl_s))

    def claim_holder(self, sweep_id: str, trial_id: int) -> str | None:
        return cast(str | None, self.r.get(keys.claim(sweep_id, trial_id)))

    def refresh_claim(self, spec: TrialSpec, ttl_s: int) -> None:
        self.r.expire(keys.claim(spec.sweep_id, spec.trial_id), ttl_s)

    def release_claim(self, spec: TrialSpec, holder: str) -> None:
        self._release_claim(keys=[keys.claim(spec.sweep_id, spec.trial_id)], args=[f"{spec.attempt}|{holder}"])

    def record_epoch(self, metrics: EpochMetrics) -> None:
        self.r.xadd(keys.metrics(metrics.sweep_id), {"record": metrics.model_dump_json()})

    def store_result(self, result: TrialResult) -> bool:
        """Store the trial's final result; False (and counted) for a duplicate or a superseded attempt."""
        sid = result.sweep_id
        outcome = self._store_result(
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
            self.count("duplicate_results_discarded" if outcome == 0 else "superseded_results_discarded")
            return False
        if result.status in (TrialStatus.FAILED, TrialStatus.DIVERGED, TrialStatus.TIMEOUT):
            self.r.lpush(
                keys.FAILURES,
                FailureRecord(
                    sweep_id=sid,
                    trial_id=result.trial_id,
                    status=result.status,
                    error=result.error,
                    worker=result.worker,
                    time=time.time(),
                ).model_dump_json(),
            )
            self.r.ltrim(keys.FAILURES, 0, 99)
        return True

    # --- reads ------------------------------------------------------------------

    def result(self, sweep_id: str, trial_id: int) -> TrialResult | None:
        raw = self.r.hget(keys.results(sweep_id), str(trial_id))
        return None if raw is None else TrialResult.model_validate_json(cast(str, raw))

    def results(self, sweep_id: str, limit: int | None = None) -> list[TrialResult]:
        """Final results in the order they were stored (the order the analyst saw)."""
        order = cast(list[str], self.r.lrange(keys.arrival(sweep_id), 0, -1 if limit is None else limit - 1))
        if not order:
            return []
        raw = cast(list[str], self.r.hmget(keys.results(sweep_id), order))
        return [TrialResult.model_validate_json(r) for r in raw]

    def epoch_metrics(self, sweep_id: str, trial_id: int | None = None) -> list[EpochMetrics]:
        records = [
            EpochMetrics.model_validate_json(fields["record"])
            for _, fields in cast(list[tuple[str, dict[str, str]]], self.r.xrange(keys.metrics(sweep_id)))
        ]
        return [m for m in records if trial_id is None or m.trial_id == trial_id]

    def results_since(self, since: float) -> list[tuple[float, str, int]]:
        """(time, sweep id, trial id) of every result stored since `since` (unix s), from the stream's ids."""
        entries = cast(
            list[tuple[str, dict[str, str]]], self.r.xrange(keys.RESULTS_STREAM, min=f"{int(since * 1000)}-0", max="+")
        )
        return [(int(eid.split("-")[0]) / 1000, f["sweep_id"], int(f["trial_id"])) for eid, f in entries]

    def activity(self, sweep_ids: list[str]) -> dict[str, tuple[str, int, int, int]]:
        """Cheap change markers per sweep: (status, final results, epoch records, rankings stored)."""
        pipe = self.r.pipeline(transaction=False)
        for sweep_id in sweep_ids:
            pipe.hmget(keys.sweep(sweep_id), ["status", "n_final"])
            pipe.xlen(keys.metrics(sweep_id))
            pipe.llen(keys.ranking_history(sweep_id))
        raw = pipe.execute()
        return {
            sid: (str(raw[3 * i][0]), int(raw[3 * i][1] or 0), int(raw[3 * i + 1]), int(raw[3 * i + 2]))
            for i, sid in enumerate(sweep_ids)
        }

    def count(self, counter: str) -> None:
        self.r.hincrby(keys.COUNTERS, counter, 1)

    def counters(self) -> dict[str, int]:
        return {k: int(v) for k, v in cast(dict[str, str], self.r.hgetall(keys.COUNTERS)).items()}

    def recent_failures(self, n: int = 20) -> list[FailureRecord]:
        return [FailureRecord.model_validate_json(x) for x in cast(list[str], self.r.lrange(keys.FAILURES, 0, n - 1))]

    # --- rankings ---------------------------------------------------------------

    def save_ranking(self, sweep_id: str, record: RankingRecord, compact: RankingHistoryEntry) -> None:
        pipe = self.r.pipeline(transaction=True)
        pipe.set(keys.ranking(sweep_id), record.model_dump_json())
        pipe.rpush(keys.ranking_history(sweep_id), compact.model_dump_json())
        pipe.execute()

    def latest_ranking(self, sweep_id: str) -> RankingRecord | None:
        raw = self.r.get(keys.ranking(sweep_id))
        return None if raw is None else RankingRecord.model_validate_json(cast(str, raw))

    def ranking_history(self, sweep_id: str) -> list[RankingHistoryEntry]:
        raw = cast(list[str], self.r.lrange(keys.ranking_history(sweep_id), 0, -1))
        return [RankingHistoryEntry.model_validate_json(x) for x in raw]

    # --- workers ----------------------------------------------------------------

    def register_worker(self, name: str, info: WorkerInfo, ttl_s: int) -> None:
        pipe = self.r.pipeline(transaction=True)
        fields = info.model_dump(exclude_none=True)
        pipe.hset(keys.worker(name), mapping={k: json.dumps(v) for k, v in fields.items()})
        pipe.expire(keys.worker(name), ttl_s)
        pipe.zadd(keys.WORKERS, {name: time.time()})
        pipe.execute()

    def unregister_worker(self, name: str) -> None:
        self.r.delete(keys.worker(name))
        self.r.zrem(keys.WORKERS, name)

    def live_workers(self, ttl_s: int) -> Iterator[WorkerRecord]:
        cutoff = time.time() - ttl_s
        for name, beat in cast(list[tuple[str, float]], self.r.zrange(keys.WORKERS, 0, -1, withscores=True)):
            raw = cast(dict[str, str], self.r.hgetall(keys.worker(name)))
            if beat >= cutoff and raw:
                info = {k: json.loads(v) for k, v in raw.items()}
                yield WorkerRecord.model_validate({**info, "name": name, "heartbeat": beat})
