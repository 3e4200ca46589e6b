"""One delivery of one trial, from claim to stored result, free of Celery.

Celery delivers at least once (acks_late), so this is written to be idempotent:
a trial that already has a final result, or whose attempt was superseded by the
reconciler, is not run; a second delivery while another holds the claim backs
off; and the store keeps only the first final result of the current attempt.
While training, a heartbeat thread keeps the claim alive, so the reconciler can
tell a long epoch from a dead worker. torch is imported inside the task, never
at module import: the Celery parent must not touch torch before it forks.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress

from broker.connection import BrokerError
from broker.dispatcher import Dispatcher
from broker.reconciler import replace_attempt
from broker.retry import Interruption
from broker.settings import Settings
from broker.store import Store
from trials.specs import EpochMetrics, TrialResult, TrialSpec, TrialStatus

log = logging.getLogger(__name__)
# Between hand-back tries once the store's own ride-out (broker.connection) has given up.
OUTAGE_RETRY_S = 1.0
# A child's beat is kept this many claim TTLs: long enough for its parent's watchdog to see it silent.
CHILD_BEAT_KEPT_CLAIM_TTLS = 10


def _ended(spec: TrialSpec, worker: str, status: TrialStatus, why: str) -> TrialResult:
    return TrialResult.of(spec, status, worker=worker, error=why[:500])


class TrialRunner:
    def __init__(self, store: Store, settings: Settings, worker: str, device: str, dispatcher: Dispatcher) -> None:
        self.store = store
        self.settings = settings
        self.worker = worker
        self.device = device
        self.dispatcher = dispatcher

    def run(self, spec: TrialSpec, device_class: str = "cpu") -> str:
        """Run the trial unless it is done, superseded or held elsewhere; returns what happened."""
        try:
            return self._run(spec, device_class)
        finally:
            self.dispatcher.refill()

    def _run(self, spec: TrialSpec, device_class: str) -> str:
        if self.store.results.get(spec.sweep_id, spec.trial_id) is not None:
            self.store.health.count("redeliveries_skipped")
            return "already final"
        if self.store.trials.state(spec.sweep_id, spec.trial_id).current_attempt > spec.attempt:
            self.store.health.count("superseded_deliveries_skipped")
            return "superseded"
        if self.store.sweeps.status(spec.sweep_id).stopping:
            self.store.results.save(_ended(spec, self.worker, TrialStatus.CANCELLED, "sweep ended before the start"))
            self.store.trials.remove_inflight(device_class, spec.key)
            return "cancelled before start"
        if not self.store.trials.claim(spec, self.worker, self.settings.claim_ttl_s):
            self.store.health.count("concurrent_deliveries_refused")
            return "held by another attempt"
        released = False
        try:
            try:
                with self._heartbeat(spec):
                    result = self._train(spec)
            except BrokerError:
                released = self._hand_back_after_outage(spec, device_class)
                raise
            if self._draining() and result.status is TrialStatus.CANCELLED and not self._sweep_stopping(spec):
                # Free the claim first, or the next attempt could be refused by our own claim.
                self.store.trials.release_claim(spec, self.worker)
                released = True
                return replace_attempt(
                    self.store, self.dispatcher, spec.key, device_class, Interruption.shut_down(self.worker)
                )
            self.store.results.save(result)
            self.store.trials.remove_inflight(device_class, spec.key)
            return result.status.value
        finally:
            if not released:
                self.store.trials.release_claim(spec, self.worker)

    def _hand_back_after_outage(self, spec: TrialSpec, device_class: str) -> bool:
        """Redis was away for longer than the store rides out: once it is back, queue the next attempt.

        Left alone, the attempt's claim would keep the trial, and its slot, until the claim expired.
        Not a loss: the trial did nothing wrong. Gives up (False) when the claim would have
        expired by then anyway, and the reconciler takes over.
        """
        deadline = time.monotonic() + self.settings.claim_ttl_s
        while True:
            try:
                # Free the claim first, or the next attempt could be refused by our own claim.
                self.store.trials.release_claim(spec, self.worker)
                outcome = replace_attempt(
                    self.store, self.dispatcher, spec.key, device_class, Interruption.redis_outage()
                )
            except BrokerError:
                if time.monotonic() > deadline:
                    return False
                time.sleep(OUTAGE_RETRY_S)
                continue
            log.warning("trial %s after the Redis outage: %s", spec.key, outcome)
            return True

    @contextmanager
    def _heartbeat(self, spec: TrialSpec) -> Iterator[None]:
        """Refresh the claim from a thread: an epoch may last longer than the claim's TTL.

        Each beat is also this child's sign of life to its Celery parent, whose watchdog kills a child that
        stops beating (stopped, deadlocked), so that its slot and its trial come back (workers/tasks.py).
        """
        stop = threading.Event()
        interval = max(self.settings.claim_ttl_s / 4, 0.2)
        node, pid = self.worker.rpartition(":")[0], os.getpid()
        keep_s = CHILD_BEAT_KEPT_CLAIM_TTLS * self.settings.claim_ttl_s

        def beat() -> None:
            while not stop.wait(interval):
                try:
                    self.store.trials.refresh_claim(spec, self.settings.claim_ttl_s)
                    self.store.workers.child_beat(node, pid, keep_s)
                except Exception:  # Redis restarting; the next beat tries again
                    log.warning("claim heartbeat failed for %s", spec.key)

        self.store.workers.child_beat(node, pid, keep_s)
        thread = threading.Thread(target=beat, name="claim-heartbeat", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()
            with suppress(BrokerError):  # else the entry ages out; an idle child killed for it is replaced
                self.store.workers.child_idle(node, pid)

    def _draining(self) -> bool:
        """Whether our Celery parent was asked to shut down."""
        return self.store.workers.is_draining(socket.gethostname(), os.getppid())

    def _sweep_stopping(self, spec: TrialSpec) -> bool:
        return self.store.sweeps.status(spec.sweep_id).stopping

    def _train(self, spec: TrialSpec) -> TrialResult:
        self.store.trials.update(
            spec.sweep_id,
            spec.trial_id,
            if_attempt=spec.attempt,
            status=TrialStatus.RUNNING,
            worker=self.worker,
            started=time.time(),
            epoch=0,
            epochs=spec.config.get("epochs"),
        )

        def on_epoch(metrics: EpochMetrics) -> None:
            self.store.results.record_epoch(metrics)
            self.store.trials.update(
                spec.sweep_id,
                spec.trial_id,
                if_attempt=spec.attempt,
                epoch=metrics.epoch,
                val_accuracy=metrics.val_accuracy,
                train_loss=metrics.train_loss,
            )

        def should_stop() -> bool:
            return self._sweep_stopping(spec) or self._draining()

        return self._train_guarded(spec, on_epoch, should_stop, self._pruning(spec))

    def _pruning(self, spec: TrialSpec) -> Callable[[EpochMetrics], bool] | None:
        """The sweep's pruner between epochs, or None when the sweep prunes nothing."""
        sweep_spec = self.store.sweeps.spec(spec.sweep_id)
        if sweep_spec.pruner == "none":
            return None
        return lambda metrics: self.dispatcher.tuner.should_prune(sweep_spec, metrics, spec.dataset)

    def _train_guarded(
        self,
        spec: TrialSpec,
        on_epoch: Callable[[EpochMetrics], None],
        should_stop: Callable[[], bool],
        should_prune: Callable[[EpochMetrics], bool] | None,
    ) -> TrialResult:
        try:
            from workers.trainer.data import DataRoots
            from workers.trainer.loop import run_trial

            return run_trial(
                spec,
                roots=DataRoots.of(self.settings),
                device=self.device,
                on_epoch=on_epoch,
                should_stop=should_stop,
                worker=self.worker,
                should_prune=should_prune,
            )
        except BrokerError:
            # Not the trial's fault: the attempt is handed back once Redis is back (_hand_back_after_outage).
            log.warning("Redis unreachable during trial %s", spec.key)
            raise
        except Exception as err:  # a broken trial must end as `failed`, not take the worker down
            log.exception("trial %s failed", spec.key)
            result = _ended(spec, self.worker, TrialStatus.FAILED, f"{type(err).__name__}: {err}")
            return result.model_copy(update={"device": self.device})
