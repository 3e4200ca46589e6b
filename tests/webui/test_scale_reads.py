"""Reads that cost what they return (issue 19): the trials table through sorted indexes, one trial's curve,
the stored best so far, the running set, the bounded ranking trajectory, the page's deltas, streamed exports.

Each answer is checked against the whole-sweep computation it replaces, on the real Redis and the real app.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import random
from typing import Any

import pyarrow.parquet as pq
import pytest
import redis
from flask.testing import FlaskClient

import webui.api
from broker import keys
from broker.store import Store
from broker.store.rankings import RECENT, kept
from broker.store.trial_index import table_columns
from tests.webui.conftest import ranking_group, ranking_record, save_result, seed_sweep
from trials.records import RankingHistoryEntry
from trials.specs import EpochMetrics, TrialResult, TrialStatus
from webui import export
from webui.trajectory_cache import ServedEntries

COLUMNS = ["test_accuracy", "learning_rate", "status", "worker", "dataset", "duration", "epochs_completed", "error"]


def _finish(store: Store, sweep_id: str, trial_ids: list[int], rng: random.Random) -> None:
    """Results of every kind: completed with ties, failed without accuracy, several workers, errors."""
    configs = store.sweeps.planned_configs(sweep_id)
    for trial_id in trial_ids:
        failed = rng.random() < 0.25
        save_result(
            store,
            sweep_id,
            trial_id,
            configs[trial_id],
            status=TrialStatus.FAILED if failed else TrialStatus.COMPLETED,
            test_accuracy=None if failed else rng.choice([0.5, 0.75, round(rng.random(), 3)]),
            epochs_completed=rng.randint(0, 3),
            wall_time_s=rng.choice([0.0, 1.5, 2.5]),
            worker=rng.choice(["gpu1@a:7", "gpu0@b:3"]),
            error="boom" if failed else "",
        )


def _value(store: Store, sweep_id: str, result: TrialResult, column: str) -> Any:
    if column == "duration":
        return result.wall_time_s or None
    if column in result.config:
        return result.config[column]
    value = getattr(result, column)
    return value.value if isinstance(value, TrialStatus) else value


def _expected(store: Store, sweep_id: str, column: str, descending: bool) -> list[int]:
    """The documented order, computed from every trial: finished with a value, finished without, unfinished."""
    n = store.sweeps.get(sweep_id).n_trials
    finals = {r.trial_id: r for r in store.results.in_arrival_order(sweep_id)}
    valued = [(t, _value(store, sweep_id, r, column)) for t, r in finals.items()]
    present = [(t, v) for t, v in valued if v is not None]

    def key(item: tuple[int, Any]) -> tuple[int, Any, int]:
        t, v = item
        return (1, v, t) if isinstance(v, str) else (0, float(v), t)

    ordered = [t for t, _ in sorted(present, key=key, reverse=descending)]
    ordered += sorted(t for t, v in valued if v is None)
    return ordered + [t for t in range(n) if t not in finals]


def _ids(client: FlaskClient, sweep_id: str, column: str, order: str, offset: int, limit: int) -> list[int]:
    url = f"/api/sweeps/{sweep_id}/trials?sort={column}&order={order}&offset={offset}&limit={limit}"
    body = client.get(url).get_json()
    return [t["trial_id"] for t in body["trials"]]


def _assert_pages_in_order(client: FlaskClient, store: Store, sweep_id: str, n: int) -> None:
    for column in [*COLUMNS, "trial_id"]:
        for order in ("asc", "desc"):
            whole = _expected(store, sweep_id, column, order == "desc")
            if column == "trial_id":
                whole = sorted(range(n), reverse=order == "desc")
            pages = [t for offset in range(0, n + 4, 6) for t in _ids(client, sweep_id, column, order, offset, 6)]
            assert pages == whole, (column, order)


def test_sorted_pages_follow_the_documented_order_as_results_arrive(client: FlaskClient, store: Store) -> None:
    rng = random.Random(7)
    sweep_id = seed_sweep(store, n_trials=41)
    _assert_pages_in_order(client, store, sweep_id, 41)  # nothing final yet
    _finish(store, sweep_id, rng.sample(range(41), 17), rng)
    _assert_pages_in_order(client, store, sweep_id, 41)
    unfinished = [t for t in range(41) if not store.results.is_final(sweep_id, t)]
    _finish(store, sweep_id, rng.sample(unfinished, 12), rng)
    _assert_pages_in_order(client, store, sweep_id, 41)


def _sweep_before_packed_columns(
    store: Store, client: redis.Redis, n_trials: int, n_finished: int, rng: random.Random
) -> str:
    """A sweep with some results, as the code before packed columns left it: no registered columns, nothing packed."""
    sweep_id = seed_sweep(store, n_trials=n_trials)
    _finish(store, sweep_id, rng.sample(range(n_trials), n_finished), rng)
    packed = [*client.scan_iter(f"{keys.trial_index(sweep_id, '')[:-1]}*")]
    packed += [*client.scan_iter(f"{keys.trial_index_texts(sweep_id, '')[:-1]}*")]
    client.delete(keys.trial_index_columns(sweep_id), keys.trial_index_ready(sweep_id), *packed)
    return sweep_id


def test_a_sweep_stored_before_packed_columns_builds_a_column_when_first_sorted_then_keeps_it(
    client: FlaskClient, store: Store, web_redis: redis.Redis
) -> None:
    rng = random.Random(11)
    sweep_id = _sweep_before_packed_columns(store, web_redis, 41, 17, rng)
    unfinished = [t for t in range(41) if not store.results.is_final(sweep_id, t)]
    _finish(store, sweep_id, unfinished[:3], rng)  # stored while nothing is registered: written by the build
    first = _ids(client, sweep_id, "learning_rate", "desc", 0, 41)  # builds every column in one pass
    assert first == _expected(store, sweep_id, "learning_rate", True)
    names = [*store.sweeps.get(sweep_id).space["parameters"]]
    assert web_redis.smembers(keys.trial_index_ready(sweep_id)) == set(table_columns(names))
    for column in COLUMNS:
        assert _ids(client, sweep_id, column, "asc", 0, 41) == _expected(store, sweep_id, column, False), column
    unfinished = [t for t in range(41) if not store.results.is_final(sweep_id, t)]
    _finish(store, sweep_id, rng.sample(unfinished, 12), rng)  # written by the script that stores each result
    _assert_pages_in_order(client, store, sweep_id, 41)


def test_the_sorted_sets_an_earlier_version_kept_are_replaced_by_packed_columns(
    client: FlaskClient, store: Store, web_redis: redis.Redis
) -> None:
    rng = random.Random(13)
    sweep_id = _sweep_before_packed_columns(store, web_redis, 20, 9, rng)
    # What the earlier version kept after someone sorted by test_accuracy: a sorted set per column, under the
    # same keys, and those columns marked ready.
    for column in ("test_accuracy", "trial_id"):
        web_redis.zadd(keys.trial_index(sweep_id, column), {"0000000001": 0.5})
    web_redis.sadd(keys.trial_index_columns(sweep_id), "test_accuracy", "trial_id")
    web_redis.sadd(keys.trial_index_ready(sweep_id), "test_accuracy", "trial_id")
    first = _ids(client, sweep_id, "learning_rate", "asc", 0, 20)  # a column the earlier version had not built
    assert first == _expected(store, sweep_id, "learning_rate", False)
    _assert_pages_in_order(client, store, sweep_id, 20)
    assert web_redis.type(keys.trial_index(sweep_id, "test_accuracy")) == "string"


def test_every_sortable_column_is_made_at_eight_bytes_per_trial_with_the_sweep(
    store: Store, web_redis: redis.Redis
) -> None:
    sweep_id = seed_sweep(store, n_trials=30)
    names = [*store.sweeps.get(sweep_id).space["parameters"]]
    assert web_redis.smembers(keys.trial_index_columns(sweep_id)) == set(table_columns(names))
    _finish(store, sweep_id, [29, 3], random.Random(5))
    for column in ["test_accuracy", "dataset", *names]:
        assert web_redis.strlen(keys.trial_index(sweep_id, column)) == 8 * 30, column
    assert web_redis.strlen(keys.trial_index(sweep_id, "trial_id")) == 30


def test_a_learning_curve_reads_its_trial_through_the_index_also_for_a_stream_written_before_it(
    client: FlaskClient, store: Store, web_redis: redis.Redis
) -> None:
    sweep_id = seed_sweep(store, n_trials=6)

    def epoch(trial_id: int, n: int) -> EpochMetrics:
        return EpochMetrics(
            sweep_id=sweep_id, trial_id=trial_id, attempt=1, epoch=n, train_loss=1 / n, val_accuracy=n / 10, seconds=1.0
        )

    # As the code before the index wrote them: the stream alone.
    for n in (1, 2):
        for trial_id in range(6):
            web_redis.xadd(keys.metrics(sweep_id), {"record": epoch(trial_id, n).model_dump_json()})
    assert not web_redis.exists(keys.metrics_index(sweep_id))
    curve = client.get(f"/api/sweeps/{sweep_id}/trials/4/metrics").get_json()["metrics"]
    assert [(m["trial_id"], m["epoch"]) for m in curve] == [(4, 1), (4, 2)]
    store.results.record_epoch(epoch(4, 3))  # kept from now on
    assert store.results.epoch_metrics(sweep_id, 4) == [
        m for m in store.results.epoch_metrics(sweep_id) if m.trial_id == 4
    ]
    assert [m.epoch for m in store.results.epoch_metrics(sweep_id, 4)] == [1, 2, 3]
    assert store.results.epoch_metrics(sweep_id, 5)[-1].epoch == 2
    fresh = seed_sweep(store, n_trials=2)
    store.results.record_epoch(epoch(1, 1).model_copy(update={"sweep_id": fresh}))
    assert web_redis.hget(keys.metrics_index(fresh), "1")
    assert store.results.epoch_metrics(fresh, 0) == []


def _best_from_every_result(store: Store, sweep_id: str) -> tuple[Any, list[tuple[int, float, int]], int]:
    best, points, n = None, [], 0
    for result in store.results.in_arrival_order(sweep_id):
        n += 1
        value = result.test_accuracy if result.status is TrialStatus.COMPLETED else None
        if value is not None and (best is None or value > best):
            best = value
            points.append((n, value, result.trial_id))
    return best, points, n


def test_best_so_far_is_kept_with_each_result_shared_and_built_once_for_older_sweeps(
    client: FlaskClient, store: Store, web_redis: redis.Redis, web_redis_url: str
) -> None:
    rng = random.Random(3)
    sweep_id = seed_sweep(store, n_trials=30)
    _finish(store, sweep_id, list(range(20)), rng)
    best, points, n = _best_from_every_result(store, sweep_id)
    summary = client.get(f"/api/sweeps/{sweep_id}/summary").get_json()
    assert summary["best"]["value"] == best and summary["progress"]["n"] == n == 20
    assert [(p["n"], p["value"], p["trial_id"]) for p in summary["progress"]["points"]] == points
    # Another web process reads the same stored progress.
    assert Store.from_url(web_redis_url).progress.best_progress(sweep_id, "test_accuracy", True) == (
        store.progress.best_progress(sweep_id, "test_accuracy", True)
    )
    # A sweep stored before the progress was kept: built once, then kept by each new result.
    web_redis.delete(keys.progress(sweep_id), keys.progress_points(sweep_id))
    _finish(store, sweep_id, [20, 21], rng)
    assert not web_redis.exists(keys.progress(sweep_id)), "a result does not start a progress midway"
    again = client.get(f"/api/sweeps/{sweep_id}/summary").get_json()["progress"]
    _finish(store, sweep_id, list(range(22, 30)), rng)
    best, points, n = _best_from_every_result(store, sweep_id)
    final = client.get(f"/api/sweeps/{sweep_id}/summary").get_json()
    assert again["n"] == 22 and final["progress"]["n"] == n == 30 and final["best"]["value"] == best
    assert [(p["n"], p["value"], p["trial_id"]) for p in final["progress"]["points"]] == points
    assert final["progress"]["trainer_s"] == pytest.approx(
        sum(r.wall_time_s for r in store.results.in_arrival_order(sweep_id))
    )


def test_running_trials_are_a_set_kept_with_their_states(store: Store) -> None:
    sweep_id = seed_sweep(store, n_trials=5)
    store.trials.update(sweep_id, 1, status="running", worker="w:1")
    store.trials.update(sweep_id, 3, status="running", worker="w:1")
    store.trials.update(sweep_id, 3, epoch=2)  # a state update that leaves it running
    assert store.trials.running_ids(sweep_id) == [1, 3]
    store.trials.mark(sweep_id, [1], TrialStatus.CANCELLED)
    _finish(store, sweep_id, [3], random.Random(1))
    assert store.trials.running_ids(sweep_id) == []


def _entry(n: int, stable_since: int | None, resumed: float | None = None) -> RankingHistoryEntry:
    return RankingHistoryEntry(
        n_trials=n,
        time=float(n),
        names=["a", "b"],
        importances=[0.6, 0.4],
        ci_low=[0.5, 0.3],
        ci_high=[0.7, 0.5],
        stable_since=stable_since,
        resumed_after_pause_since=resumed,
    )


def _history(n: int) -> list[RankingHistoryEntry]:
    """A long trajectory: stable since changes now and then, one pause."""
    return [
        _entry(i, None if i < 600 else (600 if i < 2100 else 2100), 1.0 if i == 1300 else None) for i in range(1, n + 1)
    ]


def test_ranking_trajectory_is_bounded_keeps_its_landmarks_and_serves_deltas(
    client: FlaskClient, store: Store, web_redis: redis.Redis
) -> None:
    sweep_id = seed_sweep(store, n_trials=2)
    full, _ = ranking_record({"pooled": ranking_group([0.4, 0.3, 0.2, 0.1])})
    entries = _history(3000)
    for entry in entries:
        store.rankings.save(sweep_id, full, entry)
    body = client.get(f"/api/sweeps/{sweep_id}/rankings").get_json()
    ns = [e["n_trials"] for e in body["history"]]
    assert body["last"] == 3000 and len(ns) <= 1.5 * RECENT + 10
    assert ns[-RECENT:] == list(range(3000 - RECENT + 1, 3001)), "every one of the last RECENT"
    assert {600, 1300, 2100} <= set(ns), "where stable-since changed and after the pause"
    landmarks = {600, 1300, 2100}
    assert ns == [i for i in range(1, 3001) if kept(i, 3000, i in landmarks)]
    # A long-closed gap keeps a shape: older publications thin out but never vanish.
    assert any(n < 600 for n in ns) and any(1500 < n < 2000 for n in ns)
    store.rankings.save(sweep_id, full, _entry(3001, 2100))
    delta = client.get(f"/api/sweeps/{sweep_id}/rankings?since=3000").get_json()
    assert [e["n_trials"] for e in delta["history"]] == [3001] and delta["last"] == 3001
    # A history stored as a list before is thinned into the trajectory once, the same as if saved one by one.
    legacy = seed_sweep(store, n_trials=2)
    web_redis.rpush(keys.ranking_history(legacy), *[e.model_dump_json() for e in entries])
    moved = client.get(f"/api/sweeps/{legacy}/rankings").get_json()
    assert [e["n_trials"] for e in moved["history"]] == ns and moved["last"] == 3000
    assert not web_redis.exists(keys.ranking_history(legacy))


def test_the_page_fetches_only_what_changed(client: FlaskClient, store: Store) -> None:
    sweep_id = seed_sweep(store, n_trials=60, n_results=30)
    full, compact = ranking_record({"pooled": ranking_group([0.4, 0.3, 0.2, 0.1])})
    store.rankings.save(sweep_id, full, compact)
    base = f"/api/sweeps/{sweep_id}/changes?offset=30&limit=20&sort=trial_id&order=asc"
    first = client.get(f"{base}&n_final=0&ranking_seq=0").get_json()
    assert first["page"] == list(range(30, 50)) and len(first["rows"]) == 20 and first["ranking"] is not None
    have = ",".join(map(str, first["page"]))
    quiet = client.get(f"{base}&n_final=30&ranking_seq=1&have={have}")
    assert quiet.get_json()["rows"] == [] and quiet.get_json()["ranking"] is None
    store.trials.update(sweep_id, 33, status="running", worker="w:1", epoch=1, epochs=3)
    _finish(store, sweep_id, [31], random.Random(2))
    store.rankings.save(sweep_id, full, compact.model_copy(update={"n_trials": 31}))
    after = client.get(f"{base}&n_final=30&ranking_seq=1&have={have}")
    body = after.get_json()
    assert [r["trial_id"] for r in body["rows"]] == [31, 33] and body["rows"][0]["result"] is not None
    assert body["ranking_seq"] == 2 and [e["n_trials"] for e in body["history"]] == [31]
    assert body["summary"]["n_final"] == 31
    assert len(after.data) < 10_000, "one new result costs the page a few KB"


@pytest.mark.parametrize("fmt", ["csv", "json", "parquet"])
def test_exports_stream_every_trial_a_chunk_at_a_time(
    client: FlaskClient, store: Store, monkeypatch: pytest.MonkeyPatch, fmt: str
) -> None:
    monkeypatch.setattr(export, "EXPORT_CHUNK", 7)  # many chunks, and one cut mid-way, on a small sweep
    sweep_id = seed_sweep(store, n_trials=24, n_results=10)
    response = client.get(f"/api/sweeps/{sweep_id}/export?format={fmt}")
    assert response.status_code == 200 and response.is_streamed
    data = response.get_data()
    if fmt == "csv":
        rows: list[dict[str, Any]] = list(csv.DictReader(io.StringIO(data.decode())))
    elif fmt == "json":
        rows = json.loads(data)["rows"]
    else:
        table = pq.read_table(io.BytesIO(data))
        assert table.num_rows == 24 and pq.ParquetFile(io.BytesIO(data)).num_row_groups == 4
        rows = table.to_pylist()
    assert [int(r["trial_id"]) for r in rows] == list(range(24))
    results = {r.trial_id: r for r in store.results.in_arrival_order(sweep_id)}
    configs = store.sweeps.planned_configs(sweep_id)
    for row in rows:
        t = int(row["trial_id"])
        assert float(row["learning_rate"]) == configs[t]["learning_rate"]
        expected = results[t].test_accuracy if t in results else None
        got = row["test_accuracy"]
        assert (float(got) if got not in (None, "") else None) == expected


def test_an_export_chunk_is_each_trials_stored_result_or_its_live_state_in_one_reply(store: Store) -> None:
    sweep_id = seed_sweep(store, n_trials=6, n_results=2)
    store.trials.update(sweep_id, 3, status="running", worker="gpu0@b:3", attempt=2)
    chunk = json.loads(store.export.chunk_json(sweep_id, range(1, 7)))
    results = {r.trial_id: r for r in store.results.in_arrival_order(sweep_id)}
    assert len(chunk) == 6 and TrialResult.model_validate(chunk[0]) == results[1]
    configs = store.sweeps.planned_configs(sweep_id)
    assert chunk[2]["live"]["status"] == "running" and chunk[2]["live"]["attempt"] == 2
    assert chunk[2]["plan"]["config"] == configs[3] and chunk[3]["plan"]["config"] == configs[4]
    assert chunk[1]["live"]["status"] == "queued" and chunk[4]["plan"]["config"] == configs[5]
    assert chunk[5] == {"live": None, "plan": None}, "a trial the sweep does not have"
    assert store.export.chunk_json(sweep_id, range(0)) == b"[]"


def test_a_csv_export_neutralises_formulas_in_results_and_keeps_negative_numbers(
    client: FlaskClient, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(export, "EXPORT_CHUNK", 2)  # a chunk with a formula next to chunks without
    sweep_id = seed_sweep(store, n_trials=6)
    configs = store.sweeps.planned_configs(sweep_id)
    save_result(store, sweep_id, 0, configs[0], final_train_loss=-0.5, worker="=cmd|' /C calc'!A0")
    save_result(store, sweep_id, 3, configs[3], status=TrialStatus.FAILED, error="@SUM(A1)", worker="w")
    save_result(store, sweep_id, 4, configs[4], final_train_loss=-2.0, worker="ok")
    text = client.get(f"/api/sweeps/{sweep_id}/export?format=csv").get_data(as_text=True)
    rows = {int(r["trial_id"]): r for r in csv.DictReader(io.StringIO(text))}
    assert rows[0]["worker"] == "'=cmd|' /C calc'!A0" and rows[0]["final_train_loss"] == "-0.5"
    assert rows[3]["error"] == "'@SUM(A1)" and rows[4]["final_train_loss"] == "-2.0"
    assert [rows[t]["status"] for t in range(6)] == ["completed", "queued", "queued", "failed", "completed", "queued"]


def test_json_the_pages_read_is_gzipped_for_clients_that_accept_it_and_only_there(
    client: FlaskClient, store: Store
) -> None:
    sweep_id = seed_sweep(store, n_trials=40, n_results=30)
    store.rankings.save(sweep_id, *ranking_record({"pooled": ranking_group([0.5, 0.3, 0.15, 0.05], ["matters"] * 4)}))
    path = f"/api/sweeps/{sweep_id}/ranking"
    plain = client.get(path)
    assert "Content-Encoding" not in plain.headers and "Accept-Encoding" in plain.headers["Vary"]
    packed = client.get(path, headers={"Accept-Encoding": "gzip, deflate, br"})
    assert packed.headers["Content-Encoding"] == "gzip" and len(packed.data) < len(plain.data)
    assert json.loads(gzip.decompress(packed.data)) == plain.get_json()
    # Small answers, pages (their HTML holds the CSRF token) and streamed exports are left as they are.
    assert "Content-Encoding" not in client.get("/api/queue", headers={"Accept-Encoding": "gzip"}).headers
    page = client.get(f"/sweeps/{sweep_id}", headers={"Accept-Encoding": "gzip"})
    assert page.status_code == 200 and "Content-Encoding" not in page.headers
    export_response = client.get(f"/api/sweeps/{sweep_id}/export?format=json", headers={"Accept-Encoding": "gzip"})
    assert export_response.is_streamed and "Content-Encoding" not in export_response.headers


def test_the_live_marker_counts_rankings_published_to_the_trajectory(store: Store) -> None:
    # The live pages learn of a new ranking from this count: it must move with each publication.
    sweep_id = seed_sweep(store, n_trials=40, n_results=30)
    assert store.activity.sweeps([sweep_id])[sweep_id][3] == 0
    full, compact = ranking_record({"pooled": ranking_group([0.5, 0.3, 0.15, 0.05], ["matters"] * 4)})
    for published in (1, 2, 3):
        store.rankings.save(sweep_id, full, compact)
        assert store.activity.sweeps([sweep_id])[sweep_id][3] == published


def test_an_export_reads_a_result_stored_before_one_of_its_fields_existed(
    client: FlaskClient, store: Store, web_redis: redis.Redis
) -> None:
    sweep_id = seed_sweep(store, n_trials=3, n_results=2)
    older = json.loads(web_redis.hget(keys.results(sweep_id), "1"))
    del older["device"], older["n_params"]
    web_redis.hset(keys.results(sweep_id), "1", json.dumps(older))
    text = client.get(f"/api/sweeps/{sweep_id}/export?format=csv").get_data(as_text=True)
    rows = list(csv.DictReader(io.StringIO(text)))
    assert (
        rows[1]["device"] == ""
        and rows[1]["n_params"] == ""
        and float(rows[1]["test_accuracy"]) == older["test_accuracy"]
    )
    assert rows[0]["device"] == "" and rows[0]["worker"] == "host:1" and rows[2]["status"] == "queued"


def test_each_trajectory_entry_is_validated_once_per_web_process_and_served_as_stored_text_says(
    client: FlaskClient, store: Store, web_redis: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    served = ServedEntries()
    monkeypatch.setattr(webui.api, "_SERVED_ENTRIES", served)
    sweep_id = seed_sweep(store, n_trials=40, n_results=30)
    full, compact = ranking_record({"pooled": ranking_group([0.5, 0.3, 0.15, 0.05], ["matters"] * 4)})
    for n in (10, 20, 30):
        store.rankings.save(sweep_id, full, compact.model_copy(update={"n_trials": n}))
    first = client.get(f"/api/sweeps/{sweep_id}/rankings").get_json()
    assert [e["n_trials"] for e in first["history"]] == [10, 20, 30] and served.validated == 3
    store.rankings.save(sweep_id, full, compact.model_copy(update={"n_trials": 31}))
    again = client.get(f"/api/sweeps/{sweep_id}/rankings").get_json()
    assert again["history"][:3] == first["history"] and again["history"][3]["n_trials"] == 31
    assert served.validated == 4, "only the new entry was validated"
    # The same sweep id and publication numbers over other data (a Redis emptied, sweeps made again): served anew.
    web_redis.flushdb()
    sweep_id = seed_sweep(store, n_trials=40, n_results=30)
    store.rankings.save(sweep_id, full, compact.model_copy(update={"n_trials": 7}))
    assert [e["n_trials"] for e in client.get(f"/api/sweeps/{sweep_id}/rankings").get_json()["history"]] == [7]


def test_a_page_update_carries_the_effects_at_display_precision_and_the_ranking_endpoint_every_digit(
    client: FlaskClient, store: Store
) -> None:
    sweep_id = seed_sweep(store, n_trials=40, n_results=30)
    full, compact = ranking_record({"pooled": ranking_group([0.5, 0.3, 0.15, 0.05], ["matters"] * 4)})
    stored = json.loads(full.model_dump_json())
    row = stored["groups"]["pooled"]["rows"][0]
    shares = {"total_share": 0.2, "p_main": 0.01, "relief_weight": 0.1, "equivalence_bound": 0.05}
    row["effect"] = {"main_share": 0.123456789012345, "main_ci": [0.1, 0.2], **shares, "levels": [], "largest": None}
    pair = {"first": "a", "second": "b", "share": 0.0123456789012, "ci_low": 0.0, "ci_high": 0.1}
    pair |= {"p_value": 0.5, "p_adjusted": 1.0, "verdict": "undetermined"}
    stored["groups"]["pooled"]["interactions"] = [pair]
    full = type(full).model_validate(stored)
    store.rankings.save(sweep_id, full, compact)
    update = client.get(f"/api/sweeps/{sweep_id}/changes?n_final=0&ranking_seq=0&offset=0&limit=20").get_json()
    group = update["ranking"]["groups"]["pooled"]
    assert group["rows"][0]["effect"]["main_share"] == 0.123457 and group["interactions"][0]["share"] == 0.0123457
    assert group["rows"][0]["importance"] == full.groups["pooled"].rows[0].importance, "only effects, interactions"
    assert update["ranking"]["time"] == full.time
    kept = client.get(f"/api/sweeps/{sweep_id}/ranking").get_json()["ranking"]["groups"]["pooled"]
    assert kept["rows"][0]["effect"]["main_share"] == 0.123456789012345
