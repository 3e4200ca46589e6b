"""Celery glue for trainer processes: `celery -A workers.tasks worker -Q trials.cpu`.

The parent registers the worker (slots, queues, device) with a heartbeat so the
dispatcher knows the pool's capacity; children run trials through TrialRunner.
Nothing here imports torch: the children import it lazily when a trial starts.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from functools import cache
from typing import Any

from celery import signals

from broker.celery_app import TRAIN_TRIAL, device_class_of, make_celery
from broker.connection import BrokerError
from broker.dispatcher import Dispatcher
from broker.processes import notify_service_manager, parent_of
from broker.settings import process_settings
from broker.store import Store
from broker.store.workers import hung_after_s, silent_children
from trials.json_types import JSONObject
from trials.presets import PRESETS, preset
from trials.records import WorkerInfo
from trials.specs import TrialSpec
from workers.lifeline import die_with_parent
from workers.reconnect import CONSUMER
from workers.trial_request import TrialRequest, holder_name, recover_orphans
from workers.trial_runner import TrialRunner

log = logging.getLogger(__name__)
HEARTBEAT_S = 5.0
# The app this trainer process runs (`celery -A workers.tasks worker`), from the settings it was started with.
app = make_celery(process_settings())
# A trainer waits for Redis as long as it is away (its supervisor decides when to give up) and
# reconnects within a second of its return (workers/reconnect.py).
app.conf.update(worker_consumer=CONSUMER, broker_connection_max_retries=None)
_stop_heartbeat = threading.Event()


def device() -> str:
    return process_settings().device


def device_class() -> str:
    return device_class_of(device())


@cache
def _runner(pid: int, worker_name: str) -> TrialRunner:
    """One runner per child process (keyed by pid: a forked child must not reuse its parent's sockets).

    torch is set up here, at the child's first trial, not at process start: importing
    it takes seconds, longer than Celery waits for a new child to say it is up.
    """
    settings = process_settings()
    if settings.torch_threads is not None:
        from workers.trainer.loop import configure_threads

        configure_threads(settings.torch_threads)
    store = Store.from_url(settings.redis_url)
    dispatcher = Dispatcher(store, app, settings)
    return TrialRunner(store, settings, holder_name(worker_name, pid), device(), dispatcher)


# TrialRequest: the parent re-queues the trial at once when the child running it dies.
@app.task(name=TRAIN_TRIAL, acks_late=True, bind=True, Request=TrialRequest)
def train_trial(task: Any, raw_spec: JSONObject) -> str:
    runner = _runner(os.getpid(), str(task.request.hostname or socket.gethostname()))
    return runner.run(TrialSpec.model_validate(raw_spec), device_class())


def gpu_status(gpu: str) -> dict[str, str | int]:
    """Name and memory of the worker's GPU from nvidia-smi (never torch: this is the Celery parent)."""
    if not gpu or shutil.which("nvidia-smi") is None:
        return {}
    try:
        out = subprocess.run(
            ["nvidia-smi", "-i", gpu, "--query-gpu=name,memory.used,memory.total", "--format=csv,noheader,nounits"],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return {}
    return parse_gpu_status(out.stdout) if out.returncode == 0 else {}


def parse_gpu_status(csv_line: str) -> dict[str, str | int]:
    name, used, total = (part.strip() for part in csv_line.strip().splitlines()[0].split(","))
    return {"gpu_name": name, "gpu_memory_used_mib": int(used), "gpu_memory_total_mib": int(total)}


def _worker_info(consumer: Any) -> WorkerInfo:
    return WorkerInfo(
        host=socket.gethostname(),
        device=device(),
        gpu=os.environ.get("CUDA_VISIBLE_DEVICES", ""),
        queues=sorted(q.name for q in consumer.app.amqp.queues.consume_from.values()),
        slots=int(consumer.controller.concurrency),
        pid=os.getpid(),
    )


@signals.worker_init.connect
def _import_before_forking(**_: Any) -> None:
    """Load, in the parent's main thread before its pool forks, what its threads would import for the first time.

    A forked child inherits the import locks that the parent's other threads hold, and never sees them released:
    a child forked while the parent's recovery thread (workers/trial_request.py, started just as the pool replaces
    a dead child) imports a module hangs at its own first import of it, and never runs its task. Those threads
    validate specs, which read the shipped spaces through importlib.resources (tests/faults/test_recovery.py
    fails if a parent's thread imports anything).
    """
    for name in PRESETS:
        preset(name)


@signals.worker_process_init.connect
def _die_with_the_worker(**_: Any) -> None:
    """A pool child dies with its Celery parent, however that one died: never an orphan training on alone.

    Its trial keeps its claim under this pid: the node's next start re-queues it (recover_orphans), else the claim TTL.
    """
    die_with_parent(os.getppid(), signal.SIGKILL)


@signals.worker_ready.connect
def _register(sender: Any, **_: Any) -> None:
    settings = process_settings()
    store = Store.from_url(settings.redis_url)
    name, info = str(sender.hostname), _worker_info(sender)
    recover_orphans(app, name)

    def beat() -> None:
        while True:
            # Whatever Redis does: a trainer waiting for Redis is not hung, and must not be restarted.
            notify_service_manager("WATCHDOG=1")
            try:
                # Datasets every beat: one prepared while the trainer runs is offered at once.
                found = {"datasets": settings.prepared_datasets()}
                beat_info = WorkerInfo.model_validate(info.model_dump() | gpu_status(info.gpu) | found)
                store.workers.register(name, beat_info, settings.worker_ttl_s)
                kill_hung_children(store, name, settings.claim_ttl_s)
                Dispatcher(store, app, settings, asks=False).refill()
            except Exception:  # Redis restarting: keep beating, the next beat re-registers
                pass
            if _stop_heartbeat.wait(HEARTBEAT_S):
                return

    notify_service_manager("READY=1")

    threading.Thread(target=beat, name="sweeprank-heartbeat", daemon=True).start()


def kill_hung_children(store: Store, name: str, claim_ttl_s: float) -> None:
    """Kill this trainer's pool children that stopped beating mid-trial (workers/trial_runner.py's heartbeat).

    A stopped or deadlocked child never dies by itself: its slot would stay busy for ever, and its trial
    would wait for its claim to expire. Killed, it is replaced by the pool, and its trial gets its next
    attempt at once, as for any child that dies (workers/trial_request.py). Entries of children that
    are gone, or not ours, are dropped.
    """
    beats = store.workers.child_beats(name)
    hung = silent_children(beats, time.time(), hung_after_s(claim_ttl_s))
    for pid in beats:
        if parent_of(pid) != os.getpid():
            store.workers.child_idle(name, pid)
        elif pid in hung:
            log.warning("pool child %d hung (no beat for %.0f s mid-trial): killing it", pid, hung[pid])
            os.kill(pid, signal.SIGKILL)  # a stopped process ignores every other signal


@signals.worker_shutting_down.connect
def _drain(**_: Any) -> None:
    """Children hand their running trials back at the next epoch instead of finishing them."""
    try:
        _shutdown_store().workers.raise_drain_flag(socket.gethostname(), os.getpid())
    except BrokerError as err:
        log.warning("could not raise the drain flag (%s): running trials are re-queued when this node restarts", err)


@signals.worker_shutdown.connect
def _unregister(sender: Any, **_: Any) -> None:
    _stop_heartbeat.set()
    try:
        _shutdown_store().workers.unregister(str(sender.hostname))
    except BrokerError as err:
        log.warning("could not unregister (%s): the heartbeat expires instead", err)


def _shutdown_store() -> Store:
    """A store that does not ride out a Redis restart: a trainer stopping because Redis (or its whole
    stack) went away must not wait ~30 s per command for it; its heartbeat expires and its claims are
    re-queued when the node starts again (recover_orphans) or by the claim TTL."""
    return Store.from_url(process_settings().redis_url, ride_out_restarts=False)
