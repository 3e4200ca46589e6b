"""The analyst archives a finished sweep SWEEPRANK_ARCHIVE_AFTER_S after it ended (issue 19), as a real process,
and leaves a sweep that is still running in Redis."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import redis

from broker.store import Store
from broker.sweep_actions import plan_trials
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
