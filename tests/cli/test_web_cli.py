"""`sweeprank web` under gunicorn: a real server answers the API, streams events, and stops with streams open."""

from __future__ import annotations

import http.client
import json
import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest
import redis

from broker.store import Store
from sweeprank.stack import free_port
from tests.cli.stack_up import alive, process_tree
from tests.conftest import database_url
from tests.helpers import wait_until
from tests.webui.conftest import save_result, seed_sweep

# Long: without the streams ending at shutdown, the server would wait this long (and the test time out).
GRACE_S = 600


class WebServer:
    def __init__(self, redis_url: str) -> None:
        self.port = free_port()
        env = {
            **os.environ,
            "SWEEPRANK_REDIS_URL": redis_url,
            "SWEEPRANK_EVENTS_INTERVAL_S": "0.05",
            "SWEEPRANK_WEB_GRACEFUL_TIMEOUT_S": str(GRACE_S),
        }
        command = [sys.executable, "-m", "sweeprank", "web", "--port", str(self.port), "--workers", "2"]
        self.process = subprocess.Popen(
            [*command, "--threads", "8"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        wait_until(lambda: self.answers() or self.process.poll() is not None, 60, what="the web server")
        assert self.process.poll() is None, self.output()

    def answers(self) -> bool:
        try:
            return self.get("/api/queue")[0] == 200
        except OSError:
            return False

    def get(self, path: str) -> tuple[int, str]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            connection.request("GET", path)
            response = connection.getresponse()
            return response.status, response.read().decode()
        finally:
            connection.close()

    def output(self) -> str:
        self.stop(signal.SIGKILL)
        assert self.process.stdout is not None
        return self.process.stdout.read()

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(60)


class EventReader:
    """An open /events stream; its lines arrive on a queue, None after the server closed it cleanly."""

    def __init__(self, port: int) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        self.connection.request("GET", "/events")
        self.response = self.connection.getresponse()
        assert self.response.status == 200 and self.response.getheader("Content-Type", "").startswith(
            "text/event-stream"
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        try:
            for line in self.response:
                self.lines.put(line.decode().rstrip("\n"))
            self.lines.put(None)
        except BaseException as err:  # an incomplete chunked body: the server dropped the stream
            self.error = err
            self.lines.put(None)

    def events_until(self, wanted: str, timeout_s: float) -> list[tuple[str, dict[str, object]]]:
        """Events read until one of type `wanted` (or the stream's end, or `timeout_s` of silence)."""
        found: list[tuple[str, dict[str, object]]] = []
        name = ""
        while True:
            try:
                line = self.lines.get(timeout=timeout_s)
            except queue.Empty:
                return found
            if line is None:
                return found
            if line.startswith("event: "):
                name = line.removeprefix("event: ")
            elif line.startswith("data: "):
                found.append((name, json.loads(line.removeprefix("data: "))))
                if name == wanted:
                    return found


@pytest.fixture
def web_db(redis_url: str) -> str:
    url = database_url(redis_url, 5)
    redis.Redis.from_url(url).flushdb()
    return url


@pytest.fixture
def server(web_db: str) -> Iterator[WebServer]:
    web = WebServer(web_db)
    yield web
    web.stop(signal.SIGKILL)


def test_gunicorn_serves_the_api_and_live_events(server: WebServer, web_db: str) -> None:
    store = Store.from_url(web_db)
    sweep_id = seed_sweep(store, n_trials=30)
    status, body = server.get(f"/api/sweeps/{sweep_id}")
    assert status == 200 and json.loads(body)["id"] == sweep_id
    assert server.get("/api/queue")[0] == 200
    stream = EventReader(server.port)
    assert stream.events_until("hello", 60)[-1][0] == "hello"
    configs = sorted(store.sweeps.planned_configs(sweep_id).items())
    # The stream compares with its first reading, taken at some point after it opened: write results
    # until one lands after that baseline and comes through as a change.
    for trial_id, config in configs:
        save_result(store, sweep_id, trial_id, config, test_accuracy=0.5)
        changes = [data for name, data in stream.events_until("change", 2.0) if name == "change"]
        if any(data.get("sweep_id") == sweep_id for data in changes):
            break
    else:
        pytest.fail(f"no change event for {len(configs)} results; server log:\n{server.output()}")


def test_sigterm_ends_open_streams_and_stops(server: WebServer) -> None:
    streams = [EventReader(server.port) for _ in range(3)]
    for stream in streams:
        assert stream.events_until("hello", 60)[-1][0] == "hello"
    server.process.send_signal(signal.SIGTERM)
    # Within the 60 s wait, far below the grace period: the streams ended instead of holding the workers.
    assert server.process.wait(60) == 0
    for stream in streams:
        stream.events_until("never", 60)
        stream.thread.join(60)
        assert not stream.thread.is_alive() and stream.error is None, "each stream ended cleanly, not cut off"


def test_workers_of_a_killed_server_end_their_streams_and_exit(server: WebServer) -> None:
    stream = EventReader(server.port)
    assert stream.events_until("hello", 30), "the stream is open"
    workers = process_tree(server.process.pid)
    assert workers, "gunicorn's workers"
    server.process.kill()  # no graceful stop: the workers find their master gone
    server.process.wait()
    # The grace period is GRACE_S (10 minutes) and the stream could last events_max_s: only ending the
    # streams when the master is gone lets the workers go, and free the port for a restarted server.
    wait_until(lambda: not stream.thread.is_alive(), 60, what="the open stream to end")
    wait_until(lambda: not any(alive(pid) for pid in workers), 60, what="the orphaned workers to exit")
