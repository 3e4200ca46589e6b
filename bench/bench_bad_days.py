"""Recovery figures for the bad days of issue 18, each measured by the fault test that replays it.

Every figure comes from a real stack (real Redis, Celery trainers, the analyst, `sweeprank up` where the
day is about `up`) in which the fault is caused for real and the recovery waited for, never assumed:

- kill -9 of `up` while a trial trains: seconds until none of its processes is left, and the trial's
  next attempt after `up` starts again;
- a full disk (a small tmpfs filled for real; needs root): seconds until `up` says the pool is read-only,
  seconds from freeing space to writes taken again, results lost;
- a Redis restart while a trial trains: seconds of training lost per in-flight trial;
- a hung trainer child (SIGSTOP mid-trial): seconds until health shows it, until its trainer kills it,
  until its trial's next attempt runs; a hung trainer parent or analyst: seconds until `up` has a new one
  beating.

Not a test: it runs the tests and prints the lines they report. Machine load changes the seconds,
never the outcome (each test waits for its event).

    .venv/bin/python bench/bench_bad_days.py
"""

from __future__ import annotations

import re
import subprocess
import sys
import time

DAYS = {
    "kill -9 of up": [
        "tests/cli/test_up_supervision.py::test_killing_up_while_a_trial_trains_leaves_no_trainer_and_the_trial_is_run_again"
    ],
    "full disk": ["tests/cli/test_full_disk.py"],
    "Redis restart during training": ["tests/faults/test_redis_restart.py"],
    "hung trainer child": [
        "tests/faults/test_hangs.py::test_a_hung_trainer_child_is_shown_in_health_killed_and_its_trial_run_again"
    ],
    "hung trainer (its Celery parent)": [
        "tests/cli/test_up_supervision.py::test_a_hung_trainer_is_killed_and_restarted"
    ],
    "hung analyst": ["tests/cli/test_up_supervision.py::test_a_hung_analyst_is_killed_and_restarted"],
}
# The lines the tests print (-s) or report in pytest's summary ("fault figures").
FIGURE = re.compile(
    r"^(?:test_\w+: )?((?:up kill|full disk|redis restart|trainer child|trainer SIGSTOP|analyst SIGSTOP).*)$"
)


def run(day: str, tests: list[str]) -> None:
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider", *tests],
        capture_output=True,
        text=True,
    )
    figures = sorted({m.group(1) for line in done.stdout.splitlines() if (m := FIGURE.match(line.strip()))})
    verdict = "passed" if done.returncode == 0 else f"FAILED (pytest exit {done.returncode})"
    print(f"{day}: {verdict} in {time.monotonic() - started:.0f} s")
    for figure in figures or ["(no figure: skipped or failed; run the test for its output)"]:
        print(f"    {figure}")


def main() -> None:
    for day, tests in DAYS.items():
        run(day, tests)


if __name__ == "__main__":
    main()
