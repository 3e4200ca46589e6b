"""Finds trials whose worker vanished and gives them a new attempt, a bounded number of times.

Celery with Redis is at-least-once only in the happy path: when a prefork child
is killed (OOM, kill -9) Celery acknowledges its task on purpose, and a message
held by a whole worker that died comes back only after the visibility timeout
(celery#5935, kombu#337). So the truth is kept here instead: a running trial
holds a claim that its worker refreshes; an in-flight trial whose claim is gone
is lost. A lost trial gets attempt n+1 as the retry policy says (broker/retry.py:
at most `max_attempts` losses, so a trial that kills its worker every time cannot
loop forever). The store refuses results of superseded
attempts, so exactly one final result per trial survives however many ran.

The claim's TTL is the fallback for a whole host that vanished. When only a
prefork child dies, its Celery parent sees it at once (WorkerLostError) and
calls `recover_dead_delivery`, which frees the dead child's claim and then
decides through the same verdict and `replace_attempt` as a pass over claims.
A trainer that starts calls `recover_orphans` for the claims its previous life
(same node name, pid gone) left behind, e.g. when it was stopped with Redis.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from typing import Final, Literal

from broker.celery_app import DEVICE_CLASSES
from broker.dispatcher import Dispatcher
from broker.retry import DISPATCH_GRACE_S, Interruption, RetryPolicy, lost_in_queue
from broker.store import Store
from trials.specs import TrialKey, TrialResult, TrialSpec, TrialStatus

STALE: Final = "stale"
# What a look at an in-flight attempt finds: nothing to do (None), a dead entry, or why the attempt is lost.
Verdict = Interruption | Literal["stale"] | None


def replace_attempt(
    store: Store, dispatcher: Dispatcher, key: TrialKey, device_class: str, interruption: Interruption
) -> str:
    """End attempt n of a trial and queue attempt n+1, or end the trial, as the retry policy says."""
    sweep_id, trial_id, attempt = key.sweep_id, key.trial_id, key.attempt
    store.trials.remove_inflight(device_class, key)
    spec = store.sweeps.trial_spec(sweep_id, trial_id, attempt)
    after = RetryPolicy.of(spec.limits).after(
        store.trials.state(sweep_id, trial_id).losses, interruption, store.sweeps.status(sweep_id).stopping
    )
    if after.ending is not None:
        store.trials.update(sweep_id, trial_id, if_attempt=attempt, losses=after.losses)
        ending = TrialResult.of(spec, after.ending, error=after.error)
        store.results.save(ending)
        return ending.status.value
    # Check-and-set on the attempt: if another reconciler got here first, leave it to them.
    if not store.trials.update(
        sweep_id,
        trial_id,
        if_attempt=attempt,
        attempt=attempt + 1,
        losses=after.losses,
        last_loss=after.error,
        status=TrialStatus.QUEUED,
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
            for key in self.store.trials.inflight(device_class):
                outcome = self._settle(device_class, key, self._verdict(key, consumers))
                if outcome:
                    outcomes[outcome] += 1
        return outcomes

    def recover_dead_delivery(self, spec: TrialSpec, device_class: str, holder: str | None, why: str) -> str:
        """The process `holder` died while it ran this delivery of `spec`: give the trial its next attempt now.

        Only the dead process's own claim is freed, so an attempt held by anyone else is
        left alone; a final result or a superseded attempt makes it a no-op. `holder` is
        None when it is unknown (the parent never heard the child accept the task): the
        claim, if any, then expires on its TTL as after a whole-host loss.
        """
        if holder is not None:
            self.store.trials.release_claim(spec, holder)
        # The delivery is known dead, so an attempt it never got to claim is lost too, without the grace.
        verdict = self._verdict(spec.key, consumers=True, dispatch_grace_s=0.0)
        if isinstance(verdict, Interruption):
            verdict = Interruption.worker_died(why)
        return self._settle(device_class, spec.key, verdict)

    def recover_orphans(self, dead: Callable[[str], bool]) -> Counter[str]:
        """Next attempts for the in-flight trials whose claim holder is `dead` (a trainer starting up decides)."""
        outcomes: Counter[str] = Counter()
        for device_class in DEVICE_CLASSES:
            for key in self.store.trials.inflight(device_class):
                claim = self.store.trials.claimed_by(key.sweep_id, key.trial_id)
                if claim is None or claim[0] != key.attempt or not dead(claim[1]):
                    continue
                spec = self.store.sweeps.trial_spec(key.sweep_id, key.trial_id, claim[0])
                if outcome := self.recover_dead_delivery(spec, device_class, claim[1], f"worker {claim[1]} was gone"):
                    outcomes[outcome] += 1
        return outcomes

    def _settle(self, device_class: str, key: TrialKey, verdict: Verdict) -> str:
        """Act on a verdict; returns the outcome ('' when there was nothing to do)."""
        if isinstance(verdict, Interruption):
            return replace_attempt(self.store, self.dispatcher, key, device_class, verdict)
        if verdict == STALE:
            self.store.trials.remove_inflight(device_class, key)
        return ""

    def _verdict(self, key: TrialKey, consumers: bool, dispatch_grace_s: float | None = None) -> Verdict:
        """None when the attempt is fine, STALE for a dead entry, else why it is lost."""
        if self.store.results.get(key.sweep_id, key.trial_id) is not None:
            return STALE
        state = self.store.trials.state(key.sweep_id, key.trial_id)
        if state.current_attempt != key.attempt:
            return STALE
        if self.store.trials.claim_holder(key.sweep_id, key.trial_id) is not None:
            return None
        if state.status == TrialStatus.RUNNING:
            return Interruption.stopped_heartbeating(state.worker or "?")
        waited = time.time() - (state.dispatched or time.time())
        grace = self.dispatch_grace_s if dispatch_grace_s is None else dispatch_grace_s
        return Interruption.never_started(waited) if lost_in_queue(waited, consumers, grace) else None
