"""One delivery of one trial, from claim to stored result, free of Celery.

Celery delivers at least once (acks_late), so this is written to be idempotent:
a trial that already has a final result is not run again, a second delivery
while the first still holds the claim backs off, and the store keeps only the
first final result. torch is imported inside `run`, never at module import,
because the Celery parent must not touch torch before it forks (DESIGN.md 5).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from broker.settings import Settings
from broker.store import Store
from trials.specs import EpochMetrics, SweepStatus, TrialResult, TrialSpec, TrialStatus

log = logging.getLogger(__name__)

STOPPING = (SweepStatus.CANCELLED, SweepStatus.STOPPED_STABLE)


def _cancelled_result(spec: TrialSpec, worker: str, why: str) -> TrialResult:
    return TrialResult(
        sweep_id=spec.sweep_id,
        trial_id=spec.trial_id,
        attempt=spec.attempt,
        dataset=spec.dataset,
        config=spec.config,
        status=TrialStatus.CANCELLED,
        worker=worker,
        error=why,
    )


class TrialRunner:
    def __init__(
        self,
        store: Store,
        settings: Settings,
        worker: str,
        device: str,
        after_trial: Callable[[], object] = lambda: None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.worker = worker
        self.device = device
        self.after_trial = after_trial

    def run(self, spec: TrialSpec, device_class: str = "cpu") -> str:
        """Run the trial unless it is done or held elsewhere; returns what happened."""
        try:
            return self._run(spec)
        finally:
            self.store.remove_inflight(device_class, spec.key)
            self.after_trial()

    def _run(self, spec: TrialSpec) -> str:
        if self.store.result(spec.sweep_id, spec.trial_id) is not None:
            self.store.count("redeliveries_skipped")
            return "already final"
        if self.store.status(spec.sweep_id) in STOPPING:
            self.store.store_result(_cancelled_result(spec, self.worker, "sweep ended before the trial started"))
            return "cancelled before start"
        if not self.store.claim(spec, self.worker, self.settings.claim_ttl_s):
            return "held by another attempt"
        try:
            result = self._train(spec)
            self.store.store_result(result)
            return result.status.value
        finally:
            self.store.release_claim(spec)

    def _train(self, spec: TrialSpec) -> TrialResult:
        self.store.update_trial(
            spec.sweep_id,
            spec.trial_id,
            status=TrialStatus.RUNNING.value,
            attempt=spec.attempt,
            worker=self.worker,
            started=time.time(),
            epoch=0,
            epochs=spec.config.get("epochs"),
        )

        def on_epoch(metrics: EpochMetrics) -> None:
            self.store.record_epoch(metrics)
            self.store.update_trial(
                spec.sweep_id,
                spec.trial_id,
                epoch=metrics.epoch,
                val_accuracy=metrics.val_accuracy,
                train_loss=metrics.train_loss,
            )
            self.store.refresh_claim(spec, self.settings.claim_ttl_s)

        def should_stop() -> bool:
            return self.store.status(spec.sweep_id) in STOPPING

        try:
            from workers.trainer.loop import run_trial

            return run_trial(spec, device=self.device, on_epoch=on_epoch, should_stop=should_stop, worker=self.worker)
        except Exception as err:  # a broken trial must end as `failed`, not take the worker down
            log.exception("trial %s failed", spec.key)
            return TrialResult(
                sweep_id=spec.sweep_id,
                trial_id=spec.trial_id,
                attempt=spec.attempt,
                dataset=spec.dataset,
                config=spec.config,
                status=TrialStatus.FAILED,
                worker=self.worker,
                device=self.device,
                error=f"{type(err).__name__}: {err}"[:500],
            )
