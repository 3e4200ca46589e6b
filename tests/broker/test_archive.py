"""Finished sweeps leave Redis (issue 19): archived to one SQLite file each, every read answered the same from it,
also with Redis emptied; refusals with their reason; a crash at any step loses nothing and a retry completes it."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import redis

from broker.store import Store, UnknownSweep
from broker.store.archive import ArchiveStore, NotArchivable
from broker.store.archive_file import ArchiveDamaged, ArchiveWriter
from broker.store.trial_index import table_columns
from broker.sweep_actions import plan_trials
from tests.broker.conftest import make_spec
from tests.broker.finished_sweeps import finished_sweep, rank


@pytest.fixture
def archive_dir(tmp_path: Path) -> Path:
    return tmp_path / "archive"


@pytest.fixture
def store(scratch_redis: redis.Redis, archive_dir: Path) -> Store:
    return Store(scratch_redis, archive_dir)


@pytest.fixture
def without_latency_histograms(scratch_redis: redis.Redis) -> Iterator[None]:
    """Redis 7 allocates a latency histogram (~24 KB) for a command the first time it runs. In a Redis that had not
    run HSCAN or ZRANGE before, archiving would count those against the sweep's freed memory."""
    found = scratch_redis.config_get("latency-tracking")["latency-tracking"]
    scratch_redis.config_set("latency-tracking", "no")
    yield
    scratch_redis.config_set("latency-tracking", found)


def everything(store: Store, sweep_id: str) -> dict[str, Any]:
    """Every read the pages, the API, exports, compare, tune and the analyst make of a sweep."""
    record = store.sweeps.get(sweep_id)
    n = record.n_trials
    ids = list(range(n))
    pages = {
        (column, descending, offset): store.trial_index.page(record, column, offset, 7, descending)
        for column in table_columns(record.config_names)
        for descending in (False, True)
        for offset in (0, 5, n - 4, n + 3)
    }
    return {
        "record": record,
        "status": store.sweeps.status(sweep_id),
        "owner": store.sweeps.owner_of(sweep_id),
        "spec": store.sweeps.spec(sweep_id),
        "children": store.sweeps.children(sweep_id),
        "planned": store.sweeps.planned_configs(sweep_id),
        "planned_of": store.sweeps.planned_configs_of(sweep_id, [0, 3, n - 1, n + 5]),
        "states": store.trials.states(sweep_id),
        "states_of": store.trials.states_of(sweep_id, [1, 2, n - 1]),
        "state": store.trials.state(sweep_id, 4),
        "running": store.trials.running_ids(sweep_id),
        "result": store.results.get(sweep_id, 2),
        "results": store.results.get_many(sweep_id, ids),
        "final": [store.results.is_final(sweep_id, t) for t in ids],
        "arrival": store.results.in_arrival_order(sweep_id),
        "arrival_10": store.results.in_arrival_order(sweep_id, limit=10),
        "arrived": [store.results.arrived_since(sweep_id, k, 5) for k in (0, n - 6, n - 3, n)],
        "curves": {t: store.results.epoch_metrics(sweep_id, t) for t in ids},
        "all_epochs": store.results.epoch_metrics(sweep_id),
        "progress": store.progress.best_progress(sweep_id, record.spec.metric, True),
        "pages": pages,
        "ranking": store.rankings.latest(sweep_id),
        "history": store.rankings.history_since_json(sweep_id, 0),
        "history_since_3": store.rankings.history_since_json(sweep_id, 3),
        "last_seq": store.rankings.last_seq(sweep_id),
        "comparison": store.comparisons.latest(sweep_id),
        "export_chunks": [
            json.loads(store.export.chunk_json(sweep_id, range(a, min(a + 7, n)))) for a in range(0, n, 7)
        ],
    }


def sweep_keys(client: redis.Redis, sweep_id: str) -> set[str]:
    return {str(k) for k in client.scan_iter(f"sr:sweep:{sweep_id}*")}


@pytest.mark.usefixtures("without_latency_histograms")
def test_an_archived_sweep_reads_as_before_and_leaves_only_its_stub_in_redis(
    store: Store, scratch_redis: redis.Redis, archive_dir: Path
) -> None:
    sweep_id = finished_sweep(store, 40)
    before = everything(store, sweep_id)
    assert before["ranking"] is not None and before["history"] and before["pages"], "a sweep with everything to read"
    used = int(scratch_redis.info("memory")["used_memory"])

    done = store.archive.archive(sweep_id)

    assert (archive_dir / f"{sweep_id}.sqlite").is_file() and not done.already
    assert (archive_dir.stat().st_mode & 0o777, (archive_dir / f"{sweep_id}.sqlite").stat().st_mode & 0o777) == (
        0o700,
        0o600,
    ), "private to the services, as Redis' files"
    assert done.rows["trials"] == 40 and done.rows["metrics"] == len(before["all_epochs"])
    assert sweep_keys(scratch_redis, sweep_id) == {f"sr:sweep:{sweep_id}"}, "only the record's hash is left"
    assert int(scratch_redis.info("memory")["used_memory"]) < used
    after = everything(store, sweep_id)
    assert after == before


def test_with_redis_emptied_the_archive_alone_lists_and_serves_the_sweep(
    store: Store, scratch_redis: redis.Redis
) -> None:
    sweep_id = finished_sweep(store, 30)
    other = finished_sweep(store, 12)
    before = everything(store, sweep_id)
    store.archive.archive(sweep_id)
    listed = store.sweeps.ids()

    scratch_redis.flushdb()  # as a Redis restarted with nothing

    assert store.sweeps.ids() == [sweep_id], "listed from its archive file; the other sweep was only in Redis"
    assert listed == [sweep_id, other]
    assert everything(store, sweep_id) == before
    again = store.archive.archive(sweep_id)
    assert again.already, "archiving it again is a no-op"
    fresh = store.sweeps.create(make_spec(), plan_trials(make_spec()))
    assert fresh != sweep_id, "the id counter restarted, but an archived id is never handed out again"


def test_threads_reading_the_archive_at_once_read_the_same(store: Store) -> None:
    """The web server's threads share one connection per archive file (SQLite serializes its use)."""
    sweep_id = finished_sweep(store, 16)
    before = everything(store, sweep_id)
    store.archive.archive(sweep_id)
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: everything(store, sweep_id), range(8)))
    assert all(answer == before for answer in answers)


def test_a_cancelled_sweep_archives_with_its_unfinished_trials(store: Store, scratch_redis: redis.Redis) -> None:
    sweep_id = finished_sweep(store, 25, cancel_after=9)
    before = everything(store, sweep_id)
    assert sum(before["final"]) == 9
    store.archive.archive(sweep_id)
    assert everything(store, sweep_id) == before


def test_a_sweep_that_has_not_ended_is_refused_with_its_reason(store: Store) -> None:
    running = store.sweeps.create(make_spec(n_trials=3), plan_trials(make_spec(n_trials=3)))
    with pytest.raises(NotArchivable, match=f"{running} is queued: only a finished sweep"):
        store.archive.archive(running)
    with pytest.raises(UnknownSweep):
        store.archive.archive("sw999")
    with pytest.raises(UnknownSweep):
        store.archive.archive("../../etc/passwd")


def test_one_archiver_at_a_time(store: Store, scratch_redis: redis.Redis) -> None:
    sweep_id = finished_sweep(store, 6)
    another = scratch_redis.lock(f"sr:lock:archive:{sweep_id}", timeout=60)  # as another process archiving it
    with another, pytest.raises(NotArchivable, match=f"{sweep_id} is being archived by another process"):
        store.archive.archive(sweep_id)
    assert not store.archive.archive(sweep_id).already


def test_a_sweep_the_analyst_has_not_caught_up_with_is_refused(store: Store, scratch_redis: redis.Redis) -> None:
    sweep_id = finished_sweep(store, 10)
    scratch_redis.delete(f"sr:sweep:{sweep_id}:ranking")  # as if the analyst had not got to its results yet
    with pytest.raises(NotArchivable, match="ranked 0 of its 10 results"):
        store.archive.archive(sweep_id)
    rank(store, sweep_id)
    assert store.archive.archive(sweep_id).rows["arrival"] == 10


def test_a_trial_still_running_holds_the_sweep_in_redis(store: Store) -> None:
    sweep_id = finished_sweep(store, 10)
    store.trials.update(sweep_id, 4, status="running")  # a late state, as a stuck update would leave it
    with pytest.raises(NotArchivable, match="1 trials queued or running"):
        store.archive.archive(sweep_id)


@pytest.mark.parametrize("crash_at", ["_write_rows", "commit", "_mark", "_drop_keys"])
def test_a_crash_at_any_step_loses_nothing_and_a_retry_completes_it(
    store: Store, scratch_redis: redis.Redis, archive_dir: Path, monkeypatch: pytest.MonkeyPatch, crash_at: str
) -> None:
    sweep_id = finished_sweep(store, 20)
    before = everything(store, sweep_id)

    class Crash(Exception):
        pass

    def crash(*args: Any, **kwargs: Any) -> None:
        raise Crash

    with monkeypatch.context() as patched:
        if crash_at == "_write_rows":
            patched.setattr(ArchiveWriter, "rows", crash)
        elif crash_at == "commit":
            patched.setattr(ArchiveWriter, "commit", crash)
        else:
            patched.setattr(ArchiveStore, crash_at, crash)
        with pytest.raises(Crash):
            store.archive.archive(sweep_id)
    if crash_at in ("_write_rows", "commit"):
        assert not (archive_dir / f"{sweep_id}.sqlite").exists(), "no file under the archive's name until complete"
    assert everything(store, sweep_id) == before, "readable in full after the crash"

    store.archive.archive(sweep_id)

    assert sweep_keys(scratch_redis, sweep_id) == {f"sr:sweep:{sweep_id}"}
    assert everything(store, sweep_id) == before
    assert [p.name for p in archive_dir.iterdir()] == [f"{sweep_id}.sqlite"], "no partial file left"


def test_a_damaged_archive_is_not_trusted(store: Store, archive_dir: Path) -> None:
    sweep_id = finished_sweep(store, 10)
    store.archive.archive(sweep_id)
    db = sqlite3.connect(archive_dir / f"{sweep_id}.sqlite")
    with db:
        db.execute("DELETE FROM metrics WHERE pos = 0")
    db.close()
    with pytest.raises(ArchiveDamaged, match="metrics holds 29 rows, 30 were written"):
        store.archive.archive(sweep_id)


def test_sweeps_are_due_a_set_age_after_they_ended(store: Store, scratch_redis: redis.Redis) -> None:
    old = finished_sweep(store, 6)
    recent = finished_sweep(store, 6)
    live = store.sweeps.create(make_spec(), plan_trials(make_spec()))
    scratch_redis.hset(f"sr:sweep:{old}", "ended", 1000.0)
    scratch_redis.hset(f"sr:sweep:{recent}", "ended", 5000.0)
    assert store.archive.due(older_than_s=3600, now=5000.0 + 1800) == [old]
    assert store.archive.due(older_than_s=60, now=5000.0 + 1800) == [old, recent]
    run = store.archive.archive_due(older_than_s=3600)
    assert [d.sweep_id for d in run.done] == [old, recent], "both ended long before now"
    assert live not in run.left and store.archive.due(older_than_s=0) == []


def test_a_process_that_cannot_see_the_archive_says_so_once(
    store: Store, scratch_redis: redis.Redis, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    sweep_id = finished_sweep(store, 6)
    store.archive.archive(sweep_id)
    elsewhere = Store(scratch_redis, tmp_path / "another-dir")
    for _ in range(3):
        assert elsewhere.sweeps.get(sweep_id).n_final == 6, "the record itself is in the stub"
    said = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert said == [
        f"{sweep_id} is archived, but not in {tmp_path / 'another-dir'}: every process must have the same "
        "SWEEPRANK_ARCHIVE_DIR"
    ]
