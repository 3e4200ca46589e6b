"""`sweeprank up` restarts a killed Redis, analyst or web server, and its children die with it.

Each test prints its figures (run pytest with -s to see them).
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from broker.store import Store
from broker.store.service_beats import ANALYST
from sweeprank.client import Client
from sweeprank.stack_state import STATE_FILE, running_stack
from tests.cli.stack_up import TINY_SPEC, UpStack, alive, process_tree, start_up, wait_for_new_pid
from tests.helpers import wait_until
from trials.errors import SweeprankError

# `sweeprank up` and its children, killed and restarted.
pytestmark = pytest.mark.stack


@pytest.fixture(scope="module")
def stack_up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UpStack]:
    # An analyst frozen on purpose here must not be taken for hung (up's watchdog: 3 beat TTLs of silence).
    stack = start_up(tmp_path_factory.mktemp("supervised"), SWEEPRANK_ANALYST_BEAT_TTL_S="600")
    yield stack
    stack.stop()


def kill(pid: int, sig: signal.Signals = signal.SIGKILL) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def answers(client: Client) -> bool:
    try:
        client.get("/api/queue")
    except SweeprankError:
        return False
    return True


def test_a_killed_analyst_comes_back_and_ranks_what_arrived_while_it_was_gone(stack_up: UpStack) -> None:
    store = Store.from_url(stack_up.redis_url)
    analyst = stack_up.state().pids["analyst"]
    # Frozen, the analyst ranks nothing while the trainers store every result: a backlog to catch up on.
    kill(analyst, signal.SIGSTOP)
    try:
        spec = {**TINY_SPEC, "n_trials": 3, "name": "backlog"}
        sweep_id = Client(stack_up.url, token=stack_up.admin_token()).post("/api/sweeps", spec)["id"]
        wait_until(
            lambda: len(store.results.in_arrival_order(sweep_id)) == 3, 240, what="every result stored meanwhile"
        )
        ranked = store.rankings.latest(sweep_id)
        assert ranked is None or ranked.n_results < 3
    finally:
        killed_at = time.monotonic()
        kill(analyst)
    wait_for_new_pid(stack_up, "analyst", analyst)
    wait_until(
        lambda: (r := store.rankings.latest(sweep_id)) is not None and r.n_results == 3,
        120,
        what="the ranking to count every stored result",
    )
    print(f"\nanalyst kill -> back and caught up in {time.monotonic() - killed_at:.1f} s (3 results behind)")


def test_a_killed_redis_comes_back_on_its_port_with_its_data(stack_up: UpStack) -> None:
    client = redis.Redis.from_url(stack_up.redis_url, socket_connect_timeout=1)
    client.set("test:marker", "kept")
    redis_pid = stack_up.state().pids["redis"]
    killed_at = time.monotonic()
    kill(redis_pid)
    wait_for_new_pid(stack_up, "redis", redis_pid)

    def pings() -> bool:
        with contextlib.suppress(redis.ConnectionError):
            return bool(client.ping())
        return False

    wait_until(pings, 60, what="the restarted Redis to answer on its old port")
    print(f"\nredis kill -> back in {time.monotonic() - killed_at:.1f} s")
    assert client.get("test:marker") == b"kept", "written before the kill, replayed from the AOF"
    wait_until(lambda: answers(Client(stack_up.url)), 60, what="the web server to reach the new Redis")


def test_a_killed_web_server_comes_back_on_its_port(stack_up: UpStack) -> None:
    web = stack_up.state().pids["web"]
    killed_at = time.monotonic()
    kill(web)
    wait_for_new_pid(stack_up, "web", web)
    wait_until(lambda: answers(Client(stack_up.url)), 60, what="the restarted web server to answer")
    print(f"\nweb kill -> back in {time.monotonic() - killed_at:.1f} s")


def test_each_restart_is_one_line_on_ups_output_and_sigterm_stops_the_stack(stack_up: UpStack) -> None:
    stack_up.process.send_signal(signal.SIGTERM)
    assert stack_up.process.wait(90) == 0
    assert stack_up.process.stdout is not None
    output = stack_up.process.stdout.read()
    for label in ("analyst", "redis", "web"):
        assert f"restarting {label} (exit -9), attempt 1 in 1 s" in output, output
    assert "stopping sweeprank" in output and not (stack_up.data_dir / STATE_FILE).exists()


def test_a_child_that_keeps_dying_stops_the_stack_with_one_message(tmp_path: Path) -> None:
    stack = start_up(tmp_path)
    children = process_tree(stack.process.pid)
    killed: set[int] = set()

    def kill_each_new_web_server() -> bool:
        """Kill whichever web server `up` runs now, until `up` gives up (a restart may also die by itself)."""
        if stack.process.poll() is not None:
            return True
        state = running_stack(stack.data_dir)
        web = state.pids.get("web") if state is not None else None
        if web is not None and web not in killed and alive(web):
            kill(web)
            killed.add(web)
        return False

    wait_until(kill_each_new_web_server, 300, 0.05, what="up to give up on a web server that keeps dying")
    assert stack.process.wait(60) == 1
    assert stack.process.stdout is not None
    output = stack.process.stdout.read()
    assert "restarting web (exit -9), attempt 1 in 1 s" in output
    assert "giving up, stopping sweeprank: web died 5 times within 600 s (last exit" in output, output
    assert f"see {tmp_path / 'logs' / 'web.log'}" in output
    assert not (tmp_path / STATE_FILE).exists()
    wait_until(lambda: not any(alive(p) for p in children), 60, what="every child to stop")


def test_killing_up_with_sigkill_leaves_no_child(tmp_path: Path) -> None:
    stack = start_up(tmp_path)
    # Services and a trainer's pool child: Celery forks its pool after the banner, so wait for it.
    trainer = stack.state().pids["trainer-cpu"]
    wait_until(lambda: process_tree(trainer), 60, what="the trainer's pool child")
    tree = process_tree(stack.process.pid)
    assert set(stack.state().pids.values()) <= tree
    try:
        killed_at = time.monotonic()
        stack.process.kill()
        stack.process.wait()
        # Generous: the trainer's shutdown hooks each ride out the Redis that died with it (about 30 s each).
        wait_until(lambda: not any(alive(p) for p in tree), 300, what="every child of the killed `up` to exit")
        print(f"\nup kill -9 -> its {len(tree)} descendants gone in {time.monotonic() - killed_at:.1f} s")
    finally:
        for pid in tree:
            kill(pid)  # orphans of a failed run


def test_killing_up_while_a_trial_trains_leaves_no_trainer_and_the_trial_is_run_again(tmp_path: Path) -> None:
    stack = start_up(tmp_path)
    tree: set[int] = set()
    try:
        sweep_id = Client(stack.url, token=stack.admin_token()).post("/api/sweeps", {**TINY_SPEC, "n_trials": 2})["id"]
        store = Store.from_url(stack.redis_url)

        def running() -> tuple[int, int] | None:
            for trial in (0, 1):
                state = store.trials.state(sweep_id, trial)
                if state.status == "running" and state.worker:
                    return trial, int(state.worker.rsplit(":", 1)[1])
            return None

        trial_id, child = wait_until(running, 120, 0.02, what="a trial training")
        # Stopped, the child cannot finish its trial nor act on SIGTERM: only a kill ends it (a warm shutdown
        # would wait for it forever, as it waited minutes for a training one).
        kill(child, signal.SIGSTOP)
        tree = process_tree(stack.process.pid)
        assert child in tree
        killed_at = time.monotonic()
        stack.process.kill()
        stack.process.wait()
        wait_until(lambda: not any(alive(p) for p in tree), 60, what="every descendant of the killed `up` to exit")
        print(f"\nup kill -9 with a trial training -> its {len(tree)} descendants gone in "
              f"{time.monotonic() - killed_at:.1f} s")  # fmt: skip

        again = start_up(tmp_path)  # the same data directory: Redis comes back from its append-only file
        tree |= process_tree(again.process.pid)
        store = Store.from_url(again.redis_url)
        wait_until(lambda: store.sweeps.get(sweep_id).status.final, 180, what="the sweep to end after the restart")
        results = {r.trial_id: r for r in store.results.in_arrival_order(sweep_id)}
        assert sorted(results) == [0, 1] and all(r.status.value == "completed" for r in results.values())
        assert results[trial_id].attempt >= 2, "the killed attempt was re-queued, not finished by an orphan"
        again.stop()
    finally:
        for pid in tree:
            kill(pid)  # orphans of a failed run


def test_a_hung_analyst_is_killed_and_restarted(tmp_path: Path) -> None:
    stack = start_up(tmp_path, SWEEPRANK_ANALYST_BEAT_S="0.2", SWEEPRANK_ANALYST_BEAT_TTL_S="1")
    analyst = stack.state().pids["analyst"]
    store = Store.from_url(stack.redis_url)
    try:
        # Once it works (a process that never beat has a longer allowance: it may still be starting).
        wait_until(lambda: (b := store.services.last_beat(ANALYST)) and b.pid == analyst, 120, what="its first beat")
        stopped_at = time.monotonic()
        kill(analyst, signal.SIGSTOP)  # alive, silent: only its missing heartbeat tells
        restarted = wait_for_new_pid(stack, "analyst", analyst)
        wait_until(lambda: (b := store.services.last_beat(ANALYST)) and b.pid == restarted, 60, what="its beat")
        print(f"\nanalyst SIGSTOP -> killed, restarted and beating in {time.monotonic() - stopped_at:.1f} s "
              "(hung after 3 beat TTLs of 1 s)")  # fmt: skip
        assert not alive(analyst)
        stack.stop()
        assert stack.process.stdout is not None
        output = stack.process.stdout.read()
        assert "analyst hung (no heartbeat for " in output and "restarting analyst (exit -9)" in output, output
    finally:
        kill(analyst)
        stack.stop()


def test_a_hung_trainer_is_killed_and_restarted(tmp_path: Path) -> None:
    # Registrations expire after 8 s without a beat (trainers beat every 5 s): hung after 3 x 8 s missing.
    stack = start_up(tmp_path, SWEEPRANK_WORKER_TTL_S="8")
    trainer = stack.state().pids["trainer-cpu"]
    store = Store.from_url(stack.redis_url)
    try:
        wait_until(lambda: any(w.pid == trainer for w in store.workers.live(30)), 120, what="its first beat")
        stopped_at = time.monotonic()
        kill(trainer, signal.SIGSTOP)  # alive, silent: only its missing heartbeat tells
        restarted = wait_for_new_pid(stack, "trainer-cpu", trainer, timeout_s=180)
        wait_until(lambda: any(w.pid == restarted for w in store.workers.live(30)), 120, what="the new trainer's beat")
        print(f"\ntrainer SIGSTOP -> killed, restarted and beating in {time.monotonic() - stopped_at:.1f} s "
              "(hung after 3 worker TTLs of 8 s without its registration)")  # fmt: skip
        assert not alive(trainer)
        stack.stop()
        assert stack.process.stdout is not None
        output = stack.process.stdout.read()
        assert "trainer-cpu hung (no heartbeat for " in output and "restarting trainer-cpu (exit -9)" in output, output
    finally:
        kill(trainer)
        stack.stop()
