"""The dispatcher: fills live slots only, fair between owners, priorities first, pause/cancel respected."""

from __future__ import annotations

import kombu.exceptions
import pytest

from broker import sweep_actions
from broker.celery_app import HARD_LIMIT_MARGIN_S
from broker.connection import BrokerUnavailable
from broker.dispatcher import Dispatcher
from broker.settings import Settings
from broker.store import Store
from tests.broker.conftest import RecordingCelery, add_worker, make_spec
from trials.specs import SweepStatus, TrialKey, TrialResult, TrialStatus


def finish(store: Store, sent: dict[str, object]) -> None:
    """What a trainer does at the end of a trial."""
    spec = sent["spec"]
    assert isinstance(spec, dict)
    store.results.save(
        TrialResult(
            sweep_id=spec["sweep_id"],
            trial_id=spec["trial_id"],
            attempt=spec["attempt"],
            dataset=spec["dataset"],
            config=spec["config"],
            status=TrialStatus.COMPLETED,
            test_accuracy=0.5,
        )
    )
    store.trials.remove_inflight("cpu", TrialKey(spec["sweep_id"], spec["trial_id"], spec["attempt"]))


def test_nothing_is_sent_without_live_slots(store: Store, dispatcher: Dispatcher, celery: RecordingCelery) -> None:
    sweep_id = sweep_actions.submit(store, dispatcher, make_spec(n_trials=3))
    assert celery.sent == [] and store.sweeps.get(sweep_id).pending == 3
    add_worker(store, slots=2)
    assert dispatcher.refill() == 2
    assert [s["spec"]["trial_id"] for s in celery.sent] == [0, 1]
    assert all(s["queue"] == "trials.cpu" and s["name"] == "sweeprank.train_trial" for s in celery.sent)
    assert dispatcher.refill() == 0, "slots are full until a trial ends"
    assert store.sweeps.status(sweep_id) == SweepStatus.RUNNING


def test_small_sweep_of_another_owner_gets_the_next_free_slot(
    store: Store, dispatcher: Dispatcher, celery: RecordingCelery
) -> None:
    add_worker(store, slots=2)
    big = sweep_actions.submit(store, dispatcher, make_spec("bob", n_trials=10_000))
    small = sweep_actions.submit(store, dispatcher, make_spec("cat", n_trials=20))
    assert [s["spec"]["sweep_id"] for s in celery.sent] == [big, big]
    finish(store, celery.sent[0])
    dispatcher.refill()
    assert celery.sent[-1]["spec"]["sweep_id"] == small
    finish(store, celery.sent[1])
    dispatcher.refill()
    # Each owner now holds one slot: fair share, not first come first served.
    assert [s["spec"]["sweep_id"] for s in celery.sent[2:]] == [small, big]


def test_priority_beats_fair_share(store: Store, dispatcher: Dispatcher, celery: RecordingCelery) -> None:
    add_worker(store, slots=1)
    low = sweep_actions.submit(store, dispatcher, make_spec("bob", n_trials=5, priority=1))
    urgent = sweep_actions.submit(store, dispatcher, make_spec("bob", n_trials=2, priority=9))
    finish(store, celery.sent[0])
    dispatcher.refill()
    assert [s["spec"]["sweep_id"] for s in celery.sent] == [low, urgent]


def test_paused_and_cancelled_sweeps_are_not_dispatched(
    store: Store, dispatcher: Dispatcher, celery: RecordingCelery
) -> None:
    add_worker(store, slots=1)
    paused = sweep_actions.submit(store, dispatcher, make_spec("ann", n_trials=3))
    sweep_actions.pause(store, paused)
    finish(store, celery.sent[0])
    other = sweep_actions.submit(store, dispatcher, make_spec("bob", n_trials=3))
    assert celery.sent[-1]["spec"]["sweep_id"] == other
    sweep_actions.cancel(store, dispatcher, other, by="bob")
    assert store.sweeps.get(other).pending == 0
    states = store.trials.states(other)
    assert sorted(s.status for s in states.values()) == ["cancelled", "cancelled", "queued"]
    finish(store, celery.sent[-1])
    assert dispatcher.refill() == 0, "the paused sweep waits, the cancelled one is empty"
    sweep_actions.resume(store, dispatcher, paused)
    assert celery.sent[-1]["spec"]["sweep_id"] == paused


def test_hard_limit_is_clipped_below_the_visibility_timeout(store: Store, celery: RecordingCelery) -> None:
    settings = Settings(redis_url="unused", visibility_timeout_s=3600)
    dispatcher = Dispatcher(store, celery, settings)  # type: ignore[arg-type]
    add_worker(store, slots=2)
    sweep_actions.submit(
        store, dispatcher, make_spec(n_trials=1, limits={"soft_time_limit_s": 10, "hard_time_limit_s": 7200})
    )
    sweep_actions.submit(store, dispatcher, make_spec("bob", limits={"soft_time_limit_s": 10, "hard_time_limit_s": 20}))
    assert celery.sent[0]["time_limit"] == 3600 - HARD_LIMIT_MARGIN_S
    assert celery.sent[1]["time_limit"] == 20


def test_stale_inflight_entries_are_pruned(store: Store, dispatcher: Dispatcher, celery: RecordingCelery) -> None:
    add_worker(store, slots=1)
    sweep_actions.submit(store, dispatcher, make_spec(n_trials=2))
    spec = celery.sent[0]["spec"]
    # The trainer stored the result but died before leaving the in-flight set.
    store.results.save(
        TrialResult(
            sweep_id=spec["sweep_id"],
            trial_id=spec["trial_id"],
            attempt=1,
            dataset="digits",
            config=spec["config"],
            status=TrialStatus.COMPLETED,
        )
    )
    assert dispatcher.refill() == 1


def test_an_owners_running_trials_count_even_when_that_sweep_has_nothing_left(
    store: Store, dispatcher: Dispatcher, celery: RecordingCelery
) -> None:
    add_worker(store, slots=2)
    drained = sweep_actions.submit(store, dispatcher, make_spec("ann", n_trials=1))  # ann: 1 running, none pending
    more = sweep_actions.submit(store, dispatcher, make_spec("ann", n_trials=5))  # takes the second slot
    other = sweep_actions.submit(store, dispatcher, make_spec("bob", n_trials=5))  # waits
    assert [s["spec"]["sweep_id"] for s in celery.sent] == [drained, more]
    finish(store, celery.sent[1])
    dispatcher.refill()
    # ann still holds a slot through her first sweep, bob holds none: bob is next.
    assert celery.sent[-1]["spec"]["sweep_id"] == other


def test_a_send_while_redis_is_away_raises_the_broker_error_the_analyst_retries_on(store: Store) -> None:
    """The analyst loop survives BrokerUnavailable; Celery's own transport error used to kill it."""

    class RedisAway:
        def send_task(self, *args: object, **kwargs: object) -> None:
            raise kombu.exceptions.OperationalError("Error 111 connecting to 127.0.0.1. Connection refused.")

    away = Dispatcher(store, RedisAway(), Settings())  # type: ignore[arg-type]
    sweep_actions.submit(store, away, make_spec(n_trials=1))
    add_worker(store, slots=1)
    with pytest.raises(BrokerUnavailable, match="could not queue trial"):
        away.refill()
