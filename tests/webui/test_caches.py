"""What the pages derive is never fooled by a reused sweep id.

Sweep ids restart at sw1 after a Redis flush (or on a new Redis behind the same web process);
a cache keyed by the id and a count alone served the old sweep's answers for the new sw1.
"""

from __future__ import annotations

import redis
from flask import Flask
from flask.testing import FlaskClient

from broker.store import Store
from tests.webui.conftest import compare_via_analyst, seed_ranking, seed_sweep


def _recreated_sw1(store: Store, web_redis: redis.Redis, n_results: int, seed: int) -> str:
    web_redis.flushdb()
    sweep_id = seed_sweep(store, n_trials=n_results, n_results=n_results, seed=seed)
    assert sweep_id == "sw1"
    return sweep_id


def test_best_result_of_a_recreated_sweep_is_not_the_old_ones(
    client: FlaskClient, store: Store, web_redis: redis.Redis
) -> None:
    first = _recreated_sw1(store, web_redis, n_results=24, seed=1)
    old_best = client.get(f"/api/sweeps/{first}/summary").get_json()["best"]
    again = _recreated_sw1(store, web_redis, n_results=24, seed=2)  # same id, same number of results, other trials
    best = client.get(f"/api/sweeps/{again}/summary").get_json()["best"]
    assert best["value"] == max(r.test_accuracy or 0 for r in store.results.in_arrival_order(again))
    assert best != old_best
    assert client.get("/api/summaries").get_json()["sweeps"][0]["best"] == best


def test_comparison_of_a_recreated_sweep_is_not_the_old_ones(
    app: Flask, client: FlaskClient, store: Store, web_redis: redis.Redis
) -> None:
    first = _recreated_sw1(store, web_redis, n_results=30, seed=1)
    seed_ranking(store, first)
    old = compare_via_analyst(app, client, store.users.add("ann"), first)
    again = _recreated_sw1(store, web_redis, n_results=30, seed=2)
    ranking = seed_ranking(store, again)
    pooled = ranking.pooled
    body = compare_via_analyst(app, client, store.users.add("ann"), again)
    assert body["groups"]["pooled"]["nrrelieff"] == pooled.importances()
    assert body != old
