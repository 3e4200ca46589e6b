"""A sweep's lifecycle: its statuses, what moves it from one to the next, and when it is finished.

Every change of a sweep's status is one of the events below, and only the events below change it.
The decision is made here; the store applies it in one Redis step that re-checks the status the
change is allowed from (broker/store/sweeps.py `apply`), so two processes racing on one sweep
(a cancel and the dispatcher, the last result and a pause) never leave a status this table forbids.
The last result of a sweep finishes it in the same Lua step that stores that result, with the
ending decided here from the counts that step checks (broker/store/results.py).

    queued --dispatch--> running --pause--> paused --resume--> running
    queued | running | paused --cancel--> cancelled, --stop--> stopped_stable,
                              --finish--> completed | failed (the last trial became final)
    any status --fail--> failed (the pool could not process the sweep)
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from trials.specs import SweepStatus

OPEN = (SweepStatus.QUEUED, SweepStatus.RUNNING, SweepStatus.PAUSED)


class SweepStateError(Exception):
    """An action that the sweep's current status does not allow."""


class SweepEvent(StrEnum):
    """What may change a sweep's status; the value is the action's name in messages."""

    DISPATCH = "dispatch"  # its first trial was sent
    PAUSE = "pause"
    RESUME = "resume"
    CANCEL = "cancel"
    STOP = "stop"  # its ranking became stable (stop_when_stable)
    FINISH = "finish"  # its last trial became final
    FAIL = "fail"  # the pool could not process it (cannot be dispatched, its chain cannot continue, ...)


@dataclass(frozen=True)
class Transition:
    sources: tuple[SweepStatus, ...]  # the statuses the event is allowed from, in the order messages list them
    targets: tuple[SweepStatus, ...]


TRANSITIONS: dict[SweepEvent, Transition] = {
    SweepEvent.DISPATCH: Transition((SweepStatus.QUEUED,), (SweepStatus.RUNNING,)),
    SweepEvent.PAUSE: Transition((SweepStatus.QUEUED, SweepStatus.RUNNING), (SweepStatus.PAUSED,)),
    SweepEvent.RESUME: Transition((SweepStatus.PAUSED,), (SweepStatus.RUNNING,)),
    SweepEvent.CANCEL: Transition(OPEN, (SweepStatus.CANCELLED,)),
    SweepEvent.STOP: Transition(OPEN, (SweepStatus.STOPPED_STABLE,)),
    SweepEvent.FINISH: Transition(OPEN, (SweepStatus.COMPLETED, SweepStatus.FAILED)),
    # Whatever its status: a sweep the pool cannot process (or whose chain cannot go on) is marked so.
    SweepEvent.FAIL: Transition(tuple(SweepStatus), (SweepStatus.FAILED,)),
}


@dataclass(frozen=True)
class Change:
    """One status change, checked against the table when made; applied only from `sources`."""

    event: SweepEvent
    target: SweepStatus
    reason: str = ""  # the sweep's stop reason ('' keeps the one it has)

    @property
    def sources(self) -> tuple[SweepStatus, ...]:
        return TRANSITIONS[self.event].sources

    def allowed_from(self, status: SweepStatus) -> bool:
        return status in self.sources

    def require(self, status: SweepStatus) -> None:
        """Raise SweepStateError unless the change is allowed from `status`."""
        if not self.allowed_from(status):
            raise SweepStateError(
                f"cannot {self.event.value} a sweep that is {status.value}; "
                f"allowed when {[s.value for s in self.sources]}"
            )


def change(event: SweepEvent, target: SweepStatus | None = None, reason: str = "") -> Change:
    """The change `event` makes (to `target` where the event has several); SweepStateError for a target
    the event cannot reach."""
    targets = TRANSITIONS[event].targets
    chosen = targets[0] if target is None and len(targets) == 1 else target
    if chosen not in targets:
        raise SweepStateError(f"{event.value} cannot make a sweep {chosen}; it makes it one of {list(targets)}")
    return Change(event, chosen, reason)


def ending(n_trials: int, n_completed: int, n_pruned: int) -> Change:
    """How a sweep whose trials are all final ends, with the stop reason it shows.

    `completed` when at least one trial completed (the others are counted and named in the reason);
    `failed` when none did: there is nothing to rank.
    """
    if n_completed == 0:
        reason = f"no trial completed: every one of the {n_trials} failed, diverged or timed out"
        return change(SweepEvent.FINISH, SweepStatus.FAILED, reason)
    reason = "all trials finished"
    if n_completed + n_pruned < n_trials:
        reason += f"; {n_trials - n_completed - n_pruned} of {n_trials} did not complete"
    if n_pruned > 0:
        reason += f"; {n_pruned} pruned"
    return change(SweepEvent.FINISH, SweepStatus.COMPLETED, reason)
