"""Export throughput and memory on a kept large sweep: rows/s of wall time, rows per CPU-second of the web server
and of Redis, peak memory, and the export before this version against it in the same run.

On a shared host wall time says how busy the host was as much as what the export costs; the web server's own CPU
seconds (its gunicorn workers', read from /proc) and Redis's (INFO cpu) say what a row costs when the export has a
core. For each size and format:

- over HTTP: the whole sweep downloaded from `sweeprank web` (gunicorn at its defaults) on a Redis holding a kept
  sweep (bench/scale_sweep.py), best and median of `--repeat` runs, and the web workers' peak resident memory
  (VmHWM) before and after all the exports;
- in this process, on the same Redis: the export before this version (bench/export_before.py: `json` parsing and
  writing, `csv.writer`, no read-ahead) against the product's, CPU and wall of this process (the read-ahead thread
  included), whether they write the same CSV bytes, Parquet table and JSON values, and each one's peak Python memory
  (tracemalloc), which must not grow with the sweep (compare sizes).

Usage: python bench/bench_export.py --snapshot DIR [--sizes 10000 100000] [--repeat 3]
"""

from __future__ import annotations

import io
import json
import os
import statistics
import time
import tracemalloc
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import export_before
import pyarrow.parquet as pq
import redis
from bench_scale import Web, kept_sweep_served, kept_sweeps_parser

from broker.store import Store
from trials.records import SweepRecord
from webui.export import csv_chunks, export_rows, json_chunks, parquet_chunks, trial_columns

TICKS = os.sysconf("SC_CLK_TCK")
FORMATS = ("csv", "json", "parquet")
Pieces = Iterable[str] | Iterable[bytes]


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


def workers_peak_mb(pid: int) -> list[float]:
    """Peak resident memory (VmHWM) of each child of `pid` (the gunicorn workers), MB."""
    peaks = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":", 1) for line in status.read_text().splitlines() if ":" in line)
        except OSError:
            continue
        if int(fields["PPid"]) == pid and "VmHWM" in fields:
            peaks.append(int(fields["VmHWM"].split()[0]) / 1024)
    return sorted(peaks)


def redis_cpu_s(client: redis.Redis) -> float:
    info = client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def quiet(client: redis.Redis) -> None:
    """Wait for the AOF rewrite that loading the snapshot started: it would take a core from the first exports."""
    while True:
        persistence = client.info("persistence")
        if not persistence["aof_rewrite_in_progress"] and not persistence["aof_rewrite_scheduled"]:
            return
        time.sleep(0.5)


def over_http(web: Web, web_pid: int, client: redis.Redis, base: str, n: int, repeat: int) -> None:
    print(f"over HTTP (sweeprank web at its defaults), best and median of {repeat}:")
    for fmt in FORMATS:
        walls, web_cpu, redis_cpu, size = [], [], [], 0
        for _ in range(repeat):
            cpu, in_redis, started = tree_cpu_s(web_pid), redis_cpu_s(client), time.perf_counter()
            _, size, _ = web.get(f"{base}/export?format={fmt}")
            walls.append(time.perf_counter() - started)
            web_cpu.append(tree_cpu_s(web_pid) - cpu)
            redis_cpu.append(redis_cpu_s(client) - in_redis)
        print(
            f"  export {fmt:8} {size / 1e6:6.1f} MB  {n / min(walls):8,.0f} rows/s wall "
            f"(median {n / statistics.median(walls):8,.0f})  {n / statistics.median(web_cpu):8,.0f} rows per "
            f"web CPU-second  {n / statistics.median(redis_cpu):9,.0f} rows per Redis CPU-second"
        )


def writers(store: Store, url: str, record: SweepRecord) -> dict[str, dict[str, Callable[[], Pieces]]]:
    """Each format's pieces, written before this version and now."""
    columns = trial_columns(record)
    decoding = redis.Redis.from_url(url, decode_responses=True)

    def before() -> Iterator[export_before.Rows]:
        return export_before.export_rows(decoding, record)

    return {
        "csv": {
            "before": lambda: export_before.csv_chunks(columns, before()),
            "now": lambda: csv_chunks(columns, export_rows(store, record)),
        },
        "json": {
            "before": lambda: export_before.json_chunks(columns, before()),
            "now": lambda: json_chunks(columns, export_rows(store, record)),
        },
        "parquet": {
            "before": lambda: export_before.parquet_pieces(record, columns, before()),
            "now": lambda: parquet_chunks(record, columns, export_rows(store, record)),
        },
    }


def written(pieces: Pieces) -> bytes:
    return b"".join(p if isinstance(p, bytes) else p.encode() for p in pieces)


def same(fmt: str, before: bytes, now: bytes) -> str:
    if fmt == "csv":
        return "same bytes" if before == now else "DIFFERENT BYTES"
    if fmt == "json":
        # Compact separators and UTF-8 now: the same values, not the same bytes.
        return "same values" if json.loads(before) == json.loads(now) else "DIFFERENT VALUES"
    return "same table" if pq.read_table(io.BytesIO(before)).equals(pq.read_table(io.BytesIO(now))) else "DIFFERENT"


def in_process(store: Store, url: str, record: SweepRecord, repeat: int) -> None:
    n = record.n_trials
    client = redis.Redis.from_url(url)
    print(f"in this process, before this version -> now (best of {repeat}; CPU of the whole process, and Redis's):")
    for fmt, ways in writers(store, url, record).items():
        figures: dict[str, tuple[float, float, float, float]] = {}
        kept = b""
        for way, pieces in ways.items():
            walls, cpus, in_redis = [], [], []
            for _ in range(repeat):
                cpu, redis_cpu, started = time.process_time(), redis_cpu_s(client), time.perf_counter()
                out = written(pieces())
                walls.append(time.perf_counter() - started)
                cpus.append(time.process_time() - cpu)
                in_redis.append(redis_cpu_s(client) - redis_cpu)
            tracemalloc.start()
            for _ in pieces():
                pass
            peak = tracemalloc.get_traced_memory()[1] / 1e6
            tracemalloc.stop()
            figures[way] = (n / min(walls), n / min(cpus), n / min(in_redis), peak)
            if way == "before":
                kept = out
        (wall0, cpu0, redis0, peak0), (wall1, cpu1, redis1, peak1) = figures["before"], figures["now"]
        print(
            f"  {fmt:8} wall {wall0:7,.0f} -> {wall1:7,.0f} rows/s (x{wall1 / wall0:.2f})  "
            f"CPU {cpu0:7,.0f} -> {cpu1:7,.0f} rows per CPU-second (x{cpu1 / cpu0:.2f})  "
            f"Redis {redis0:7,.0f} -> {redis1:7,.0f} rows per CPU-second (x{redis1 / redis0:.2f})  "
            f"peak Python memory {peak0:4.1f} -> {peak1:4.1f} MB  {same(fmt, kept, out)}"
        )


def main() -> None:
    args = kept_sweeps_parser(__doc__).parse_args()
    for n in args.sizes:
        with kept_sweep_served(args.snapshot, n) as (url, built, web):
            assert web.stack is not None
            client = redis.Redis.from_url(url)
            quiet(client)
            base = f"/api/sweeps/{built.sweep_id}"
            web_pid = web.stack.pids()["web"]
            peaks = {"started": workers_peak_mb(web_pid)}
            web.get(f"{base}/export?format=parquet&warm=1")  # each worker's first Parquet imports pyarrow
            web.get(f"{base}/export?format=parquet&warm=2")
            peaks["after one Parquet export each"] = workers_peak_mb(web_pid)
            print(f"\n== {n:,} trials ({built.n_results:,} finished)")
            over_http(web, web_pid, client, base, n, args.repeat)
            peaks["after all the exports"] = workers_peak_mb(web_pid)
            print(
                "  web workers' peak resident memory (VmHWM, MB): "
                + "; ".join(f"{when} {', '.join(f'{mb:.0f}' for mb in mb_each)}" for when, mb_each in peaks.items())
            )
            store = Store.from_url(url)
            in_process(store, url, store.sweeps.get(built.sweep_id), args.repeat)


if __name__ == "__main__":
    main()
