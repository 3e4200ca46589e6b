"""Scale: what each page and route costs on sweeps of 1k / 10k (/ 100k) trials, against the whole-sweep reads.

For each size it builds a sweep through the project's own store calls in the trainer's shape (the trial marked
running, 5 epochs of metrics, one final result) and ranks it with the real analyst, one result at a time as a live
sweep does (so the ranking trajectory gets one publication per result). Then, against `sweeprank web` (gunicorn at
its defaults) on that Redis, it prints per route the median latency and the bytes of the answer; side by side, in
the same run and on the same data, the whole-sweep read each route replaced (the code before issue 19, run
in-process, so without the HTTP cost the new figures include): every trial joined, sorted and sliced; the whole
metrics stream filtered; the best so far replayed over every result; every trial's state scanned for the running
ones; the trajectory at one entry per publication. Also: the sweep page's first load and what it fetches per new
result, export rows/s, Redis bytes per trial, and the analyst's time per result.

Redis runs with AOF as in `sweeprank up`, but fsync once a second: the build writes ~8 times per trial, and
fsync-always would make the build, not the reads measured, take the time.

Usage: python bench/bench_scale.py [--sizes 1000 10000] [--repeat 5]   (100k: --sizes 100000, about 30 min)
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import redis

from analyst.service import Analyst
from broker.settings import Settings
from broker.store import Store
from broker.store.progress import replay
from broker.sweep_actions import plan_trials
from importance.config import RankingConfig
from sweeprank.stack import Stack, free_port, redis_command, wait_for_redis
from trials.specs import EpochMetrics, SweepSpec, TrialResult, TrialStatus

EPOCHS = 5
PAGE = 20
RUNNING = 10
NARROW = {"num_conv_layers": {"high": 2}, "epochs": {"high": EPOCHS}}


class Web:
    def __init__(self, port: int) -> None:
        self.port = port

    def get(self, path: str) -> tuple[float, int, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=600)
        start = time.perf_counter()
        conn.request("GET", path)
        response = conn.getresponse()
        body = response.read()
        elapsed = time.perf_counter() - start
        conn.close()
        # /api/health answers 503 while a service is down (here: no trainer); its body is what is measured.
        if response.status not in (200, 503):
            raise SystemExit(f"{path}: HTTP {response.status}: {body[:200]!r}")
        return elapsed, len(body), body

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


def build(store: Store, analyst: Analyst, n: int, rng: np.random.Generator) -> tuple[str, float]:
    """A sweep of n trials as trainers and the analyst write it, its last RUNNING trials still running (so it is
    active: health and the monitor look at it); the analyst's median seconds per result."""
    spec = SweepSpec.model_validate(
        {"owner": "bench", "name": f"scale-{n}", "datasets": ["digits"], "n_trials": n, "narrow": NARROW, "seed": 1}
    )
    sweep_id = store.sweeps.create(spec, plan_trials(spec))
    configs = store.sweeps.planned_configs(sweep_id)
    per_result = []
    for trial_id in range(n):
        config = configs[trial_id]
        store.trials.update(
            sweep_id, trial_id, status="running", worker="bench@host:1", started=time.time(), epochs=EPOCHS
        )
        if trial_id >= n - RUNNING:
            continue
        accuracy = float(np.clip(0.5 + 0.1 * np.log10(config["learning_rate"]) + rng.normal(0, 0.05), 0, 1))
        for epoch in range(1, EPOCHS + 1):
            store.results.record_epoch(
                EpochMetrics(
                    sweep_id=sweep_id,
                    trial_id=trial_id,
                    attempt=1,
                    epoch=epoch,
                    train_loss=1 / epoch,
                    val_accuracy=accuracy,
                    seconds=1.0,
                )
            )
        store.results.save(
            TrialResult(
                sweep_id=sweep_id,
                trial_id=trial_id,
                attempt=1,
                dataset="digits",
                config=config,
                status=TrialStatus.COMPLETED,
                test_accuracy=accuracy,
                best_val_accuracy=accuracy,
                final_train_loss=1 - accuracy,
                epochs_completed=EPOCHS,
                wall_time_s=5.0,
                worker="bench@host:1",
            )
        )
        start = time.perf_counter()
        while events := analyst.read_new(None):
            analyst.handle(events)
        per_result.append(time.perf_counter() - start)
    return sweep_id, statistics.median(per_result)


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
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        stack = Stack(log_dir=Path(tmp))
        port = free_port()
        (Path(tmp) / "redis").mkdir()
        stack.spawn("redis", redis_command(Path(tmp) / "redis", port, fsync="everysec"))
        url = f"redis://127.0.0.1:{port}/0"
        wait_for_redis(url)
        stack.env.update(SWEEPRANK_REDIS_URL=url)
        try:
            store = Store.from_url(url)
            client = redis.Redis.from_url(url, decode_responses=True)
            analyst = Analyst(store, _no_dispatch(url), RankingConfig(bootstrap=50), consumer="bench", batch=1)
            analyst.start()
            web_port = free_port()
            stack.start_web("127.0.0.1", web_port)
            web = Web(web_port)
            _wait_web(web, Path(tmp))
            for n in args.sizes:
                measure(store, client, analyst, web, n, args.repeat)
        finally:
            stack.stop()


def _no_dispatch(url: str) -> Any:
    from broker.celery_app import make_celery
    from broker.dispatcher import Dispatcher

    settings = Settings(redis_url=url)
    return Dispatcher(Store.from_url(url), make_celery(settings), settings, asks=False)


def _wait_web(web: Web, logs: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            web.get("/api/sweeps")
            return
        except (OSError, SystemExit):
            time.sleep(0.2)
    raise SystemExit("the web server did not start: " + "".join(p.read_text()[-2000:] for p in logs.glob("*.log")))


def measure(store: Store, client: redis.Redis, analyst: Analyst, web: Web, n: int, repeat: int) -> None:
    rng = np.random.default_rng(n)
    used = int(client.info("memory")["used_memory"])
    start = time.perf_counter()
    sweep_id, analyst_s = build(store, analyst, n, rng)
    built_s = time.perf_counter() - start
    bytes_per_trial = (int(client.info("memory")["used_memory"]) - used) / n
    base = f"/api/sweeps/{sweep_id}"
    late = max(0, n - 2 * PAGE)
    record = store.sweeps.get(sweep_id)
    print(
        f"\n== {n:,} trials (built in {built_s:.0f} s; analyst {analyst_s * 1000:.1f} ms per result, "
        f"one at a time; Redis {bytes_per_trial / 1024:.2f} KB per trial before any index)"
    )
    first_sort_s, _, _ = web.get(f"{base}/trials?sort=test_accuracy&order=desc&offset={late}&limit={PAGE}")
    web.get(f"{base}/trials?sort=learning_rate&offset={n // 2}&limit={PAGE}")
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
    print(f"first sort by a column (builds its index once): {first_sort_s * 1000:.0f} ms")
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
    index_bytes = sum(int(client.memory_usage(k) or 0) for k in client.scan_iter(f"sr:sweep:{sweep_id}:index:*"))
    print(f"running trials kept so the sweep is active: {len(store.trials.running_ids(sweep_id))}")
    print(f"two sorted columns' indexes: {index_bytes / n:.0f} bytes per trial")


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
    elapsed, size, _ = web.get(f"{base}/export?format=csv")
    print(f"export csv: {size / 1e6:.1f} MB, {n / elapsed:,.0f} rows/s (streamed a chunk of trials at a time)")


if __name__ == "__main__":
    sys.setrecursionlimit(10000)
    main()
