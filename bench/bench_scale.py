"""Scale: what each page and route costs on sweeps of 1k / 10k (/ 100k) trials, against the whole-sweep reads.

For each size it takes a sweep built through the project's own store calls in the trainer's shape (the trial marked
running, 5 epochs of metrics, one final result) and ranked by the real analyst as results arrive
(bench/scale_sweep.py; built once and kept as a Redis snapshot with --snapshot, all but its last quarter (at most
5,000) finished, 10 of those running). Then, against `sweeprank web` (gunicorn at
its defaults) on that Redis, it prints per route the median latency and the bytes of the answer on the wire (asked
as a browser asks, accepting gzip); side by side, in
the same run and on the same data, the whole-sweep read each route replaced (the code before issue 19, run
in-process, so without the HTTP cost the new figures include): every trial joined, sorted and sliced; the whole
metrics stream filtered; the best so far replayed over every result; every trial's state scanned for the running
ones; the trajectory at one entry per publication. Also: the sweep page's first load and what it fetches per new
result, export rows/s in each format (and the export's peak Python memory, which must not grow with the sweep),
Redis bytes per trial. The analyst's figures at scale: bench/bench_analyst.py.

Redis runs with AOF as in `sweeprank up`, but fsync once a second: the build writes ~8 times per trial, and
fsync-always would make the build, not the reads measured, take the time.

Usage: python bench/bench_scale.py [--sizes 1000 10000] [--repeat 5] [--snapshot DIR]
       (100k: --sizes 100000; building its snapshot takes tens of minutes, once)
"""

from __future__ import annotations

import argparse
import gzip
import http.client
import json
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import redis
from scale_sweep import RUNNING, BuiltSweep, snapshot_redis, start_redis

from broker.store import Store
from broker.store.progress import replay
from sweeprank.stack import Stack, free_port
from webui.export import csv_chunks, export_rows, json_chunks, parquet_chunks, trial_columns

PAGE = 20


class Web:
    def __init__(self, port: int, stack: Stack | None = None) -> None:
        self.port = port
        self.stack = stack  # the stack that runs it, where the caller needs its processes

    def get(self, path: str) -> tuple[float, int, bytes]:
        """(seconds, bytes on the wire, the body): asked as a browser asks, accepting gzip."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=600)
        start = time.perf_counter()
        conn.request("GET", path, headers={"Accept-Encoding": "gzip"})
        response = conn.getresponse()
        wire = response.read()
        elapsed = time.perf_counter() - start
        conn.close()
        body = gzip.decompress(wire) if response.getheader("Content-Encoding") == "gzip" else wire
        # /api/health answers 503 while a service is down (here: no trainer); its body is what is measured.
        if response.status not in (200, 503):
            raise SystemExit(f"{path}: HTTP {response.status}: {body[:200]!r}")
        return elapsed, len(wire), body

    def median(self, path: str, repeat: int) -> tuple[float, int]:
        runs = [self.get(path) for _ in range(repeat)]
        return statistics.median(r[0] for r in runs) * 1000, runs[-1][1]


def median_ms(fn: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


# --- the whole-sweep reads each route replaced (the code before issue 19) -------------------------------------


def old_trials_page(store: Store, sweep_id: str, sort: str, descending: bool, offset: int) -> list[int]:
    states = store.trials.states(sweep_id)
    configs = store.sweeps.planned_configs(sweep_id)
    finals = {r.trial_id: r for r in store.results.in_arrival_order(sweep_id)}

    def value(t: int) -> Any:
        if sort == "trial_id":
            return t
        if sort in configs.get(t, {}):
            return configs[t][sort]
        return getattr(finals[t], sort) if t in finals else None

    rows = sorted(states)
    present = sorted((t for t in rows if value(t) is not None), key=value, reverse=descending)
    return (present + [t for t in rows if value(t) is None])[offset : offset + PAGE]


def old_running(store: Store) -> int:
    return sum(1 for s in store.sweeps.active_ids() for st in store.trials.states(s).values() if st.status == "running")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--snapshot", type=Path, help="where the sweeps' Redis snapshots are kept (default: built now)")
    args = parser.parse_args()
    for n in args.sizes:
        with tempfile.TemporaryDirectory() as tmp:
            stack = Stack(log_dir=Path(tmp))
            try:
                empty = redis_used(stack, Path(tmp) / "empty")
                url, built = snapshot_redis(stack, args.snapshot or Path(tmp) / "kept", n, Path(tmp))
                stack.env.update(SWEEPRANK_REDIS_URL=url)
                web_port = free_port()
                stack.start_web("127.0.0.1", web_port)
                web = Web(web_port)
                _wait_web(web, Path(tmp))
                store = Store.from_url(url)
                client = redis.Redis.from_url(url, decode_responses=True)
                measure(store, client, web, built, int(client.info("memory")["used_memory"]) - empty, args.repeat)
            finally:
                stack.stop()


def redis_used(stack: Stack, data_dir: Path) -> int:
    """Memory an empty Redis uses (what a sweep's figure leaves out)."""
    url = start_redis(stack, data_dir)
    used = int(redis.Redis.from_url(url).info("memory")["used_memory"])
    redis.Redis.from_url(url).shutdown(nosave=True)
    return used


def kept_sweeps_parser(doc: str | None, repeat: int = 3) -> argparse.ArgumentParser:
    """The options of a benchmark that runs on kept sweeps (bench/scale_sweep.py): --snapshot, --sizes, --repeat."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--snapshot", type=Path, required=True, help="where the sweeps' Redis snapshots are kept")
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--repeat", type=int, default=repeat)
    return parser


@contextmanager
def kept_sweep_served(snapshot: Path, n: int) -> Iterator[tuple[str, BuiltSweep, Web]]:
    """(Redis URL, the sweep, its web server): a Redis started from the kept sweep of `n` trials, and `sweeprank web`
    (gunicorn at its defaults) in front of it; both stopped on leaving."""
    with tempfile.TemporaryDirectory() as tmp:
        stack = Stack(log_dir=Path(tmp))
        try:
            url, built = snapshot_redis(stack, snapshot, n, Path(tmp))
            stack.env.update(SWEEPRANK_REDIS_URL=url)
            web = Web(free_port(), stack)
            stack.start_web("127.0.0.1", web.port)
            _wait_web(web, Path(tmp))
            yield url, built, web
        finally:
            stack.stop()


def _wait_web(web: Web, logs: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            web.get("/api/sweeps")
            return
        except (OSError, SystemExit):
            time.sleep(0.2)
    raise SystemExit("the web server did not start: " + "".join(p.read_text()[-2000:] for p in logs.glob("*.log")))


def measure(store: Store, client: redis.Redis, web: Web, built: BuiltSweep, used: int, repeat: int) -> None:
    n, sweep_id = built.n_trials, built.sweep_id
    bytes_per_trial = used / n
    base = f"/api/sweeps/{sweep_id}"
    late = max(0, n - 2 * PAGE)
    record = store.sweeps.get(sweep_id)
    print(
        f"\n== {n:,} trials, {built.n_results:,} finished ({RUNNING} running), built in {built.build_s:.0f} s; "
        f"Redis {bytes_per_trial / 1024:.2f} KB per trial (everything, indexes built so far included)"
    )
    started = time.perf_counter()
    store.trial_index.ensure(record, "test_accuracy")  # a no-op for a sweep kept by this version
    print(f"packed columns of a sweep kept before them, built once: {time.perf_counter() - started:.1f} s")
    first_sort_s, _, _ = web.get(f"{base}/trials?sort=test_accuracy&order=desc&offset={late}&limit={PAGE}")
    rows: list[tuple[str, tuple[float, int], float | None, str]] = []

    def route(name: str, path: str, old: Callable[[], Any] | None, old_note: str = "") -> None:
        rows.append((name, web.median(path, repeat), median_ms(old, max(1, repeat // 2)) if old else None, old_note))

    route(
        "trials first page",
        f"{base}/trials?limit={PAGE}",
        lambda: old_trials_page(store, sweep_id, "trial_id", False, 0),
    )
    route(
        "trials by metric, late offset",
        f"{base}/trials?sort=test_accuracy&order=desc&offset={late}&limit={PAGE}",
        lambda: old_trials_page(store, sweep_id, "test_accuracy", True, late),
    )
    route(
        "trials by hyperparameter, mid",
        f"{base}/trials?sort=learning_rate&offset={n // 2}&limit={PAGE}",
        lambda: old_trials_page(store, sweep_id, "learning_rate", False, n // 2),
    )
    route(
        "one trial's metrics",
        f"{base}/trials/{n // 2}/metrics",
        lambda: [m for m in store.results.epoch_metrics(sweep_id) if m.trial_id == n // 2],
    )
    route("summary", f"{base}/summary", lambda: replay(store.results.in_arrival_order(sweep_id), "test_accuracy", True))
    seq = store.rankings.last_seq(sweep_id)
    entry_bytes = len(json.dumps(json.loads(web.get(f"{base}/rankings?since={seq - 1}")[2])["history"][0]))
    route(
        "rankings (bounded trajectory)",
        f"{base}/rankings",
        None,
        f"before: {seq:,} entries, ~{seq * entry_bytes / 1e6:.1f} MB",
    )
    route("ranking (latest)", f"{base}/ranking", None)
    route("health", "/api/health", lambda: old_running(store))
    route("queue", "/api/queue", lambda: old_running(store))
    print(f"{'route':34} {'median ms':>10} {'bytes':>10} {'before ms':>10}  ratio")
    for name, (ms, size), old_ms, note in rows:
        ratio = f"{old_ms / ms:6.1f}x" if old_ms else ""
        old = f"{old_ms:10.1f}" if old_ms else f"{'':10}"
        print(f"{name:34} {ms:10.1f} {size:10,} {old}  {ratio} {note}")
    print(f"first sort by a column (its packed column is kept with each result): {first_sort_s * 1000:.0f} ms")
    load = sum(
        web.get(p)[1]
        for p in (
            f"/sweeps/{sweep_id}",
            f"{base}/summary",
            f"{base}/ranking",
            f"{base}/rankings",
            f"{base}/trials?limit={PAGE}",
        )
    )
    load_s = sum(
        web.get(p)[0] for p in (f"{base}/summary", f"{base}/ranking", f"{base}/rankings", f"{base}/trials?limit={PAGE}")
    )
    print(f"sweep page first load: {load / 1e3:.0f} KB (HTML + 4 API reads), API reads {load_s * 1000:.0f} ms in a row")
    sizes = {name: size for name, (_, size), _, _ in rows}
    before = sizes["summary"] + sizes["trials first page"] + sizes["ranking (latest)"] + seq * entry_bytes
    per_result(web, sweep_id, record.n_final, seq, before)
    export(web, base, n)
    export_memory(store, sweep_id)
    index_bytes = sum(int(client.memory_usage(k) or 0) for k in client.scan_iter(f"sr:sweep:{sweep_id}:index*"))
    print(f"running trials kept so the sweep is active: {len(store.trials.running_ids(sweep_id))}")
    print(f"packed columns of the trials table: {index_bytes / n:.0f} bytes per trial")


def per_result(web: Web, sweep_id: str, n: int, seq: int, before_bytes: float) -> None:
    """What a page showing the last finished trials fetches for the sweep's last result (`n` results): it asks as
    it stood one result (and one ranking publication) before."""
    offset = n - PAGE
    query = (
        f"offset={offset}&limit={PAGE}&sort=trial_id&order=asc&n_final={n - 1}&ranking_seq={seq - 1}"
        f"&have={','.join(str(t) for t in range(offset, n))}"
    )
    _, size, _ = web.get(f"/api/sweeps/{sweep_id}/changes?{query}")
    print(
        f"per new result (its row, the new ranking and trajectory entry, the summary): {size / 1e3:.1f} KB in one "
        f"request; before: {before_bytes / 1e6:.2f} MB (summary + trials page + ranking + the whole trajectory)"
    )


def export(web: Web, base: str, n: int) -> None:
    for fmt in ("csv", "json", "parquet"):
        elapsed, size, _ = web.get(f"{base}/export?format={fmt}")
        print(f"export {fmt}: {size / 1e6:.1f} MB, {n / elapsed:,.0f} rows/s (over HTTP, streamed)")


def export_memory(store: Store, sweep_id: str) -> None:
    """Peak Python memory of each format's export of the whole sweep, run in this process (tracemalloc)."""
    record = store.sweeps.get(sweep_id)
    columns = trial_columns(record)
    writers: dict[str, Callable[[], Iterator[str] | Iterator[bytes]]] = {
        "csv": lambda: csv_chunks(columns, export_rows(store, record)),
        "json": lambda: json_chunks(columns, export_rows(store, record)),
        "parquet": lambda: parquet_chunks(record, columns, export_rows(store, record)),
    }
    import pyarrow.parquet  # noqa: F401  (its import is not the export's memory)

    peaks = []
    for fmt, pieces in writers.items():
        tracemalloc.start()
        size = sum(len(piece) for piece in pieces())
        peaks.append(f"{fmt} {tracemalloc.get_traced_memory()[1] / 1e6:.1f} MB (of {size / 1e6:.1f} MB written)")
        tracemalloc.stop()
    print("export peak memory: " + ", ".join(peaks))


if __name__ == "__main__":
    sys.setrecursionlimit(10000)
    main()
