"""Operations on sweeps: submit, pause, resume, cancel, stop when stable."""

from __future__ import annotations

from broker.dispatcher import Dispatcher
from broker.store import PlannedTrial, Store
from trials.samplers import PLANNED_SAMPLERS, sample_configs
from trials.space import Value
from trials.specs import SpecInvalid, SweepSpec, SweepStatus, TrialStatus


class SweepStateError(Exception):
    """An action that the sweep's current status does not allow."""


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


def _require(store: Store, sweep_id: str, allowed: tuple[SweepStatus, ...], action: str) -> SweepStatus:
    status = store.sweeps.status(sweep_id)
    if status not in allowed:
        raise SweepStateError(
            f"cannot {action} a sweep that is {status.value}; allowed when {[s.value for s in allowed]}"
        )
    return status


def pause(store: Store, sweep_id: str) -> None:
    """Stop dispatching; trials already running finish."""
    # Under the dispatch lock: a refill that read the sweep as running finishes sending first,
    # and every later one sees it paused, so nothing is sent once pause has returned.
    with store.trials.dispatch_lock():
        _require(store, sweep_id, (SweepStatus.QUEUED, SweepStatus.RUNNING), "pause")
        store.sweeps.set_status(sweep_id, SweepStatus.PAUSED)


def resume(store: Store, dispatcher: Dispatcher, sweep_id: str) -> None:
    _require(store, sweep_id, (SweepStatus.PAUSED,), "resume")
    store.sweeps.set_status(sweep_id, SweepStatus.RUNNING)
    dispatcher.refill()


def end(store: Store, dispatcher: Dispatcher, sweep_id: str, status: SweepStatus, reason: str) -> None:
    """Cancel or stop: drop undispatched trials; running ones stop at their next epoch."""
    action = "cancel" if status == SweepStatus.CANCELLED else "stop"
    _require(store, sweep_id, (SweepStatus.QUEUED, SweepStatus.RUNNING, SweepStatus.PAUSED), action)
    store.sweeps.set_status(sweep_id, status, reason)
    store.trials.mark(sweep_id, store.sweeps.take_pending(sweep_id), TrialStatus.CANCELLED)
    dispatcher.refill()


def cancel(store: Store, dispatcher: Dispatcher, sweep_id: str, by: str) -> None:
    end(store, dispatcher, sweep_id, SweepStatus.CANCELLED, f"cancelled by {by}")
