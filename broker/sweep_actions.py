"""Operations on sweeps: submit, pause, resume, cancel, stop when stable."""

from __future__ import annotations

from broker.dispatcher import Dispatcher
from broker.lifecycle import Change, SweepEvent, SweepStateError, change
from broker.store import PlannedTrial, Store, UnknownSweep
from trials.samplers import PLANNED_SAMPLERS, sample_configs
from trials.space import Value
from trials.specs import SpecInvalid, SweepSpec, SweepStatus, TrialStatus

__all__ = ["SweepStateError", "cancel", "end", "pause", "plan_trials", "resume", "stop_when_stable", "submit"]


def plan_trials(spec: SweepSpec) -> list[PlannedTrial]:
    """Sample the sweep's configs; datasets take turns so each gets its share.

    A model-based sampler's configs are left unplanned (None): each is asked when a slot frees (broker/tuning/asker.py).
    """
    if spec.sampler in PLANNED_SAMPLERS:
        sampled = sample_configs(spec.search_space(), spec.n_trials, spec.sampler, spec.seed)
        configs: list[dict[str, Value] | None] = [spec.with_held(config) for config in sampled]
    else:
        configs = [None] * spec.n_trials
    return [
        PlannedTrial(spec.datasets[i % len(spec.datasets)], config, spec.trial_seed(i))
        for i, config in enumerate(configs)
    ]


def submit(store: Store, dispatcher: Dispatcher, spec: SweepSpec, max_queued_per_owner: int | None = None) -> str:
    """Store the sweep and its sampled trials, then dispatch; a member's queue share is bounded."""
    if max_queued_per_owner is not None:
        queued = store.sweeps.pending_by_owner().get(spec.owner, 0)
        if queued + spec.n_trials > max_queued_per_owner:
            raise SpecInvalid(
                [
                    (
                        "n_trials",
                        f"{spec.owner} would have {queued + spec.n_trials} trials queued; "
                        f"the limit per member is {max_queued_per_owner} ({queued} queued now)",
                    )
                ]
            )
    sweep_id = store.sweeps.create(spec, plan_trials(spec))
    dispatcher.refill()
    return sweep_id


def _apply(store: Store, sweep_id: str, made: Change) -> SweepStatus:
    """Make the change if the sweep's status allows it; returns the status it had (UnknownSweep: no sweep)."""
    before = store.sweeps.apply(sweep_id, made)
    if before is None:
        raise UnknownSweep(sweep_id)
    return before


def _require(store: Store, sweep_id: str, made: Change) -> None:
    """Make the change, or raise SweepStateError naming the status that did not allow it."""
    made.require(_apply(store, sweep_id, made))


def pause(store: Store, sweep_id: str) -> None:
    """Stop dispatching; trials already running finish."""
    # Under the dispatch lock: a refill that read the sweep as running finishes sending first,
    # and every later one sees it paused, so nothing is sent once pause has returned.
    with store.trials.dispatch_lock():
        _require(store, sweep_id, change(SweepEvent.PAUSE))


def resume(store: Store, dispatcher: Dispatcher, sweep_id: str) -> None:
    _require(store, sweep_id, change(SweepEvent.RESUME))
    dispatcher.refill()


def end(store: Store, dispatcher: Dispatcher, sweep_id: str, status: SweepStatus, reason: str) -> None:
    """Cancel or stop: drop undispatched trials; running ones stop at their next epoch."""
    event = SweepEvent.CANCEL if status == SweepStatus.CANCELLED else SweepEvent.STOP
    _require(store, sweep_id, change(event, status, reason))
    _drop_undispatched(store, dispatcher, sweep_id)


def stop_when_stable(store: Store, dispatcher: Dispatcher, sweep_id: str, reason: str) -> bool:
    """Stop a sweep whose ranking is stable, unless it has ended meanwhile (False then)."""
    made = change(SweepEvent.STOP, reason=reason)
    if not made.allowed_from(_apply(store, sweep_id, made)):
        return False
    _drop_undispatched(store, dispatcher, sweep_id)
    return True


def _drop_undispatched(store: Store, dispatcher: Dispatcher, sweep_id: str) -> None:
    store.trials.mark(sweep_id, store.sweeps.take_pending(sweep_id), TrialStatus.CANCELLED)
    dispatcher.refill()


def cancel(store: Store, dispatcher: Dispatcher, sweep_id: str, by: str) -> None:
    end(store, dispatcher, sweep_id, SweepStatus.CANCELLED, f"cancelled by {by}")
