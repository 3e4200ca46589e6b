from __future__ import annotations

import itertools

import numpy as np
from hypothesis import strategies as st

from importance.nrrelieff import NRReliefF


@st.composite
def trial_sets(draw: st.DrawFn, max_n: int = 30) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Small spaces with coarse grids, so equal distances, duplicate configs and ties are common."""
    n = draw(st.integers(1, max_n))
    a = draw(st.integers(1, 4))
    categorical = np.array(draw(st.lists(st.booleans(), min_size=a, max_size=a)))
    levels = draw(st.sampled_from([2, 3, 5, 1000]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    X = rng.integers(0, levels, size=(n, a)).astype(float)
    X[:, ~categorical] /= levels - 1
    y_levels = draw(st.sampled_from([1, 3, 1000]))
    y = rng.integers(0, y_levels, size=n).astype(float) * draw(st.sampled_from([1.0, 0.37]))
    return X, y, categorical


def stream(estimator: NRReliefF, X: np.ndarray, y: np.ndarray, cuts: list[int]) -> NRReliefF:
    bounds = [0, *sorted(set(c % (len(y) + 1) for c in cuts)), len(y)]
    for start, stop in itertools.pairwise(bounds):
        estimator.partial_fit(X[start:stop], y[start:stop])
    return estimator
