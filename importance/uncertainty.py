"""Poisson bootstrap over reference trials, and the read-outs built on it.

Each reference trial i gets one Poisson(1) weight per replicate b. The weights
are drawn from a counter-based stream (Philox keyed by the seed) at positions
that depend only on (i, b), so the weights of trial i depend only on
(random_state, i): a stream of `partial_fit` calls and one `fit` draw the same
weights, and each replicate total can be kept up to date by difference.

Neighbour lists are not resampled: a replicate re-weights the references'
contributions, which is what keeps the bootstrap O(B) per changed reference.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]

_LANES = 4  # Philox emits 4 x 64-bit words per counter step.
_DECIMALS = 12
_MAX_POISSON = 32  # P(Poisson(1) > 32) < 1e-35: the table is exact for our purposes.
_DIRECT = 6  # thresholds compared one by one; P(Poisson(1) >= 6) < 6e-4


def _poisson1_cdf() -> FloatArray:
    terms = [math.exp(-1.0) / math.factorial(k) for k in range(_MAX_POISSON)]
    return np.cumsum(terms)


_CDF = _poisson1_cdf()
# The same thresholds on the raw 64-bit words: u = (raw >> 11) * 2**-53 >= c exactly when
# raw >= ceil(c * 2**53) << 11, so comparing integers skips the float conversion and
# gives identical weights. Thresholds of 2**64 or more can never be met and are left out.
_RAW_THRESHOLDS = np.array([t for c in _CDF if (t := math.ceil(c * 2.0**53) << 11) < 2**64], dtype=np.uint64)


def _stride(n_bootstrap: int) -> int:
    return -(-n_bootstrap // _LANES) * _LANES


def poisson_weights(random_state: int, start: int, stop: int, n_bootstrap: int) -> npt.NDArray[np.uint8]:
    """Replicate weights of trials start..stop-1, shape (stop - start, n_bootstrap)."""
    count = stop - start
    if count <= 0 or n_bootstrap <= 0:
        return np.zeros((max(count, 0), max(n_bootstrap, 0)), dtype=np.uint8)
    stride = _stride(n_bootstrap)
    generator = np.random.Philox(key=random_state)
    generator.advance(start * stride // _LANES)
    raw = generator.random_raw(count * stride).reshape(count, stride)[:, :n_bootstrap]
    # Counting thresholds passed is the inverse CDF; the first few cover all but ~1e-5 of the
    # draws and are 4x cheaper than a binary search, which is kept for the rare tail.
    weights = np.zeros(raw.shape, dtype=np.uint8)
    for threshold in _RAW_THRESHOLDS[:_DIRECT]:
        weights += raw >= threshold
    tail = weights == _DIRECT
    if tail.any():
        weights[tail] = np.searchsorted(_RAW_THRESHOLDS, raw[tail], side="right").astype(np.uint8)
    return weights


def normalise(raw_weights: FloatArray) -> FloatArray:
    """max(W, 0) / sum over the last axis; all zeros where no W is positive."""
    positive = np.maximum(raw_weights, 0.0)
    total = positive.sum(axis=-1, keepdims=True)
    safe = np.where(total > 0.0, total, 1.0)
    return np.where(total > 0.0, positive / safe, 0.0)


def rank_order(importances: FloatArray, raw_weights: FloatArray) -> IntArray:
    """Indices best first along the last axis: by importance, then raw W, then index.

    Raw W breaks ties among the zero importances so every hyperparameter gets a
    definite place; the stable sort leaves ties in column order. Values are
    compared at 12 decimals so that an exact tie (two symmetric columns) is not
    split by the last-bit rounding of streamed sums.
    """
    return np.lexsort((-np.round(raw_weights, _DECIMALS), -np.round(importances, _DECIMALS)), axis=-1).astype(np.intp)


def rank_probability(point_order: IntArray, replicate_orders: IntArray) -> FloatArray:
    """Share of replicates that put each hyperparameter at its point-estimate rank."""
    n_features = point_order.shape[-1]
    if replicate_orders.shape[0] == 0:
        return np.full(n_features, np.nan)
    same = replicate_orders == point_order[None, :]
    prob = np.zeros(n_features)
    prob[point_order] = same.mean(axis=0)
    return prob


def percentile_interval(replicates: FloatArray, level: float = 0.95) -> tuple[FloatArray, FloatArray]:
    """Percentile bootstrap interval per column of (B, a) replicates."""
    if replicates.shape[0] == 0:
        nan = np.full(replicates.shape[-1], np.nan)
        return nan, nan.copy()
    tail = 100.0 * (1.0 - level) / 2.0
    low, high = np.percentile(replicates, [tail, 100.0 - tail], axis=0)
    return np.asarray(low, dtype=np.float64), np.asarray(high, dtype=np.float64)
