"""Collect the tune benchmark's input: a real random sweep of the cnn-paper space on digits.

Starts a real stack (redis-server on a free port, a CPU Celery trainer, the analyst), submits a
random sweep varying all 10 hyperparameters of cnn-paper (ranges narrowed by TUNE_NARROW so the
sweep fits in well under an hour on two CPU cores), waits for every trial to end, and writes one
row per trial: its config, status, test_accuracy and wall_time_s (the trainer-seconds of the
trial, as the trainer measured them). The analyst's last pooled ranking goes next to it as JSON.
Progress is printed about every 30 s.

Usage: python bench/collect_digits_sweep.py [--trials 2000] [--slots 2] [--seed 0]
                                            [--out bench/data/digits_random.csv]
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

from digits_stack import cpu_stack, ready_dispatcher

from broker.store import Store
from broker.sweep_actions import submit
from trials.presets import preset
from trials.specs import SweepSpec, TrialResult

# Every one of the 10 still varies; the caps keep a trial around a second on one CPU thread
# (4-block nets of 128 filters for 20 epochs would take minutes each).
TUNE_NARROW: dict[str, dict[str, object]] = {
    "num_filters": {"high": 32},
    "fc_units": {"high": 256},
    "epochs": {"high": 8},
}
PARAMS = preset("cnn-paper").names
COLUMNS = ["trial_id", *PARAMS, "status", "test_accuracy", "wall_time_s", "epochs_completed", "n_params"]
PROGRESS_EVERY_S = 30.0


def sweep_spec(n_trials: int, seed: int) -> SweepSpec:
    return SweepSpec(
        owner="bench",
        name="digits random (tune benchmark)",
        datasets=["digits"],
        n_trials=n_trials,
        narrow=TUNE_NARROW,
        sampler="random",
        seed=seed,
    )


def follow(store: Store, sweep_id: str, n_trials: int) -> None:
    """Print progress every PROGRESS_EVERY_S until the sweep has ended."""
    started = time.monotonic()
    last_print = started
    while not store.sweeps.status(sweep_id).final:
        time.sleep(1.0)
        now = time.monotonic()
        if now - last_print >= PROGRESS_EVERY_S:
            done = store.sweeps.get(sweep_id).n_final
            rate = done / (now - started)
            left = (n_trials - done) / rate if rate > 0 else float("nan")
            rankings = len(store.rankings.history(sweep_id))
            print(
                f"[{now - started:6.0f} s] {done}/{n_trials} trials ended ({rate:.2f}/s, ~{left / 60:.1f} min left),"
                f" {rankings} rankings stored",
                flush=True,
            )
            last_print = now
    print(f"sweep {store.sweeps.status(sweep_id).value} after {time.monotonic() - started:.0f} s", flush=True)


def write_csv(results: list[TrialResult], out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(COLUMNS)
        for r in sorted(results, key=lambda r: r.trial_id):
            accuracy = "" if r.test_accuracy is None else f"{r.test_accuracy:.6f}"
            writer.writerow(
                [
                    r.trial_id,
                    *(r.config[name] for name in PARAMS),
                    r.status.value,
                    accuracy,
                    f"{r.wall_time_s:.4f}",
                    r.epochs_completed,
                    "" if r.n_params is None else r.n_params,
                ]
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=2000)
    parser.add_argument("--slots", type=int, default=2, help="trainer processes (one torch thread each)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "data" / "digits_random.csv")
    args = parser.parse_args()
    with cpu_stack(slots=args.slots, bootstrap=50) as (stack, store, url):
        dispatcher = ready_dispatcher(store, url)
        sweep_id = submit(store, dispatcher, sweep_spec(args.trials, args.seed))
        print(f"sweep {sweep_id}: {args.trials} trials on {args.slots} CPU slots; narrow {TUNE_NARROW}", flush=True)
        follow(store, sweep_id, args.trials)
        results = store.results.in_arrival_order(sweep_id)
        write_csv(results, args.out)
        latest = store.rankings.latest(sweep_id)
        if latest is not None:
            args.out.with_suffix(".ranking.json").write_text(latest.pooled.model_dump_json(indent=1))
        print(f"wrote {len(results)} trials to {args.out}", flush=True)
        if stack.dead():
            print(f"note: these stack processes had died: {stack.dead()} (logs were in {stack.log_dir})", flush=True)


if __name__ == "__main__":
    main()
