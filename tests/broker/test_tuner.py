"""Ask-and-tell on the store: configs asked once per trial, results told once, orphans failed, chains linked once."""

from __future__ import annotations

import json

import optuna
import pytest
import redis
from optuna.storages.journal._storage import JournalOperation
from optuna.trial import TrialState

from broker import keys, sweep_actions
from broker.dispatcher import Dispatcher
from broker.settings import Settings
from broker.store import Store
from broker.tuning.asker import TRIAL_ATTR, Tuner, study_name
from broker.tuning.chain import advance_chains, cancel_chain
from tests.broker.conftest import RecordingCelery, add_worker, make_spec
from trials.specs import EpochMetrics, SweepSpec, TrialResult, TrialStatus, TuneOrigin, TuneRequest


def study_of(store: Store, sweep_id: str) -> optuna.Study:
    return optuna.load_study(
        study_name=study_name(sweep_id, "digits"), storage=store.studies.storage(sweep_id, "digits")
    )


def complete(
    store: Store, sweep_id: str, trial_id: int, accuracy: float, status: TrialStatus = TrialStatus.COMPLETED
) -> TrialResult:
    """Store the final result of the trial's current attempt."""
    attempt = store.trials.state(sweep_id, trial_id).current_attempt
    spec = store.sweeps.trial_spec(sweep_id, trial_id, attempt)
    result = TrialResult.of(spec, status, test_accuracy=accuracy, wall_time_s=1.0)
    assert store.results.save(result)
    return result


def test_a_tpe_sweep_stores_no_config_until_a_slot_asks_for_one(
    store: Store, dispatcher: Dispatcher, celery: RecordingCelery
) -> None:
    sweep_id = sweep_actions.submit(store, dispatcher, make_spec(n_trials=6, sampler="tpe"))
    assert store.sweeps.planned_configs(sweep_id) == {}
    add_worker(store, slots=2)
    assert dispatcher.refill() == 2
    configs = store.sweeps.planned_configs(sweep_id)
    assert sorted(configs) == [0, 1]
    sent = {s["spec"]["trial_id"]: s["spec"]["config"] for s in celery.sent}
    assert sent == configs, "the trainer gets the asked config"
    trials = study_of(store, sweep_id).get_trials(deepcopy=False)
    assert [(t.number, t.user_attrs[TRIAL_ATTR], t.state) for t in trials] == [
        (0, 0, TrialState.RUNNING),
        (1, 1, TrialState.RUNNING),
    ]


def test_a_dispatcher_that_may_not_ask_leaves_model_based_sweeps_to_others(
    store: Store, celery: RecordingCelery
) -> None:
    web = Dispatcher(store, celery, Settings(redis_url="unused"), asks=False)  # type: ignore[arg-type]
    add_worker(store, slots=2)
    tpe = sweep_actions.submit(store, web, make_spec(n_trials=3, sampler="tpe"))
    assert web.refill() == 0 and store.sweeps.n_pending(tpe) == 3
    planned = sweep_actions.submit(store, web, make_spec(n_trials=3))
    assert {s["spec"]["sweep_id"] for s in celery.sent} == {planned}


def test_each_result_is_told_once_and_a_resent_attempt_keeps_its_study_trial(
    store: Store, dispatcher: Dispatcher, scratch_redis: redis.Redis
) -> None:
    add_worker(store, slots=1)
    sweep_id = sweep_actions.submit(store, dispatcher, make_spec(n_trials=3, sampler="tpe"))
    spec = store.sweeps.spec(sweep_id)
    first = store.sweeps.trial_spec(sweep_id, 0)
    dispatcher.send(sweep_id, 0, "cpu", attempt=2)  # the reconciler's re-queue of a lost attempt
    assert store.sweeps.trial_spec(sweep_id, 0, 2).config == first.config
    result = complete(store, sweep_id, 0, 0.9)
    tuner = Tuner(store)
    tuner.tell(result, spec)
    tuner.tell(result, spec)  # a redelivered result event
    Tuner(Store(store.sweeps._r)).tell(result, spec)  # another process, its own cached study
    trials = study_of(store, sweep_id).get_trials(deepcopy=False)
    assert [(t.state, t.value) for t in trials] == [(TrialState.COMPLETE, 0.9)]
    journal = [json.loads(entry) for entry in scratch_redis.lrange(keys.study_journal(sweep_id, "digits"), 0, -1)]
    assert sum(1 for entry in journal if entry["op_code"] == JournalOperation.CREATE_STUDY) == 1


def test_pruned_and_failed_results_are_told_as_such(store: Store, dispatcher: Dispatcher) -> None:
    add_worker(store, slots=2)
    sweep_id = sweep_actions.submit(store, dispatcher, make_spec(n_trials=4, sampler="tpe", pruner="median"))
    spec = store.sweeps.spec(sweep_id)
    for trial_id, status in ((0, TrialStatus.PRUNED), (1, TrialStatus.FAILED)):
        Tuner(store).tell(complete(store, sweep_id, trial_id, 0.1, status), spec)
    states = [t.state for t in study_of(store, sweep_id).get_trials(deepcopy=False)]
    assert states == [TrialState.PRUNED, TrialState.FAIL]


def test_a_study_trial_whose_dispatcher_died_before_recording_it_is_failed_at_the_next_ask(
    store: Store, dispatcher: Dispatcher
) -> None:
    sweep_id = sweep_actions.submit(store, dispatcher, make_spec(n_trials=2, sampler="tpe"))
    spec = store.sweeps.spec(sweep_id)
    tuner = Tuner(store)
    # A dispatcher killed between Optuna's ask and recording the config: a study trial no trial owns.
    tuner.study(sweep_id, spec, "digits").ask().set_user_attr(TRIAL_ATTR, 0)
    tuner.ask(sweep_id, 0, spec)
    trials = study_of(store, sweep_id).get_trials(deepcopy=False)
    assert [t.state for t in trials] == [TrialState.FAIL, TrialState.RUNNING]
    assert store.sweeps.study_trial(sweep_id, 0) == 1
    tuner.ask(sweep_id, 0, spec)  # asked again (a re-sent trial): nothing new
    assert len(study_of(store, sweep_id).get_trials(deepcopy=False)) == 2


def test_held_values_are_in_every_config_and_out_of_the_study(store: Store, dispatcher: Dispatcher) -> None:
    add_worker(store, slots=3)
    held = {"optimizer": "adam", "num_conv_layers": 2}
    sweep_id = sweep_actions.submit(store, dispatcher, make_spec(n_trials=3, sampler="cmaes", fixed=held))
    configs = store.sweeps.planned_configs(sweep_id)
    assert len(configs) == 3 and all(c["optimizer"] == "adam" and c["num_conv_layers"] == 2 for c in configs.values())
    params = {name for t in study_of(store, sweep_id).get_trials(deepcopy=False) for name in t.params}
    assert params and not params & set(held)


def test_a_failing_sampler_fails_its_trial_not_the_pool(
    store: Store, dispatcher: Dispatcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    sweep_id = sweep_actions.submit(store, dispatcher, make_spec(n_trials=1, sampler="gp"))

    def broken(*_: object) -> None:
        raise RuntimeError("no model")

    monkeypatch.setattr(Tuner, "ask", broken)
    add_worker(store, slots=1)
    assert dispatcher.refill() == 0
    result = store.results.get(sweep_id, 0)
    assert result is not None and result.status is TrialStatus.FAILED and "gp sampler" in result.error


def chain_sweep(store: Store, dispatcher: Dispatcher, n_trials: int = 2) -> str:
    request = TuneRequest(sequential=True, group_size=1, trials_per_group=n_trials)
    origin = TuneOrigin(
        parent="sw99",
        tuned=["learning_rate"],
        held_from_trial=0,
        groups=[["learning_rate"], ["dropout_rate"]],
        request=request,
    )
    # As the server builds it (broker/tuning/chain.py): a member's spec may not carry `tune`.
    spec = SweepSpec.model_validate({**make_spec(n_trials=n_trials, sampler="tpe").model_dump(), "tune": origin})
    return sweep_actions.submit(store, dispatcher, spec)


def test_a_completed_chain_sweep_gets_exactly_one_next_group(
    store: Store, dispatcher: Dispatcher, scratch_redis: redis.Redis
) -> None:
    add_worker(store, slots=2)
    first = chain_sweep(store, dispatcher)
    assert advance_chains(store, dispatcher) == [], "nothing until it completes"
    complete(store, sweep_id=first, trial_id=0, accuracy=0.5)
    complete(store, sweep_id=first, trial_id=1, accuracy=0.7)
    best = store.sweeps.trial_spec(first, 1).config
    created = advance_chains(store, dispatcher)
    assert len(created) == 1 and advance_chains(store, dispatcher) == []
    assert Store(scratch_redis).sweeps.create_after(first, store.sweeps.spec(first), []) is None, "never forks"
    second = store.sweeps.spec(created[0])
    assert second.tune is not None and second.tune.tuned == ["dropout_rate"] and second.tune.chain_root == first
    assert second.fixed == {k: v for k, v in best.items() if k != "dropout_rate"}
    assert store.sweeps.next_in_chain(first) == created[0] and store.sweeps.children(first) == created


def test_a_cancelled_chain_starts_no_later_group(store: Store, dispatcher: Dispatcher) -> None:
    add_worker(store, slots=2)
    first = chain_sweep(store, dispatcher, n_trials=3)
    complete(store, sweep_id=first, trial_id=0, accuracy=0.5)
    assert cancel_chain(store, dispatcher, first, by="ann") == [first]
    assert store.sweeps.status(first).value == "cancelled"
    assert advance_chains(store, dispatcher) == [] and store.sweeps.next_in_chain(first) is None


def epoch(sweep_id: str, trial_id: int, step: int, accuracy: float) -> EpochMetrics:
    return EpochMetrics(
        sweep_id=sweep_id, trial_id=trial_id, attempt=1, epoch=step, train_loss=1.0, val_accuracy=accuracy, seconds=1.0
    )


def test_the_median_pruner_stops_a_trial_behind_the_completed_ones_after_the_same_epoch(
    store: Store, dispatcher: Dispatcher
) -> None:
    add_worker(store, slots=8)
    sweep_id = sweep_actions.submit(store, dispatcher, make_spec(n_trials=8, sampler="tpe", pruner="median"))
    spec = store.sweeps.spec(sweep_id)
    tuner = Tuner(store)
    for trial_id in range(5):  # MedianPruner(n_startup_trials=5): five completed trials first
        assert not tuner.should_prune(spec, epoch(sweep_id, trial_id, 1, 0.8 + trial_id / 100), "digits")
        tuner.tell(complete(store, sweep_id, trial_id, 0.9), spec)
    assert tuner.should_prune(spec, epoch(sweep_id, 5, 1, 0.1), "digits"), "far below the median at epoch 1"
    assert not tuner.should_prune(spec, epoch(sweep_id, 6, 1, 0.95), "digits")
    told = complete(store, sweep_id, 7, 0.5)
    tuner.tell(told, spec)
    assert not tuner.should_prune(spec, epoch(sweep_id, 7, 1, 0.0), "digits"), "a finished trial has no say"
    reported = study_of(store, sweep_id).trials[5].intermediate_values
    assert reported == {1: 0.1}


def test_a_sweep_without_a_pruner_never_prunes(store: Store, dispatcher: Dispatcher) -> None:
    add_worker(store, slots=1)
    sweep_id = sweep_actions.submit(store, dispatcher, make_spec(n_trials=1, sampler="tpe"))
    assert not Tuner(store).should_prune(store.sweeps.spec(sweep_id), epoch(sweep_id, 0, 1, 0.0), "digits")
