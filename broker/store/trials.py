"""Trials in flight: their live states, the claims of running attempts, what is queued per device class.

A trial's live state is a JSON object merged inside Redis (a Lua script), so
concurrent updaters (trainer, reconciler) never overwrite each other, and an
update by a superseded attempt is refused. A running attempt holds a claim with
a TTL that its worker refreshes; a claim that expired means the worker is gone.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any, cast

import redis

from broker import keys
from trials.specs import TrialKey, TrialSpec, TrialStatus
from trials.trial_state import TrialState, patch

# KEYS: trials hash, running set; ARGV: trial id, JSON patch, expected attempt ('' for any).
# The running set follows the merged status, so health and the monitor read O(running), not every trial.
_UPDATE_TRIAL = """
local raw = redis.call('HGET', KEYS[1], ARGV[1])
local state = raw and cjson.decode(raw) or {}
if ARGV[3] ~= '' and tonumber(state['attempt'] or 1) ~= tonumber(ARGV[3]) then return 0 end
for k, v in pairs(cjson.decode(ARGV[2])) do state[k] = v end
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(state))
if state['status'] == 'running' then
  redis.call('SADD', KEYS[2], ARGV[1])
else
  redis.call('SREM', KEYS[2], ARGV[1])
end
return 1
"""

# KEYS: claim; ARGV: the holder's value. Deletes the claim only if it is still ours.
_RELEASE_CLAIM = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class TrialStore:
    def __init__(self, client: redis.Redis) -> None:
        self._r = client
        self._update = client.register_script(_UPDATE_TRIAL)
        self._release_claim = client.register_script(_RELEASE_CLAIM)

    # --- live states --------------------------------------------------------------

    def update(self, sweep_id: str, trial_id: int, if_attempt: int | None = None, **fields: Any) -> bool:
        """Merge fields of `TrialState` into the trial's state; with `if_attempt`, only while that attempt is current.

        The fields are checked against the model first: an unknown one, or a wrong type, raises before any write."""
        return bool(
            self._update(
                keys=[keys.trials(sweep_id), keys.running(sweep_id)],
                args=[trial_id, patch(**fields), "" if if_attempt is None else if_attempt],
            )
        )

    def mark(self, sweep_id: str, trial_ids: Iterable[int], status: TrialStatus) -> None:
        """Set the status of many trials of a sweep."""
        # One round trip for all of them: a cancelled 10,000-trial sweep is one request.
        pipe = self._r.pipeline(transaction=False)
        change = patch(status=status)
        for trial_id in trial_ids:
            self._update(keys=[keys.trials(sweep_id), keys.running(sweep_id)], args=[trial_id, change, ""], client=pipe)
        pipe.execute()

    def state(self, sweep_id: str, trial_id: int) -> TrialState:
        """The trial's live state (with no field set when the sweep has no such trial)."""
        raw = cast(str | None, self._r.hget(keys.trials(sweep_id), str(trial_id)))
        return TrialState() if raw is None else TrialState.from_json(raw)

    def states(self, sweep_id: str) -> dict[int, TrialState]:
        raw = cast(dict[str, str], self._r.hgetall(keys.trials(sweep_id)))
        return {int(k): TrialState.from_json(v) for k, v in raw.items()}

    def states_of(self, sweep_id: str, trial_ids: list[int]) -> dict[int, TrialState]:
        """The live states of these trials only (those the sweep has)."""
        if not trial_ids:
            return {}
        raw = cast(list[str | None], self._r.hmget(keys.trials(sweep_id), [str(t) for t in trial_ids]))
        return {t: TrialState.from_json(v) for t, v in zip(trial_ids, raw, strict=True) if v is not None}

    def running_ids(self, sweep_id: str) -> list[int]:
        """Trials whose live state says `running` (a trial running since before this set existed joins it at
        its next state update, an epoch at most)."""
        return sorted(int(t) for t in cast(set[str], self._r.smembers(keys.running(sweep_id))))

    # --- claims -------------------------------------------------------------------

    def claim(self, spec: TrialSpec, holder: str, ttl_s: int) -> bool:
        """Hold the trial for this attempt; a second delivery of it finds the claim taken."""
        key = keys.claim(spec.sweep_id, spec.trial_id)
        return bool(self._r.set(key, f"{spec.attempt}|{holder}", nx=True, ex=ttl_s))

    def claim_holder(self, sweep_id: str, trial_id: int) -> str | None:
        return cast(str | None, self._r.get(keys.claim(sweep_id, trial_id)))

    def claimed_by(self, sweep_id: str, trial_id: int) -> tuple[int, str] | None:
        """(attempt, holder) of the trial's claim, if it is held."""
        value = self.claim_holder(sweep_id, trial_id)
        if value is None:
            return None
        attempt, _, holder = value.partition("|")
        return int(attempt), holder

    def refresh_claim(self, spec: TrialSpec, ttl_s: int) -> None:
        self._r.expire(keys.claim(spec.sweep_id, spec.trial_id), ttl_s)

    def release_claim(self, spec: TrialSpec, holder: str) -> None:
        self._release_claim(keys=[keys.claim(spec.sweep_id, spec.trial_id)], args=[f"{spec.attempt}|{holder}"])

    # --- dispatched trials --------------------------------------------------------

    def inflight(self, device_class: str) -> set[TrialKey]:
        """The attempts sent to a device class's queue whose trial is not yet final."""
        return {TrialKey.parse(k) for k in cast(set[str], self._r.smembers(keys.inflight(device_class)))}

    def add_inflight(self, device_class: str, trial_key: TrialKey) -> None:
        self._r.sadd(keys.inflight(device_class), str(trial_key))

    def remove_inflight(self, device_class: str, trial_key: TrialKey) -> None:
        self._r.srem(keys.inflight(device_class), str(trial_key))

    def queue_depths(self, device_classes: Iterable[str]) -> dict[str, int]:
        """Messages waiting in each device class's Celery queue, by queue name."""
        return {keys.queue_name(dc): int(self._r.llen(keys.queue_name(dc))) for dc in device_classes}

    @contextmanager
    def dispatch_lock(self, timeout_s: float = 10, wait_s: float = 5) -> Iterator[bool]:
        """Serialises dispatching across processes; yields False if another held it for `wait_s`."""
        lock = self._r.lock(keys.DISPATCH_LOCK, timeout=timeout_s, blocking_timeout=wait_s)
        if not lock.acquire():
            yield False
            return
        try:
            yield True
        finally:
            lock.release()
