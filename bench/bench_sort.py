"""The trials table sorted by any column, at any offset, on a kept large sweep: packed columns against the sorted
sets they replaced.

On a Redis holding a sweep kept by bench/scale_sweep.py, with `sweeprank web` (gunicorn at its defaults) in front:

1. A sweep kept by a version before packed columns has none: each column is built once from the stored results
   (`TrialIndex.ensure`, what such a sweep pays the first time it is sorted by that column); a sweep created now pays
   nothing, each result writes its cells. Prints that one-time cost, then the packed bytes per trial.
2. Before, in the same run and on the same data: the first sort by a column built a sorted set from every stored
   result (the code this replaced, kept here only), 9.4 s at 100k in the previous run.
3. Every sortable column, ascending and descending, at offsets 0, n/2 and the last page, over HTTP: median and
   max latency (the goal: <= 100 ms at any offset and sort order).
4. What each result now writes: the store's save of the sweep's unfinished trials with every column registered,
   against the same save with no column registered (before: a result joined only the indexes asked for so far).

Usage: python bench/bench_sort.py --snapshot DIR [--sizes 10000 100000] [--repeat 3]
"""

from __future__ import annotations

import statistics
import time
from typing import cast

import numpy as np
import redis
from bench_scale import Web, kept_sweep_served, kept_sweeps_parser
from scale_sweep import accuracy_of, result_of

from broker import keys
from broker.store import Store
from broker.store.trial_index import column_value, sort_key, table_columns
from trials.specs import TrialResult

PAGE = 20


def old_first_sort(client: redis.Redis, sweep_id: str, column: str) -> float:
    """Seconds the code before packed columns took to build one column's sorted set (into a scratch key)."""
    start = time.perf_counter()
    cursor, scratch = 0, f"bench:old-index:{column}"
    while True:
        cursor, batch = cast(tuple[int, dict[str, str]], client.hscan(keys.results(sweep_id), cursor, count=1000))
        members: dict[str | bytes, float] = {}
        for raw in batch.values():
            result = TrialResult.model_validate_json(raw)
            score, text = sort_key(column_value(result, column))
            members[f"s{text}\x00{result.trial_id:010d}" if text else f"{result.trial_id:010d}"] = score
        if members:
            client.zadd(scratch, members)
        if cursor == 0:
            break
    elapsed = time.perf_counter() - start
    client.delete(scratch)
    return elapsed


def measure(store: Store, client: redis.Redis, web: Web, sweep_id: str, repeat: int) -> None:
    record = store.sweeps.get(sweep_id)
    n = record.n_trials
    columns = [c for c in table_columns(record.config_names) if c != "trial_id"]
    registered = client.scard(keys.trial_index_ready(sweep_id))
    start = time.perf_counter()
    for column in columns:
        store.trial_index.ensure(record, column)
    built_s = time.perf_counter() - start
    if registered:
        print(f"columns registered with the sweep ({registered}): nothing to build")
    else:
        print(
            f"kept by a version before packed columns: {len(columns)} columns built once in {built_s:.1f} s "
            f"({built_s / len(columns) * 1000:.0f} ms per column; a sweep created now writes them with each result)"
        )
    packed = sum(int(client.memory_usage(k) or 0) for k in client.scan_iter(f"{keys.trial_index(sweep_id, '')}*"))
    print(f"packed columns: {len(columns)} + finals, {packed / n:.0f} bytes per trial in Redis")
    old_s = old_first_sort(client, sweep_id, "test_accuracy")
    print(f"before: first sort by test_accuracy built its sorted set in {old_s * 1000:.0f} ms")
    base = f"/api/sweeps/{sweep_id}/trials"
    times: dict[str, list[float]] = {}
    for column in columns:
        for order in ("asc", "desc"):
            for offset in (0, n // 2, n - PAGE):
                path = f"{base}?sort={column}&order={order}&offset={offset}&limit={PAGE}"
                times.setdefault(column, []).extend(web.get(path)[0] * 1000 for _ in range(repeat))
    every = [t for ts in times.values() for t in ts]
    slowest = max(times, key=lambda c: statistics.median(times[c]))
    print(
        f"sorted pages, {len(columns)} columns x asc/desc x offsets 0, n/2, last ({len(every)} requests): "
        f"median {statistics.median(every):.1f} ms, p90 {np.percentile(every, 90):.1f} ms, max {max(every):.1f} ms; "
        f"slowest column {slowest} (median {statistics.median(times[slowest]):.1f} ms)"
    )
    print(f"ratio, first sort before / median sorted page now: {old_s * 1000 / statistics.median(every):,.0f}x")
    save_cost(store, client, sweep_id)


def save_cost(store: Store, client: redis.Redis, sweep_id: str) -> None:
    """Mean ms per stored result with every column registered, then with none (alternating halves of the
    unfinished trials, so both see the same Redis)."""
    configs = store.sweeps.planned_configs(sweep_id)
    unfinished = [t for t in configs if not store.results.is_final(sweep_id, t)][:2000]
    rng = np.random.default_rng(0)
    columns = client.smembers(keys.trial_index_columns(sweep_id))
    spent = {"every column": 0.0, "no column": 0.0}
    for i, trial_id in enumerate(unfinished):
        kind = "every column" if i % 2 == 0 else "no column"
        if kind == "no column":
            client.delete(keys.trial_index_columns(sweep_id))
        result = result_of(sweep_id, trial_id, configs[trial_id], accuracy_of(configs[trial_id], rng))
        start = time.perf_counter()
        store.results.save(result)
        spent[kind] += time.perf_counter() - start
        if kind == "no column":
            client.sadd(keys.trial_index_columns(sweep_id), *cast(set[str], columns))
    half = max(1, len(unfinished) // 2)
    print(
        f"storing a result ({len(unfinished)} results): {spent['every column'] / half * 1000:.2f} ms with every "
        f"column written, {spent['no column'] / half * 1000:.2f} ms with none"
    )


def main() -> None:
    args = kept_sweeps_parser(__doc__).parse_args()
    for n in args.sizes:
        with kept_sweep_served(args.snapshot, n) as (url, built, web):
            print(f"\n== {n:,} trials ({built.n_results:,} finished)")
            client = redis.Redis.from_url(url, decode_responses=True)
            measure(Store.from_url(url), client, web, built.sweep_id, args.repeat)


if __name__ == "__main__":
    main()
