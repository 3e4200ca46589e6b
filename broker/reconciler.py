"""Finds trials whose worker vanished and gives them a new attempt, a bounded number of times.

Celery with Redis is at-least-once only in the happy path: when a prefork child
is killed (OOM, kill -9) Celery acknowledges its task on purpose, and a message
held by a whole worker that died comes back only after the visibility timeout
(celery#5935, kombu#337). So the truth is kept here instead: a running trial
holds a claim that its worker refreshes; an in-flight trial whose claim is gone
is lost. A lost trial gets attempt n+1, until it has been lost `max_attempts`
times; then it ends `failed: worker lost N times`, so a trial that kills its
worker every time cannot loop forever. The store refuses results of superseded
attempts, so exactly one final result per trial survives however many ran.
"""

from __future__ import annotations

import time
from collections import Counter

from broker.celery_app import DEVICE_CLASSES
from broker.dispatcher import Dispatcher
from broker.store import Store
from trials.specs import TrialResult, TrialStatus

# A dispatched trial is normally claimed within seconds: slots are never overbooked.
DISPATCH_GRACE_S = 60.0


def replace_attempt(
    store: Store, dispatcher: Dispatcher, trial_key: str, device_class: str, reason: str, lost: bool
) -> str:
    """End attempt n of a trial and queue attempt n+1 (or fail it when lost too often)."""
    sweep_id, trial_raw, attempt_raw = trial_key.split(":")
    trial_id, attempt = int(trial_raw), int(attempt_raw)
    store.trials.remove_inflight(device_class, trial_key)
    spec = store.sweeps.trial_spec(sweep_id, trial_id, attempt)
    losses = int(store.trials.state(sweep_id, trial_id).get("losses", 0)) + int(lost)
    ending = None
    if losses >= spec.limits.max_attempts:
        ending = TrialResult.of(spec, TrialStatus.FAILED, error=f"worker lost {losses} times")
    elif store.sweeps.status(sweep_id).stopping:
        ending = TrialResult.of(spec, TrialStatus.CANCELLED, error=reason)
    if ending is not None:
        store.trials.update(sweep_id, trial_id, if_attempt=attempt, losses=losses)
        store.results.save(ending)
        return ending.status.value
    # Check-and-set on the attempt: if another reconciler got here first, leave it to them.
    if not store.trials.update(
        sweep_id,
        trial_id,
        if_attempt=attempt,
        attempt=attempt + 1,
        losses=losses,
        last_loss=reason,
        status=TrialStatus.QUEUED.value,
    ):
        return "already replaced"
    store.health.count("trials_requeued")
    dispatcher.send(sweep_id, trial_id, device_class, attempt + 1)
    return "requeued"


class Reconciler:
    def __init__(self, store: Store, dispatcher: Dispatcher, dispatch_grace_s: float = DISPATCH_GRACE_S) -> None:
        self.store = store
        self.dispatcher = dispatcher
        self.dispatch_grace_s = dispatch_grace_s

    def run_once(self) -> Counter[str]:
        """One pass over every in-flight trial; returns what was done, by outcome."""
        outcomes: Counter[str] = Counter()
        for device_class in DEVICE_CLASSES:
            consumers = self.dispatcher.capacity(device_class) > 0
            for trial_key in self.store.trials.inflight(device_class):
                verdict = self._verdict(trial_key, consumers)
                if verdict == "stale":
                    self.store.trials.remove_inflight(device_class, trial_key)
                elif verdict:
                    outcomes[
                        replace_attempt(self.store, self.dispatcher, trial_key, device_class, verdict, lost=True)
                    ] += 1
        return outcomes

    def _verdict(self, trial_key: str, consumers: bool) -> str:
        """'' when the attempt is fine, 'stale' for a dead entry, else why it is lost."""
        sweep_id, trial_raw, attempt_raw = trial_key.split(":")
        trial_id = int(trial_raw)
        if self.store.results.get(sweep_id, trial_id) is not None:
            return "stale"
        state = self.store.trials.state(sweep_id, trial_id)
        if int(state.get("attempt", 1)) != int(attempt_raw):
            return "stale"
        if self.store.trials.claim_holder(sweep_id, trial_id) is not None:
            return ""
        if state.get("status") == TrialStatus.RUNNING.value:
            return f"worker {state.get('worker', '?')} stopped heartbeating"
        waited = time.time() - float(state.get("dispatched", time.time()))
        if consumers and waited > self.dispatch_grace_s:
            return f"queued {waited:.0f} s without being started"
        return ""
