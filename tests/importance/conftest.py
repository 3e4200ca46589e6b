from __future__ import annotations

import itertools

import numpy as np
from hypothesis import strategies as st

from importance.nrrelieff import NRReliefF


@st.composite
def trial_sets(
    draw: st.DrawFn, max_n: int = 30, not_applicable: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Small spaces with coarse grids, so equal distances, duplicate configs and ties are common.

    With `not_applicable`, each column is N/A (NaN) in a drawn share of the trials, from none to all.
    """
    n = draw(st.integers(1, max_n))
    a = draw(st.integers(1, 4))
    categorical = np.array(draw(st.lists(st.booleans(), min_size=a, max_size=a)))
    levels = draw(st.sampled_from([2, 3, 5, 1000]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    X = rng.integers(0, levels, size=(n, a)).astype(float)
    X[:, ~categorical] /= levels - 1
    if not_applicable:
        shares = np.array(draw(st.lists(st.sampled_from([0.0, 0.3, 0.7, 1.0]), min_size=a, max_size=a)))
        X[rng.random((n, a)) < shares] = np.nan
    y_levels = draw(st.sampled_from([1, 3, 1000]))
    y = rng.integers(0, y_levels, size=n).astype(float) * draw(st.sampled_from([1.0, 0.37]))
    return X, y, categorical


def stream(estimator: NRReliefF, X: np.ndarray, y: np.ndarray, cuts: list[int]) -> NRReliefF:
    bounds = [0, *sorted(set(c % (len(y) + 1) for c in cuts)), len(y)]
    for start, stop in itertools.pairwise(bounds):
        estimator.partial_fit(X[start:stop], y[start:stop])
    return estimator
