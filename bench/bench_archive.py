"""Archive: what a finished sweep leaves in Redis once archived, what archiving costs, and reads from the archive
against the same reads from Redis (issue 19, item 5).

For each size it builds a finished sweep through the project's own store calls (bench/scale_sweep.py's `build`: the
trainer's shape, 5 epochs of metrics and one result per trial, written by concurrent writers and ranked by the real
analyst as it keeps up; here every trial finishes), reads the main routes of the sweep page from `sweeprank web`
(gunicorn at its defaults) while Redis holds the sweep, archives it (`Store.archive.archive`, what `sweeprank
archive` runs), and reads the same routes again, now served by the archive file. Printed side by side, from the
same run and data: Redis used_memory of the sweep before and after (after Redis freed the unlinked keys), archive
time and file size, and per route the median latency from Redis and from the archive, with their ratio; every
answer is checked to be the same from both.

With --snapshot DIR the sweep is instead the one bench/scale_sweep.py kept for that size (built and ranked once, all
but its last quarter, at most 5,000, finished): its unfinished trials are finished now through the same store calls
and ranked by the analyst as they arrive, so it completes, and then it is measured the same way.

Usage: python bench/bench_archive.py [--sizes 10000 100000] [--repeat 7] [--snapshot DIR]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import redis
from bench_scale import PAGE, Web, _wait_web
from scale_sweep import BuiltSweep, accuracy_of, build, no_dispatch, snapshot_redis, start_redis, train

from broker.store import Store
from sweeprank.stack import Stack, free_port

BOOTSTRAP = 50  # the build's analyst, as bench/scale_sweep.py's


def sweep_bytes(client: redis.Redis, sweep_id: str) -> int:
    """MEMORY USAGE summed over every key of the sweep."""
    return sum(int(client.memory_usage(k, samples=0) or 0) for k in client.scan_iter(f"sr:sweep:{sweep_id}*"))


def settled_used_memory(client: redis.Redis) -> int:
    """used_memory once Redis has freed what UNLINK handed to its background thread."""
    deadline = time.monotonic() + 120
    while int(client.info("memory").get("lazyfree_pending_objects", 0)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return int(client.info("memory")["used_memory"])


def routes(sweep_id: str, n: int) -> dict[str, str]:
    base = f"/api/sweeps/{sweep_id}"
    late = max(0, n - 2 * PAGE)
    return {
        "summary": f"{base}/summary",
        "trials first page": f"{base}/trials?limit={PAGE}",
        "trials by metric, late offset": f"{base}/trials?sort=test_accuracy&order=desc&offset={late}&limit={PAGE}",
        "trials by hyperparameter, mid": f"{base}/trials?sort=learning_rate&offset={n // 2}&limit={PAGE}",
        "one trial's metrics": f"{base}/trials/{n // 2}/metrics",
        "ranking (latest)": f"{base}/ranking",
        "rankings (trajectory)": f"{base}/rankings",
        "changes (page delta)": f"{base}/changes?n_final={n - 1}&ranking_seq=1&offset=0&limit={PAGE}",
        "sweep record": base,
        "comparison": f"{base}/comparison",
    }


def read_all(web: Web, paths: dict[str, str], repeat: int) -> tuple[dict[str, float], dict[str, bytes]]:
    medians, bodies = {}, {}
    for name, path in paths.items():
        medians[name] = web.median(path, repeat)[0]
        bodies[name] = web.get(path)[2]
    return medians, bodies


def export_rate(web: Web, sweep_id: str, n: int) -> tuple[float, bytes]:
    elapsed, _, body = web.get(f"/api/sweeps/{sweep_id}/export?format=csv")
    return n / elapsed, body


def comparable(name: str, body: bytes) -> object:
    """The answer without what differs between two reads of an unchanged sweep (the analyst's health is now's)."""
    found = json.loads(body)
    if name in ("summary", "changes (page delta)"):
        summary = found if name == "summary" else found["summary"]
        summary.pop("ranking_paused", None)
    return found


def finish_kept(store: Store, url: str, built: BuiltSweep) -> BuiltSweep:
    """Finish the kept sweep's unfinished trials as trainers do, ranked by the analyst as they arrive (a sweep is
    archived once its analyst has caught up), so it completes."""
    from analyst.service import Analyst
    from importance.config import RankingConfig

    start = time.perf_counter()
    analyst = Analyst(store, no_dispatch(url), RankingConfig(bootstrap=BOOTSTRAP), consumer="build")
    analyst.start()
    configs = store.sweeps.planned_configs(built.sweep_id)
    rng = np.random.default_rng(0)
    for trial_id in range(built.n_trials):
        if not store.results.is_final(built.sweep_id, trial_id):
            train(store, built.sweep_id, trial_id, configs[trial_id], accuracy_of(configs[trial_id], rng))
    while events := analyst.read_new(1000):
        analyst.handle(events)
    return BuiltSweep(built.sweep_id, built.n_trials, built.n_trials, built.build_s + time.perf_counter() - start)


def measure(store: Store, client: redis.Redis, web: Web, built: BuiltSweep, repeat: int) -> None:
    sweep_id, n = built.sweep_id, built.n_trials
    record = store.sweeps.get(sweep_id)
    assert record.status.final, record.status
    paths = routes(sweep_id, n)
    for path in paths.values():  # the sorted columns' indexes are built at their first read: not measured
        web.get(path)
    live_ms, live_bodies = read_all(web, paths, repeat)
    live_rate, live_csv = export_rate(web, sweep_id, n)
    used_live = settled_used_memory(client)
    bytes_live = sweep_bytes(client, sweep_id)

    start = time.perf_counter()
    done = store.archive.archive(sweep_id)
    archive_s = time.perf_counter() - start
    used_after = settled_used_memory(client)
    bytes_after = sweep_bytes(client, sweep_id)

    archived_ms, archived_bodies = read_all(web, paths, repeat)
    archived_rate, archived_csv = export_rate(web, sweep_id, n)
    same = [name for name in paths if comparable(name, live_bodies[name]) == comparable(name, archived_bodies[name])]

    print(f"\n== {n:,} trials, finished (built and ranked in {built.build_s:.0f} s)")
    print(f"Redis, the sweep's keys (MEMORY USAGE): {bytes_live / 1e6:9.2f} MB live -> {bytes_after / 1e3:.1f} KB")
    print(
        f"Redis used_memory:                      {used_live / 1e6:9.2f} MB -> {used_after / 1e6:.2f} MB "
        f"({(used_live - used_after) / 1e6:.2f} MB given back)"
    )
    print(
        f"archive: {archive_s:.1f} s ({n / archive_s:,.0f} trials/s), file {done.bytes / 1e6:.1f} MB "
        f"({done.bytes / n:,.0f} bytes per trial; {done.rows['metrics']:,} epochs, {done.rows['sorted']:,} sort rows)"
    )
    print(f"{'route':32} {'Redis ms':>9} {'archive ms':>11} {'archive/Redis':>14}  same answer")
    for name in paths:
        print(
            f"{name:32} {live_ms[name]:9.1f} {archived_ms[name]:11.1f} {archived_ms[name] / live_ms[name]:13.2f}x  "
            f"{'yes' if name in same else 'NO'}"
        )
    print(
        f"export csv: {live_rate:,.0f} rows/s from Redis, {archived_rate:,.0f} rows/s from the archive "
        f"(same file: {'yes' if live_csv == archived_csv else 'NO'})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10000])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--snapshot", type=Path, help="where bench/scale_sweep.py keeps its sweeps (default: build)")
    args = parser.parse_args()
    for n in args.sizes:
        with tempfile.TemporaryDirectory() as tmp:
            stack = Stack(log_dir=Path(tmp))
            archive_dir = Path(tmp) / "archive"
            try:
                if args.snapshot:
                    url, kept = snapshot_redis(stack, args.snapshot, n, Path(tmp))
                else:
                    url = start_redis(stack, Path(tmp) / "redis")
                stack.env.update(SWEEPRANK_REDIS_URL=url, SWEEPRANK_ARCHIVE_DIR=str(archive_dir))
                store = Store.from_url(url, archive_dir=archive_dir)
                client = redis.Redis.from_url(url, decode_responses=True)
                web_port = free_port()
                stack.start_web("127.0.0.1", web_port)
                web = Web(web_port)
                _wait_web(web, Path(tmp))
                # Every trial finished: the sweep completes.
                built = finish_kept(store, url, kept) if args.snapshot else build(url, n, 0, 0, BOOTSTRAP)
                measure(store, client, web, built, args.repeat)
            finally:
                stack.stop()


if __name__ == "__main__":
    sys.setrecursionlimit(10000)
    main()
