"""The trainer's Celery app for the live test stacks: `celery -A tests.held_trainer worker ...`.

It is `workers.tasks` (same app, task, signals and runner) with one hook: after a trial records
its first epoch, and only while a test has holding switched on, the trial waits until the test
releases it (tests/holds.py describes the protocol). Nothing here imports torch, as in workers.tasks:
the Celery parent imports this module before it forks its children.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import redis

from broker.connection import connect
from tests.holds import HOLD_LIMIT_S, HOLDING, held_key, release_key
from trials.specs import EpochMetrics, TrialResult, TrialSpec
from workers.tasks import app
from workers.trial_runner import TrialRunner

__all__ = ["app"]

#: Where the Celery parent notes each module its own threads import for the first time (`<dir>/<pid>`), when a
#: test stack sets it: a child forked meanwhile would deadlock importing that module (workers/tasks.py).
THREAD_IMPORTS_DIR = "SWEEPRANK_TEST_THREAD_IMPORTS_DIR"


def _note_thread_imports(directory: Path, parent: int) -> None:
    def note(event: str, args: tuple[Any, ...]) -> None:
        if event == "import" and os.getpid() == parent and threading.current_thread() is not threading.main_thread():
            with (directory / str(parent)).open("a") as out:
                out.write(f"{threading.current_thread().name} imported {args[0]}\n")

    sys.addaudithook(note)


if os.environ.get(THREAD_IMPORTS_DIR):
    _note_thread_imports(Path(os.environ[THREAD_IMPORTS_DIR]), os.getpid())

_train_guarded = TrialRunner._train_guarded


@cache
def _redis(url: str, pid: int) -> redis.Redis:
    """One client per process (keyed by pid: a forked child must not reuse its parent's sockets)."""
    return connect(url)


def _hold(runner: TrialRunner, spec: TrialSpec) -> None:
    r = _redis(runner.settings.redis_url, os.getpid())
    r.hset(held_key(spec.sweep_id), f"{spec.trial_id}:{spec.attempt}", os.getpid())
    release = release_key(spec.sweep_id, spec.trial_id, spec.attempt)
    deadline = time.monotonic() + HOLD_LIMIT_S
    while r.exists(HOLDING) and not r.exists(release) and time.monotonic() < deadline:
        time.sleep(0.05)


def _train_guarded_with_hold(
    self: TrialRunner,
    spec: TrialSpec,
    on_epoch: Callable[[EpochMetrics], None],
    should_stop: Callable[[], bool],
    should_prune: Callable[[EpochMetrics], bool] | None,
) -> TrialResult:
    def on_epoch_then_hold(metrics: EpochMetrics) -> None:
        on_epoch(metrics)
        if metrics.epoch == 1 and _redis(self.settings.redis_url, os.getpid()).exists(HOLDING):
            _hold(self, spec)

    return _train_guarded(self, spec, on_epoch_then_hold, should_stop, should_prune)


TrialRunner._train_guarded = _train_guarded_with_hold  # type: ignore[method-assign]
