"""A slow, obviously-correct N-RReliefF, kept only to check the fast code (docs/architecture.md).

Distances are exact integers on the grid of `importance.neighbours.grid_scale`
(Python ints, no float sums), so ties are ties and go to the lower index.
A NaN in X is "not applicable" (None here): diff 0 when both trials are N/A,
1 when exactly one is, the ordinary diff otherwise.
"""

from __future__ import annotations

import math

import numpy as np

from importance.neighbours import grid_scale


def textbook_weights(
    X: np.ndarray, y: np.ndarray, categorical: np.ndarray, k: int, sigma: float, block_size: int | None = None
) -> np.ndarray:
    n, a = X.shape
    if n < 2 or y.max() == y.min():
        return np.zeros(a)
    scale = grid_scale(a)
    grid: list[list[int | None]] = [
        [
            None if math.isnan(X[i, t]) else int(X[i, t]) if categorical[t] else int(np.rint(X[i, t] * scale))
            for t in range(a)
        ]
        for i in range(n)
    ]

    def grid_diff(i: int, j: int, t: int) -> int:
        """diff_t(i, j) in grid steps: one unit is `scale` steps."""
        p, q = grid[i][t], grid[j][t]
        if p is None or q is None:
            return 0 if p is None and q is None else int(scale)
        return int(scale) * (p != q) if categorical[t] else abs(p - q)

    def diff(i: int, j: int, t: int) -> float:
        return grid_diff(i, j, t) / scale

    def delta(i: int, j: int) -> int:
        return sum(grid_diff(i, j, t) for t in range(a))

    tau_range = y.max() - y.min()
    size = n if block_size is None else block_size
    n_dc, n_da, n_dcda = 0.0, [0.0] * a, [0.0] * a
    for start in range(0, n, size):
        members = range(start, min(start + size, n))
        k_block = k if block_size is None else min(k, max(5, int(k * len(members) / block_size + 0.5)))
        k_eff = min(k_block, len(members) - 1)
        if k_eff == 0:
            continue
        d1 = [math.exp(-((r / sigma) ** 2)) for r in range(1, k_eff + 1)]
        d = [w / sum(d1) for w in d1]
        for i in members:
            nearest = sorted((delta(i, j), j) for j in members if j != i)[:k_eff]  # by distance, then index
            for rank, (_, j) in enumerate(nearest):
                dc = abs(y[i] - y[j]) / tau_range
                n_dc += dc * d[rank]
                for t in range(a):
                    n_da[t] += diff(i, j, t) * d[rank]
                    n_dcda[t] += dc * diff(i, j, t) * d[rank]
    weights = []
    for t in range(a):
        first = n_dcda[t] / n_dc if n_dc > 0 else 0.0
        second = (n_da[t] - n_dcda[t]) / (n - n_dc) if n - n_dc > 0 else 0.0
        weights.append(first - second)
    return np.array(weights)
