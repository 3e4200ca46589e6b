"""Keeps the trainers busy while sharing the pool fairly.

Sweeps are not dumped into Celery's FIFO queues up front: a 10,000-trial sweep
would then block a 20-trial sweep submitted a minute later. Instead each queue
holds at most as many trials as there are live trainer slots, and every time a
slot frees up the next trial is chosen among the active sweeps by
(higher priority, owner with fewest trials in flight, sweep with fewest in
flight, older sweep). `refill` is idempotent and serialised by a Redis lock, so
the web process, the trainers and the analyst's tick may all call it.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import kombu.exceptions
from celery import Celery

from broker import keys
from broker.celery_app import DEVICE_CLASSES, TRAIN_TRIAL, hard_limit_for
from broker.connection import BrokerUnavailable
from broker.lifecycle import SweepEvent, change
from broker.settings import Settings
from broker.store import Store
from broker.tuning.asker import Tuner
from trials.specs import SweepStatus, TrialKey, TrialResult, TrialSpec, TrialStatus

log = logging.getLogger(__name__)

DISPATCHABLE = (SweepStatus.QUEUED.value, SweepStatus.RUNNING.value)


@dataclass
class _Candidate:
    sweep_id: str
    owner: str
    priority: int
    created: float
    inflight: int
    model_based: bool


class Dispatcher:
    def __init__(self, store: Store, celery_app: Celery, settings: Settings, asks: bool = True) -> None:
        """`asks=False`: leave model-based sweeps to other dispatchers. The web process and a trainer's Celery
        parent must not import torch, which asking the GP sampler does; the analyst and the trainers'
        children ask (each child refills after its trial, the analyst every tick)."""
        self.store = store
        self.celery = celery_app
        self.settings = settings
        self.asks = asks
        self.tuner = Tuner(store)

    def capacity(self, device_class: str) -> int:
        queue = keys.queue_name(device_class)
        return sum(w.slots for w in self.store.workers.live(self.settings.worker_ttl_s) if queue in w.queues)

    def refill(self) -> int:
        """Send trials until every live slot has one; returns how many were sent."""
        with self.store.trials.dispatch_lock() as held:
            return sum(self._fill(dc) for dc in DEVICE_CLASSES) if held else 0

    def _live_inflight(self, device_class: str) -> set[TrialKey]:
        """In-flight keys, pruning those whose trial already has its final result."""
        live = set()
        for key in self.store.trials.inflight(device_class):
            if self.store.results.is_final(key.sweep_id, key.trial_id):
                self.store.trials.remove_inflight(device_class, key)
            else:
                live.add(key)
        return live

    def _candidates(self, device_class: str, inflight: set[TrialKey]) -> list[_Candidate]:
        per_sweep: dict[str, int] = {}
        for key in inflight:
            per_sweep[key.sweep_id] = per_sweep.get(key.sweep_id, 0) + 1
        out = []
        for sweep_id in self.store.sweeps.active_ids():
            info = self.store.sweeps.dispatch_info(sweep_id)
            if (
                info.status in DISPATCHABLE
                and info.device_class == device_class
                and (self.asks or not info.model_based)
                and self.store.sweeps.n_pending(sweep_id)
            ):
                out.append(
                    _Candidate(
                        sweep_id,
                        info.owner,
                        info.priority,
                        info.created,
                        per_sweep.get(sweep_id, 0),
                        info.model_based,
                    )
                )
        return out

    def _owner_load(self, inflight: set[TrialKey]) -> dict[str, int]:
        """Trials in flight per owner, over all their sweeps (also those with nothing left to send)."""
        load: dict[str, int] = {}
        for key in inflight:
            owner = self.store.sweeps.owner(key.sweep_id)
            load[owner] = load.get(owner, 0) + 1
        return load

    def _fill(self, device_class: str) -> int:
        inflight = self._live_inflight(device_class)
        free = self.capacity(device_class) - len(inflight)
        if free <= 0:
            return 0
        candidates = self._candidates(device_class, inflight)
        owner_load = self._owner_load(inflight)
        for c in candidates:
            owner_load.setdefault(c.owner, 0)
        sent = 0
        while free > 0 and candidates:
            best = min(candidates, key=lambda c: (-c.priority, owner_load[c.owner], c.inflight, c.created))
            trial_id = self.store.sweeps.pop_pending(best.sweep_id)
            if trial_id is None:
                candidates.remove(best)
                continue
            if best.model_based and not self._ask(best.sweep_id, trial_id):
                continue
            try:
                self.send(best.sweep_id, trial_id, device_class)
            except BrokerUnavailable:
                raise
            except Exception as err:
                # A sweep whose stored record cannot be sent from (damaged, or from an older version) fails
                # alone: every refill would otherwise raise on it and nothing of anyone's would be sent.
                log.exception("sweep %s cannot be dispatched; marked failed", best.sweep_id)
                self.store.fail_sweep(best.sweep_id, f"cannot be dispatched: {type(err).__name__}: {err}")
                candidates.remove(best)
                continue
            best.inflight += 1
            owner_load[best.owner] += 1
            free -= 1
            sent += 1
        return sent

    def _ask(self, sweep_id: str, trial_id: int) -> bool:
        """Ask the sweep's study for the trial's config; a sampler that fails ends the trial `failed`, not the pool."""
        spec = self.store.sweeps.spec(sweep_id)
        try:
            self.tuner.ask(sweep_id, trial_id, spec)
        except BrokerUnavailable:
            raise
        except Exception as err:
            log.exception("sweep %s: the %s sampler failed to propose trial %d", sweep_id, spec.sampler, trial_id)
            planned = TrialSpec(
                sweep_id=sweep_id,
                trial_id=trial_id,
                dataset=self.store.trials.state(sweep_id, trial_id).dataset,
                config={},
                seed=spec.trial_seed(trial_id),
            )
            why = f"the {spec.sampler} sampler could not propose a config: {type(err).__name__}: {err}"
            self.store.results.save(TrialResult.of(planned, TrialStatus.FAILED, error=why[:500]))
            return False
        return True

    def send(self, sweep_id: str, trial_id: int, device_class: str, attempt: int = 1) -> None:
        """Queue one attempt of a trial (also used by the reconciler for re-queued attempts)."""
        spec = self.store.sweeps.trial_spec(sweep_id, trial_id, attempt)
        self.store.trials.add_inflight(device_class, spec.key)
        self.store.trials.update(sweep_id, trial_id, status=TrialStatus.QUEUED, attempt=attempt, dispatched=time.time())
        self.store.sweeps.apply(sweep_id, change(SweepEvent.DISPATCH))  # a no-op unless the sweep is still queued
        try:
            self.celery.send_task(
                TRAIN_TRIAL,
                args=[spec.model_dump(mode="json")],
                queue=keys.queue_name(device_class),
                time_limit=hard_limit_for(spec.limits.hard_time_limit_s, self.settings),
            )
        except kombu.exceptions.OperationalError as err:
            # Celery's transport error for a Redis that went away between our writes and the send:
            # callers retry on BrokerUnavailable; the trial, marked queued, is re-sent by the reconciler.
            raise BrokerUnavailable(f"could not queue trial {spec.key}: {err}") from err
