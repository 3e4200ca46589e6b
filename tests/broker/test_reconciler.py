"""The reconciler re-queues lost trials with a new attempt, a bounded number of times."""

from __future__ import annotations

import time

from broker import sweep_actions
from broker.dispatcher import Dispatcher
from broker.reconciler import Reconciler
from broker.store import Store
from tests.broker.conftest import RecordingCelery, add_worker, make_spec
from trials.specs import TrialKey, TrialResult, TrialStatus


def start_running(store: Store, sweep_id: str, trial_id: int, attempt: int) -> None:
    """What a trainer does when it starts an attempt, minus the claim it would keep alive."""
    store.trials.update(sweep_id, trial_id, if_attempt=attempt, status="running", worker="host:99")


def test_a_running_trial_without_claim_gets_a_new_attempt(
    store: Store, dispatcher: Dispatcher, celery: RecordingCelery
) -> None:
    add_worker(store, slots=1)
    sweep_id = sweep_actions.submit(store, dispatcher, make_spec(n_trials=2))
    start_running(store, sweep_id, 0, attempt=1)
    outcomes = Reconciler(store, dispatcher).run_once()
    assert outcomes == {"requeued": 1}
    resent = celery.sent[-1]["spec"]
    assert (resent["trial_id"], resent["attempt"]) == (0, 2)
    state = store.trials.state(sweep_id, 0)
    assert state.attempt == 2 and state.losses == 1 and state.last_loss == "worker host:99 stopped heartbeating"
    assert store.trials.inflight("cpu") == {TrialKey(sweep_id, 0, 2)}
    assert store.health.counters()["trials_requeued"] == 1


def test_a_claimed_trial_is_left_alone(store: Store, dispatcher: Dispatcher, celery: RecordingCelery) -> None:
    add_worker(store, slots=1)
    sweep_id = sweep_actions.submit(store, dispatcher, make_spec(n_trials=1))
    spec = store.sweeps.trial_spec(sweep_id, 0)
    assert store.trials.claim(spec, "host:1", ttl_s=30)
    start_running(store, sweep_id, 0, attempt=1)
    assert Reconciler(store, dispatcher).run_once() == {}
    assert len(celery.sent) == 1


def test_a_dispatched_trial_never_started_is_lost_after_the_grace(
    store: Store, dispatcher: Dispatcher, celery: RecordingCelery
) -> None:
    add_worker(store, slots=1)
    sweep_id = sweep_actions.submit(store, dispatcher, make_spec(n_trials=1))
    assert Reconciler(store, dispatcher, dispatch_grace_s=60).run_once() == {}, "within the grace"
    store.trials.update(sweep_id, 0, dispatched=time.time() - 120)
    assert Reconciler(store, dispatcher, dispatch_grace_s=60).run_once() == {"requeued": 1}
    assert "s without being started" in (store.trials.state(sweep_id, 0).last_loss or "")


def test_a_trial_lost_max_attempts_times_fails_for_good(
    store: Store, dispatcher: Dispatcher, celery: RecordingCelery
) -> None:
    add_worker(store, slots=1)
    sweep_id = sweep_actions.submit(store, dispatcher, make_spec(n_trials=1, limits={"max_attempts": 3}))
    reconciler = Reconciler(store, dispatcher)
    for attempt in (1, 2, 3):
        start_running(store, sweep_id, 0, attempt=attempt)
        reconciler.run_once()
    result = store.results.get(sweep_id, 0)
    assert result is not None and result.status.value == "failed" and result.error == "worker lost 3 times"
    assert [s["spec"]["attempt"] for s in celery.sent] == [1, 2, 3]
    assert store.sweeps.status(sweep_id).value == "failed" and not store.trials.inflight("cpu")
    assert reconciler.run_once() == {}, "nothing left to do: no loop"


def test_entries_of_finished_or_superseded_attempts_are_dropped(
    store: Store, dispatcher: Dispatcher, celery: RecordingCelery
) -> None:
    add_worker(store, slots=1)
    sweep_id = sweep_actions.submit(store, dispatcher, make_spec(n_trials=1))
    store.trials.update(sweep_id, 0, attempt=2)
    store.trials.add_inflight("cpu", TrialKey(sweep_id, 0, 2))
    assert Reconciler(store, dispatcher).run_once() == {}
    assert store.trials.inflight("cpu") == {TrialKey(sweep_id, 0, 2)}, "the superseded attempt 1 entry is gone"


def test_a_dead_delivery_frees_its_own_claim_and_gets_the_next_attempt_at_once(
    store: Store, dispatcher: Dispatcher, celery: RecordingCelery
) -> None:
    add_worker(store, slots=1)
    sweep_id = sweep_actions.submit(store, dispatcher, make_spec(n_trials=1))
    spec = store.sweeps.trial_spec(sweep_id, 0)
    assert store.trials.claim(spec, "host:7", ttl_s=3600)
    start_running(store, sweep_id, 0, attempt=1)
    outcome = Reconciler(store, dispatcher).recover_dead_delivery(spec, "cpu", "host:7", "worker host:7 died")
    assert outcome == "requeued"
    assert store.trials.claim_holder(sweep_id, 0) is None
    state = store.trials.state(sweep_id, 0)
    assert (state.attempt, state.losses, state.last_loss) == (2, 1, "worker host:7 died")
    assert [s["spec"]["attempt"] for s in celery.sent] == [1, 2]
    assert store.trials.inflight("cpu") == {TrialKey(sweep_id, 0, 2)}


def test_a_dead_delivery_that_never_claimed_is_requeued_without_the_dispatch_grace(
    store: Store, dispatcher: Dispatcher, celery: RecordingCelery
) -> None:
    add_worker(store, slots=1)
    sweep_id = sweep_actions.submit(store, dispatcher, make_spec(n_trials=1))
    spec = store.sweeps.trial_spec(sweep_id, 0)
    reconciler = Reconciler(store, dispatcher, dispatch_grace_s=3600)
    assert reconciler.recover_dead_delivery(spec, "cpu", None, "worker died") == "requeued"


def test_a_dead_delivery_leaves_another_holder_and_a_final_result_alone(
    store: Store, dispatcher: Dispatcher, celery: RecordingCelery
) -> None:
    add_worker(store, slots=1)
    sweep_id = sweep_actions.submit(store, dispatcher, make_spec(n_trials=2))
    reconciler = Reconciler(store, dispatcher)
    held = store.sweeps.trial_spec(sweep_id, 0)
    assert store.trials.claim(held, "host:8", ttl_s=3600)
    start_running(store, sweep_id, 0, attempt=1)
    assert reconciler.recover_dead_delivery(held, "cpu", "host:7", "worker host:7 died") == ""
    assert store.trials.claim_holder(sweep_id, 0) == "1|host:8", "another process's claim is not freed"
    done = store.sweeps.trial_spec(sweep_id, 1)
    store.results.save(TrialResult.of(done, TrialStatus.COMPLETED))
    assert reconciler.recover_dead_delivery(done, "cpu", "host:7", "worker host:7 died") == ""
    assert [s["spec"]["attempt"] for s in celery.sent if s["spec"]["trial_id"] == 0] == [1]
    assert store.trials.state(sweep_id, 0).attempt == 1 and not store.results.get(sweep_id, 0)


def test_orphans_are_the_trials_whose_claim_holder_is_dead(
    store: Store, dispatcher: Dispatcher, celery: RecordingCelery
) -> None:
    add_worker(store, slots=2)
    sweep_id = sweep_actions.submit(store, dispatcher, make_spec(n_trials=2))
    for trial_id, holder in ((0, "node:1"), (1, "node:2")):
        assert store.trials.claim(store.sweeps.trial_spec(sweep_id, trial_id), holder, ttl_s=3600)
        start_running(store, sweep_id, trial_id, attempt=1)
    outcomes = Reconciler(store, dispatcher).recover_orphans(lambda holder: holder == "node:1")
    assert outcomes == {"requeued": 1}
    assert store.trials.claimed_by(sweep_id, 0) is None and store.trials.state(sweep_id, 0).attempt == 2
    assert store.trials.claimed_by(sweep_id, 1) == (1, "node:2") and store.trials.state(sweep_id, 1).attempt == 1
