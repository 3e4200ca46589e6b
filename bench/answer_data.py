"""The cases of bench_answer.py: synthetic metrics with exact shares, the digits sweep, the digits full grid.

Synthetic truth. Each function takes the encoded matrix (unit positions for numeric columns, codes for
categoricals, NaN where a conditional hyperparameter does not apply) and is noise-free; the observed
metric adds Gaussian noise. Its exact first-order share S_j = Var(E[f | x_j]) / Var f and total share
T_j = E[Var(f | x_-j)] / Var f come from Saltelli's and Jansen's pick-freeze estimators on 200,000
Monte Carlo pairs (error below 0.005). A hyperparameter the metric never reads has S = T = 0 exactly.

Grid truth. On a full factorial grid the seed-averaged metric f is known at every configuration, so the
shares are exact averages: S_j from the means over each level, T_j from the variance over j's levels
within each setting of the others, and the pairwise share of (i, j) from the cell means of the pair
minus both main effects.
"""

from __future__ import annotations

import csv
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
DATA = Path(__file__).parent / "data"


@dataclass(frozen=True)
class Case:
    """A metric over an encoded design: levels[j] is None for a float, else its number of codes."""

    name: str
    description: str
    names: tuple[str, ...]
    levels: tuple[int | None, ...]
    categorical: tuple[bool, ...]
    signal: Callable[[FloatArray], FloatArray] | None
    noise_share: float = 0.2
    conditional: dict[int, tuple[int, int]] = field(default_factory=dict)  # j -> (switch column, code it needs)

    def design(self, n: int, rng: np.random.Generator) -> FloatArray:
        X = np.empty((n, len(self.levels)))
        for j, L in enumerate(self.levels):
            if L is None:
                X[:, j] = rng.random(n)
            else:
                codes = rng.integers(0, L, n).astype(np.float64)
                X[:, j] = codes if self.categorical[j] else codes / (L - 1)
        for j, (switch, code) in self.conditional.items():
            X[X[:, switch] != code, j] = np.nan
        return X

    def sample(self, n: int, seed: int) -> tuple[FloatArray, FloatArray]:
        rng = np.random.default_rng([seed, n])
        X = self.design(n, rng)
        if self.signal is None:
            return X, rng.standard_normal(n)
        f = self.signal(X)
        sd = np.sqrt(self.variance * self.noise_share / (1 - self.noise_share))
        return X, f + sd * rng.standard_normal(n)

    @cached_property
    def _truth(self) -> tuple[FloatArray, FloatArray, float]:
        a = len(self.levels)
        if self.signal is None:
            return np.zeros(a), np.zeros(a), 1.0
        rng = np.random.default_rng(20261207)
        n = 200_000
        A, B = self.design(n, rng), self.design(n, rng)
        fA, fB = self.signal(A), self.signal(B)
        variance = float(np.var(np.concatenate([fA, fB])))
        main, total = np.zeros(a), np.zeros(a)
        for j in range(a):
            mixed = A.copy()
            mixed[:, j] = B[:, j]
            for k, (switch, code) in self.conditional.items():
                if switch == j:  # the switch moved: its branch's hyperparameter follows
                    mixed[:, k] = np.where(mixed[:, j] == code, B[:, k], np.nan)
            fm = self.signal(mixed)
            main[j] = np.mean(fB * (fm - fA)) / variance
            total[j] = 0.5 * np.mean((fA - fm) ** 2) / variance
        return np.clip(main, 0, None), np.clip(total, 0, None), variance

    @property
    def main(self) -> FloatArray:
        return self._truth[0]

    @property
    def total(self) -> FloatArray:
        return self._truth[1]

    @property
    def variance(self) -> float:
        return self._truth[2]


def _bell(u: FloatArray, centre: float, width: float) -> FloatArray:
    return np.exp(-(((u - centre) / width) ** 2))


def _u_cat(X: FloatArray) -> FloatArray:
    return 3 * (X[:, 0] - 0.3) ** 2 + np.array([0.0, 0.25, 0.1])[X[:, 1].astype(int)]


def _conditional(X: FloatArray) -> FloatArray:
    lr, opt, momentum = X[:, 0], X[:, 1], np.nan_to_num(X[:, 2], nan=0.5)
    sgd = opt == 0
    return np.where(sgd, 0.6 * _bell(lr, 0.7, 0.25) * (0.5 + 0.5 * momentum), 0.8 * _bell(lr, 0.4, 0.25))


def _divergent(X: FloatArray) -> FloatArray:
    # A validation loss: learning rates past 0.85 diverge to a loss 50x the rest; below, smooth effects.
    base = 1.0 + 0.5 * (X[:, 1] - 0.4) ** 2 + 0.3 * (X[:, 2] == 1) + 0.2 * X[:, 3] + 0.3 * (X[:, 0] - 0.5) ** 2
    return np.where(X[:, 0] > 0.85, 50.0, base)


def _interaction(X: FloatArray) -> FloatArray:
    return 4 * (X[:, 0] - 0.5) * (X[:, 1] - 0.5) + 0.5 * X[:, 2]


def _cnn_like(X: FloatArray) -> FloatArray:
    lr, layers, drop, opt, epochs, batch, fc, act = X.T
    best_lr = np.where(opt == 0, 0.75, 0.45)  # sgd wants a larger learning rate
    accuracy = 0.9 * _bell(lr, best_lr, 0.25) * (0.55 + 0.45 * layers) * (1 - 0.3 * drop**2)
    accuracy = accuracy * (0.7 + 0.3 * np.sqrt(epochs)) - 0.08 * batch + 0.02 * (act == 1) + 0.01 * fc
    return np.asarray(accuracy, dtype=np.float64)


def _lr_opt(X: FloatArray) -> FloatArray:
    return 0.45 + 0.4 * (X[:, 1] == 1) + 0.3 * _bell(X[:, 0], 0.6, 0.25) - 0.15


CASES: dict[str, Case] = {
    c.name: c
    for c in (
        Case(
            "u_cat",
            "U-shaped float 3(x-0.3)^2 plus a 3-level categorical offset, two unused",
            ("x", "opt", "unused_float", "unused_cat"),
            (None, 3, None, 3),
            (False, True, False, True),
            _u_cat,
            0.1,
        ),
        Case(
            "conditional",
            "lr x optimizer with momentum only under sgd (conditional), one unused",
            ("lr", "opt", "momentum", "unused"),
            (None, 2, None, None),
            (False, True, False, False),
            _conditional,
            0.1,
            {2: (1, 0)},
        ),
        Case(
            "divergent",
            "validation loss with divergent runs (lr > 0.85 gives 50x), heavy-tailed, one unused",
            ("lr", "wd", "opt", "depth", "unused"),
            (None, None, 3, 5, None),
            (False, False, True, False, False),
            _divergent,
            0.02,
        ),
        Case(
            "interaction",
            "a pair that interacts with no main effect (4(x1-.5)(x2-.5)), a main effect, two unused",
            ("x1", "x2", "x3", "unused_float", "unused_cat"),
            (None, None, None, None, 3),
            (False, False, False, False, True),
            _interaction,
        ),
        Case(
            "cnn_like",
            "8 CNN-like hyperparameters: lr x optimizer interaction, graded effects, one unused",
            ("lr", "layers", "dropout", "opt", "epochs", "batch", "fc", "act"),
            (None, 5, None, 3, 8, 5, None, 3),
            (False, False, False, True, False, False, False, True),
            _cnn_like,
            0.1,
        ),
        Case(
            "lr_opt",
            "log lr bell plus adam worth +0.40, four unused floats",
            ("lr", "opt", "u1", "u2", "u3", "u4"),
            (None, 2, None, None, None, None),
            (False, True, False, False, False, False),
            _lr_opt,
            0.1,
        ),
        Case(
            "noise",
            "pure noise over 5 hyperparameters",
            ("a", "b", "c", "d", "e"),
            (None, 3, None, 4, None),
            (False, True, False, True, False),
            None,
        ),
    )
}


# ---------------------------------------------------------------- the digits sweep and grid


def digits_sweep() -> tuple[list[str], list[dict[str, str]]]:
    """The committed 2,000-trial random digits sweep: its hyperparameter names and completed rows."""
    with (DATA / "digits_random.csv").open() as handle:
        rows = [r for r in csv.DictReader(handle) if r["status"] == "completed" and r["test_accuracy"]]
    names = [
        "num_conv_layers",
        "num_filters",
        "kernel_size",
        "activation",
        "fc_units",
        "dropout_rate",
        "learning_rate",
        "optimizer",
        "batch_size",
        "epochs",
    ]
    return names, rows


@dataclass(frozen=True)
class Grid:
    """A full factorial grid: codes (configs x a), replicate metrics (configs x seeds), the level names."""

    names: list[str]
    levels: list[list[str]]
    codes: npt.NDArray[np.intp]
    metric: FloatArray

    @property
    def mean(self) -> FloatArray:
        return np.asarray(self.metric.mean(axis=1), dtype=np.float64)

    def cube(self) -> FloatArray:
        shape = tuple(len(level) for level in self.levels)
        cube = np.full(shape, np.nan)
        cube[tuple(self.codes.T)] = self.mean
        return cube

    def exact(self) -> tuple[FloatArray, FloatArray, dict[tuple[int, int], float]]:
        """Exact main, total and pairwise shares of the seed-averaged metric."""
        cube = self.cube()
        variance = float(cube.var())
        a = cube.ndim
        main, total = np.zeros(a), np.zeros(a)
        for j in range(a):
            others = tuple(k for k in range(a) if k != j)
            main[j] = cube.mean(axis=others).var() / variance
            total[j] = cube.var(axis=j).mean() / variance
        pairs = {}
        for i, j in itertools.combinations(range(a), 2):
            others = tuple(k for k in range(a) if k not in (i, j))
            cells = cube.mean(axis=others)
            pairs[i, j] = float(cells.var() / variance - main[i] - main[j])
        return main, total, pairs

    def sample(self, n: int, seed: int) -> tuple[npt.NDArray[np.intp], FloatArray]:
        """A random sweep: n configurations drawn uniformly from the grid, one training seed each."""
        rng = np.random.default_rng(seed)
        rows = rng.integers(0, len(self.codes), n)
        replicate = rng.integers(0, self.metric.shape[1], n)
        return self.codes[rows], self.metric[rows, replicate]


def digits_grid() -> Grid | None:
    path = DATA / "digits_grid.csv"
    if not path.exists():
        return None
    with path.open() as handle:
        rows = [r for r in csv.DictReader(handle) if r["status"] == "completed" and r["test_accuracy"]]
    names = ["learning_rate", "optimizer", "num_conv_layers", "batch_size", "epochs"]
    levels = [sorted({r[n] for r in rows}, key=_sort_key) for n in names]
    by_config: dict[tuple[int, ...], list[float]] = {}
    for r in rows:
        key = tuple(levels[j].index(r[n]) for j, n in enumerate(names))
        by_config.setdefault(key, []).append(float(r["test_accuracy"]))
    seeds = min(len(v) for v in by_config.values())
    keys = sorted(by_config)
    codes = np.array(keys, dtype=np.intp)
    metric = np.array([by_config[k][:seeds] for k in keys])
    return Grid(names, levels, codes, metric)


def _sort_key(value: str) -> tuple[int, float | str]:
    try:
        return 0, float(value)
    except ValueError:
        return 1, value
