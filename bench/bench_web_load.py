"""Web load: 200 open live-update streams plus 50 API requests/s against a stack with a running sweep.

Starts a real stack (redis-server on a free port, a CPU trainer, the analyst) and a sweep of
tiny trials, so rankings are stored all through the run. Then, for `sweeprank web` (gunicorn)
and, with the same load for --baseline-duration, for Flask's development server (threaded,
what `sweeprank web` ran before), it measures:
  - API latency p50/p99/max over a mix of GET /api/queue, /api/sweeps, /api/sweeps/ID and
    /api/sweeps/ID/ranking (goal: p99 <= 200 ms);
  - errors: non-2xx answers, connection errors, and streams that ended before the run did (goal: 0);
  - live-update delay: for each ranking the analyst stored during the run (its record's time)
    and each stream, the time until that stream received a sweep "change" event with that
    ranking count or a later one (goal: every stream within 1 s);
  - the benchmark process's own CPU (cores), since clients and servers share the machine.
and prints the ratios gunicorn / Flask's server.

With --scale N the sweep is instead one of N trials (bench/scale_sweep.py: built once through the store calls and
kept as a Redis snapshot), all but its last few thousand finished; during the run a feeder finishes those through
the store calls as trainers do, at --feed results/s, and the real analyst process ranks them: a live sweep of
N trials. The API mix then also has the sweep page's own reads (a trials page, the summary, the ranking
trajectory, one trial's curve).

Usage: python bench/bench_web_load.py [--duration 60] [--sse-clients 200] [--rps 50] [--baseline-duration 20]
       python bench/bench_web_load.py --scale 100000 --snapshot DIR [--feed 5]
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import resource
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from digits_stack import cpu_stack, digits_spec, wait
from scale_sweep import BuiltSweep, accuracy_of, snapshot_redis, train

from broker.store import Store
from sweeprank.stack import Stack, free_port

# What `sweeprank web` ran before gunicorn.
FLASK_DEV_SERVER = (
    "import sys; from webui import create_app; create_app().run('127.0.0.1', int(sys.argv[1]), threaded=True)"
)
# Ranking updates stored this close to the end of a run may not have reached every stream yet.
END_MARGIN_S = 2.0


@dataclass
class Stream:
    """One live-update client on its own thread: when it first saw each ranking count."""

    port: int
    sweep_id: str
    stop: threading.Event
    seen: dict[int, float] = field(default_factory=dict)
    dropped: int = 0
    connect_errors: int = 0

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                self._follow()
            except OSError:
                if not self.stop.is_set():
                    self.connect_errors += 1
                    time.sleep(0.5)

    def _follow(self) -> None:
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as sock:
            sock.sendall(b"GET /events HTTP/1.1\r\nHost: bench\r\nAccept: text/event-stream\r\n\r\n")
            sock.settimeout(1.0)
            buffer = b""
            while not self.stop.is_set():
                try:
                    chunk = sock.recv(65536)
                except TimeoutError:
                    continue
                if not chunk:
                    self.dropped += 1  # the server ended the stream while the run went on
                    return
                now = time.time()
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    if line.startswith(b"data: {") and b'"rankings"' in line:
                        self._saw(json.loads(line[6:]), now)

    def _saw(self, data: dict[str, object], now: float) -> None:
        rankings = data.get("rankings")
        if data.get("sweep_id") == self.sweep_id and isinstance(rankings, int):
            # A later count covers the ones before it: the page refetches the latest ranking.
            for count in range(1, rankings + 1):
                self.seen.setdefault(count, now)


@dataclass
class ApiLoad:
    port: int
    paths: list[str]
    latencies: list[float] = field(default_factory=list)
    by_path: dict[str, list[float]] = field(default_factory=dict)
    errors: int = 0

    def one(self) -> None:
        path = random.choice(self.paths)
        started = time.perf_counter()
        try:
            connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            connection.request("GET", path)
            response = connection.getresponse()
            response.read()
            connection.close()
            ok = 200 <= response.status < 300
        except OSError:
            ok = False
        self.latencies.append(time.perf_counter() - started)
        self.by_path.setdefault(path, []).append(self.latencies[-1])
        if not ok:
            self.errors += 1


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


@dataclass
class Figures:
    name: str
    api_p50_ms: float
    api_p99_ms: float
    api_max_ms: float
    api_requests: int
    errors: int
    delay_p50_ms: float
    delay_p99_ms: float
    delay_max_ms: float
    within_1s: float
    pairs: int
    missed: int
    client_cores: float
    routes: str  # p50 / p99 per route

    def print(self) -> None:
        print(
            f"{self.name}: API p50 {self.api_p50_ms:.1f} ms  p99 {self.api_p99_ms:.1f} ms  max {self.api_max_ms:.1f} ms"
            f" ({self.api_requests} requests); errors {self.errors}\n"
            f"  live updates: delay p50 {self.delay_p50_ms:.0f} ms  p99 {self.delay_p99_ms:.0f} ms"
            f"  max {self.delay_max_ms:.0f} ms; within 1 s {100 * self.within_1s:.1f} % of {self.pairs}"
            f" (stream, ranking) pairs, {self.missed} never received; bench client used {self.client_cores:.2f} cores\n"
            f"  p50 / p99 ms by route: {self.routes}"
        )


def measure(name: str, port: int, store: Store, sweep_id: str, args: argparse.Namespace, duration: float) -> Figures:
    stop = threading.Event()
    streams = [Stream(port, sweep_id, stop) for _ in range(args.sse_clients)]
    threads = [threading.Thread(target=s.run, daemon=True) for s in streams]
    for thread in threads:
        thread.start()
    time.sleep(2.0)  # let every stream connect and take its baseline before counting
    paths = ["/api/queue", "/api/sweeps", f"/api/sweeps/{sweep_id}", f"/api/sweeps/{sweep_id}/ranking"]
    if args.scale:
        base = f"/api/sweeps/{sweep_id}"
        paths += [f"{base}/trials?limit=20", f"{base}/summary", f"{base}/rankings", f"{base}/trials/7/metrics"]
    load = ApiLoad(port, paths)
    usage_before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.time()
    with ThreadPoolExecutor(max_workers=64) as pool:
        next_at = time.monotonic()
        while time.time() - started < duration:
            pool.submit(load.one)
            next_at += 1.0 / args.rps
            time.sleep(max(0.0, next_at - time.monotonic()))
    ended = time.time()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    time.sleep(END_MARGIN_S)
    stop.set()
    for thread in threads:
        thread.join(5)
    cpu = (usage.ru_utime - usage_before.ru_utime) + (usage.ru_stime - usage_before.ru_stime)

    # Every publication of the run is in the trajectory (it thins only entries older than its last RECENT).
    history = store.rankings.history_since(sweep_id, 0)
    updates = [(seq, entry.time) for seq, entry in history if started <= entry.time <= ended]
    delays, missed = [], 0
    for stream in streams:
        for count, stored in updates:
            if count in stream.seen:
                delays.append(stream.seen[count] - stored)
            else:
                missed += 1
    pairs = len(delays) + missed
    return Figures(
        name=name,
        api_p50_ms=1000 * percentile(load.latencies, 0.50),
        api_p99_ms=1000 * percentile(load.latencies, 0.99),
        api_max_ms=1000 * max(load.latencies, default=float("nan")),
        api_requests=len(load.latencies),
        errors=load.errors + sum(s.dropped + s.connect_errors for s in streams),
        delay_p50_ms=1000 * percentile(delays, 0.50),
        delay_p99_ms=1000 * percentile(delays, 0.99),
        delay_max_ms=1000 * max(delays, default=float("nan")),
        within_1s=sum(d <= 1.0 for d in delays) / pairs if pairs else float("nan"),
        pairs=pairs,
        missed=missed,
        client_cores=cpu / (ended - started),
        routes="; ".join(
            f"{path.rsplit('/api/', 1)[1]} {1000 * percentile(t, 0.5):.0f} / {1000 * percentile(t, 0.99):.0f}"
            for path, t in sorted(load.by_path.items())
        ),
    )


def answers(port: int) -> bool:
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        connection.request("GET", "/api/queue")
        return connection.getresponse().status == 200
    except OSError:
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load on `sweeprank web`")
    parser.add_argument("--baseline-duration", type=float, default=20.0, help="seconds on Flask's dev server")
    parser.add_argument("--sse-clients", type=int, default=200)
    parser.add_argument("--rps", type=float, default=50.0)
    parser.add_argument("--trials", type=int, default=2000, help="trials of the sweep (it must outlast the run)")
    parser.add_argument("--scale", type=int, default=0, help="instead: a live sweep of this many trials (see above)")
    parser.add_argument("--snapshot", type=Path, help="with --scale: where its Redis snapshot is kept (or made)")
    parser.add_argument("--feed", type=float, default=5.0, help="with --scale: results finished per second")
    args = parser.parse_args()
    if args.scale and args.snapshot is None:
        parser.error("--scale needs --snapshot")
    web_port, dev_port = free_port(), free_port()
    running = scale_stack(args, web_port, dev_port) if args.scale else digits_stack(args, web_port, dev_port)
    with running as (store, sweep_id):
        wait(lambda: len(store.rankings.history(sweep_id)) >= 2, 300)  # trials and rankings are flowing
        n_trials = store.sweeps.get(sweep_id).n_trials
        print(
            f"load: {args.sse_clients} live-update streams + {args.rps:g} API requests/s; "
            f"sweep {sweep_id} of {n_trials:,} trials running"
        )
        ours = measure("sweeprank web (gunicorn)", web_port, store, sweep_id, args, args.duration)
        ours.print()
        theirs = measure("Flask dev server (threaded)", dev_port, store, sweep_id, args, args.baseline_duration)
        theirs.print()
        print(
            f"ratio gunicorn / Flask dev server: API p99 {ours.api_p99_ms / theirs.api_p99_ms:.2f}x; "
            f"live-update delay p99 {ours.delay_p99_ms / theirs.delay_p99_ms:.2f}x; "
            f"errors {ours.errors} vs {theirs.errors}"
        )
        n_results = store.sweeps.get(sweep_id).n_final
        print(f"the sweep had {n_results:,} results and {store.rankings.last_seq(sweep_id):,} rankings by the end")


def start_servers(stack: Stack, web_port: int, dev_port: int, streams: int) -> None:
    # Every stream here comes from one address: the cap per member or address (events_per_client) is lifted to
    # what the load needs, as for that many visitors.
    env = {"SWEEPRANK_EVENTS_PER_CLIENT": str(streams)}
    stack.spawn("web", [sys.executable, "-m", "sweeprank", "web", "--port", str(web_port)], env)
    stack.spawn("flask-dev", [sys.executable, "-c", FLASK_DEV_SERVER, str(dev_port)], env)
    wait(lambda: answers(web_port) and answers(dev_port))


@contextmanager
def digits_stack(args: argparse.Namespace, web_port: int, dev_port: int) -> Iterator[tuple[Store, str]]:
    """A CPU trainer training a sweep of tiny digits trials, submitted through the API, and the analyst."""
    with cpu_stack(slots=1, bootstrap=50) as (stack, store, _url):
        start_servers(stack, web_port, dev_port, args.sse_clients)
        wait(lambda: list(store.workers.live(30)))
        token = store.users.add("bench", admin=True)
        connection = http.client.HTTPConnection("127.0.0.1", web_port, timeout=30)
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        connection.request("POST", "/api/sweeps", json.dumps(digits_spec("web load", args.trials)), headers)
        yield store, json.loads(connection.getresponse().read())["id"]


@contextmanager
def scale_stack(args: argparse.Namespace, web_port: int, dev_port: int) -> Iterator[tuple[Store, str]]:
    """The kept sweep of `args.scale` trials, the analyst process, and a feeder finishing its trials meanwhile."""
    with tempfile.TemporaryDirectory() as tmp:
        stack = Stack(log_dir=Path(tmp))
        stop = threading.Event()
        try:
            url, built = snapshot_redis(stack, args.snapshot, args.scale, Path(tmp))
            stack.env.update(SWEEPRANK_REDIS_URL=url)
            store = Store.from_url(url)
            published = store.rankings.last_seq(built.sweep_id)
            stack.spawn("analyst", [sys.executable, "-m", "sweeprank", "analyst", "--bootstrap", "50"])
            start_servers(stack, web_port, dev_port, args.sse_clients)
            feeder = threading.Thread(target=feed, args=(url, built, args.feed, stop), daemon=True)
            feeder.start()
            # The analyst refits the sweep when it starts: measure once it ranks the new results.
            wait(lambda: store.rankings.last_seq(built.sweep_id) > published + 1, 900)
            yield store, built.sweep_id
        finally:
            stop.set()
            stack.stop()


def feed(url: str, built: BuiltSweep, per_s: float, stop: threading.Event) -> None:
    """Finish the sweep's remaining trials through the store calls, as trainers do, at `per_s` results a second."""
    store = Store.from_url(url)
    rng = np.random.default_rng(0)
    left = [t for t in range(built.n_results, built.n_trials) if not store.results.is_final(built.sweep_id, t)]
    configs = store.sweeps.planned_configs_of(built.sweep_id, left)
    next_at = time.monotonic()
    for trial_id in left:
        if stop.is_set():
            return
        train(store, built.sweep_id, trial_id, configs[trial_id], accuracy_of(configs[trial_id], rng))
        next_at += 1.0 / per_s
        time.sleep(max(0.0, next_at - time.monotonic()))


if __name__ == "__main__":
    main()
