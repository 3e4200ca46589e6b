"""Export throughput and memory on a kept large sweep: rows/s of wall time, rows per CPU-second of the web server.

On a shared host wall time says how busy the host was as much as what the export costs; the web server's own CPU
seconds (its gunicorn workers', read from /proc) say what a row costs when the export has a core. For each format it
downloads the whole sweep from `sweeprank web` (gunicorn at its defaults) on a Redis holding a kept sweep
(bench/scale_sweep.py) and prints both, then each format's peak Python memory in this process (tracemalloc), which
must not grow with the sweep (compare sizes).

Usage: python bench/bench_export.py --snapshot DIR [--sizes 10000 100000]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from bench_scale import Web, _wait_web, export_memory
from scale_sweep import snapshot_redis

from broker.store import Store
from sweeprank.stack import Stack, free_port

TICKS = os.sysconf("SC_CLK_TCK")


def tree_cpu_s(pid: int) -> float:
    """CPU seconds of a process and its children (gunicorn's workers)."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            _, after = stat.read_text().rsplit(")", 1)
        except OSError:
            continue
        fields = after.split()
        if int(stat.parent.name) == pid or int(fields[1]) == pid:
            total += (int(fields[11]) + int(fields[12])) / TICKS
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--snapshot", type=Path, required=True, help="where the sweeps' Redis snapshots are kept")
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    args = parser.parse_args()
    for n in args.sizes:
        with tempfile.TemporaryDirectory() as tmp:
            stack = Stack(log_dir=Path(tmp))
            try:
                url, built = snapshot_redis(stack, args.snapshot, n, Path(tmp))
                stack.env.update(SWEEPRANK_REDIS_URL=url)
                web = Web(free_port())
                stack.start_web("127.0.0.1", web.port)
                _wait_web(web, Path(tmp))
                base = f"/api/sweeps/{built.sweep_id}"
                web.get(f"{base}/export?format=parquet&warm=1")  # each worker's first Parquet imports pyarrow
                web.get(f"{base}/export?format=parquet&warm=2")
                print(f"\n== {n:,} trials ({built.n_results:,} finished)")
                for fmt in ("csv", "json", "parquet"):
                    cpu, started = tree_cpu_s(stack.pids()["web"]), time.perf_counter()
                    _, size, _ = web.get(f"{base}/export?format={fmt}")
                    wall = time.perf_counter() - started
                    cpu = tree_cpu_s(stack.pids()["web"]) - cpu
                    print(
                        f"export {fmt:8} {size / 1e6:6.1f} MB  {n / wall:8,.0f} rows/s wall  "
                        f"{n / cpu:8,.0f} rows per CPU-second of the web server"
                    )
                export_memory(Store.from_url(url), built.sweep_id)
            finally:
                stack.stop()


if __name__ == "__main__":
    main()
