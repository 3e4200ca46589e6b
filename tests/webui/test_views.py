"""JSON views behind the pages: summaries and the one-line reading, trials sorting, the monitor, comparison."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient

from broker.store import Store
from tests.webui.conftest import Members, analyst_of, bearer, compare_via_analyst, seed_ranking, seed_sweep
from trials.records import WorkerInfo
from trials.specs import TrialResult, TrialStatus


def test_summary_has_progress_best_top3_and_reading(client: FlaskClient, store: Store) -> None:
    sweep_id = seed_sweep(store, n_trials=40, n_results=30)
    seed_ranking(store, sweep_id)
    summary = client.get(f"/api/sweeps/{sweep_id}/summary").get_json()
    results = store.results.in_arrival_order(sweep_id)
    assert summary["n_final"] == 30 and summary["eta_s"] is not None and summary["eta_s"] > 0
    assert summary["best"]["value"] == max(r.test_accuracy or 0 for r in results)
    assert len(summary["top"]) == 3 and summary["top"][0] == "learning_rate"
    assert summary["reading"].startswith("learning_rate")
    listed = client.get("/api/summaries").get_json()["sweeps"]
    assert [s["id"] for s in listed] == [sweep_id]


def test_trials_sort_and_paginate(client: FlaskClient, store: Store) -> None:
    sweep_id = seed_sweep(store, n_trials=12, n_results=8)
    page = client.get(f"/api/sweeps/{sweep_id}/trials?sort=test_accuracy&order=desc&limit=5").get_json()
    values = [t["result"]["test_accuracy"] for t in page["trials"]]
    assert page["total"] == 12 and len(values) == 5 and values == sorted(values, reverse=True)
    tail = client.get(f"/api/sweeps/{sweep_id}/trials?sort=test_accuracy&offset=8").get_json()["trials"]
    assert [t["result"] for t in tail] == [None] * 4, "trials without a result sort last"
    by_lr = client.get(f"/api/sweeps/{sweep_id}/trials?sort=learning_rate").get_json()["trials"]
    # Finished trials by their value, then unfinished ones by id (their values still change).
    finished = [t["config"]["learning_rate"] for t in by_lr if t["result"]]
    assert finished == sorted(finished) and all(t["duration_s"] == 2.0 for t in by_lr if t["result"])
    assert [t["trial_id"] for t in by_lr[len(finished) :]] == sorted(t["trial_id"] for t in by_lr if not t["result"])
    assert client.get(f"/api/sweeps/{sweep_id}/trials?sort=nope").status_code == 400


def test_queue_shows_current_trials_and_throughput(client: FlaskClient, store: Store, members: Members) -> None:
    sweep_id = seed_sweep(store, n_trials=6, n_results=2)
    store.trials.update(sweep_id, 4, status="running", worker="gpu0@gpuhost:4242", started=1.0, epoch=2, epochs=8)
    store.workers.register(
        "gpu0@gpuhost",
        WorkerInfo(host="gpuhost", device="cuda", gpu="0", queues=["trials.gpu"], slots=1, pid=4200),
        ttl_s=30,
    )
    queue = client.get("/api/queue", headers=bearer(members.ann)).get_json()  # trainer names are a member's
    worker = next(w for w in queue["workers"] if w["name"] == "gpu0@gpuhost")
    assert [(t["trial_id"], t["epoch"], t["epochs"]) for t in worker["current"]] == [(4, 2, 8)]
    assert worker["current"][0]["eta_s"] > 0
    assert queue["throughput_per_hour"] == 2 and queue["pending_by_owner"] == {"ann": 6}


def test_comparison_with_fanova_and_ped_anova(app: Flask, client: FlaskClient, store: Store, members: Members) -> None:
    sweep_id = seed_sweep(store, n_trials=40, n_results=40)
    assert client.post(f"/api/sweeps/{sweep_id}/compare", headers=bearer(members.ann)).status_code == 400, "no ranking"
    seed_ranking(store, sweep_id)
    body = compare_via_analyst(app, client, members.ann, sweep_id)
    pooled = body["groups"]["pooled"]
    assert body["n_results"] == 40 and pooled["n_trials"] == 40
    for method in ("fanova", "ped-anova"):
        shares = pooled["methods"][method]["importances"]
        assert abs(sum(shares.values()) - 1) < 1e-9 and set(shares) == set(pooled["nrrelieff"])
        assert -1 <= pooled["methods"][method]["kendall_tau"] <= 1
    assert max(pooled["methods"]["fanova"]["importances"].items(), key=lambda kv: kv[1])[0] == "learning_rate"


def test_pooled_comparison_is_the_trial_weighted_mean_of_the_datasets(
    app: Flask, client: FlaskClient, store: Store, members: Members
) -> None:
    """Defined as the pooled N-RReliefF is (and as `sweeprank rank --compare` does it)."""
    sweep_id = seed_sweep(store, n_trials=60, n_results=60, datasets=["digits", "fashion_mnist"])
    seed_ranking(store, sweep_id)
    groups = compare_via_analyst(app, client, members.ann, sweep_id)["groups"]
    datasets = [g for g in groups if g != "pooled"]
    assert sorted(datasets) == ["digits", "fashion_mnist"]
    total = sum(groups[g]["n_trials"] for g in datasets)
    assert groups["pooled"]["n_trials"] == total == 60
    for method in ("fanova", "ped-anova"):
        for name, share in groups["pooled"]["methods"][method]["importances"].items():
            mean = sum(groups[g]["n_trials"] * groups[g]["methods"][method]["importances"][name] for g in datasets)
            assert share == pytest.approx(mean / total)


def _finish(store: Store, sweep_id: str, trial_id: int, status: TrialStatus, error: str = "") -> None:
    trial = store.sweeps.trial_spec(sweep_id, trial_id)
    accuracy = 0.9 if status is TrialStatus.COMPLETED else None
    store.results.save(TrialResult.of(trial, status, test_accuracy=accuracy, error=error, worker="host:1"))


def test_a_sweep_whose_every_trial_failed_is_failed_with_no_top_and_each_error(
    client: FlaskClient, store: Store
) -> None:
    sweep_id = seed_sweep(store, n_trials=2)
    for trial_id in (0, 1):
        _finish(store, sweep_id, trial_id, TrialStatus.FAILED, f"cifar10: not prepared (trial {trial_id})")
    seed_ranking(store, sweep_id)  # the analyst ranks whatever arrives, here nothing that completed

    summary = client.get(f"/api/sweeps/{sweep_id}/summary").get_json()
    assert (summary["status"], summary["final"], summary["counts"]["failed"]) == ("failed", True, 2)
    assert summary["top"] == [] and summary["best"] is None
    assert "importance" not in summary["reading"] and "none of the 2 trials completed" in summary["reading"]
    assert "failed" in summary["stop_reason"]
    trials = client.get(f"/api/sweeps/{sweep_id}/trials").get_json()["trials"]
    errors = {t["trial_id"]: t["result"]["error"] for t in trials}
    assert errors == {0: "cifar10: not prepared (trial 0)", 1: "cifar10: not prepared (trial 1)"}


def test_a_sweep_with_one_completed_trial_is_completed_and_counts_its_failures(
    client: FlaskClient, store: Store
) -> None:
    """The rule: completed when at least one trial completed; the failures are counted beside it."""
    sweep_id = seed_sweep(store, n_trials=3)
    _finish(store, sweep_id, 0, TrialStatus.COMPLETED)
    _finish(store, sweep_id, 1, TrialStatus.FAILED, "boom")
    _finish(store, sweep_id, 2, TrialStatus.DIVERGED)
    summary = client.get(f"/api/sweeps/{sweep_id}/summary").get_json()
    assert summary["status"] == "completed"
    assert (summary["counts"]["completed"], summary["counts"]["failed"], summary["counts"]["diverged"]) == (1, 1, 1)
    assert summary["stop_reason"] == "all trials finished; 2 of 3 did not complete"


def test_compare_needs_a_member_runs_in_the_analyst_and_is_served_from_its_store_after(
    app: Flask, client: FlaskClient, store: Store, members: Members
) -> None:
    sweep_id = seed_sweep(store, n_trials=30, n_results=30)
    seed_ranking(store, sweep_id)
    assert client.post(f"/api/sweeps/{sweep_id}/compare").status_code == 401
    assert store.comparisons.requested() == [], "an anonymous call asks nothing of the analyst"

    asked = client.post(f"/api/sweeps/{sweep_id}/compare", headers=bearer(members.ann))
    assert asked.status_code == 202 and asked.get_json() == {"status": "computing", "n_results": 30, "comparison": None}
    assert store.comparisons.requested() == [sweep_id], "the request path computed nothing: the analyst will"
    client.post(f"/api/sweeps/{sweep_id}/compare", headers=bearer(members.ann))
    assert store.comparisons.requested() == [sweep_id], "asked twice before it ran: computed once"

    analyst_of(app).compare_requested()
    assert store.health.counters()["comparisons_computed"] == 1
    again = client.post(f"/api/sweeps/{sweep_id}/compare", headers=bearer(members.ann))
    assert again.status_code == 200 and again.get_json()["comparison"]["n_results"] == 30
    assert store.comparisons.requested() == [] and store.health.counters()["comparisons_computed"] == 1

    # A new result makes a new ranking: the stored comparison is of the old one, so the analyst is asked again.
    seed_ranking(store, sweep_id)
    assert client.post(f"/api/sweeps/{sweep_id}/compare", headers=bearer(members.ann)).status_code == 202
