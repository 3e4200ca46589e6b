"""A slow, obviously-correct N-RReliefF (DESIGN.md section 3), kept only to check the fast code."""

from __future__ import annotations

import math

import numpy as np


def diff(x: float, z: float, is_cat: bool) -> float:
    return float(x != z) if is_cat else abs(x - z)


def textbook_weights(X: np.ndarray, y: np.ndarray, categorical: np.ndarray, k: int, sigma: float) -> np.ndarray:
    n, a = X.shape
    k_eff = min(k, n - 1)
    if n < 2 or y.max() == y.min():
        return np.zeros(a)
    tau_range = y.max() - y.min()
    d1 = [math.exp(-((r / sigma) ** 2)) for r in range(1, k_eff + 1)]
    d = [w / sum(d1) for w in d1]
    n_dc, n_da, n_dcda = 0.0, [0.0] * a, [0.0] * a
    for i in range(n):
        by_distance = []
        for j in range(n):
            if j != i:
                delta = 0.0
                for t in range(a):
                    delta += diff(X[i, t], X[j, t], bool(categorical[t]))
                by_distance.append((delta, j))  # tuples sort by distance, then index
        for rank, (_, j) in enumerate(sorted(by_distance)[:k_eff]):
            dc = abs(y[i] - y[j]) / tau_range
            n_dc += dc * d[rank]
            for t in range(a):
                da = diff(X[i, t], X[j, t], bool(categorical[t]))
                n_da[t] += da * d[rank]
                n_dcda[t] += dc * da * d[rank]
    weights = []
    for t in range(a):
        first = n_dcda[t] / n_dc if n_dc > 0 else 0.0
        second = (n_da[t] - n_dcda[t]) / (n - n_dc) if n - n_dc > 0 else 0.0
        weights.append(first - second)
    return np.array(weights)
