"""Collect a real full-factorial sweep on digits, through the product, as ground truth for bench_answer.py.

Starts a real stack (redis-server on a free port, a CPU Celery trainer, the analyst) and submits
GRID_SEEDS grid sweeps of the same 5 x 3-level space, each covering the whole grid once with its
own training seeds. On a full grid the exact variance decomposition of the seed-averaged metric
is a matter of averaging (bench_answer.py computes main, total and pairwise shares from it); a
random sweep is a draw of one seed per sampled configuration. Hyperparameters outside the grid
are held (`fixed`) at small values so a trial takes about a second on one CPU thread.

Usage: python bench/collect_digits_grid.py [--slots 2] [--out bench/data/digits_grid.csv]
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

from digits_stack import cpu_stack, ready_dispatcher

from broker.store import Store
from broker.sweep_actions import submit
from trials.specs import SweepSpec

# cnn-paper narrowed so that the grid sampler's 3 points per axis are: learning rate 3e-4, 3e-3, 3e-2 (its
# log range's ends and middle), 1-3 conv layers, 1-3 epochs, and three optimizers and batch sizes.
GRID: dict[str, dict[str, object]] = {
    "learning_rate": {"low": 0.0003, "high": 0.03},
    "optimizer": {"choices": ["sgd", "adam", "rmsprop"]},
    "num_conv_layers": {"low": 1, "high": 3},
    "batch_size": {"choices": [32, 128, 512]},
    "epochs": {"low": 1, "high": 3},
}
GRID_SIZE = 3**5
HELD = {"num_filters": 8, "kernel_size": 3, "activation": "relu", "fc_units": 32, "dropout_rate": 0.2}
GRID_SEEDS = 3
COLUMNS = ["replicate", "trial_id", *GRID, "status", "test_accuracy", "wall_time_s"]


def grid_spec(seed: int) -> SweepSpec:
    return SweepSpec(
        owner="bench",
        name=f"digits full grid, replicate {seed}",
        datasets=["digits"],
        narrow=GRID,
        fixed=HELD,
        n_trials=GRID_SIZE,
        sampler="grid",
        seed=seed,
    )


def wait_until_final(store: Store, sweep_ids: list[str]) -> None:
    started = time.monotonic()
    while not all(store.sweeps.status(s).final for s in sweep_ids):
        time.sleep(5.0)
        done = sum(store.sweeps.get(s).n_final for s in sweep_ids)
        print(f"[{time.monotonic() - started:6.0f} s] {done} trials ended", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--slots", type=int, default=2, help="trainer processes (one torch thread each)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "data" / "digits_grid.csv")
    args = parser.parse_args()
    with cpu_stack(slots=args.slots, bootstrap=20) as (_stack, store, url):
        dispatcher = ready_dispatcher(store, url)
        sweep_ids = [submit(store, dispatcher, grid_spec(seed)) for seed in range(GRID_SEEDS)]
        print(f"sweeps {sweep_ids}: the grid {list(GRID)} x {GRID_SEEDS} seeds", flush=True)
        wait_until_final(store, sweep_ids)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        with args.out.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(COLUMNS)
            for replicate, sweep_id in enumerate(sweep_ids):
                for r in sorted(store.results.in_arrival_order(sweep_id), key=lambda r: r.trial_id):
                    accuracy = "" if r.test_accuracy is None else f"{r.test_accuracy:.6f}"
                    config = [r.config[name] for name in GRID]
                    writer.writerow([replicate, r.trial_id, *config, r.status.value, accuracy, f"{r.wall_time_s:.4f}"])
        print(f"wrote {args.out}", flush=True)


if __name__ == "__main__":
    main()
