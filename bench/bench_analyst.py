"""The analyst on one large sweep: does it keep up with results arriving at a given rate, and at what cost per result?

Starts Redis on a kept snapshot of a sweep of N trials (bench/scale_sweep.py: built through the store calls, all but
its last few thousand trials finished and ranked) and the real analyst process (`sweeprank analyst`, the default
200 bootstrap replicates). It prints how long the analyst takes to start (it refits the sweep, which is still
running), then offers results through the store calls (`ResultStore.save`, as trainers store them; no epoch
records, which the analyst does not read) at --rate results/s for --seconds, then as fast as one writer can, then
stores a backlog of --backlog results while the analyst is stopped (SIGSTOP) and times how fast it drains it once
it runs again (SIGCONT): what it can rank per second whatever one writer here can offer.

  - ranked/s: results the analyst ranked per second of the phase, and its lag: how far the latest stored ranking
    was behind the results stored (results and seconds), at worst and at the end of the phase;
  - CPU per result: the analyst process's CPU seconds over the results it ranked (the machine's load does not
    inflate it as it inflates wall time);
  - publications: rankings stored in the phase (one per batch read: see analyst/service.py, READ_AT_MOST).

Usage: python bench/bench_analyst.py --snapshot DIR [--sizes 10000 100000] [--rate 200] [--seconds 10] [--backlog 2000]
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from digits_stack import wait
from scale_sweep import BuiltSweep, accuracy_of, result_of, snapshot_redis

from broker.store import Store
from sweeprank.stack import Stack

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


@dataclass
class Phase:
    name: str
    offered: int = 0
    ranked_from: int = 0
    ranked_to: int = 0
    seconds: float = 0.0
    worst_lag_results: int = 0
    worst_lag_s: float = 0.0
    end_lag_s: float = 0.0
    cpu_s: float = 0.0
    publications: int = 0

    def print(self) -> None:
        ranked = self.ranked_to - self.ranked_from
        print(
            f"{self.name:28} offered {self.offered / self.seconds:6.0f}/s  ranked {ranked / self.seconds:6.0f}/s  "
            f"lag worst {self.worst_lag_results:5} results / {self.worst_lag_s:5.1f} s, after the phase "
            f"{self.end_lag_s:4.1f} s  CPU {1000 * self.cpu_s / max(ranked, 1):5.2f} ms per result  "
            f"{self.publications} rankings"
        )


class Feeder:
    """Stores the sweep's remaining results, as trainers do, at a given rate (0: as fast as it can)."""

    def __init__(self, store: Store, built: BuiltSweep) -> None:
        self.store = store
        self.built = built
        self.configs = store.sweeps.planned_configs_of(built.sweep_id, list(range(built.n_results, built.n_trials)))
        self.next_trial = min(
            (t for t in self.configs if not store.results.is_final(built.sweep_id, t)), default=built.n_trials
        )
        self.rng = np.random.default_rng(1)
        self.stored_at: list[float] = []  # when the k-th result offered here was stored

    def run(self, rate: float, seconds: float, stop: threading.Event, at_most: int | None = None) -> int:
        started = time.monotonic()
        offered = 0
        while (
            time.monotonic() - started < seconds
            and self.next_trial < self.built.n_trials
            and not stop.is_set()
            and (at_most is None or offered < at_most)
        ):
            trial_id, self.next_trial = self.next_trial, self.next_trial + 1
            config = self.configs[trial_id]
            self.store.results.save(result_of(self.built.sweep_id, trial_id, config, accuracy_of(config, self.rng)))
            self.stored_at.append(time.monotonic())
            offered += 1
            if rate:
                time.sleep(max(0.0, started + offered / rate - time.monotonic()))
        return offered


def ranked(store: Store, sweep_id: str) -> int:
    latest = store.rankings.latest(sweep_id)
    return 0 if latest is None else latest.n_results


def phase(name: str, store: Store, built: BuiltSweep, feeder: Feeder, pid: int, rate: float, seconds: float) -> Phase:
    sweep_id = built.sweep_id
    result = Phase(name, ranked_from=ranked(store, sweep_id))
    seq, cpu = store.rankings.last_seq(sweep_id), cpu_s(pid)
    stop = threading.Event()
    offered: list[int] = []
    thread = threading.Thread(target=lambda: offered.append(feeder.run(rate, seconds, stop)))
    started = time.monotonic()
    thread.start()
    while thread.is_alive():
        time.sleep(0.2)
        now, stored = time.monotonic(), built.n_results + len(feeder.stored_at)
        behind = stored - ranked(store, sweep_id)
        result.worst_lag_results = max(result.worst_lag_results, behind)
        oldest = stored - behind - built.n_results  # the oldest result stored and not ranked yet, if any
        if behind > 0 and oldest >= 0:
            result.worst_lag_s = max(result.worst_lag_s, now - feeder.stored_at[oldest])
    thread.join()
    result.seconds = time.monotonic() - started
    result.offered = offered[0]
    stored = built.n_results + len(feeder.stored_at)
    wait(lambda: ranked(store, sweep_id) >= stored, 600, 0.05)
    result.end_lag_s = time.monotonic() - started - result.seconds
    result.ranked_to = ranked(store, sweep_id)
    result.cpu_s = cpu_s(pid) - cpu
    result.publications = store.rankings.last_seq(sweep_id) - seq
    return result


def drain(store: Store, built: BuiltSweep, feeder: Feeder, pid: int, backlog: int) -> None:
    """Store `backlog` results while the analyst is stopped, then time how fast it ranks them."""
    sweep_id = built.sweep_id
    seq = store.rankings.last_seq(sweep_id)
    os.kill(pid, signal.SIGSTOP)
    try:
        ranked_from = ranked(store, sweep_id)
        offered = feeder.run(0, 3600, threading.Event(), at_most=backlog)
    finally:
        os.kill(pid, signal.SIGCONT)
    cpu, started = cpu_s(pid), time.monotonic()
    stored = built.n_results + len(feeder.stored_at)
    wait(lambda: ranked(store, sweep_id) >= stored, 900, 0.05)
    seconds = time.monotonic() - started
    done = ranked(store, sweep_id) - ranked_from
    print(
        f"{'a backlog of ' + str(offered):28} drained in {seconds:.1f} s: ranked {done / seconds:6.0f}/s  "
        f"CPU {1000 * (cpu_s(pid) - cpu) / max(done, 1):5.2f} ms per result  "
        f"{store.rankings.last_seq(sweep_id) - seq} rankings"
    )


def measure(snapshot: Path, n: int, rate: float, seconds: float, backlog: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        stack = Stack(log_dir=Path(tmp))
        try:
            url, built = snapshot_redis(stack, snapshot, n, Path(tmp))
            store = Store.from_url(url)
            stack.env.update(SWEEPRANK_REDIS_URL=url)
            feeder = Feeder(store, built)
            started = time.monotonic()
            analyst = stack.spawn("analyst", [sys.executable, "-m", "sweeprank", "analyst"])
            # It refits the running sweep first; its first ranking after a new result says it is live.
            feeder.run(0, 0.01, threading.Event())
            wait(lambda: ranked(store, built.sweep_id) >= built.n_results + len(feeder.stored_at), 900, 0.05)
            ready_s = time.monotonic() - started
            print(
                f"\n== {built.n_trials:,} trials, {ranked(store, built.sweep_id):,} results: the analyst started, "
                f"refitted them and ranked a new result in {ready_s:.1f} s"
            )
            phase(f"{rate:g}/s for {seconds:g} s", store, built, feeder, analyst.pid, rate, seconds).print()
            phase("as fast as one writer", store, built, feeder, analyst.pid, 0, seconds).print()
            drain(store, built, feeder, analyst.pid, backlog)
        finally:
            stack.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--snapshot", type=Path, required=True, help="where the sweeps' Redis snapshots are kept")
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--rate", type=float, default=200.0, help="results offered per second")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each phase")
    parser.add_argument("--backlog", type=int, default=2000, help="results stored while the analyst is stopped")
    args = parser.parse_args()
    for n in args.sizes:
        measure(args.snapshot, n, args.rate, args.seconds, args.backlog)


if __name__ == "__main__":
    main()
