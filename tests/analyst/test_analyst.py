"""The analyst on a real Redis fed synthetic results: stop-when-stable, no double counting."""

from __future__ import annotations

from typing import Any

import numpy as np
import redis

from analyst.service import Analyst
from broker import keys, sweep_actions
from broker.dispatcher import Dispatcher
from broker.settings import Settings
from broker.store import Store
from importance.config import RankingConfig
from tests.broker.conftest import RecordingCelery, make_spec
from trials.specs import TrialResult, TrialStatus


def synthetic_accuracy(config: dict[str, Any], rng: np.random.Generator) -> float:
    """Driven hard by learning rate, then depth, then dropout; nothing else matters."""
    lr = (np.log10(config["learning_rate"]) + 5) / 4
    return float(
        0.6 * lr + 0.4 * (config["num_conv_layers"] - 1) / 4 + 0.4 * config["dropout_rate"] / 0.8 + rng.normal(0, 0.005)
    )


def feed(store: Store, sweep_id: str, trial_ids: range, rng: np.random.Generator) -> None:
    """Dispatch the trials (take them off the pending list) and store their results."""
    for trial_id in trial_ids:
        assert store.sweeps.pop_pending(sweep_id) == trial_id
        spec = store.sweeps.trial_spec(sweep_id, trial_id)
        store.results.save(
            TrialResult(
                sweep_id=sweep_id,
                trial_id=trial_id,
                attempt=1,
                dataset=spec.dataset,
                config=spec.config,
                status=TrialStatus.COMPLETED,
                test_accuracy=synthetic_accuracy(spec.config, rng),
            )
        )


def make_analyst(store: Store) -> Analyst:
    dispatcher = Dispatcher(store, RecordingCelery(), Settings(redis_url="unused"))  # type: ignore[arg-type]
    return Analyst(store, dispatcher, RankingConfig(bootstrap=100), consumer="test")


def drain(analyst: Analyst) -> None:
    while events := analyst.read_new(None):
        analyst.handle(events)


def test_sweep_stops_itself_when_the_ranking_is_stable(scratch_redis: redis.Redis) -> None:
    store = Store(scratch_redis)
    analyst = make_analyst(store)
    analyst.start()
    sweep_id = sweep_actions.submit(
        store, analyst.dispatcher, make_spec(n_trials=1000, stop_when_stable=True, stability_window=20)
    )
    rng = np.random.default_rng(0)
    for start in range(0, 1000, 10):
        feed(store, sweep_id, range(start, start + 10), rng)
        drain(analyst)
        if store.sweeps.status(sweep_id).value != "queued":
            break
    record = store.sweeps.get(sweep_id)
    assert record.status == "stopped_stable", record
    assert record.stop_reason.startswith("Stable since trial")
    assert record.n_final < 1000 and record.pending == 0
    ranking = store.rankings.latest(sweep_id)
    assert ranking is not None
    assert ranking.pooled.ranking[:3] == ["learning_rate", "num_conv_layers", "dropout_rate"]
    cancelled = [s for s in store.trials.states(sweep_id).values() if s.status == "cancelled"]
    assert len(cancelled) == 1000 - record.n_final


def test_replayed_events_and_restarts_count_each_trial_once(scratch_redis: redis.Redis) -> None:
    store = Store(scratch_redis)
    first = make_analyst(store)
    first.start()
    sweep_id = sweep_actions.submit(store, first.dispatcher, make_spec(n_trials=40))
    rng = np.random.default_rng(1)
    feed(store, sweep_id, range(25), rng)
    events = first.read_new(None)
    first.handle(events[:10])  # crash after acknowledging only the first ten
    # A replayed event for a trial already counted changes nothing.
    scratch_redis.xadd(keys.RESULTS_STREAM, {"sweep_id": sweep_id, "trial_id": "3"})
    feed(store, sweep_id, range(25, 40), rng)

    second = make_analyst(store)
    second.start()
    drain(second)
    analysis = second.sweeps[sweep_id]
    assert analysis.n_results == 40
    stored = store.rankings.latest(sweep_id)
    assert stored is not None and stored.n_results == 40 and stored.n_trials == 40

    batch = make_analyst(store).analysis(sweep_id)
    batch.add(store.results.in_arrival_order(sweep_id))
    expected = batch.records()[0].pooled
    assert stored.pooled.ranking == expected.ranking
    assert np.allclose(
        [row.importance for row in stored.pooled.rows], [row.importance for row in expected.rows], rtol=1e-9, atol=1e-12
    )
    assert scratch_redis.xpending(keys.RESULTS_STREAM, keys.ANALYST_GROUP)["pending"] == 0
