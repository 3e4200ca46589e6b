"""Holding trials where a test wants them, so tests wait for events instead of betting on durations.

The trainers of the live stacks run `tests.held_trainer` (the real `workers.tasks` plus one hook):
while a test has holding switched on, every trial, once its first epoch is recorded, registers
itself as held (its attempt and the pid of the process running it) and waits, its claim
heartbeat still beating, until the test releases that attempt or switches holding off. A held
trial is a running trial that cannot finish, and cannot stop, before the test says so: it can be
killed mid-trial, outlive a visibility timeout or see a cancel at a moment the test chooses,
however fast or slow the machine. With holding off (the default) the hook costs one EXISTS per trial.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import cast

import redis

from tests.helpers import wait_until

HOLDING = "tests:holding"
# A safety net for a test that dies without switching holding off: the trial then goes on.
HOLD_LIMIT_S = 600.0


def held_key(sweep_id: str) -> str:
    """Hash of the sweep's held attempts: "trial:attempt" -> pid of the process holding it."""
    return f"tests:held:{sweep_id}"


def release_key(sweep_id: str, trial_id: int, attempt: int) -> str:
    return f"tests:release:{sweep_id}:{trial_id}:{attempt}"


class Holds:
    """The test's side: switch holding on or off, see which attempts are held, release them."""

    def __init__(self, r: redis.Redis) -> None:
        self.r = r

    def on(self) -> None:
        self.r.set(HOLDING, "1")

    def off(self) -> None:
        """Release every held trial, and hold no more."""
        self.r.delete(HOLDING)

    def held(self, sweep_id: str) -> dict[tuple[int, int], int]:
        """(trial id, attempt) -> pid, for every attempt of the sweep that was ever held."""
        raw = cast(dict[str, str], self.r.hgetall(held_key(sweep_id)))
        return {(int(t), int(a)): int(pid) for key, pid in raw.items() for t, a in [key.split(":")]}

    def wait_held(self, sweep_id: str, trial_id: int, attempt: int, timeout_s: float = 120) -> int:
        """The pid of the process holding this attempt, once it is held."""
        return wait_until(
            lambda: self.held(sweep_id).get((trial_id, attempt)),
            timeout_s,
            what=f"trial {trial_id} attempt {attempt} of {sweep_id} to be held",
        )

    def wait_new(self, sweep_id: str, seen: set[tuple[int, int]], timeout_s: float = 120) -> tuple[int, int, int]:
        """(trial id, attempt, pid) of an attempt held since, and not in, `seen`."""

        def probe() -> tuple[int, int, int] | None:
            fresh = sorted((k, pid) for k, pid in self.held(sweep_id).items() if k not in seen)
            return (*fresh[0][0], fresh[0][1]) if fresh else None

        return wait_until(probe, timeout_s, what=f"another attempt of {sweep_id} to be held")

    def release(self, sweep_id: str, trial_id: int, attempt: int) -> None:
        self.r.set(release_key(sweep_id, trial_id, attempt), "1", ex=3600)


@contextlib.contextmanager
def holding(r: redis.Redis) -> Iterator[Holds]:
    """Holding on for the block, and off after it whatever happens, so no trial stays held."""
    holds = Holds(r)
    holds.on()
    try:
        yield holds
    finally:
        with contextlib.suppress(redis.RedisError):
            holds.off()
