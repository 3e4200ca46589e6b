"""The sweep's state machine: every transition the table allows, the ones it refuses, and how a sweep ends."""

from __future__ import annotations

import itertools

import pytest

from broker import sweep_actions
from broker.dispatcher import Dispatcher
from broker.lifecycle import OPEN, TRANSITIONS, SweepEvent, SweepStateError, change, ending
from broker.store import Store
from tests.broker.conftest import make_spec
from tests.broker.test_store import result
from trials.specs import SweepStatus

Q, R, P = SweepStatus.QUEUED, SweepStatus.RUNNING, SweepStatus.PAUSED
CANCELLED, COMPLETED, STABLE, FAILED = (
    SweepStatus.CANCELLED,
    SweepStatus.COMPLETED,
    SweepStatus.STOPPED_STABLE,
    SweepStatus.FAILED,
)

# Written out by hand: the table in broker/lifecycle.py must say exactly this.
ALLOWED = {
    (SweepEvent.DISPATCH, Q, R),
    (SweepEvent.PAUSE, Q, P),
    (SweepEvent.PAUSE, R, P),
    (SweepEvent.RESUME, P, R),
    *((SweepEvent.CANCEL, s, CANCELLED) for s in (Q, R, P)),
    *((SweepEvent.STOP, s, STABLE) for s in (Q, R, P)),
    *((SweepEvent.FINISH, s, t) for s in (Q, R, P) for t in (COMPLETED, FAILED)),
    *((SweepEvent.FAIL, s, FAILED) for s in SweepStatus),
}


def test_the_table_allows_exactly_the_documented_transitions() -> None:
    table = {
        (event, source, target)
        for event, transition in TRANSITIONS.items()
        for source in transition.sources
        for target in transition.targets
    }
    assert table == ALLOWED
    assert set(TRANSITIONS) == set(SweepEvent), "every event has its row"


@pytest.mark.parametrize(("event", "source", "target"), sorted(itertools.product(SweepEvent, SweepStatus, SweepStatus)))
def test_every_transition_outside_the_table_raises(event: SweepEvent, source: SweepStatus, target: SweepStatus) -> None:
    if target not in TRANSITIONS[event].targets:
        with pytest.raises(SweepStateError, match=f"{event.value} cannot make a sweep"):
            change(event, target)
        return
    made = change(event, target)
    if (event, source, target) in ALLOWED:
        made.require(source)
    else:
        with pytest.raises(SweepStateError, match=f"cannot {event.value} a sweep that is {source.value}"):
            made.require(source)


def test_an_event_with_one_target_needs_none_and_one_with_two_needs_one() -> None:
    assert change(SweepEvent.CANCEL).target == CANCELLED
    with pytest.raises(SweepStateError):
        change(SweepEvent.FINISH)


@pytest.mark.parametrize(
    ("n", "completed", "pruned", "status", "reason"),
    [
        (3, 3, 0, COMPLETED, "all trials finished"),
        (3, 1, 0, COMPLETED, "all trials finished; 2 of 3 did not complete"),
        (4, 1, 2, COMPLETED, "all trials finished; 1 of 4 did not complete; 2 pruned"),
        (3, 1, 2, COMPLETED, "all trials finished; 2 pruned"),
        (2, 0, 0, FAILED, "no trial completed: every one of the 2 failed, diverged or timed out"),
        (2, 0, 2, FAILED, "no trial completed: every one of the 2 failed, diverged or timed out"),
    ],
)
def test_how_a_finished_sweep_ends(n: int, completed: int, pruned: int, status: SweepStatus, reason: str) -> None:
    end = ending(n, completed, pruned)
    assert (end.event, end.target, end.reason) == (SweepEvent.FINISH, status, reason)
    assert end.sources == OPEN


# --- applied by the store, in one step -------------------------------------------------------------------------------


def test_the_store_applies_a_change_only_from_its_sources(store: Store, dispatcher: Dispatcher) -> None:
    sweep_id = sweep_actions.submit(store, dispatcher, make_spec(n_trials=2))
    assert store.sweeps.apply(sweep_id, change(SweepEvent.RESUME)) == Q, "refused: the status it had"
    assert store.sweeps.status(sweep_id) == Q
    assert store.sweeps.apply(sweep_id, change(SweepEvent.CANCEL, reason="by ann")) == Q
    record = store.sweeps.get(sweep_id)
    assert (record.status, record.stop_reason) == (CANCELLED, "by ann") and record.ended is not None
    assert sweep_id not in store.sweeps.active_ids()
    assert store.sweeps.apply(sweep_id, change(SweepEvent.DISPATCH)) == CANCELLED
    assert store.sweeps.status(sweep_id) == CANCELLED, "a late dispatch never revives a cancelled sweep"
    assert store.sweeps.apply("sw999999", change(SweepEvent.FAIL)) is None, "no such sweep: nothing written"
    assert store.sweeps.ids() == [sweep_id]


def test_an_action_the_status_refuses_raises_and_writes_nothing(store: Store, dispatcher: Dispatcher) -> None:
    sweep_id = sweep_actions.submit(store, dispatcher, make_spec(n_trials=2))
    sweep_actions.cancel(store, dispatcher, sweep_id, by="ann")
    with pytest.raises(SweepStateError, match="cannot pause a sweep that is cancelled"):
        sweep_actions.pause(store, sweep_id)
    with pytest.raises(SweepStateError, match=r"cannot resume a sweep that is cancelled; allowed when \['paused'\]"):
        sweep_actions.resume(store, dispatcher, sweep_id)
    assert not sweep_actions.stop_when_stable(store, dispatcher, sweep_id, "stable"), "ended meanwhile: left alone"
    record = store.sweeps.get(sweep_id)
    assert (record.status, record.stop_reason) == (CANCELLED, "cancelled by ann")


def test_the_last_result_finishes_the_sweep_only_with_the_counts_it_was_decided_on(
    store: Store, dispatcher: Dispatcher
) -> None:
    """The ending is decided in Python from counts read just before the store's Lua step; when another result
    was stored in between, the step refuses (writing nothing) and the caller decides again from the new counts."""
    sweep_id = sweep_actions.submit(store, dispatcher, make_spec(n_trials=2))
    first, last = result(sweep_id, 0), result(sweep_id, 1)
    n_final, decided = store.results._ending_if_last(last)  # decided before the first result landed
    assert decided.reason == "all trials finished; 1 of 2 did not complete", "stale: it counts one completed"
    assert store.results.save(first)
    assert store.results._store_once(last, n_final, decided) == 3, "refused: the counts moved"
    assert store.results.get(sweep_id, 1) is None and store.sweeps.get(sweep_id).n_final == 1, "nothing written"
    assert store.results.save(last), "decided again, from the counts that hold now"
    record = store.sweeps.get(sweep_id)
    assert (record.status, record.stop_reason, record.n_final) == (COMPLETED, "all trials finished", 2)
