"""A sweep end to end through real Redis, real Celery trainers and the real analyst."""

from __future__ import annotations

import csv
import io
import json
import time

from flask.testing import FlaskClient

from analyst.service import SweepAnalysis
from importance.config import RankingConfig
from tests.helpers import wait_until
from tests.integration.conftest import TRAINER_SLOTS, LiveStack, tiny_spec, wait_for_status
from trials.records import RankingRecord


def submit(api: FlaskClient, spec: dict[str, object]) -> str:
    response = api.post("/api/sweeps", json=spec)
    assert response.status_code == 201, response.get_json()
    return str(response.get_json()["id"])


def batch_ranking(live: LiveStack, sweep_id: str, n_bootstrap: int = 50) -> RankingRecord:
    """The ranking a fresh analyst computes in one go from every stored result."""
    analysis = SweepAnalysis.of_stored(live.store, sweep_id, RankingConfig(bootstrap=n_bootstrap))
    analysis.add(live.store.results.in_arrival_order(sweep_id))
    return analysis.records()[0]


def test_small_sweep_completes_with_one_result_per_trial(api: FlaskClient, live: LiveStack) -> None:
    sweep_id = submit(api, tiny_spec(n_trials=12))
    sweep = wait_for_status(api, sweep_id, ("completed",))
    assert sweep["n_final"] == 12 and sweep["pending"] == 0

    results = live.store.results.in_arrival_order(sweep_id)
    assert sorted(r.trial_id for r in results) == list(range(12)), "exactly one final result per trial"
    assert all(r.status.value == "completed" for r in results), [r.error for r in results]
    assert all(0.0 <= (r.test_accuracy or -1) <= 1.0 and r.n_params and r.epochs_completed == 1 for r in results)

    metrics = live.store.results.epoch_metrics(sweep_id)
    assert sorted((m.trial_id, m.epoch) for m in metrics) == [(t, 1) for t in range(12)]
    served = api.get(f"/api/sweeps/{sweep_id}/trials/3/metrics").get_json()["metrics"]
    assert [m["epoch"] for m in served] == [1]

    ranking = wait_until(
        lambda: (r := api.get(f"/api/sweeps/{sweep_id}/ranking").get_json()["ranking"]) and r["n_results"] == 12 and r,
        30,
        what="ranking over all 12 results",
    )
    assert ranking["n_trials"] == 12 == sum(1 for r in results if r.status.value == "completed")
    pooled = ranking["groups"]["pooled"]
    assert abs(sum(row["importance"] for row in pooled["rows"]) - 1.0) < 1e-9 or pooled["message"]
    history = api.get(f"/api/sweeps/{sweep_id}/rankings").get_json()["history"]
    assert history and history[-1]["n_trials"] == 12
    assert [h["n_trials"] for h in history] == sorted(h["n_trials"] for h in history)

    exported = api.get(f"/api/sweeps/{sweep_id}/export?format=csv")
    rows = list(csv.DictReader(io.StringIO(exported.get_data(as_text=True))))
    assert len(rows) == 12 and {r["trial_id"] for r in rows} == {str(i) for i in range(12)}
    assert all(r["status"] == "completed" and r["learning_rate"] for r in rows)
    as_json = json.loads(api.get(f"/api/sweeps/{sweep_id}/export?format=json").get_data())
    assert len(as_json["rows"]) == 12


def test_sweep_on_a_tfds_dataset_prepared_offline(api: FlaskClient, live: LiveStack) -> None:
    from tests.workers.tfds_fixture import tiny_shapes

    sweep_id = submit(api, tiny_spec(name="tfds", n_trials=4, datasets=[f"tfds:{tiny_shapes.NAME}"]))
    wait_for_status(api, sweep_id, ("completed",))
    results = live.store.results.in_arrival_order(sweep_id)
    assert [r.status.value for r in results] == ["completed"] * 4, [r.error for r in results]
    assert {r.dataset for r in results} == {"tfds:tiny_shapes"}


def test_parquet_export_of_a_running_sweep_has_null_cells_where_trials_have_no_result(
    api: FlaskClient, live: LiveStack
) -> None:
    import pyarrow.parquet as pq

    with live.holding() as holds:
        sweep_id = submit(api, tiny_spec(name="export-running", n_trials=TRAINER_SLOTS + 2))
        # One trial finished, one held (running), the rest queued: every kind of row at once.
        trial, attempt, _pid = holds.wait_new(sweep_id, set())
        holds.release(sweep_id, trial, attempt)
        wait_until(lambda: live.store.results.is_final(sweep_id, trial), 60, what="one trial to finish")
        holds.wait_new(sweep_id, {(trial, attempt)})
        response = api.get(f"/api/sweeps/{sweep_id}/export?format=parquet")
        assert response.status_code == 200, response.get_data(as_text=True)
    table = pq.read_table(io.BytesIO(response.get_data()))
    assert table.num_rows == TRAINER_SLOTS + 2
    rows = {row["trial_id"]: row for row in table.to_pylist()}
    assert rows[trial]["attempt"] == 1 and rows[trial]["test_accuracy"] is not None
    unfinished = [row for t, row in rows.items() if t != trial]
    assert all(row["test_accuracy"] is None and row["epochs_completed"] is None for row in unfinished)
    assert any(row["status"] == "queued" and row["attempt"] is None for row in unfinished)
    assert str(table.schema.field("attempt").type) == "int64"


def test_trainers_report_the_datasets_prepared_under_their_own_data_roots(live: LiveStack) -> None:
    [trainer] = [w for w in live.store.workers.live(30) if w.name == "cpu@test"]
    assert trainer.datasets is not None and {"digits", "tfds:tiny_shapes"} <= set(trainer.datasets)


def test_small_sweep_starts_before_a_big_one_ends(api: FlaskClient, live: LiveStack) -> None:
    big = submit(api, tiny_spec(owner="bob", name="big", n_trials=400))
    wait_until(lambda: live.store.sweeps.get(big).n_final >= 2, 60, what="big sweep under way")
    small = submit(api, tiny_spec(owner="cat", name="small", n_trials=4))
    wait_for_status(api, small, ("completed",), timeout_s=60)
    big_now = live.store.sweeps.get(big)
    assert big_now.status == "running" and big_now.pending > 300, big_now
    # Every small-sweep trial was dispatched ahead of the big sweep's backlog.
    assert live.store.sweeps.get(small).counts["completed"] == 4


def test_priority_is_respected(api: FlaskClient, live: LiveStack) -> None:
    low = submit(api, tiny_spec(owner="dan", name="low", n_trials=200, priority=1))
    wait_until(lambda: live.store.sweeps.get(low).n_final >= 1, 60, what="low-priority sweep under way")
    high = submit(api, tiny_spec(owner="dan", name="high", n_trials=4, priority=9))
    wait_for_status(api, high, ("completed",), timeout_s=60)
    assert live.store.sweeps.get(low).pending > 150


def test_cancel_stops_running_trials_at_the_next_epoch(api: FlaskClient, live: LiveStack) -> None:
    spec = tiny_spec(name="long", n_trials=6)
    spec["narrow"] = {**spec["narrow"], "epochs": {"low": 20, "high": 20}, "batch_size": {"choices": [64]}}
    with live.holding() as holds:
        sweep_id = submit(api, spec)
        # A trial on each slot, held after its first epoch: running, and unable to finish before the cancel.
        wait_until(lambda: len(holds.held(sweep_id)) >= TRAINER_SLOTS, 90, what="a trial held on each slot")
        assert api.post(f"/api/sweeps/{sweep_id}/cancel").get_json()["status"] == "cancelled"
    # Let go, they see the cancel as their first epoch ends.
    wait_until(lambda: not live.store.trials.inflight("cpu"), 60, what="running trials to stop")
    results = live.store.results.in_arrival_order(sweep_id)
    assert results, "the running trials report their end"
    assert all(r.status.value == "cancelled" for r in results)
    assert all(r.epochs_completed < 20 for r in results)
    states = live.store.trials.states(sweep_id)
    assert all(s.status == "cancelled" for s in states.values()), states
    assert api.post(f"/api/sweeps/{sweep_id}/resume").status_code == 409


def test_pause_holds_dispatch_and_resume_finishes(api: FlaskClient, live: LiveStack) -> None:
    sweep_id = submit(api, tiny_spec(name="pausable", n_trials=30))
    wait_until(lambda: live.store.sweeps.get(sweep_id).n_final >= 2, 60, what="sweep under way")
    assert api.post(f"/api/sweeps/{sweep_id}/pause").get_json()["status"] == "paused"
    wait_until(lambda: not live.store.trials.inflight("cpu"), 60, what="running trials to finish")
    held = live.store.sweeps.get(sweep_id)
    assert held.status == "paused" and held.pending > 0
    time.sleep(2.0)  # two dispatcher ticks: time enough to (wrongly) send more
    assert live.store.sweeps.get(sweep_id).n_final == held.n_final, "no trial ran while paused"
    assert api.post(f"/api/sweeps/{sweep_id}/resume").get_json()["status"] == "running"
    done = wait_for_status(api, sweep_id, ("completed",))
    assert done["n_final"] == 30


def test_analyst_restarted_mid_sweep_matches_a_batch_fit(api: FlaskClient, live: LiveStack) -> None:
    with live.holding() as holds:
        sweep_id = submit(api, tiny_spec(name="restart", n_trials=16))
        # Exactly three trials may finish before the analyst is killed, however fast trainers or analyst run.
        released: set[tuple[int, int]] = set()
        for _ in range(3):
            trial, attempt, _pid = holds.wait_new(sweep_id, released)
            released.add((trial, attempt))
            holds.release(sweep_id, trial, attempt)
        wait_until(lambda: (r := live.store.rankings.latest(sweep_id)) and r.n_results == 3, 60, what="3 ranked")
        analyst = next(p for label, p in live.stack.children if label == "analyst")
        analyst.kill()
        analyst.wait()
        live.stack.children = [(label, p) for label, p in live.stack.children if p is not analyst]
    wait_for_status(api, sweep_id, ("completed",))
    assert live.store.rankings.latest(sweep_id).n_results < 16, "the analyst was down for the end"
    live.start_analyst()
    final = wait_until(
        lambda: (r := live.store.rankings.latest(sweep_id)) and r.n_results == 16 and r,
        60,
        what="the restarted analyst to catch up",
    )
    expected = batch_ranking(live, sweep_id)
    for group, values in expected.groups.items():
        got = final.groups[group]
        assert got.n_trials == values.n_trials
        # By name: hyperparameters tied within rounding may swap places in the order.
        mine_rows, their_rows = (sorted(g.rows, key=lambda row: row.name) for g in (got, values))
        for field in ("raw_weight", "importance", "ci_low", "ci_high"):
            mine, theirs = [getattr(row, field) for row in mine_rows], [getattr(row, field) for row in their_rows]
            for a, b in zip(mine, theirs, strict=True):
                assert abs(a - b) <= 1e-9 * max(1.0, abs(b)), (group, field, mine, theirs)


def test_pickled_messages_are_refused_by_the_trainers(live: LiveStack) -> None:
    """JSON only: a pickle-serialised task never reaches the task code."""
    from broker.celery_app import TRAIN_TRIAL, make_celery
    from broker.settings import Settings

    assert make_celery(Settings(redis_url=live.redis_url)).conf.accept_content == ["json"]
    sender = make_celery(Settings(redis_url=live.redis_url))
    spec = {"sweep_id": "sw-pickled", "trial_id": 0, "dataset": "digits", "config": {}, "seed": 0}
    sender.send_task(TRAIN_TRIAL, args=[spec], queue="trials.cpu", serializer="pickle")
    log = wait_until(
        lambda: "ContentDisallowed" in (text := live.logs()) and text,
        30,
        what="the trainer to refuse the pickled message",
    )
    assert "Refusing to deserialize untrusted content of type pickle" in log
    assert "UnknownSweep" not in log, "the task code never ran (it would fail on the unknown sweep)"
