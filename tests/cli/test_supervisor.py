"""The restart rules of `sweeprank up` (sweeprank/supervisor.py): backoff, reset, give-up; on tiny real children."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from sweeprank.stack import Stack
from sweeprank.stack_state import STATE_FILE, StackState, running_stack, write_state
from sweeprank.supervisor import GiveUp, RestartBudget, RestartPolicy, Supervisor
from sweeprank.up import record_pids
from tests.cli.stack_up import alive
from tests.helpers import wait_until

# Supervision of real child processes.
pytestmark = pytest.mark.stack

POLICY = RestartPolicy(first_delay_s=1, max_delay_s=30, stable_after_s=60, give_up_after=5, window_s=600)
SLEEPER = [sys.executable, "-c", "import time; time.sleep(600)"]


def test_the_delay_doubles_up_to_the_cap_for_a_child_that_keeps_dying_early() -> None:
    budget = RestartBudget(RestartPolicy(give_up_after=100, window_s=600))
    # One death every 40 s: never up long enough to count as recovered, never 100 in the window.
    assert [budget.next_delay(40.0 * i, uptime_s=10) for i in range(8)] == [1, 2, 4, 8, 16, 30, 30, 30]


def test_a_child_that_stayed_up_a_while_starts_again_at_the_first_delay() -> None:
    budget = RestartBudget(POLICY)
    assert [budget.next_delay(t, uptime_s=5) for t in (0, 10, 20)] == [1, 2, 4]
    assert budget.next_delay(1000, uptime_s=POLICY.stable_after_s) == 1


def test_the_fifth_death_within_the_window_gives_up_and_older_deaths_do_not_count() -> None:
    budget = RestartBudget(POLICY)
    assert all(budget.next_delay(t, uptime_s=1) is not None for t in (0, 100, 200, 300))
    assert budget.next_delay(650, uptime_s=1) is not None, "the death at 0 s left the window"
    assert budget.next_delay(700, uptime_s=1) is None


class Clock:
    """Time the test drives: the supervisor's delays pass when the test says so."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    stack = Stack(log_dir=tmp_path)
    yield stack
    stack.stop(timeout_s=5)


def test_a_killed_child_is_restarted_after_its_delay_in_its_place(stack: Stack) -> None:
    first, second = stack.spawn("first", SLEEPER), stack.spawn("second", SLEEPER)
    clock, said, restarts = Clock(), [], []
    supervisor = Supervisor(stack, POLICY, say=said.append, on_restart=lambda: restarts.append(1), clock=clock)
    first.kill()
    first.wait()
    supervisor.check()
    assert said == ["restarting first (exit -9), attempt 1 in 1 s"] and not restarts
    clock.now = 1.0
    supervisor.check()
    assert restarts == [1]
    labels = [label for label, _ in stack.children]
    assert labels == ["first", "second"], "the restarted child keeps its place in the stop order"
    restarted = stack.children[0][1]
    assert restarted.pid != first.pid and alive(restarted.pid) and stack.children[1][1] is second


def test_a_child_in_a_crash_loop_stops_the_supervisor_with_one_clear_message(stack: Stack) -> None:
    stack.spawn("crasher", [sys.executable, "-c", "raise SystemExit(3)"])
    fast = RestartPolicy(first_delay_s=0.01, max_delay_s=0.01, give_up_after=3)
    said: list[str] = []
    with pytest.raises(GiveUp) as gave_up:
        Supervisor(stack, fast, say=said.append).run(poll_s=0.01)
    assert str(gave_up.value) == f"crasher died 3 times within 600 s (last exit 3); see {stack.log_dir}/crasher.log"
    assert said == [
        "restarting crasher (exit 3), attempt 1 in 0.01 s",
        "restarting crasher (exit 3), attempt 2 in 0.01 s",
    ]


def test_a_spare_child_in_a_crash_loop_is_retried_at_the_longest_delay_and_the_others_keep_running(
    stack: Stack,
) -> None:
    stack.spawn("crasher", [sys.executable, "-c", "raise SystemExit(3)"])
    other = stack.spawn("other", SLEEPER)
    policy = RestartPolicy(first_delay_s=1.0, max_delay_s=30.0, give_up_after=3)
    clock, said = Clock(), []
    supervisor = Supervisor(stack, policy, say=said.append, clock=clock, spare=frozenset({"crasher"}))
    for step in (1.0, 2.0, 30.0, 30.0):
        wait_until(lambda: stack.children[0][1].poll() is not None, 30, what="the crasher to exit")
        supervisor.check()  # its death is seen, its restart scheduled
        clock.now += step
        supervisor.check()  # and started
    assert said[:2] == [
        "restarting crasher (exit 3), attempt 1 in 1 s",
        "restarting crasher (exit 3), attempt 2 in 2 s",
    ]
    loop = "crasher died 3 times within 600 s (last exit 3): restarting it every 30 s, the rest of the pool stays up; "
    assert said[2:] == [f"{loop}see {stack.log_dir}/crasher.log"] * 2
    assert other.poll() is None


def test_children_die_with_the_process_that_started_them(tmp_path: Path) -> None:
    # A parent that spawns a child through Stack and is then killed with -9: the child follows.
    pid_file = tmp_path / "child.pid"
    script = (
        "import sys, time; from sweeprank.stack import Stack; "
        f"p = Stack().spawn('sleeper', {SLEEPER!r}); open({str(pid_file)!r}, 'w').write(str(p.pid)); time.sleep(600)"
    )
    parent = Stack().spawn("parent", [sys.executable, "-c", script])
    child = wait_until(lambda: pid_file.exists() and pid_file.read_text() and int(pid_file.read_text()), 60)
    try:
        assert alive(child)
        parent.kill()
        parent.wait()
        wait_until(lambda: not alive(child), 60, what="the child to die with its parent")
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(child, signal.SIGKILL)  # an orphan of a failed run


def test_a_full_disk_leaves_the_old_state_file_no_partial_and_up_running(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = StackState(up_pid=os.getpid(), redis_url="redis://x", web_url="http://x", log_dir="", started_at=0.0,
                       pids={"web": 1})  # fmt: skip
    write_state(tmp_path, state)
    # Every write of the partial file now lands on /dev/full: the kernel's own ENOSPC.
    (tmp_path / STATE_FILE).with_suffix(".partial").symlink_to("/dev/full")
    with pytest.raises(OSError, match="No space left on device"):
        write_state(tmp_path, state.model_copy(update={"pids": {"web": 2}}))
    assert not (tmp_path / STATE_FILE).with_suffix(".partial").exists()
    assert running_stack(tmp_path) == state, "the previous state stands"
    (tmp_path / STATE_FILE).with_suffix(".partial").symlink_to("/dev/full")
    record_pids(tmp_path, state.model_copy(update={"pids": {"web": 3}}))  # what `up` does after a restart
    assert capsys.readouterr().out.strip() == (
        f"cannot update {tmp_path / STATE_FILE}: No space left on device; the stack keeps running"
    )
