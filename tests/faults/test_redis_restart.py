"""A Redis restart while a trial trains: the trainer rides it out and the trial reports once Redis is back.

The trial is held after its first epoch (tests/holds.py), so it is mid-training while Redis goes away and
comes back on its port from its append-only file; it is released only once the trainer has reconnected.
The trainer has a free slot meanwhile, so its consumer was waiting for a message when the connection
dropped (the case kombu used to die of). Claims last an hour here: a trial that was lost could only come
back through a fast path, never by a claim expiring.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from broker.processes import pid_alive
from tests.faults.conftest import FaultStack, Figures, duplicated_metric_rows, running_stack, wait_done
from tests.helpers import wait_until

TRAINER = "survivor@test"


@pytest.fixture(scope="module")
def survivor(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaultStack]:
    yield from running_stack(tmp_path_factory, TRAINER, SWEEPRANK_CLAIM_TTL_S="3600")


def trainer_pid(stack: FaultStack) -> int:
    return next(p.pid for label, p in stack.stack.children if label == f"trainer-{TRAINER}")


def trainer_log(stack: FaultStack, start: int = 0) -> bytes:
    return (stack.log_dir / f"trainer-{TRAINER}.log").read_bytes()[start:]


def log_size(stack: FaultStack) -> int:
    return len(trainer_log(stack))


def restart_redis_once_the_trainer_misses_it(stack: FaultStack) -> float:
    """Kill Redis, start it again from its AOF once the trainer has tried it twice in vain; seconds it was away."""
    log_from = log_size(stack)
    stack.kill_redis()
    down_at = time.monotonic()
    wait_until(lambda: trainer_log(stack, log_from).count(b"Cannot connect") >= 2, 60, what="two failed reconnects")
    stack.start_redis()
    away_s = time.monotonic() - down_at
    wait_until(
        lambda: any(word in trainer_log(stack, log_from) for word in (b"Connected to", b"Unrecoverable")),
        60,
        what="the trainer to reconnect",
    )
    return away_s


def test_a_redis_restart_mid_trial_neither_stops_the_trainer_nor_restarts_the_trial(
    survivor: FaultStack, figures: Figures
) -> None:
    stack = survivor
    parent = trainer_pid(stack)
    log_from = log_size(stack)
    with stack.holding() as holds:
        sweep_id = stack.submit(n_trials=1)
        child = holds.wait_held(sweep_id, 0, 1)
        away_s = restart_redis_once_the_trainer_misses_it(stack)
    wait_done(stack, sweep_id, timeout_s=120)
    result = stack.store.results.get(sweep_id, 0)
    assert result is not None and (result.attempt, result.status.value) == (1, "completed"), result
    assert result.worker == f"{TRAINER}:{child}", "finished by the child that trained before the restart"
    assert len(stack.store.results.in_arrival_order(sweep_id)) == 1 and duplicated_metric_rows(stack, sweep_id) == 0
    # The trainer lives on, and works: its next trial is acknowledged on the new connection.
    after = stack.submit(n_trials=1)
    wait_done(stack, after, timeout_s=120)
    assert pid_alive(parent) and trainer_pid(stack) == parent
    assert b"Unrecoverable" not in trainer_log(stack, log_from), trainer_log(stack, log_from).decode()[-3000:]
    # Nothing was re-queued: the acknowledgement after the restart reached Redis.
    assert stack.store.health.counters().get("redeliveries_skipped", 0) == 0
    figures(
        f"redis restart ({away_s:.1f} s away) mid-trial: trainer pid kept, trial finished by attempt 1, "
        f"0 s of training lost (a lost trial would have restarted from epoch 0: {result.wall_time_s:.1f} s)"
    )
