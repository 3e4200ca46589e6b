"""Sweeps: the sweep record (spec, status, counts), its sampled plan and its pending trials.

A sweep is created in one transaction with its configs, the initial state of every
trial and its pending list, so no reader sees a sweep without its trials.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from typing import cast

import redis

from broker import keys
from broker.lifecycle import Change
from broker.store._json import loads_or_none
from broker.store.archive_file import SweepArchive
from broker.store.trial_index import register_columns
from trials.errors import SpecError, SweeprankError
from trials.records import SweepRecord
from trials.samplers import MODEL_SAMPLERS
from trials.space import Value
from trials.specs import SweepSpec, SweepStatus, TrialSpec, TrialStatus, is_sweep_id
from trials.trial_state import TrialState
from trials.untrusted import short

# KEYS: sweep, active sweeps; ARGV: sweep id, target status, stop reason ('' keeps it), now, whether the
# target is final ('1'/'0'), then the statuses the change is allowed from. Applies the change only from one
# of those (broker/lifecycle.py decides which); returns the status the sweep had (false: no such sweep).
_APPLY_CHANGE = """
local before = redis.call('HGET', KEYS[1], 'status')
if not before then return false end
for i = 6, #ARGV do
  if before == ARGV[i] then
    redis.call('HSET', KEYS[1], 'status', ARGV[2])
    if ARGV[3] ~= '' then redis.call('HSET', KEYS[1], 'stop_reason', ARGV[3]) end
    if ARGV[5] == '1' then
      redis.call('HSET', KEYS[1], 'ended', ARGV[4])
      redis.call('SREM', KEYS[2], ARGV[1])
    end
    return before
  end
end
return before
"""


log = logging.getLogger(__name__)


class UnknownSweep(SweeprankError):
    def __init__(self, sweep_id: str) -> None:
        super().__init__(f"no sweep with id {short(sweep_id, 80)!r}")
        self.sweep_id = sweep_id


def _key(sweep_id: str) -> str:
    """The sweep's hash key; an id of the wrong syntax is an unknown sweep, never a read of another key."""
    if not is_sweep_id(sweep_id):
        raise UnknownSweep(sweep_id)
    return keys.sweep(sweep_id)


@dataclass(frozen=True)
class PlannedTrial:
    dataset: str
    config: dict[str, Value] | None  # None: asked from the sweep's Optuna study when dispatched
    seed: int


@dataclass(frozen=True)
class DispatchInfo:
    """What the dispatcher weighs when it picks the next sweep to send a trial of."""

    status: str | None
    device_class: str | None
    owner: str
    priority: int
    created: float
    model_based: bool  # configs are asked from an Optuna study at dispatch (broker/tuning/asker.py)


def sweep_record(raw: dict[str, str], pending: int) -> SweepRecord:
    """The sweep record from its hash (strings: the model parses the numbers and the status, and checks every field)."""
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
            "pending": pending,
            "counts": {s.value: int(raw.get(f"n_{s.value}", 0)) for s in TrialStatus if s.final},
            "spec": SweepSpec.model_validate_json(raw["spec"]),
            "space": json.loads(raw["space"]),
            "stop_reason": raw["stop_reason"],
            "created": raw["created"],
            "ended": raw.get("ended"),
        }
    )


class SweepStore:
    """Reads of an archived sweep are answered by its archive file (broker/store/archive.py)."""

    def __init__(self, client: redis.Redis, archive: SweepArchive) -> None:
        self._r = client
        self._archive = archive
        self._missing_archives: set[str] = set()  # archived sweeps whose file this process was told it cannot find
        self._apply = client.register_script(_APPLY_CHANGE)

    def _new_id(self) -> str:
        # After Redis lost its keys (emptied, restored from an old file) the counter may restart below ids that
        # archives still hold: those are skipped, never reused.
        while True:
            sweep_id = f"sw{self._r.incr(keys.SWEEP_SEQ)}"
            if self._archive.find(sweep_id) is None:
                return sweep_id

    def create(self, spec: SweepSpec, planned: list[PlannedTrial]) -> str:
        """Store a sweep with its plan in one transaction; returns its id."""
        sweep_id = self._new_id()
        pipe = self._r.pipeline(transaction=True)
        self._queue_creation(pipe, sweep_id, spec, planned)
        pipe.execute()
        return sweep_id

    def create_after(self, after: str, spec: SweepSpec, planned: list[PlannedTrial]) -> str | None:
        """Create the one sweep that follows `after` in a sequential-tuning chain.

        None when it was not created: another process created it first, the chain was cancelled
        (`after` is no longer an open link), or the open links changed meanwhile (try again). The
        check and the creation are one transaction, so a chain never forks, a cancelled chain starts
        no later group, and a creator killed half-way leaves nothing behind.
        """
        sweep_id = self._new_id()
        with self._r.pipeline(transaction=True) as pipe:
            try:
                pipe.watch(keys.chain_next(after), keys.OPEN_CHAIN_LINKS)
                if pipe.exists(keys.chain_next(after)) or not pipe.sismember(keys.OPEN_CHAIN_LINKS, after):
                    return None
                pipe.multi()
                pipe.set(keys.chain_next(after), sweep_id)
                pipe.srem(keys.OPEN_CHAIN_LINKS, after)
                self._queue_creation(pipe, sweep_id, spec, planned)
                pipe.execute()
            except redis.WatchError:
                return None
        return sweep_id

    def _queue_creation(
        self, pipe: redis.client.Pipeline, sweep_id: str, spec: SweepSpec, planned: list[PlannedTrial]
    ) -> None:
        now = time.time()
        stored_spec, stored_space = _stored_forms(spec)
        pipe.hset(
            keys.sweep(sweep_id),
            mapping={
                "id": sweep_id,
                "spec": stored_spec,
                "space": stored_space,
                "owner": spec.owner,
                "name": spec.name,
                "status": SweepStatus.QUEUED.value,
                "priority": spec.priority,
                "device_class": spec.device_class,
                "sampler": spec.sampler,
                "n_trials": len(planned),
                "n_final": 0,
                "created": now,
                "stop_reason": "",
            },
        )
        drawn: dict[str | bytes, bytes | float | int | str] = {
            str(i): json.dumps({"dataset": t.dataset, "config": t.config, "seed": t.seed})
            for i, t in enumerate(planned)
            if t.config is not None
        }
        if drawn:
            pipe.hset(keys.configs(sweep_id), mapping=drawn)
        pipe.hset(
            keys.trials(sweep_id),
            mapping={
                str(i): TrialState(status=TrialStatus.QUEUED, dataset=t.dataset).to_json()
                for i, t in enumerate(planned)
            },
        )
        pipe.rpush(keys.pending(sweep_id), *range(len(planned)))
        register_columns(pipe, sweep_id, [*json.loads(stored_space)["parameters"], *spec.fixed], len(planned))
        pipe.zadd(keys.SWEEPS, {sweep_id: now})
        pipe.sadd(keys.ACTIVE_SWEEPS, sweep_id)
        if spec.tune is not None:
            pipe.sadd(keys.children(spec.tune.parent), sweep_id)
            if spec.tune.next_group is not None:
                pipe.sadd(keys.OPEN_CHAIN_LINKS, sweep_id)

    def get(self, sweep_id: str) -> SweepRecord:
        """The sweep record: spec, resolved space, status, counts, pending trials."""
        if (archived := self._archive.find(sweep_id)) is not None:
            return sweep_record(archived.sweep_hash(), len(archived.pending()))
        raw = cast(dict[str, str], self._r.hgetall(_key(sweep_id)))
        if not raw:
            raise UnknownSweep(sweep_id)
        if "archived" in raw and sweep_id not in self._missing_archives:
            # Its data is only in a file this process does not see: every read of it comes back empty.
            self._missing_archives.add(sweep_id)
            log.error(
                "%s is archived, but not in %s: every process must have the same SWEEPRANK_ARCHIVE_DIR",
                sweep_id,
                self._archive.root,
            )
        return sweep_record(raw, self.n_pending(sweep_id))

    def _field(self, sweep_id: str, field: str) -> str:
        if (archived := self._archive.find(sweep_id)) is not None:
            return archived.sweep_hash()[field]
        raw = self._r.hget(_key(sweep_id), field)
        if raw is None:
            raise UnknownSweep(sweep_id)
        return cast(str, raw)

    def ids(self) -> list[str]:
        """Every sweep, oldest first; also those only their archive holds (after Redis lost its keys)."""
        listed = cast(list[tuple[str, float]], self._r.zrange(keys.SWEEPS, 0, -1, withscores=True))
        known = {sweep_id for sweep_id, _ in listed}
        only_archived = [
            (sweep_id, float(found.sweep_hash()["created"]))
            for sweep_id in self._archive.ids()
            if sweep_id not in known and (found := self._archive.find(sweep_id)) is not None
        ]
        if not only_archived:
            return [sweep_id for sweep_id, _ in listed]
        return [sweep_id for sweep_id, _ in sorted([*listed, *only_archived], key=lambda item: item[1])]

    def active_ids(self) -> list[str]:
        """Sweeps that may still dispatch."""
        return sorted(cast(set[str], self._r.smembers(keys.ACTIVE_SWEEPS)))

    def status(self, sweep_id: str) -> SweepStatus:
        return SweepStatus(self._field(sweep_id, "status"))

    def apply(self, sweep_id: str, change: Change) -> SweepStatus | None:
        """Make a status change in one step, if the sweep's status allows it; returns the status it had
        (the change was made iff `change.allowed_from` it), None when there is no such sweep."""
        before = self._apply(
            keys=[_key(sweep_id), keys.ACTIVE_SWEEPS],
            args=[
                sweep_id,
                change.target.value,
                change.reason,
                time.time(),
                "1" if change.target.final else "0",
                *(s.value for s in change.sources),
            ],
        )
        return None if before is None else SweepStatus(before)

    def set_status(self, sweep_id: str, status: SweepStatus, reason: str = "") -> None:
        """Write a status as it is, outside the lifecycle's table: for tests that need a sweep in a given
        status. The product changes a status only with `apply`."""
        fields: dict[str | bytes, bytes | float | int | str] = {"status": status.value}
        if reason:
            fields["stop_reason"] = reason
        if status.final:
            fields["ended"] = time.time()
        pipe = self._r.pipeline(transaction=True)
        pipe.hset(keys.sweep(sweep_id), mapping=fields)
        if status.final:
            pipe.srem(keys.ACTIVE_SWEEPS, sweep_id)
        pipe.execute()

    def owner(self, sweep_id: str) -> str:
        return str(self._r.hget(keys.sweep(sweep_id), "owner"))

    def owner_of(self, sweep_id: str) -> str:
        """The owner of a sweep that must exist (UnknownSweep otherwise)."""
        return self._field(sweep_id, "owner")

    def dispatch_info(self, sweep_id: str) -> DispatchInfo:
        status, device_class, owner, priority, created, sampler = self._r.hmget(
            keys.sweep(sweep_id), ["status", "device_class", "owner", "priority", "created", "sampler"]
        )
        return DispatchInfo(
            status, device_class, str(owner), int(priority or 0), float(created or 0), sampler in MODEL_SAMPLERS
        )

    def trial_spec(self, sweep_id: str, trial_id: int, attempt: int = 1) -> TrialSpec:
        """What a trainer needs to run one attempt of a planned trial."""
        spec = self.spec(sweep_id)
        planned = loads_or_none(self._r.hget(keys.configs(sweep_id), str(trial_id)))
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

    def has_config(self, sweep_id: str, trial_id: int) -> bool:
        return bool(self._r.hexists(keys.configs(sweep_id), str(trial_id)))

    def set_asked_config(self, sweep_id: str, trial_id: int, planned: PlannedTrial, study_trial: int) -> bool:
        """Record the config a study gave a trial, once: False when the trial already had one."""
        entry = {"dataset": planned.dataset, "config": planned.config, "seed": planned.seed, "study_trial": study_trial}
        return bool(self._r.hsetnx(keys.configs(sweep_id), str(trial_id), json.dumps(entry)))

    def study_trial(self, sweep_id: str, trial_id: int) -> int | None:
        """The study trial number a model-based sweep's trial was asked as (None: not asked yet)."""
        planned = loads_or_none(self._r.hget(keys.configs(sweep_id), str(trial_id)))
        return None if planned is None else planned.get("study_trial")

    def spec(self, sweep_id: str) -> SweepSpec:
        return SweepSpec.model_validate_json(self._field(sweep_id, "spec"))

    # --- lineage: tune sweeps and sequential-tuning chains ----------------------------

    def children(self, sweep_id: str) -> list[str]:
        """The tune sweeps started from this one, oldest first (also those started after it was archived)."""
        children = cast(set[str], self._r.smembers(keys.children(sweep_id)))
        if (archived := self._archive.find(sweep_id)) is not None:
            children |= set(archived.children())
        return sorted(children, key=lambda s: int(s[2:]))

    def next_in_chain(self, sweep_id: str) -> str | None:
        """The sweep created as the next group of a sequential-tuning chain after `sweep_id`, if any."""
        found = cast(str | None, self._r.get(keys.chain_next(sweep_id)))
        if found is None and (archived := self._archive.find(sweep_id)) is not None:
            return archived.next_in_chain()
        return found

    def open_chain_links(self) -> list[str]:
        """Chain sweeps whose next group is still to be created (when they complete)."""
        return sorted(cast(set[str], self._r.smembers(keys.OPEN_CHAIN_LINKS)))

    def close_chain_link(self, sweep_id: str) -> bool:
        """Start no next group after `sweep_id`; False when none was to start."""
        return bool(self._r.srem(keys.OPEN_CHAIN_LINKS, sweep_id))

    def planned_configs(self, sweep_id: str) -> dict[int, dict[str, Value]]:
        if (archived := self._archive.find(sweep_id)) is not None:
            return {t: planned["config"] for t, planned in archived.planned().items()}
        raw = cast(dict[str, str], self._r.hgetall(keys.configs(sweep_id)))
        return {int(k): json.loads(v)["config"] for k, v in raw.items()}

    def planned_configs_of(self, sweep_id: str, trial_ids: list[int]) -> dict[int, dict[str, Value]]:
        """The planned configs of these trials only (a model-based sweep's undispatched trials have none)."""
        if not trial_ids:
            return {}
        if (archived := self._archive.find(sweep_id)) is not None:
            return {t: planned["config"] for t, planned in archived.planned_of(trial_ids).items()}
        raw = cast(list[str | None], self._r.hmget(keys.configs(sweep_id), [str(t) for t in trial_ids]))
        return {t: json.loads(v)["config"] for t, v in zip(trial_ids, raw, strict=True) if v is not None}

    # --- pending (undispatched) trials --------------------------------------------

    def n_pending(self, sweep_id: str) -> int:
        return int(self._r.llen(keys.pending(sweep_id)))

    def pending_by_owner(self) -> dict[str, int]:
        """Undispatched trials of the active sweeps, summed per owner."""
        sweep_ids = self.active_ids()
        pipe = self._r.pipeline(transaction=False)
        for sweep_id in sweep_ids:
            pipe.hget(keys.sweep(sweep_id), "owner")
            pipe.llen(keys.pending(sweep_id))
        replies = pipe.execute()
        totals: dict[str, int] = {}
        for owner, pending in zip(replies[::2], replies[1::2], strict=True):
            totals[str(owner)] = totals.get(str(owner), 0) + int(pending)
        return totals

    def pop_pending(self, sweep_id: str) -> int | None:
        raw = self._r.lpop(keys.pending(sweep_id))
        return None if raw is None else int(cast(str, raw))

    def take_pending(self, sweep_id: str) -> list[int]:
        """Take every undispatched trial off the sweep at once; returns their ids."""
        pipe = self._r.pipeline(transaction=True)
        pipe.lrange(keys.pending(sweep_id), 0, -1)
        pipe.delete(keys.pending(sweep_id))
        return [int(t) for t in cast(list[str], pipe.execute()[0])]


def _stored_forms(spec: SweepSpec) -> tuple[str, str]:
    """The spec and its space as stored, checked to read back as they are before anything is written.

    A value that JSON cannot hold (a non-finite float stored as null) would leave a record that no reader
    can load, breaking every list that includes it: such a spec is refused here, before the transaction.
    """
    stored_spec = spec.model_dump_json()
    try:
        stored_space = json.dumps(spec.search_space().to_dict(), allow_nan=False)
    except ValueError:
        raise SpecError("space", "holds a non-finite number (Infinity or NaN)") from None
    if SweepSpec.model_validate_json(stored_spec) != spec:
        raise SpecError("spec", "holds a value that does not survive storage as JSON")
    return stored_spec, stored_space
