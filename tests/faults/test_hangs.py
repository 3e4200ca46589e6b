"""A trainer's pool child that hangs mid-trial (SIGSTOP: alive, silent) is shown in health, killed by its
parent once its claim expires, and its trial runs its next attempt; the trainer pings systemd's watchdog.

The trial is held after its first epoch (tests/holds.py), so it is mid-training when its child is stopped.
"""

from __future__ import annotations

import os
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from broker.processes import pid_alive
from broker.settings import Settings
from tests.faults.conftest import FaultStack, Figures, duplicated_metric_rows, running_stack, wait_done
from tests.helpers import wait_until
from trials.records import TrainerHealth
from webui.health import health_report

TRAINER = "hangs@test"
CLAIM_TTL_S = 4  # a child silent for 2 s is shown hung, for 4 s killed


@pytest.fixture(scope="module")
def notify_socket(tmp_path_factory: pytest.TempPathFactory) -> Iterator[socket.socket]:
    """A stand-in for systemd's notification socket (a unix datagram socket)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(tmp_path_factory.mktemp("notify") / "notify.sock"))
        sock.settimeout(60)
        yield sock


@pytest.fixture(scope="module")
def hangs(tmp_path_factory: pytest.TempPathFactory, notify_socket: socket.socket) -> Iterator[FaultStack]:
    env = {"SWEEPRANK_CLAIM_TTL_S": str(CLAIM_TTL_S), "NOTIFY_SOCKET": str(notify_socket.getsockname())}
    yield from running_stack(tmp_path_factory, TRAINER, **env)


def trainer(stack: FaultStack) -> TrainerHealth:
    health = health_report(Settings(redis_url=stack.redis_url, claim_ttl_s=CLAIM_TTL_S), server_pid=os.getpid())
    return next(t for t in health.services.trainers if t.name == TRAINER)


def test_the_trainer_tells_systemd_it_is_ready_and_alive(hangs: FaultStack, notify_socket: socket.socket) -> None:
    received = {notify_socket.recv(64).decode() for _ in range(3)}
    assert received == {"READY=1", "WATCHDOG=1"}


def test_a_hung_trainer_child_is_shown_in_health_killed_and_its_trial_run_again(
    hangs: FaultStack, figures: Figures
) -> None:
    stack = hangs
    parent = next(p.pid for label, p in stack.stack.children if label == f"trainer-{TRAINER}")
    assert trainer(stack).ok
    with stack.holding() as holds:
        sweep_id = stack.submit(n_trials=1, limits={"max_attempts": 3})
        child = holds.wait_held(sweep_id, 0, 1)
        os.kill(child, signal.SIGSTOP)
        stopped = time.monotonic()
        shown = wait_until(lambda: child in (t := trainer(stack)).hung and t, 60, 0.05, what="health to show the hang")
        shown_s = time.monotonic() - stopped
        assert not shown.ok
        wait_until(lambda: not pid_alive(child), 60, what="the parent to kill its hung child")
        killed_s = time.monotonic() - stopped
        holds.wait_held(sweep_id, 0, 2)
        next_attempt_s = time.monotonic() - stopped
    wait_done(stack, sweep_id, timeout_s=120)
    results = stack.store.results.in_arrival_order(sweep_id)
    assert [(r.trial_id, r.attempt, r.status.value) for r in results] == [(0, 2, "completed")]
    assert duplicated_metric_rows(stack, sweep_id) == 0
    assert pid_alive(parent), "the trainer itself went on: only its hung child was replaced"
    wait_until(lambda: trainer(stack).ok and not trainer(stack).hung, 30, what="health to be ok again")
    figures(
        f"trainer child SIGSTOP mid-trial: shown hung in health after {shown_s:.1f} s, killed after {killed_s:.1f} s, "
        f"next attempt running after {next_attempt_s:.1f} s (claim TTL {CLAIM_TTL_S} s)"
    )


def test_the_units_ask_systemd_for_a_watchdog() -> None:
    deploy = Path(__file__).resolve().parents[2] / "deploy"
    for unit in ("sweeprank-trainer@.service", "sweeprank-analyst.service"):
        assert any(line.startswith("WatchdogSec=") for line in (deploy / unit).read_text().splitlines()), unit
