"""How fast the pool recovers, on trainers whose claims never expire during the test.

With claims of an hour only the fast paths can bring a trial back: the trainer's Celery
parent re-queueing the trial of a child it saw die, and trainers carrying on after Redis
restarts. A test that waited for a claim to expire would time out instead.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from broker import keys
from broker.processes import pid_alive
from tests.faults.conftest import (
    TRIAL_NARROW,
    FaultStack,
    Figures,
    duplicated_metric_rows,
    running_stack,
    wait_done,
)
from tests.helpers import wait_until
from trials.specs import TrialStatus
from trials.trial_state import TrialState

NEVER_EXPIRES_S = 3600
TRAINER = "longclaims@test"
SKIPPED_DELIVERIES = ("redeliveries_skipped", "superseded_deliveries_skipped", "concurrent_deliveries_refused")


@pytest.fixture(scope="module")
def long_claims(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaultStack]:
    yield from running_stack(tmp_path_factory, TRAINER, SWEEPRANK_CLAIM_TTL_S=str(NEVER_EXPIRES_S))


def trainer_process(stack: FaultStack) -> subprocess.Popen[bytes]:
    """The latest trainer process started for the stack's trainer."""
    return [p for label, p in stack.stack.children if label == f"trainer-{TRAINER}"][-1]


def trainer_log(stack: FaultStack) -> Path:
    return stack.log_dir / f"trainer-{TRAINER}.log"


def revive_trainer(stack: FaultStack, log_from: int) -> None:
    """Once Redis is back: the trainer reconnects by itself, never stopping (workers/reconnect.py)."""

    def outcome() -> bytes | None:
        logged = trainer_log(stack).read_bytes()[log_from:]
        return next((word for word in (b"Unrecoverable error", b"Connected to") if word in logged), None)

    assert wait_until(outcome, 120, what="the trainer to reconnect") == b"Connected to", trainer_log(stack).read_text()


def skipped_deliveries(stack: FaultStack) -> int:
    counters = stack.store.health.counters()
    return sum(counters.get(name, 0) for name in SKIPPED_DELIVERIES)


def second_attempt_running(stack: FaultStack, sweep_id: str) -> TrialState:
    """The state of trial 0 once its attempt 2 runs (claims here last an hour: only a fast path gets there)."""
    state: TrialState = wait_until(
        lambda: (s := stack.store.trials.state(sweep_id, 0)).attempt == 2 and s.status == TrialStatus.RUNNING and s,
        120,
        what="attempt 2 to run (the claim of attempt 1 expires only in an hour)",
    )
    return state


def completed_once_by_attempt_2(stack: FaultStack, sweep_id: str) -> None:
    wait_done(stack, sweep_id, timeout_s=120)
    results = stack.store.results.in_arrival_order(sweep_id)
    assert [(r.trial_id, r.attempt, r.status.value) for r in results] == [(0, 2, "completed")]
    assert duplicated_metric_rows(stack, sweep_id) == 0


def test_a_killed_trainer_child_s_trial_runs_its_next_attempt_at_once(
    long_claims: FaultStack, figures: Figures
) -> None:
    stack = long_claims
    skipped_before = skipped_deliveries(stack)
    with stack.holding() as holds:
        sweep_id = stack.submit(n_trials=1, limits={"max_attempts": 3})
        pid = holds.wait_held(sweep_id, 0, 1)
        assert stack.store.trials.claim_holder(sweep_id, 0) == f"1|longclaims@test:{pid}"
        killed = time.monotonic()
        stack.kill(pid)
        state = second_attempt_running(stack, sweep_id)
        next_attempt_s = time.monotonic() - killed
    figures(f"trainer child kill -> next attempt running in {next_attempt_s:.1f} s")
    assert state.losses == 1 and "died" in (state.last_loss or ""), state
    completed_once_by_attempt_2(stack, sweep_id)
    assert skipped_deliveries(stack) == skipped_before, "the dead attempt's message was not delivered again"
    # The parent re-queued the trial from a thread while its pool forked the replacement child: had that thread
    # imported a module for the first time, a child forked meanwhile would hang on its first import of it.
    assert stack.thread_imports() == [], "a trainer parent's thread imported while its pool could fork"


def test_a_trainer_killed_whole_and_restarted_requeues_its_trial_at_once(
    long_claims: FaultStack, figures: Figures
) -> None:
    stack = long_claims
    trainer = trainer_process(stack)
    with stack.holding() as holds:
        sweep_id = stack.submit(n_trials=1)
        child = holds.wait_held(sweep_id, 0, 1)
        # The parent and its children together, as when a host's stack is stopped with Redis.
        os.killpg(trainer.pid, signal.SIGKILL)
        trainer.wait()
        wait_until(lambda: not pid_alive(child), 30, what="the trainer's child to be gone")
        restarted = time.monotonic()
        stack.start_trainer(slots=2, name=TRAINER)
        state = second_attempt_running(stack, sweep_id)
        next_attempt_s = time.monotonic() - restarted
    figures(f"trainer killed whole and restarted -> next attempt running {next_attempt_s:.1f} s after the restart")
    assert state.losses == 1 and "was gone" in (state.last_loss or ""), state
    completed_once_by_attempt_2(stack, sweep_id)


def test_a_trial_cut_off_by_a_long_redis_outage_is_handed_back_when_redis_returns(
    long_claims: FaultStack, figures: Figures
) -> None:
    stack = long_claims
    with stack.holding() as holds:
        sweep_id = stack.submit(n_trials=1)
        holds.wait_held(sweep_id, 0, 1)
        log_from = trainer_log(stack).stat().st_size
        stack.kill_redis()
        # Redis stays away until the trial has given up riding out the outage (broker.connection).
        wait_until(
            lambda: f"Redis unreachable during trial {sweep_id}:0:1" in trainer_log(stack).read_text(),
            120,
            what="the trial to give up waiting for Redis",
        )
        stack.start_redis()
        restarted = time.monotonic()
        revive_trainer(stack, log_from)
        state = second_attempt_running(stack, sweep_id)
        next_attempt_s = time.monotonic() - restarted
    figures(f"trial cut off by a long Redis outage -> next attempt running {next_attempt_s:.1f} s after the restart")
    # Handed back, not lost: an outage must not use up the trial's attempts (nor wait for a reconciler pass).
    assert state.losses == 0 and state.last_loss == "Redis unreachable during the trial", state
    completed_once_by_attempt_2(stack, sweep_id)


def first_progress_after(stack: FaultStack, sweep_id: str, t: float) -> float | None:
    """When the sweep's first epoch after time `t` was stored (the metrics stream's ids are Redis' clock, ms)."""
    entries = stack.redis_client.xrange(keys.metrics(sweep_id), min=f"({int(t * 1000)}", count=1)
    return int(entries[0][0].split("-")[0]) / 1000 if entries else None


def test_redis_killed_and_restarted_from_aof_loses_no_result(long_claims: FaultStack, figures: Figures) -> None:
    stack = long_claims
    sweep_id = stack.submit(n_trials=16, narrow=TRIAL_NARROW | {"batch_size": {"choices": [32, 64]}})
    before = wait_until(lambda: (n := stack.store.sweeps.get(sweep_id).n_final) >= 4 and n, 120, what="4 results")
    stored_before = {r.trial_id: r for r in stack.store.results.in_arrival_order(sweep_id)}
    killed, log_from = time.time(), trainer_log(stack).stat().st_size
    stack.kill_redis()
    time.sleep(2.0)  # the outage
    stack.start_redis()
    revive_trainer(stack, log_from)
    back = wait_until(
        lambda: first_progress_after(stack, sweep_id, killed), 120, what="an epoch stored after the restart"
    )
    wait_done(stack, sweep_id, timeout_s=240)
    results = stack.store.results.in_arrival_order(sweep_id)
    by_trial = Counter(r.trial_id for r in results)
    lost = [t for t, r in stored_before.items() if stack.store.results.get(sweep_id, t) != r]
    figures(
        f"redis kill -> back in {back - killed:.1f} s (results lost: {len(lost)}); killed after {before} results, "
        f"{len(by_trial)}/16 trials final, {duplicated_metric_rows(stack, sweep_id)} duplicated metric rows"
    )
    assert lost == [] and sorted(by_trial) == list(range(16)) and set(by_trial.values()) == {1}
    assert duplicated_metric_rows(stack, sweep_id) == 0
