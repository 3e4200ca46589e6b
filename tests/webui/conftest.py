"""Fixtures for the web UI: the app over a private Redis database, members, and seeded sweeps.

Unit tests use database 1 of the session's redis-server, so sweeps they create
are never dispatched to the trainers that integration tests run on database 0.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient

from analyst.service import Analyst
from broker.settings import Settings
from broker.store import Store
from broker.sweep_actions import plan_trials
from importance.config import RankingConfig
from tests.conftest import database_url
from tests.integration.conftest import tiny_spec
from trials.records import RankedTrials, RankingGroup, RankingHistoryEntry, RankingParameters, RankingRecord
from trials.space import Value
from trials.specs import SweepSpec, TrialResult, TrialStatus
from webui import create_app

PASSWORD = "correct horse battery"


@dataclass
class Members:
    ann: str
    bob: str
    root: str


@pytest.fixture
def web_redis_url(redis_url: str) -> str:
    url = database_url(redis_url, 1)
    redis.Redis.from_url(url).flushdb()
    return url


@pytest.fixture
def web_redis(web_redis_url: str) -> redis.Redis:
    """A plain client on the web tests' database, to look at what the store wrote."""
    return redis.Redis.from_url(web_redis_url, decode_responses=True)


@pytest.fixture
def store(web_redis_url: str) -> Store:
    return Store.from_url(web_redis_url)


@pytest.fixture
def app(web_redis_url: str) -> Flask:
    settings = Settings(redis_url=web_redis_url, events_max_s=1.0, events_interval_s=0.05)
    return create_app(settings, {"TESTING": True})


@pytest.fixture
def members(store: Store) -> Members:
    users = store.users
    return Members(ann=users.add("ann", password=PASSWORD), bob=users.add("bob"), root=users.add("root", admin=True))


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def seed_sweep(store: Store, owner: str = "ann", n_trials: int = 30, n_results: int = 0, **extra: Any) -> str:
    """A sweep created straight in the store (nothing dispatched), with `n_results` synthetic results."""
    spec = SweepSpec.model_validate(tiny_spec(owner=owner, n_trials=n_trials, **extra))
    sweep_id = store.sweeps.create(spec, plan_trials(spec))
    rng = random.Random(0)
    # The first n_results trials: HGETALL returns a big hash in an order that differs from one Redis to the next.
    for trial_id, config in sorted(store.sweeps.planned_configs(sweep_id).items())[:n_results]:
        # Accuracy rises with the learning rate and falls with dropout: a ranking with a clear top.
        accuracy = 0.5 + 40 * config["learning_rate"] - 0.3 * config["dropout_rate"] + rng.gauss(0, 0.01)
        store.trials.update(sweep_id, trial_id, status="running", worker="host:1", started=1.0, epoch=1, epochs=1)
        save_result(
            store,
            sweep_id,
            trial_id,
            config,
            dataset=store.sweeps.trial_spec(sweep_id, trial_id).dataset,
            test_accuracy=accuracy,
            best_val_accuracy=accuracy,
            final_train_loss=1 - accuracy,
            epochs_completed=1,
            wall_time_s=2.0,
            worker="host:1",
        )
    return sweep_id


def save_result(
    store: Store,
    sweep_id: str,
    trial_id: int,
    config: dict[str, Value],
    status: TrialStatus = TrialStatus.COMPLETED,
    dataset: str = "digits",
    **fields: Any,
) -> None:
    """The final result of a trial's first attempt, as a trainer stores it."""
    store.results.save(
        TrialResult(
            sweep_id=sweep_id, trial_id=trial_id, attempt=1, dataset=dataset, config=config, status=status, **fields
        )
    )


@pytest.fixture
def logged_in(client: FlaskClient, members: Members) -> Iterator[FlaskClient]:
    """The client with ann's browser session (logged in through the form)."""
    client.get("/login")
    with client.session_transaction() as session:
        csrf = session["csrf_token"]
    response = client.post("/login", data={"name": "ann", "password": PASSWORD, "csrf_token": csrf})
    assert response.status_code == 302
    yield client


def analyst_of(app: Flask) -> Analyst:
    """The real analyst over the app's store (not started: a test calls the step it needs)."""
    svc = app.extensions["sweeprank"]
    return Analyst(svc.store, svc.dispatcher)


def compare_via_analyst(app: Flask, client: FlaskClient, token: str, sweep_id: str) -> dict[str, Any]:
    """A member's compare request, answered by the analyst's compare step: the stored comparison's JSON."""
    asked = client.post(f"/api/sweeps/{sweep_id}/compare", headers=bearer(token))
    assert asked.status_code in (200, 202), asked.get_json()
    analyst_of(app).compare_requested()
    body: dict[str, Any] = client.get(f"/api/sweeps/{sweep_id}/comparison").get_json()["comparison"]
    return body


def csrf_of(client: FlaskClient) -> str:
    """The session's CSRF token, as a page hands it to its scripts."""
    client.get("/sweeps")
    with client.session_transaction() as session:
        return str(session["csrf_token"])


def seed_ranking(store: Store, sweep_id: str) -> RankingRecord:
    """Store the ranking the analyst would compute from the stored results."""
    from analyst.service import SweepAnalysis

    analysis = SweepAnalysis.of_stored(store, sweep_id, RankingConfig(bootstrap=30))
    analysis.add(store.results.in_arrival_order(sweep_id))
    full, compact = analysis.records()
    store.rankings.save(sweep_id, full, compact)
    return full


# Hyperparameters of the hand-made ranking groups below.
RANKED = ["learning_rate", "num_conv_layers", "dropout_rate", "batch_size"]


def ranking_group(
    importances: list[float],
    verdicts: list[str] | None = None,
    detectable: list[float | None] | None = None,
    p_adjusted: list[float | None] | None = None,
    note: str = "",
    stable: bool = True,
    ci_low: list[float] | None = None,
) -> RankingGroup:
    """A ranking group as the analyst stores it; without `verdicts` it is a record from before the tests."""
    order = sorted(RANKED, key=lambda n: -importances[RANKED.index(n)])
    entry: dict[str, Any] = {
        "n_trials": 80,
        "names": RANKED,
        "importances": importances,
        "raw_weights": [v / 10 for v in importances],
        "ci_low": ci_low or [max(0.0, v - 0.05) for v in importances],
        "ci_high": [v + 0.05 for v in importances],
        "rank_probability": [0.9, 0.8, 0.7, 0.6],
        "ranking": order,
        "stability": {
            "stable": stable,
            "settled": stable,
            "stable_since": 40 if stable else None,
            "top_k": [0, 1, 2],
            "unchanged_for": 40,
            "window": 30,
            "sentence": "",
        },
        "message": "",
    }
    if verdicts is not None:
        entry |= {
            "p_values": [0.001 if v == "matters" else 0.4 for v in verdicts],
            "p_adjusted": p_adjusted or [0.004 if v == "matters" else 0.8 for v in verdicts],
            "verdicts": verdicts,
            "detectable": detectable or [None] * len(RANKED),
            "verdict_note": note,
            "method": "fixed-scale",
        }
    return RankingGroup.model_validate(entry)


def ranking_record(entries: dict[str, RankingGroup]) -> tuple[RankingRecord, RankingHistoryEntry]:
    """A full ranking record over `entries` (which hold "pooled") and its compact entry for the history."""
    pooled = entries["pooled"]
    parameters = RankingParameters(
        config=RankingConfig(method="fixed-scale", bootstrap=30), metric="test_accuracy", direction="maximize"
    )
    full = RankingRecord(
        method="n-rrelieff/fixed-scale",
        parameters=parameters,
        n_results=80,
        n_trials=80,
        trials=RankedTrials(arrival_list="sr:sweep:sw1:arrival", first=80),
        excluded={},
        time=1.0,
        groups=entries,
    )
    compact = RankingHistoryEntry(
        n_trials=pooled.n_trials,
        time=1.0,
        names=[row.name for row in pooled.rows],
        importances=[row.importance for row in pooled.rows],
        ci_low=[row.ci_low for row in pooled.rows],
        ci_high=[row.ci_high for row in pooled.rows],
        verdicts=[row.verdict for row in pooled.rows if row.verdict] or None,
        stable_since=40,
    )
    return full, compact
