"""The store keeps exactly one final result per trial and closes finished sweep_actions."""

from __future__ import annotations

import pytest
import redis
from pydantic import ValidationError

from broker import sweep_actions
from broker.dispatcher import Dispatcher
from broker.store import Store
from tests.broker.conftest import make_spec
from trials.specs import EpochMetrics, SweepStatus, TrialResult, TrialStatus


def result(
    sweep_id: str, trial_id: int, attempt: int = 1, status: TrialStatus = TrialStatus.COMPLETED, accuracy: float = 0.5
) -> TrialResult:
    return TrialResult(
        sweep_id=sweep_id,
        trial_id=trial_id,
        attempt=attempt,
        dataset="digits",
        config={},
        status=status,
        test_accuracy=accuracy,
    )


def test_second_final_result_is_discarded_and_counted(
    store: Store, dispatcher: Dispatcher, scratch_redis: redis.Redis
) -> None:
    sweep_id = sweep_actions.submit(store, dispatcher, make_spec(n_trials=2))
    assert store.results.save(result(sweep_id, 0, attempt=1, accuracy=0.7))
    assert not store.results.save(result(sweep_id, 0, attempt=1, accuracy=0.1))
    assert store.results.get(sweep_id, 0).test_accuracy == 0.7  # type: ignore[union-attr]
    assert store.health.counters()["duplicate_results_discarded"] == 1
    assert scratch_redis.xlen("sr:results") == 1, "one result event per trial"
    assert store.sweeps.get(sweep_id).n_final == 1


def test_results_of_superseded_attempts_are_discarded(store: Store, dispatcher: Dispatcher) -> None:
    sweep_id = sweep_actions.submit(store, dispatcher, make_spec(n_trials=1))
    store.trials.update(sweep_id, 0, attempt=2, status="queued")  # the reconciler re-queued it
    assert not store.trials.update(sweep_id, 0, if_attempt=1, epoch=3), "the old attempt may not write its state"
    assert not store.results.save(result(sweep_id, 0, attempt=1))
    assert store.health.counters()["superseded_results_discarded"] == 1
    assert store.results.save(result(sweep_id, 0, attempt=2))
    assert store.trials.state(sweep_id, 0).status == TrialStatus.COMPLETED


def test_sweep_completes_when_every_trial_is_final(store: Store, dispatcher: Dispatcher) -> None:
    sweep_id = sweep_actions.submit(store, dispatcher, make_spec(n_trials=3))
    store.results.save(result(sweep_id, 2))
    store.results.save(result(sweep_id, 0, status=TrialStatus.FAILED))
    assert store.sweeps.status(sweep_id) == SweepStatus.QUEUED
    store.results.save(result(sweep_id, 1, status=TrialStatus.DIVERGED))
    record = store.sweeps.get(sweep_id)
    assert record.status == "completed" and record.stop_reason == "all trials finished; 2 of 3 did not complete"
    assert record.counts == {"completed": 1, "failed": 1, "diverged": 1, "timeout": 0, "cancelled": 0, "pruned": 0}
    assert [r.trial_id for r in store.results.in_arrival_order(sweep_id)] == [2, 0, 1], "arrival order"
    assert sweep_id not in store.sweeps.active_ids()
    assert [f.trial_id for f in store.health.recent_failures()] == [1, 0]


def test_sweep_whose_every_trial_failed_ends_failed(store: Store, dispatcher: Dispatcher) -> None:
    sweep_id = sweep_actions.submit(store, dispatcher, make_spec(n_trials=2))
    store.results.save(result(sweep_id, 0, status=TrialStatus.FAILED))
    store.results.save(result(sweep_id, 1, status=TrialStatus.TIMEOUT))
    record = store.sweeps.get(sweep_id)
    assert record.status == SweepStatus.FAILED and record.status.final and record.ended is not None
    assert record.stop_reason.startswith("no trial completed")
    assert sweep_id not in store.sweeps.active_ids()


def test_epoch_metrics_stream_per_sweep(store: Store, dispatcher: Dispatcher) -> None:
    sweep_id = sweep_actions.submit(store, dispatcher, make_spec(n_trials=2))
    for trial_id, epoch in ((0, 1), (1, 1), (0, 2)):
        store.results.record_epoch(
            EpochMetrics(
                sweep_id=sweep_id,
                trial_id=trial_id,
                attempt=1,
                epoch=epoch,
                train_loss=1.0 / epoch,
                val_accuracy=0.1 * epoch,
                seconds=0.5,
            )
        )
    assert [m.epoch for m in store.results.epoch_metrics(sweep_id, 0)] == [1, 2]
    assert len(store.results.epoch_metrics(sweep_id)) == 3


def test_claim_admits_one_attempt_at_a_time(store: Store, dispatcher: Dispatcher) -> None:
    sweep_id = sweep_actions.submit(store, dispatcher, make_spec(n_trials=1))
    spec = store.sweeps.trial_spec(sweep_id, 0)
    assert store.trials.claim(spec, "host:1", ttl_s=30)
    assert not store.trials.claim(spec.model_copy(update={"attempt": 2}), "host:2", ttl_s=30)
    store.trials.release_claim(spec, "host:other")
    assert store.trials.claim_holder(sweep_id, 0) == "1|host:1", "only the holder releases its claim"
    store.trials.release_claim(spec, "host:1")
    assert store.trials.claim(spec.model_copy(update={"attempt": 2}), "host:2", ttl_s=30)


def test_planned_trials_are_spread_over_datasets(store: Store, dispatcher: Dispatcher) -> None:
    spec = make_spec(n_trials=5).model_copy(update={"datasets": ["digits", "fashion_mnist"]})
    sweep_id = sweep_actions.submit(store, dispatcher, spec)
    datasets = [store.sweeps.trial_spec(sweep_id, t).dataset for t in range(5)]
    assert datasets == ["digits", "fashion_mnist", "digits", "fashion_mnist", "digits"]
    seeds = {store.sweeps.trial_spec(sweep_id, t).seed for t in range(5)}
    assert len(seeds) == 5


def test_a_state_update_is_checked_before_anything_is_written(store: Store, dispatcher: Dispatcher) -> None:
    sweep_id = sweep_actions.submit(store, dispatcher, make_spec(n_trials=1))
    before = store.trials.state(sweep_id, 0)
    with pytest.raises(ValidationError):
        store.trials.update(sweep_id, 0, epoch="three")
    with pytest.raises(ValidationError):
        store.trials.update(sweep_id, 0, colour="blue")
    assert store.trials.state(sweep_id, 0) == before
