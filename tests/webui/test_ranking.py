"""The ranking as the web UI reads it: the one-line reading from verdicts, and the ranking CSV export."""

from __future__ import annotations

import csv
import io
import json

import pytest
import redis
from flask.testing import FlaskClient

from broker import keys
from broker.store import Store
from tests.webui.conftest import ranking_group as group
from tests.webui.conftest import ranking_record, seed_ranking, seed_sweep
from trials.specs import SweepStatus
from webui.export import EFFECT_COLUMNS
from webui.summary import reading

NOTE = "fewer than 30 trials: too few to test"


def test_reading_names_what_matters_and_what_shows_no_effect() -> None:
    g = group(
        [0.45, 0.30, 0.20, 0.05],
        ["matters", "matters", "no_detectable_effect", "undetermined"],
        detectable=[None, None, 0.08, 0.3],
    )
    assert reading(g, "running") == (
        "learning_rate (0.45) and num_conv_layers (0.30) matter; "
        "dropout_rate shows no detectable effect (an importance ≥ 0.08 would have been seen); "
        "batch_size is undetermined — 80 completed trials, stable since trial 40."
    )
    several = group(
        [0.6, 0.2, 0.15, 0.05],
        ["matters", "no_detectable_effect", "no_detectable_effect", "no_detectable_effect"],
        detectable=[None, 0.05, 0.09, 0.07],
    )
    # One bound that holds for each: the largest.
    assert reading(several).startswith(
        "learning_rate (0.60) matters; num_conv_layers, dropout_rate and batch_size show no detectable effect "
        "(an importance ≥ 0.09 would have been seen for each)"
    )
    tiny = group([0.6, 0.2, 0.15, 0.05], ["matters"] * 3 + ["no_detectable_effect"], [None] * 3 + [0.004])
    assert "batch_size shows no detectable effect (an importance ≥ 0.004 would have been seen)" in reading(tiny)
    unknown_bound = group([0.6, 0.2, 0.15, 0.05], ["matters", "matters", "matters", "no_detectable_effect"])
    assert "; batch_size shows no detectable effect — " in reading(unknown_bound)


def test_reading_when_nothing_matters() -> None:
    g = group([0.3, 0.3, 0.2, 0.2], ["no_detectable_effect"] * 4, detectable=[0.12, 0.1, 0.11, 0.1])
    text = reading(g, "running")
    assert text.startswith("No hyperparameter has a detectable effect yet (Holm-adjusted p ≥ 0.05 for all); ")
    assert "matters" not in text
    untested = group([0.3, 0.3, 0.2, 0.2], ["undetermined"] * 4, p_adjusted=[0.3, None, 0.5, 0.6])
    assert reading(untested).startswith(
        "No hyperparameter has a detectable effect yet (Holm-adjusted p ≥ 0.05 for all tested); "
        "learning_rate, num_conv_layers, dropout_rate and batch_size are undetermined"
    )


def test_reading_says_why_there_are_no_verdicts() -> None:
    g = group([0.5, 0.3, 0.2, 0.0], ["undetermined"] * 4, detectable=[None] * 4, note=NOTE, stable=False)
    text = reading(g, "running")
    assert text == (
        "learning_rate and num_conv_layers explain 80% of the importance so far; "
        f"no verdicts yet ({NOTE}) — 80 completed trials, still changing."
    )


def test_reading_of_an_old_record_claims_no_verdict() -> None:
    """A record without verdicts never reads a small or zero share as "does not matter"."""
    g = group([0.4, 0.3, 0.29, 0.01], ci_low=[0.3, 0.2, 0.1, 0.0])
    assert all(row.verdict is None and row.p_adjusted is None for row in g.rows) and g.verdict_note == ""
    assert reading(g) == "learning_rate and num_conv_layers explain 70% of the importance — 80 completed trials, " + (
        "stable since trial 40."
    )
    assert reading(None).startswith("No ranking yet")


@pytest.mark.parametrize(
    ("status", "stable", "tail"),
    [
        (SweepStatus.COMPLETED, True, "settled since trial 40."),
        (SweepStatus.STOPPED_STABLE, True, "settled since trial 40."),
        (SweepStatus.COMPLETED, False, "did not settle."),
        (SweepStatus.CANCELLED, False, "did not settle."),
        (SweepStatus.RUNNING, True, "stable since trial 40."),
        (SweepStatus.PAUSED, False, "still changing."),
    ],
)
def test_reading_says_whether_the_ranking_settled(status: SweepStatus, stable: bool, tail: str) -> None:
    g = group([0.5, 0.3, 0.2, 0.0], ["matters", "matters", "undetermined", "undetermined"], stable=stable)
    assert reading(g, status.value).endswith(f" — 80 completed trials, {tail}")


def test_reading_counts_the_rest_of_a_long_list() -> None:
    g = group([0.3, 0.3, 0.2, 0.2], ["matters"] * 4)
    importances = [0.2, 0.2, 0.2, 0.2, 0.1, 0.1]
    rows = [
        g.rows[0].model_copy(update={"name": f"p{i}", "rank": i + 1, "importance": share, "p_adjusted": 0.01})
        for i, share in enumerate(importances)
    ]
    g = g.model_copy(update={"rows": rows})
    assert reading(g) == (
        "p0 (0.20), p1 (0.20), p2 (0.20) and 3 others matter — 80 completed trials, stable since trial 40."
    )


def rows_of(client: FlaskClient, sweep_id: str) -> list[dict[str, str]]:
    response = client.get(f"/api/sweeps/{sweep_id}/ranking.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == f"attachment; filename={sweep_id}-ranking.csv"
    text = response.get_data(as_text=True)
    assert text.splitlines()[0] == (
        "group,name,rank,importance,ci_low,ci_high,rank_probability,raw_weight,p_value,p_adjusted,verdict,detectable"
    )
    return list(csv.DictReader(io.StringIO(text)))


def test_ranking_csv_has_one_row_per_group_and_hyperparameter(client: FlaskClient, store: Store) -> None:
    sweep_id = seed_sweep(store, n_trials=80)
    assert rows_of(client, sweep_id) == [], "before the first ranking: the header only"
    pooled = group(
        [0.45, 0.30, 0.20, 0.05],
        ["matters", "matters", "no_detectable_effect", "undetermined"],
        detectable=[None, None, 0.08, 0.3],
    )
    digits = group([0.1, 0.2, 0.3, 0.4], ["undetermined"] * 4, p_adjusted=[0.5, 0.6, None, 0.7], note=NOTE)
    store.rankings.save(sweep_id, *ranking_record({"digits": digits, "pooled": pooled}))

    rows = rows_of(client, sweep_id)
    assert [(r["group"], r["name"], r["rank"]) for r in rows] == [
        ("pooled", "learning_rate", "1"),
        ("pooled", "num_conv_layers", "2"),
        ("pooled", "dropout_rate", "3"),
        ("pooled", "batch_size", "4"),
        ("digits", "batch_size", "1"),
        ("digits", "dropout_rate", "2"),
        ("digits", "num_conv_layers", "3"),
        ("digits", "learning_rate", "4"),
    ]
    dropout = rows[2]
    assert {k: dropout[k] for k in ("verdict", "p_value", "p_adjusted", "detectable")} == {
        "verdict": "no_detectable_effect",
        "p_value": "0.4",
        "p_adjusted": "0.8",
        "detectable": "0.08",
    }
    assert float(dropout["importance"]) == 0.2 and float(dropout["raw_weight"]) == pytest.approx(0.02)
    assert float(dropout["ci_low"]) == pytest.approx(0.15) and float(dropout["ci_high"]) == pytest.approx(0.25)
    assert rows[0]["verdict"] == "matters" and rows[0]["detectable"] == "", "unknown values are empty cells"
    assert rows[5]["p_adjusted"] == "" and rows[5]["verdict"] == "undetermined"


def test_ranking_csv_of_an_old_record_leaves_the_test_columns_empty(client: FlaskClient, store: Store) -> None:
    sweep_id = seed_sweep(store, n_trials=80)
    store.rankings.save(sweep_id, *ranking_record({"pooled": group([0.4, 0.3, 0.29, 0.01])}))
    rows = rows_of(client, sweep_id)
    assert [r["name"] for r in rows] == ["learning_rate", "num_conv_layers", "dropout_rate", "batch_size"]
    assert all(r[k] == "" for r in rows for k in ("p_value", "p_adjusted", "verdict", "detectable"))
    assert rows[3]["importance"] == "0.01"
    assert client.get("/api/sweeps/nope/ranking.csv").status_code == 404
    doc = client.get("/api/openapi.json").get_json()
    assert "text/csv" in doc["paths"]["/api/sweeps/{sweep_id}/ranking.csv"]["get"]["responses"]["200"]["content"]


def test_summary_reads_the_stored_verdicts_and_the_final_status(client: FlaskClient, store: Store) -> None:
    sweep_id = seed_sweep(store, n_trials=80)
    pooled = group(
        [0.45, 0.30, 0.20, 0.05],
        ["matters", "matters", "no_detectable_effect", "no_detectable_effect"],
        detectable=[None, None, 0.08, 0.08],
    )
    store.rankings.save(sweep_id, *ranking_record({"pooled": pooled}))
    running = client.get(f"/api/sweeps/{sweep_id}/summary").get_json()
    assert running["final"] is False and running["reading"].endswith("stable since trial 40.")
    store.sweeps.set_status(sweep_id, SweepStatus.COMPLETED)
    done = client.get(f"/api/sweeps/{sweep_id}/summary").get_json()
    assert done["final"] is True
    assert done["reading"] == (
        "learning_rate (0.45) and num_conv_layers (0.30) matter; dropout_rate and batch_size show no detectable "
        "effect (an importance ≥ 0.08 would have been seen for each) — 80 completed trials, settled since trial 40."
    )
    assert [s["reading"] for s in client.get("/api/summaries").get_json()["sweeps"]] == [done["reading"]]


def test_sweep_page_explains_the_terms_and_links_the_ranking_csv(client: FlaskClient, store: Store) -> None:
    sweep_id = seed_sweep(store)
    html = client.get(f"/sweeps/{sweep_id}").get_data(as_text=True)
    assert f'href="/api/sweeps/{sweep_id}/ranking.csv"' in html
    for term in ("95% CI", "P(rank)", "raw W", "p-value", "Holm-adjusted", "matters", "no detectable effect"):
        assert term in html, term
    assert 'id="agreement"' in html and 'id="verdict-note"' in html


# A ranking record and history entry as the analyst stored them before the significance tests
# (no method, p-values, verdicts, detectable, verdict note, tested_at, agreement, settled; older parameters).
OLD_GROUP = {
    "n_trials": 40,
    "names": ["learning_rate", "num_conv_layers", "dropout_rate"],
    "importances": [0.6, 0.4, 0.0],
    "raw_weights": [0.03, 0.02, -0.01],
    "ci_low": [0.5, 0.3, 0.0],
    "ci_high": [0.7, 0.5, 0.05],
    "rank_probability": [0.9, 0.9, None],
    "ranking": ["learning_rate", "num_conv_layers", "dropout_rate"],
    "stability": {
        "stable": True,
        "stable_since": 12,
        "top_k": [0, 1],
        "unchanged_for": 28,
        "window": 20,
        "sentence": "Stable since trial 12.",
    },
    "message": "",
}
OLD_RECORD = {
    "method": "n-rrelieff",
    "parameters": {
        "n_neighbors": 10,
        "sigma": 20.0,
        "n_bootstrap": 200,
        "random_state": 0,
        "metric": "test_accuracy",
        "direction": "maximize",
    },
    "n_results": 40,
    "n_trials": 40,
    "trials": {"arrival_list": "sr:sweep:sw1:arrival", "first": 40},
    "excluded": {"failed": 1},
    "time": 1700000000.0,
    "groups": {"digits": OLD_GROUP, "pooled": OLD_GROUP},
}
OLD_HISTORY = {key: OLD_GROUP[key] for key in ("n_trials", "names", "importances", "ci_low", "ci_high")}


def test_a_record_from_before_the_verdicts_still_loads_and_renders(
    client: FlaskClient, store: Store, web_redis: redis.Redis
) -> None:
    sweep_id = seed_sweep(store, n_trials=40)
    web_redis.set(keys.ranking(sweep_id), json.dumps(OLD_RECORD))
    web_redis.rpush(keys.ranking_history(sweep_id), json.dumps(OLD_HISTORY | {"time": 1.0, "stable_since": 12}))

    record = store.rankings.latest(sweep_id)
    assert record is not None and record.n_results == 40
    pooled = record.pooled
    assert pooled.method is None
    assert all((row.p_value, row.p_adjusted, row.verdict, row.detectable) == (None,) * 4 for row in pooled.rows)
    assert (pooled.verdict_note, pooled.tested_at, pooled.agreement) == ("", None, None)
    assert pooled.stability.settled is True, "settled takes stable"
    assert record.parameters.config.method == "paper" and record.parameters.config.relief_block_size is None
    (entry,) = store.rankings.history(sweep_id)
    assert entry.verdicts is None and entry.stable_since == 12

    served = client.get(f"/api/sweeps/{sweep_id}/ranking").get_json()["ranking"]
    rows = served["groups"]["pooled"]["rows"]
    assert [(row["name"], row["importance"]) for row in rows] == [
        ("learning_rate", 0.6),
        ("num_conv_layers", 0.4),
        ("dropout_rate", 0.0),
    ]
    assert all(row["verdict"] is None for row in rows)
    assert client.get(f"/api/sweeps/{sweep_id}/rankings").get_json()["history"][0]["verdicts"] is None
    summary = client.get(f"/api/sweeps/{sweep_id}/summary").get_json()
    assert summary["reading"] == (
        "learning_rate explains 60% of the importance — 40 completed trials, stable since trial 12."
    ), "no verdicts: the leaders are named, nothing is said not to matter"
    rows = rows_of(client, sweep_id)
    assert len(rows) == 6 and all(r["verdict"] == "" and r["p_value"] == "" for r in rows)


def test_the_openapi_document_describes_the_ranking_record(client: FlaskClient) -> None:
    schemas = client.get("/api/openapi.json").get_json()["components"]["schemas"]
    verdict = schemas["HyperparameterRank"]["properties"]["verdict"]
    assert {"enum": ["matters", "no_detectable_effect", "undetermined"], "type": "string"} in verdict["anyOf"]
    assert {"name", "rank", "importance", "ci_low", "ci_high"} <= set(schemas["HyperparameterRank"]["required"])
    assert {"rows", "stability"} <= set(schemas["RankingGroup"]["required"])
    assert schemas["RankingGroup"]["properties"]["rows"]["items"] == {"$ref": "#/components/schemas/HyperparameterRank"}
    assert schemas["RankingRecord"]["properties"]["groups"]["additionalProperties"] == {
        "$ref": "#/components/schemas/RankingGroup"
    }
    ranking = schemas["RankingBody"]["properties"]["ranking"]["anyOf"]
    assert {"$ref": "#/components/schemas/RankingRecord"} in ranking
    history = schemas["RankingHistory"]["properties"]["history"]["items"]
    assert history == {"$ref": "#/components/schemas/RankingHistoryEntry"}
    assert set(schemas["Stability"]["required"]) >= {"stable", "stable_since", "sentence"}
    assert schemas["SweepRecord"]["properties"]["spec"] == {"$ref": "#/components/schemas/SweepSpec"}
    assert schemas["QueueStatus"]["properties"]["workers"]["items"] == {"$ref": "#/components/schemas/WorkerStatus"}
    assert {"name", "heartbeat", "slots", "queues", "current"} <= set(schemas["WorkerStatus"]["properties"])


def test_effects_csv_has_one_row_per_dataset_hyperparameter_and_level(client: FlaskClient, store: Store) -> None:
    sweep_id = seed_sweep(store, n_trials=60, n_results=60)
    empty = client.get(f"/api/sweeps/{sweep_id}/effects.csv").get_data(as_text=True)
    assert empty.splitlines() == [",".join(EFFECT_COLUMNS)]  # before the first ranking: the header only
    record = seed_ranking(store, sweep_id)
    response = client.get(f"/api/sweeps/{sweep_id}/effects.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == f"attachment; filename={sweep_id}-effects.csv"
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    group = record.groups["digits"]
    effects = {row.name: row.effect for row in group.rows if row.effect is not None}
    assert len(effects) == len(group.rows)
    assert len(rows) == sum(len(effect.levels) for effect in effects.values())
    assert {row["group"] for row in rows} == {"digits"}  # effects are per dataset: the pooled group has none
    assert list(dict.fromkeys(row["name"] for row in rows)) == group.ranking
    lr = effects["learning_rate"]
    first = next(row for row in rows if row["name"] == "learning_rate")
    assert (first["level"], float(first["mean"]), int(first["n"])) == (
        lr.levels[0].label,
        pytest.approx(lr.levels[0].mean),
        lr.levels[0].n,
    )
    assert lr.largest is not None and float(first["largest_difference"]) == pytest.approx(lr.largest.difference)
    assert float(first["delta"]) == pytest.approx(group.delta)
