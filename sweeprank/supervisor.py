"""Keeping `sweeprank up`'s children alive: restart whichever dies, with backoff, and give up on a crash loop.

A dead child is started again with the command it was first started with: Redis on the same
port from its AOF, the analyst, the web server, a trainer. Meanwhile the others ride the gap
out (clients retry across Redis restarts); if one of them dies too, it is restarted in turn,
so nothing cascades. Restarts happen on the thread that runs `Supervisor.run` (the main
thread), because a child's parent-death signal is tied to the thread that forked it.
"""

from __future__ import annotations

import os
import signal
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from sweeprank.stack import Stack, StackError


@dataclass(frozen=True)
class RestartPolicy:
    first_delay_s: float = 1.0
    max_delay_s: float = 30.0
    # A child that ran this long had recovered: its next death starts again at first_delay_s.
    stable_after_s: float = 60.0
    # A child that dies this often within window_s is in a crash loop that restarts will not fix.
    give_up_after: int = 5
    window_s: float = 600.0


class GiveUp(StackError):
    """A child keeps dying: the whole stack stops."""


@dataclass
class RestartBudget:
    """One child's restart history: the delay before its next start, or None to give up."""

    policy: RestartPolicy
    streak: int = 0
    deaths: deque[float] = field(default_factory=deque)

    def next_delay(self, died_at: float, uptime_s: float) -> float | None:
        if uptime_s >= self.policy.stable_after_s:
            self.streak = 0
        self.deaths.append(died_at)
        while self.deaths and self.deaths[0] < died_at - self.policy.window_s:
            self.deaths.popleft()
        if len(self.deaths) >= self.policy.give_up_after:
            return None
        delay = min(self.policy.first_delay_s * 2**self.streak, self.policy.max_delay_s)
        self.streak += 1
        return delay


@dataclass
class _Child:
    budget: RestartBudget
    started_at: float
    restart_at: float | None = None


class Supervisor:
    """Watches a started `Stack`; `run` returns only by raising GiveUp (or KeyboardInterrupt)."""

    def __init__(
        self,
        stack: Stack,
        policy: RestartPolicy | None = None,
        *,
        say: Callable[[str], None] = print,
        on_restart: Callable[[], None] = lambda: None,
        clock: Callable[[], float] = time.monotonic,
        hung: Callable[[str, int, float], str | None] = lambda label, pid, uptime_s: None,
        watch_every_s: float = 2.0,
        spare: frozenset[str] = frozenset(),
        watch: Callable[[], None] = lambda: None,
    ) -> None:
        self.stack = stack
        self.policy = policy or RestartPolicy()
        self.say = say
        self.on_restart = on_restart
        self.clock = clock
        # A process alive but not working (stopped, deadlocked) never dies by itself: `hung` says why it
        # counts as hung (label, pid, seconds up), and it is killed, to be restarted like any dead child.
        self.hung = hung
        self.watch_every_s = watch_every_s
        # Children whose crash loop does not stop the stack: they are retried every max_delay_s for as long as
        # it takes (a full disk freed, a bug fixed), while the others keep serving what they can.
        self.spare = spare
        # Run every watch_every_s besides the hang probe: a look at the pool that says what changed (a full disk).
        self.watch = watch
        now = clock()
        self.next_watch = now + watch_every_s
        self.children = {label: _Child(RestartBudget(self.policy), now) for label, _ in stack.children}

    def run(self, poll_s: float = 0.2) -> None:
        while True:
            self.check()
            time.sleep(poll_s)

    def check(self) -> None:
        """Notice deaths and schedule their restarts; start the restarts that are due; kill hung children."""
        now = self.clock()
        if now >= self.next_watch:
            self.next_watch = now + self.watch_every_s
            self._kill_hung(now)
            self.watch()
        for label, process in list(self.stack.children):
            child = self.children[label]
            code = process.poll()
            if child.restart_at is None and code is not None:
                delay = child.budget.next_delay(now, now - child.started_at)
                policy = self.policy
                loop = f"{label} died {policy.give_up_after} times within {policy.window_s:g} s (last exit {code})"
                log = self._log_of(label)
                if delay is None and label not in self.spare:
                    raise GiveUp(f"{loop}; see {log}")
                if delay is None:
                    delay = policy.max_delay_s
                    self.say(f"{loop}: restarting it every {delay:g} s, the rest of the pool stays up; see {log}")
                else:
                    self.say(f"restarting {label} (exit {code}), attempt {child.budget.streak} in {delay:g} s")
                child.restart_at = now + delay
            if child.restart_at is not None and now >= child.restart_at:
                self.stack.respawn(label)
                child.started_at, child.restart_at = now, None
                self.on_restart()

    def _kill_hung(self, now: float) -> None:
        for label, process in list(self.stack.children):
            child = self.children[label]
            if child.restart_at is not None or process.poll() is not None:
                continue
            reason = self.hung(label, process.pid, now - child.started_at)
            if reason is not None:
                self.say(f"{label} hung ({reason}): killing it")
                os.kill(process.pid, signal.SIGKILL)  # a stopped process ignores everything else

    def _log_of(self, label: str) -> str:
        return str(self.stack.log_dir / f"{label}.log") if self.stack.log_dir else "its output"
