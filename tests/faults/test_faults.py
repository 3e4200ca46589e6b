"""Nothing lost, nothing counted twice: killed trainers, a killed Redis, SIGTERM, short visibility timeouts.

Each test reports its figures (the `figures` fixture): they close pytest's terminal summary.
"""

from __future__ import annotations

import signal
import socket
import time
from collections import Counter

from broker import sweep_actions
from tests.faults.conftest import TRIAL_EPOCHS, FaultStack, Figures, duplicated_metric_rows, wait_done
from tests.helpers import wait_until

KILLS = 10


def test_trainers_killed_mid_trial_lose_nothing(faults: FaultStack, figures: Figures) -> None:
    killed: dict[tuple[int, int], int] = {}
    with faults.holding() as holds:
        sweep_id = faults.submit(n_trials=12, limits={"max_attempts": 3})
        seen: set[tuple[int, int]] = set()
        while len(killed) < KILLS:
            # Held after its first epoch, the attempt is mid-trial and stays so until killed or released.
            trial, attempt, pid = holds.wait_new(sweep_id, seen)
            seen.add((trial, attempt))
            if sum(1 for t, _ in killed if t == trial) < 2:
                faults.kill(pid)
                killed[(trial, attempt)] = pid
            else:
                holds.release(sweep_id, trial, attempt)
    wait_done(faults, sweep_id, timeout_s=300)

    results = faults.store.results.in_arrival_order(sweep_id)
    by_trial = Counter(r.trial_id for r in results)
    assert sorted(by_trial) == list(range(12)) and set(by_trial.values()) == {1}, "exactly one result per trial"
    final = {r.trial_id: r for r in results}
    recovered = sum(
        1 for trial, attempt in killed if final[trial].attempt > attempt and final[trial].status.value == "completed"
    )
    lost = 12 - len(by_trial)
    duplicated = duplicated_metric_rows(faults, sweep_id)
    figures(f"{len(killed)} kills, {recovered} recovered, {lost} lost, {duplicated} duplicated")
    assert (recovered, lost, duplicated) == (KILLS, 0, 0)
    ranking = wait_until(
        lambda: (r := faults.store.rankings.latest(sweep_id)) and r.n_results == 12 and r,
        30,
        what="ranking over every result",
    )
    assert ranking.n_trials == 12, "each trial counted once by the analyst"
    assert faults.thread_imports() == [], "a trainer parent's thread imported while its pool could fork"


def test_a_trial_that_always_kills_its_worker_stops_at_the_attempt_limit(faults: FaultStack, figures: Figures) -> None:
    with faults.holding() as holds:
        sweep_id = faults.submit(n_trials=1, limits={"max_attempts": 2})
        for attempt in (1, 2):
            faults.kill(holds.wait_held(sweep_id, 0, attempt))
    # The trial's final result, not a sweep status: which status a sweep of failed trials ends in is not under test.
    result = wait_until(lambda: faults.store.results.get(sweep_id, 0), 60, what="the trial's final result")
    assert result.status.value == "failed" and result.error == "worker lost 2 times"
    figures(f"repeated crash: {result.error}, sweep {faults.store.sweeps.get(sweep_id).status}")


def test_a_trial_outliving_the_visibility_timeout_is_not_run_twice(faults: FaultStack, figures: Figures) -> None:
    # This trainer believes unacknowledged messages are lost after 2 s and looks every second,
    # while the trial (sent with the pool's own, longer, hard limit) is held after its first
    # epoch until the redelivered message has been refused: it outlives the visibility timeout
    # by construction, however fast the machine trains. The trainer's own dispatcher would clip
    # the trial's hard limit below its 2 s (the protection against this very case), so the sweep
    # is created paused before that trainer starts, and the test sends the trial itself.
    faults.restart_without_trainers()
    spec = faults.spec(n_trials=1)
    sweep_id = faults.store.sweeps.create(spec, sweep_actions.plan_trials(spec))
    sweep_actions.pause(faults.store, sweep_id)
    faults.spawn_trainer("shortvis@test", SWEEPRANK_VISIBILITY_TIMEOUT_S="2", SWEEPRANK_UNACKED_RESTORE_EVERY_S="1")

    def refused() -> int:
        return faults.store.health.counters().get("concurrent_deliveries_refused", 0) - refused_before

    refused_before = faults.store.health.counters().get("concurrent_deliveries_refused", 0)
    pool = faults.dispatcher()
    with faults.holding() as holds:
        pool.send(sweep_id, 0, "cpu")
        holds.wait_held(sweep_id, 0, 1)
        held = time.monotonic()
        wait_until(lambda: refused() >= 1, 120, what="the redelivered message to be refused while the trial runs")
        held_s = time.monotonic() - held
        sweep_actions.resume(faults.store, pool, sweep_id)
    wait_done(faults, sweep_id, timeout_s=120)
    results = faults.store.results.in_arrival_order(sweep_id)
    figures(
        f"visibility timeout 2 s, trial {results[0].wall_time_s:.1f} s "
        f"(held {held_s:.1f} s after epoch 1 for the refusal): redelivered and refused {refused()} time(s), "
        f"{len(results)} result, {duplicated_metric_rows(faults, sweep_id)} duplicated metric rows"
    )
    assert refused() >= 1, "the message was redelivered while the trial ran (the case under test)"
    assert [(r.trial_id, r.attempt, r.status.value) for r in results] == [(0, 1, "completed")]
    assert duplicated_metric_rows(faults, sweep_id) == 0
    assert sorted(m.epoch for m in faults.store.results.epoch_metrics(sweep_id)) == list(range(1, TRIAL_EPOCHS + 1))


def test_sigterm_hands_the_running_trial_back_at_once(faults: FaultStack, figures: Figures) -> None:
    trainer = faults.restart_with_trainer("draining@test")
    with faults.holding() as holds:
        sweep_id = faults.submit(n_trials=1)
        holds.wait_held(sweep_id, 0, 1)
        signalled = time.monotonic()
        trainer.send_signal(signal.SIGTERM)
        # The trial is let go (at the end of this block) only once its worker has raised the drain
        # flag, so it sees the flag when its first epoch ends, not by luck of timing.
        wait_until(
            lambda: faults.store.workers.is_draining(socket.gethostname(), trainer.pid),
            30,
            what="the trainer to raise its drain flag",
        )
    state = wait_until(
        lambda: (s := faults.store.trials.state(sweep_id, 0)).attempt == 2 and s,
        30,
        what="the trial to be handed back",
    )
    handed_back_s = time.monotonic() - signalled
    assert trainer.wait(30) == 0, "the worker exits cleanly after handing the trial back"
    assert state.losses == 0 and "shut down" in (state.last_loss or ""), state
    faults.start_trainer(slots=1, name="successor@test")
    wait_done(faults, sweep_id, timeout_s=120)
    result = faults.store.results.get(sweep_id, 0)
    assert result is not None and result.status.value == "completed" and result.attempt == 2
    figures(f"SIGTERM: trial handed back after {handed_back_s:.1f} s, finished by attempt {result.attempt}")
