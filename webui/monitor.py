"""The queue monitor's view of the pool: workers with their current trials, queues, throughput, failures."""

from __future__ import annotations

import re
import time

from broker.settings import Settings
from broker.store import Store
from trials.records import QueueStatus, RunningTrial, WorkerStatus
from trials.specs import TrialStatus

HOUR_S = 3600.0


def worker_name(trial_worker: str) -> str:
    # Trainers record "WORKER:PID" (the Celery worker name, then the child's pid) on each trial.
    return trial_worker.rpartition(":")[0] or trial_worker


def running_trials(store: Store) -> list[RunningTrial]:
    """Trials of active sweeps that a trainer is running now, with epoch progress and an ETA (reads O(running))."""
    now = time.time()
    running = []
    for sweep_id in store.sweeps.active_ids():
        for trial_id, state in store.trials.states_of(sweep_id, store.trials.running_ids(sweep_id)).items():
            if state.status != TrialStatus.RUNNING:
                continue
            epoch, epochs, started = state.epoch or 0, state.epochs, state.started
            eta = None
            if epoch and epochs and started:
                eta = (now - started) / epoch * (epochs - epoch)
            running.append(
                RunningTrial(
                    sweep_id=sweep_id,
                    trial_id=trial_id,
                    worker=state.worker or "",
                    dataset=state.dataset,
                    epoch=epoch,
                    epochs=epochs,
                    started=started,
                    eta_s=eta,
                    val_accuracy=state.val_accuracy,
                )
            )
    return running


def done_by_worker(store: Store, since: float) -> tuple[int, dict[str, int]]:
    """Results stored since `since` (to the minute): the pool's count and each worker's."""
    counts: dict[str, int] = {}
    for trial_worker, n in store.results.done_by_worker_since(since).items():
        counts[worker_name(trial_worker)] = counts.get(worker_name(trial_worker), 0) + n
    return sum(counts.values()), counts


def queue_view(store: Store, settings: Settings) -> QueueStatus:
    now = time.time()
    running = running_trials(store)
    done, by_worker = done_by_worker(store, now - HOUR_S)
    workers = [
        WorkerStatus(
            **worker.model_dump(),
            age_s=round(now - worker.heartbeat, 1),
            current=[t for t in running if worker_name(t.worker) == worker.name],
            done_last_hour=by_worker.get(worker.name, 0),
        )
        for worker in store.workers.live(settings.worker_ttl_s)
    ]
    return QueueStatus(
        workers=workers,
        queues=store.trials.queue_depths(("cpu", "gpu")),
        inflight={dc: len(store.trials.inflight(dc)) for dc in ("cpu", "gpu")},
        pending_by_owner=store.sweeps.pending_by_owner(),
        running=running,
        throughput_per_hour=done,
        recent_failures=store.health.recent_failures(),
        counters=store.health.counters(),
        time=now,
    )


# A trainer's name ("cpu@host"), with the pid of a pool child ("cpu@host:1234"): in failure messages too.
_TRAINER_NAME = re.compile(r"[\w.-]+@[\w.-]+(?::\d+)?")


def without_hosts(view: QueueStatus) -> QueueStatus:
    """The view anonymous callers get: trainers numbered, no host names nor pids (members see them)."""
    alias = {worker.name: f"trainer-{n}" for n, worker in enumerate(view.workers, 1)}

    def hidden(trial_worker: str) -> str:
        return alias.get(worker_name(trial_worker), "a trainer")

    def running(trials: list[RunningTrial]) -> list[RunningTrial]:
        return [t.model_copy(update={"worker": hidden(t.worker)}) for t in trials]

    workers = [
        w.model_copy(update={"name": alias[w.name], "host": "", "pid": None, "current": running(w.current)})
        for w in view.workers
    ]
    failures = [
        f.model_copy(update={"worker": hidden(f.worker), "error": _TRAINER_NAME.sub("a trainer", f.error)})
        for f in view.recent_failures
    ]
    return view.model_copy(update={"workers": workers, "running": running(view.running), "recent_failures": failures})
