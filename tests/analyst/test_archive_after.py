"""The analyst archives a finished sweep SWEEPRANK_ARCHIVE_AFTER_S after it ended (issue 19), as a real process,
and leaves a sweep that is still running in Redis."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import redis

from broker.store import Store
from broker.store.archive import ArchiveRun
from broker.sweep_actions import plan_trials
from tests.analyst.test_analyst import feed, make_analyst
from tests.broker.conftest import make_spec
from tests.broker.finished_sweeps import finished_sweep
from tests.conftest import database_url
from tests.helpers import wait_until


def test_the_analyst_archives_finished_sweeps_once_they_are_old_enough(redis_url: str, tmp_path: Path) -> None:
    url = database_url(redis_url, 5)
    client = redis.Redis.from_url(url, decode_responses=True)
    client.flushdb()
    archive_dir = tmp_path / "archive"
    store = Store.from_url(url, archive_dir=archive_dir)
    finished = finished_sweep(store, 15)
    running = store.sweeps.create(make_spec(n_trials=3), plan_trials(make_spec(n_trials=3)))
    before = store.results.in_arrival_order(finished)
    env = {
        **os.environ,
        "SWEEPRANK_REDIS_URL": url,
        "SWEEPRANK_ARCHIVE_DIR": str(archive_dir),
        "SWEEPRANK_ARCHIVE_AFTER_S": "1",
        "SWEEPRANK_ANALYST_BEAT_S": "0.2",
    }
    log = (tmp_path / "analyst.log").open("wb")
    analyst = subprocess.Popen(
        [sys.executable, "-m", "sweeprank", "analyst", "--bootstrap", "20"], env=env, stdout=log, stderr=log
    )
    try:
        wait_until(lambda: (archive_dir / f"{finished}.sqlite").exists(), 120, what="the finished sweep archived")
        wait_until(lambda: client.exists(f"sr:sweep:{finished}:results") == 0, 60, what="its keys deleted")
        assert analyst.poll() is None, (tmp_path / "analyst.log").read_text()[-2000:]
    finally:
        analyst.terminate()
        analyst.wait(30)
        log.close()
    assert not (archive_dir / f"{running}.sqlite").exists() and client.exists(f"sr:sweep:{running}:trials")
    assert store.results.in_arrival_order(finished) == before
    assert store.rankings.latest(finished) is not None


def test_archiving_runs_beside_the_rankings_one_round_at_a_time(
    scratch_redis: redis.Redis, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Store(scratch_redis, tmp_path / "archive")
    finished = finished_sweep(store, 8)
    analyst = make_analyst(store)
    store.results.ensure_analyst_group()
    analyst.rebuild()
    assert finished in analyst.kept_as_ranked
    release = threading.Event()
    archive_due = store.archive.archive_due

    def held(older_than_s: float) -> ArchiveRun:  # an archive that takes as long as the test says
        assert release.wait(60)
        return archive_due(older_than_s)

    monkeypatch.setattr(store.archive, "archive_due", held)
    archiving = analyst.archive_finished(0.0)
    assert archiving is not None and analyst.archive_finished(0.0) is None, "one round at a time"

    live = store.sweeps.create(make_spec(n_trials=3), plan_trials(make_spec(n_trials=3)))
    feed(store, live, range(2), np.random.default_rng(0))
    analyst.handle(analyst.read_new(None))
    ranked = store.rankings.latest(live)
    assert ranked is not None and ranked.n_results == 2 and archiving.is_alive(), "ranked while archiving"

    assert finished in analyst.sweeps, "its events came too: fitted again, as a late event would have it"

    release.set()
    archiving.join(60)
    assert (tmp_path / "archive" / f"{finished}.sqlite").exists()
    analyst.archive_finished(3600.0)
    assert finished not in analyst.sweeps and finished not in analyst.kept_as_ranked, "forgotten once archived"
