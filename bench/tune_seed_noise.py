"""How much a config's test accuracy moves with the training seed alone: the replay's noise.

The surrogate's hold-out residuals (MAE about 0.10) are mostly the model's own error, not what
a real repeat of a trial would change; drawn as replay noise, they drown the differences between
configs that tuning chases. So the benchmark measures seed noise directly: NCONFIGS configs of
the real sweep, spread over its accuracy range, each trained again with REPEATS new seeds by the
trainer's own code (tune_real.py), one row per run in bench/data/digits_seed_noise.csv.

Usage: python bench/tune_seed_noise.py [--configs 16] [--repeats 3]
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np
from tune_real import real_objective
from tune_surrogate import Observed, read_sweep

from trials.space import SearchSpace

HERE = Path(__file__).parent
NOISE_CSV = HERE / "data" / "digits_seed_noise.csv"


def spread(rows: list[Observed], n: int) -> list[int]:
    """Indices of n completed trials at evenly spaced ranks of test accuracy."""
    completed = sorted((r.test_accuracy, i) for i, r in enumerate(rows) if r.status == "completed")
    return [completed[round(k * (len(completed) - 1) / (n - 1))][1] for k in range(n)]


def measure(space: SearchSpace, rows: list[Observed], configs: int, repeats: int) -> None:
    NOISE_CSV.parent.mkdir(parents=True, exist_ok=True)
    with NOISE_CSV.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["row", "repeat", "sweep_accuracy", "test_accuracy"])
        for done, index in enumerate(spread(rows, configs)):
            accuracies = []
            for repeat in range(repeats):
                # A seed the sweep never used: each repeat is a fresh draw of initialisation and batches.
                accuracy, _ = real_objective(10_000 + repeat)(rows[index].config)
                accuracies.append(accuracy)
                writer.writerow([index, repeat, rows[index].test_accuracy, accuracy])
            print(
                f"{done + 1}/{configs}: sweep {rows[index].test_accuracy:.4f}, repeats {np.round(accuracies, 4)}",
                flush=True,
            )


def seed_noise(path: Path = NOISE_CSV) -> tuple[list[float], list[float]]:
    """(mean accuracy, seed standard deviation) per measured config, ordered by mean."""
    runs: dict[str, list[float]] = {}
    with path.open(newline="") as f:
        for row in csv.DictReader(f):
            runs.setdefault(row["row"], []).append(float(row["test_accuracy"]))
    pairs = sorted((float(np.mean(a)), float(np.std(a, ddof=1))) for a in runs.values() if len(a) > 1)
    return [m for m, _ in pairs], [s for _, s in pairs]


def main() -> None:
    from bench_tune import tune_space

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=HERE / "data" / "digits_random.csv")
    parser.add_argument("--configs", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    space = tune_space()
    measure(space, read_sweep(args.data, space), args.configs, args.repeats)
    means, sds = seed_noise()
    print(f"wrote {NOISE_CSV.relative_to(HERE.parent)}; seed sd by mean accuracy:")
    for mean, sd in zip(means, sds, strict=True):
        print(f"  {mean:.4f}  sd {sd:.4f}")


if __name__ == "__main__":
    main()
