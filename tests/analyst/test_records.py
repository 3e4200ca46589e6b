"""Ranking, sweep and worker records come back from the store exactly as they went in."""

from __future__ import annotations

import json

import numpy as np
import redis

from analyst.service import SweepAnalysis
from broker import keys, sweep_actions
from broker.store import Store
from importance.config import RankingConfig
from tests.analyst.test_analyst import feed, make_analyst
from tests.broker.conftest import make_spec
from trials.records import POOLED, SweepRecord, WorkerInfo


def test_a_ranking_record_round_trips_through_the_store_unchanged(scratch_redis: redis.Redis) -> None:
    store = Store(scratch_redis)
    dispatcher = make_analyst(store).dispatcher
    sweep_id = sweep_actions.submit(store, dispatcher, make_spec(n_trials=80, datasets=["digits", "fashion_mnist"]))
    feed(store, sweep_id, range(80), np.random.default_rng(2))
    analysis = SweepAnalysis.of_stored(store, sweep_id, RankingConfig(bootstrap=30))
    analysis.add(store.results.in_arrival_order(sweep_id))
    record, compact = analysis.records()
    # Every part of the record is there: per-dataset groups, verdicts, agreement across the two datasets.
    assert set(record.groups) == {"digits", "fashion_mnist", POOLED}
    assert record.pooled.agreement is not None and record.pooled.agreement.n_groups == 2
    assert all(row.verdict is not None for row in record.pooled.rows) and record.pooled.tested_at == 80
    assert record.groups["digits"].agreement is None and record.parameters.config.relief_block_size == 50

    store.rankings.save(sweep_id, record, compact)
    assert store.rankings.latest(sweep_id) == record
    assert store.rankings.history(sweep_id) == [compact]
    stored = json.loads(scratch_redis.get(keys.ranking(sweep_id)) or "null")
    assert stored == record.model_dump(mode="json"), "stored as the model's JSON"
    assert [row["verdict"] for row in stored["groups"][POOLED]["rows"]] == [row.verdict for row in record.pooled.rows]


def test_sweep_and_worker_records_read_back_as_written(scratch_redis: redis.Redis) -> None:
    store = Store(scratch_redis)
    spec = make_spec(n_trials=3, priority=7)
    sweep_id = sweep_actions.submit(store, make_analyst(store).dispatcher, spec)
    sweep = store.sweeps.get(sweep_id)
    assert (sweep.spec, sweep.priority, sweep.status, sweep.pending, sweep.ended) == (spec, 7, "queued", 3, None)
    assert sweep.space == spec.search_space().to_dict()
    assert SweepRecord.model_validate_json(sweep.model_dump_json()) == sweep, "what the CLI reads from the API"

    info = WorkerInfo(host="h", device="cuda", gpu="0", queues=["trials.gpu"], slots=2, pid=7, gpu_name="H200")
    store.workers.register("gpu0@h", info, ttl_s=30)
    (worker,) = store.workers.live(30)
    assert worker.name == "gpu0@h" and WorkerInfo.model_validate(worker.model_dump()) == info
