"""`sweeprank status` prints the pool's health and a sweep's paused ranking, read from a real web server."""

from __future__ import annotations

import contextlib
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from broker.store import Store
from broker.store.service_beats import ANALYST
from sweeprank.report import health_lines
from tests.conftest import database_url
from tests.webui.conftest import seed_sweep
from tests.webui.server import WebServer
from trials.records import AnalystHealth, Health, RedisHealth, ServiceBeat, ServicesHealth, WebHealth, WorkerInfo


@pytest.fixture
def store(redis_url: str) -> Store:
    url = database_url(redis_url, 3)
    redis.Redis.from_url(url).flushdb()
    return Store.from_url(url)


@pytest.fixture
def web(store: Store, redis_url: str, tmp_path: Path) -> Iterator[WebServer]:
    server = WebServer(database_url(redis_url, 3), tmp_path / "web.log")
    server.start()
    yield server
    server.stop()


def status(web: WebServer, *args: str, member: bool = True) -> subprocess.CompletedProcess[str]:
    """`sweeprank status` as a member (the health's details are theirs), or anonymously."""
    token = ["--token", Store.from_url(web.redis_url).users.add("ops")] if member else []
    return subprocess.run(
        [sys.executable, "-m", "sweeprank", "status", "--url", web.url, *token, *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def line_of(output: str, service: str) -> list[str]:
    return next(line.split() for line in output.splitlines() if line.split()[:1] == [service])


def beat(store: Store, age_s: float) -> None:
    when = time.time() - age_s
    store.services.beat(ANALYST, ServiceBeat(pid=4242, host="head", started_at=when, beat=when, processed=9))


@contextlib.contextmanager
def beating(store: Store) -> Iterator[None]:
    """An analyst that keeps beating while the command runs (on a loaded host, starting it can take many seconds)."""
    stop = threading.Event()

    def beat_until_stopped() -> None:
        while not stop.is_set():
            beat(store, 0.0)
            stop.wait(0.5)

    thread = threading.Thread(target=beat_until_stopped, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def test_status_prints_one_line_per_service_and_the_verdict(store: Store, web: WebServer) -> None:
    store.workers.register("cpu@gpu-host", WorkerInfo(host="gpu-host", device="cpu", slots=2, pid=777), ttl_s=600)
    with beating(store):
        done = status(web, "--check")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines()[0] == "health: ok"
    assert line_of(done.stdout, "analyst")[:6] == ["analyst", "ok", "pid", "4242", "head", "beat"]
    assert "lag 0, 9 processed" in done.stdout
    assert line_of(done.stdout, "trainer")[:7] == ["trainer", "cpu@gpu-host", "ok", "pid", "777", "gpu-host", "beat"]
    redis_line = line_of(done.stdout, "redis")
    assert redis_line[:3] == ["redis", "ok", "pid"] and "AOF on" in done.stdout
    assert line_of(done.stdout, "web")[:4] == ["web", "ok", "pid", str(web.process.pid if web.process else "")]


def test_status_says_when_the_analyst_is_down_and_a_sweep_waits_for_it(store: Store, web: WebServer) -> None:
    beat(store, 300.0)
    sweep_id = seed_sweep(store, n_results=2)
    done = status(web)
    assert done.returncode == 0, "without --check the exit status only says the server answered"
    assert done.stdout.startswith("health: NOT OK")
    assert line_of(done.stdout, "analyst")[:2] == ["analyst", "DOWN"] and "lag 2" in done.stdout
    assert line_of(done.stdout, "trainers")[:2] == ["trainers", "DOWN"]
    assert status(web, "--check").returncode == 1

    one = status(web, sweep_id, "--check")
    assert one.returncode == 1
    seen = re.search(r"ranking paused since [-0-9: ]+ \(analyst not seen for (\d+) s; ", one.stdout)
    assert seen is not None and int(seen.group(1)) >= 300, one.stdout
    assert one.stdout.rstrip().endswith("; 2 results waiting)")


def test_a_down_redis_is_one_line_with_its_error() -> None:
    down = Health(
        ok=False,
        services=ServicesHealth(
            redis=RedisHealth(ok=False, host="10.0.0.5", error="ConnectionError: refused"),
            analyst=AnalystHealth(ok=False, ttl_s=10.0),
            web=WebHealth(ok=True, pid=12, host="head"),
            trainers=[],
        ),
        time=0.0,
    )
    lines = health_lines(down)
    assert lines[0].startswith("health: NOT OK")
    assert lines[1].split()[:6] == ["redis", "DOWN", "pid", "-", "10.0.0.5", "beat"]
    assert lines[1].endswith("ConnectionError: refused")
    assert lines[2].split()[:2] == ["analyst", "DOWN"] and "never" in lines[2]


def test_anonymous_status_says_only_ok_or_not_and_how_to_see_more(store: Store, web: WebServer) -> None:
    store.workers.register("cpu@gpu-host", WorkerInfo(host="gpu-host", device="cpu", slots=2, pid=777), ttl_s=600)
    with beating(store):
        done = status(web, "--check", member=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == (
        "health: ok (the details need a member: pass --token or set SWEEPRANK_TOKEN)"
    ), done.stdout
    assert "777" not in done.stdout and "gpu-host" not in done.stdout.split("workers:")[0]
