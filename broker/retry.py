"""The retry policy: which interruptions count as losing a trial's worker, and when a trial stops trying.

An attempt that ends without a result (its worker vanished, or handed it back) is followed by
attempt n+1, until the trial has been *lost* `max_attempts` times (the sweep's `limits`): then it
ends `failed: worker lost N times`, so a trial that kills its worker every time cannot loop
forever. A worker that shuts down, or a Redis outage during the trial, hands the attempt back:
not the trial's fault, so not a loss. A sweep that is stopping gets no new attempts; the
interrupted trial ends `cancelled`.

There is no backoff: the next attempt is queued at once and waits for a free slot like any trial
(broker/dispatcher.py); what is bounded is the number of losses, not the rate of retries.
"""

from __future__ import annotations

from dataclasses import dataclass

from trials.specs import TrialLimits, TrialStatus

# A dispatched trial is normally claimed within seconds: slots are never overbooked.
DISPATCH_GRACE_S = 60.0


@dataclass(frozen=True)
class Interruption:
    """Why an attempt ended without a result, and whether that counts as a loss of its worker."""

    why: str
    lost: bool

    @classmethod
    def stopped_heartbeating(cls, worker: str) -> Interruption:
        return cls(f"worker {worker} stopped heartbeating", lost=True)

    @classmethod
    def never_started(cls, waited_s: float) -> Interruption:
        return cls(f"queued {waited_s:.0f} s without being started", lost=True)

    @classmethod
    def worker_died(cls, why: str) -> Interruption:
        """The process that held the attempt is known dead (killed child, previous life of a trainer)."""
        return cls(why, lost=True)

    @classmethod
    def shut_down(cls, worker: str) -> Interruption:
        return cls(f"worker {worker} shut down", lost=False)

    @classmethod
    def redis_outage(cls) -> Interruption:
        return cls("Redis unreachable during the trial", lost=False)


def lost_in_queue(waited_s: float, consumers: bool, grace_s: float) -> bool:
    """Whether an unclaimed attempt queued `waited_s` ago is lost: a queue with consumers starts it within the grace."""
    return consumers and waited_s >= grace_s


@dataclass(frozen=True)
class Next:
    """What follows an interrupted attempt: another attempt (`ending` None) or the trial's final status."""

    losses: int
    ending: TrialStatus | None
    error: str  # the interruption's account, or why the trial ends


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int  # losses of its worker a trial may suffer; the last one fails it

    @classmethod
    def of(cls, limits: TrialLimits) -> RetryPolicy:
        return cls(limits.max_attempts)

    def after(self, losses: int, interruption: Interruption, sweep_stopping: bool) -> Next:
        """What follows an interrupted attempt of a trial that had lost its worker `losses` times before."""
        losses += int(interruption.lost)
        if losses >= self.max_attempts:
            return Next(losses, TrialStatus.FAILED, f"worker lost {losses} times")
        if sweep_stopping:
            return Next(losses, TrialStatus.CANCELLED, interruption.why)
        return Next(losses, None, interruption.why)
