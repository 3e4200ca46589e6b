"""An archived sweep is served as before (issue 19): `sweeprank archive` moves a finished sweep out of Redis, Redis is
restarted EMPTY, and the real web server answers every route the sweep page, exports, compare and tune use with the
same content as before archiving.

Redis and the web server are this module's own child processes, so that Redis can be restarted with nothing.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import redis

from analyst.method_comparison import compare_latest
from broker.store import Store
from sweeprank.stack import Stack, free_port
from tests.broker.finished_sweeps import finished_sweep
from tests.helpers import wait_until
from tests.webui.server import WebServer

N_TRIALS = 60
CURVES = (0, 7, 33, N_TRIALS - 1)


@dataclass
class Served:
    redis_url: str
    port: int
    archive_dir: Path
    web: WebServer
    stack: Stack
    tmp: Path

    def restart_redis_empty(self) -> None:
        """Stop Redis and start a new one on the same port with a new, empty data directory."""
        self.stack.stop()
        self.stack = Stack(log_dir=None)
        self.stack.start_redis(self.tmp / "redis-after", self.port)

    def store(self) -> Store:
        return Store.from_url(self.redis_url, archive_dir=self.archive_dir)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    port = free_port()
    stack = Stack(log_dir=None)
    url = stack.start_redis(tmp_path / "redis", port)
    archive_dir = tmp_path / "archive"
    web = WebServer(url, tmp_path / "web.log", {"SWEEPRANK_ARCHIVE_DIR": str(archive_dir)})
    web.start()
    setup = Served(url, port, archive_dir, web, stack, tmp_path)
    try:
        yield setup
    finally:
        web.stop()
        setup.stack.stop()


def get(web: WebServer, path: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(web.url + path, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def routes(sweep_id: str) -> list[str]:
    """Every GET the sweep page, its table, the lists, the downloads and compare make of one sweep."""
    api = f"/api/sweeps/{sweep_id}"
    pages = [
        f"{api}/trials?offset={offset}&limit=20&sort={sort}&order={order}"
        for sort in ("trial_id", "test_accuracy", "learning_rate", "status", "worker", "duration", "optimizer")
        for order in ("asc", "desc")
        for offset in (0, 40)
    ]
    return [
        "/api/sweeps",
        "/api/summaries",
        api,
        f"{api}/summary",
        *pages,
        *(f"{api}/trials/{t}/metrics" for t in CURVES),
        f"{api}/ranking",
        f"{api}/rankings",
        f"{api}/rankings?since=3",
        f"{api}/changes?n_final=0&ranking_seq=0&offset=0&limit=20&sort=test_accuracy&order=desc",
        f"{api}/changes?n_final={N_TRIALS - 5}&ranking_seq=2&offset=20&limit=20&have=20,21,22",
        f"{api}/comparison",
        f"{api}/ranking.csv",
        f"{api}/effects.csv",
        f"{api}/export?format=csv",
        f"{api}/export?format=json",
    ]


def answers(web: WebServer, sweep_id: str) -> dict[str, object]:
    found: dict[str, object] = {}
    for path in routes(sweep_id):
        status, body = get(web, path)
        assert status == 200, f"{path}: HTTP {status}: {body[:300]!r}"
        found[path] = body.decode() if path.endswith(".csv") or "format=csv" in path else json.loads(body)
    status, body = get(web, f"/api/sweeps/{sweep_id}/export?format=parquet")
    assert status == 200
    found["parquet"] = pq.read_table(io.BytesIO(body)).to_pylist()
    return found


def cli(served: Served, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SWEEPRANK_ARCHIVE_DIR": str(served.archive_dir), "SWEEPRANK_REDIS_URL": served.redis_url}
    return subprocess.run(
        [sys.executable, "-m", "sweeprank", "archive", *args], env=env, capture_output=True, text=True, timeout=120
    )


def test_an_archived_sweep_is_served_the_same_with_redis_restarted_empty(served: Served) -> None:
    store = served.store()
    sweep_id = finished_sweep(store, N_TRIALS, datasets=["digits"])  # one dataset: enough trials to find what matters
    comparison = compare_latest(store, sweep_id)  # as the analyst answers a member's compare request
    assert comparison is not None
    store.comparisons.save(comparison)
    before = answers(served.web, sweep_id)
    assert before[f"/api/sweeps/{sweep_id}/comparison"]["comparison"] is not None  # type: ignore[index]
    client = redis.Redis.from_url(served.redis_url, decode_responses=True)
    used = int(client.info("memory")["used_memory"])

    archived = cli(served, sweep_id)

    assert archived.returncode == 0, archived.stderr
    assert archived.stdout.startswith(f"{sweep_id} archived: {N_TRIALS} trials")
    assert {str(k) for k in client.scan_iter(f"sr:sweep:{sweep_id}*")} == {f"sr:sweep:{sweep_id}"}
    assert int(client.info("memory")["used_memory"]) < used
    assert answers(served.web, sweep_id) == before, "served from the archive while Redis keeps the stub"

    served.restart_redis_empty()
    assert wait_until(lambda: get(served.web, f"/api/sweeps/{sweep_id}")[0] == 200, 30, what="web after restart")
    assert client.dbsize() == 0 or set(client.keys("sr:sweep:*")) == set(), "nothing of the sweep is in Redis"

    assert answers(served.web, sweep_id) == before, "served from the archive alone"
    status, page = get(served.web, f"/sweeps/{sweep_id}")
    assert status == 200 and sweep_id in page.decode()

    token = served.store().users.add("ann")  # members live in Redis: the emptied one has none
    asked = json.loads(_post(served.web, f"/api/sweeps/{sweep_id}/compare", {}, token))
    assert (
        asked["status"] == "done" and asked["comparison"] == before[f"/api/sweeps/{sweep_id}/comparison"]["comparison"]
    )  # type: ignore[index]
    tuned = json.loads(_post(served.web, f"/api/sweeps/{sweep_id}/tune", {"trials": 5}, token))
    assert tuned["id"] != sweep_id, "a new id, though Redis' counter restarted"
    record = served.store().sweeps.get(tuned["id"])
    assert record.spec.tune is not None and record.spec.tune.parent == sweep_id
    assert "learning_rate" in record.spec.tune.tuned
    assert served.store().sweeps.children(sweep_id) == [tuned["id"]]
    listed = [s["id"] for s in json.loads(get(served.web, "/api/sweeps")[1])["sweeps"]]
    assert listed == [tuned["id"], sweep_id], "newest first, the archived one listed from its file"


def _post(web: WebServer, path: str, body: dict[str, object], token: str) -> bytes:
    request = urllib.request.Request(
        web.url + path,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return bytes(response.read())
    except urllib.error.HTTPError as err:
        raise AssertionError(f"POST {path}: HTTP {err.code}: {err.read()[:500]!r}") from None


def test_the_archive_command_refuses_with_one_line_and_exit_2(served: Served) -> None:
    store = served.store()
    sweep_id = finished_sweep(store, 12, cancel_after=4)
    store.trials.update(sweep_id, 2, status="running")  # a trial that has not ended yet

    for args, message in [
        ((sweep_id,), f"{sweep_id} still has 1 trials queued or running"),
        (("sw4242",), "no sweep with id 'sw4242'"),
        ((), "name the sweeps to archive, or give --older-than AGE"),
        (("--older-than", "soon"), "--older-than must be a number with s, m, h, d or w"),
    ]:
        refused = cli(served, *args)
        assert refused.returncode == 2, refused
        assert refused.stderr.startswith("sweeprank: ") and message in refused.stderr
        assert refused.stderr.count("\n") == 1

    store.trials.update(sweep_id, 2, status="cancelled")
    due = cli(served, "--older-than", "0s")
    assert due.returncode == 0, due.stderr
    assert due.stdout.splitlines()[0].startswith(f"{sweep_id} archived: 12 trials, 4 results")
