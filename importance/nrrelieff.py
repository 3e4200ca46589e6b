"""N-RReliefF hyperparameter importance, batch and incremental.

References
----------
- M. Robnik-Šikonja and I. Kononenko (2003), "Theoretical and empirical
  analysis of ReliefF and RReliefF", Machine Learning 53:23-69 (RReliefF: the
  N_dC, N_dA, N_dCdA sums and the weight formula).
- X. Sun, Y. Lin, et al. (2019), N-RReliefF: RReliefF weights clipped at zero
  and normalised to sum 1, used to rank hyperparameters.
- R. Wang, I. Nabney, M. Golbabaee, "Efficient hyperparameter importance
  assessment for CNNs", arXiv 2410.08920 (N-RReliefF on >10,000 CNNs).

Our choices (DESIGN.md section 3; the papers do not print one formula)
----------------------------------------------------------------------
- Inputs are already encoded: numeric/ordinal columns hold unit positions on
  the DECLARED range, diff = |u_i - u_j|; categorical columns hold integer codes,
  diff = 0 if equal else 1. Nothing is rescaled by observed min/max, so adding
  trials never changes earlier diffs.
- delta(i, j) = sum of diffs, accumulated in float64 in column order. Every
  code path (batch, incremental, the textbook loop in the tests) adds in that
  same order, so all of them see bit-identical distances and the same ties.
- Every trial is a reference (m = n). Its k_eff = min(k, n - 1) nearest other
  trials by delta, ties broken by arrival order (lower index first).
- Rank weights d1 = exp(-(rank / sigma)^2), rank = 1..k_eff, normalised to 1.
- Sums of |tau_i - tau_j| are kept unnormalised and divided by (tau_max -
  tau_min) at read-out, so a new extreme metric value stays exact.
- W[A] = N_dCdA / N_dC - (N_dA - N_dCdA) / (m - N_dC); a term whose denominator
  is 0 is taken as 0. I[A] = max(W[A], 0) / sum_B max(W[B], 0).

Incremental updates keep, per reference, its sorted neighbour list and its
contribution vector [C, A..., CA...]; totals (and the bootstrap replicate
totals, see `importance.uncertainty`) change by (new - old) of the references
whose list a new trial enters. State is O(n k + n B), never n x n.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import chain
from typing import Literal

import numpy as np
import numpy.typing as npt

from importance.uncertainty import (
    normalise,
    percentile_interval,
    poisson_weights,
    rank_order,
    rank_probability,
)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]
BoolArray = npt.NDArray[np.bool_]
KnnMethod = Literal["auto", "brute", "kdtree"]

_BLOCK_ELEMENTS = 1 << 18  # distance block of ~2 MiB: stays in cache while summed
_KDTREE_MIN_N = 3000  # below this brute force is as fast and simpler
_KDTREE_PAD = 8  # extra candidates asked of the tree so boundary ties are usually covered
_ZERO = 1e-12  # |W| below this is rounding noise (W is a difference of two ratios in [0, 1])
_SLACK = 1e-9  # far above the rounding gap between the tree's and our float sums
_GROUP_MAX = 64  # more categorical combinations than this: the group-pair loop costs more than it saves
_GROUP_SMALL_SHARE = 0.05  # at most this share of trials in groups too small to bound their k-th distance
_LEAFSIZE = 32
_GROUP_PAD = 4  # extra own-group candidates; rows with boundary ties are asked again
_CHUNK_ROWS = 8192  # bounds the (rows, candidates, attributes) re-check arrays

MSG_TOO_FEW = "need at least 2 trials to rank hyperparameters"
MSG_CONSTANT = "the metric is constant over the ranked trials: no hyperparameter can be ranked"
MSG_NO_SIGNAL = "every raw weight W <= 0: no hyperparameter explains the metric better than noise"


# ---------------------------------------------------------------- distances


def pair_delta(A: FloatArray, B: FloatArray, categorical: BoolArray) -> FloatArray:
    """delta between broadcast rows of A and B (last axis = attributes), summed in column order."""
    total: FloatArray | None = None
    for a, is_cat in enumerate(categorical):
        diff = (A[..., a] != B[..., a]).astype(np.float64) if is_cat else np.abs(A[..., a] - B[..., a])
        total = diff if total is None else np.add(total, diff, out=total)
    assert total is not None
    return total


def _block_delta(X: FloatArray, rows: IntArray, categorical: BoolArray) -> FloatArray:
    """delta(rows, all) with in-place ops; same additions, same order as `pair_delta`."""
    D = np.empty((len(rows), X.shape[0]))
    tmp = np.empty_like(D)
    for a, is_cat in enumerate(categorical):
        target = D if a == 0 else tmp
        column, own = X[:, a], X[rows, a][:, None]
        if is_cat:
            np.not_equal(own, column[None, :], out=target)  # bool -> 0.0/1.0 exactly
        else:
            np.subtract(own, column[None, :], out=target)
            np.abs(target, out=target)
        if a:
            D += tmp
    return D


def _select_sorted(D: FloatArray, k_eff: int) -> tuple[IntArray, FloatArray]:
    """k_eff smallest per row of D ordered by (distance, column index), exactly.

    argpartition does not break ties by index, so rows holding more entries
    equal to the k-th value than fit are redone from all entries <= that value.
    """
    rows = np.arange(D.shape[0])
    part = np.argpartition(D, k_eff - 1, axis=1)[:, :k_eff]
    kth = D[rows[:, None], part].max(axis=1)
    crowded = np.flatnonzero((kth[:, None] >= D).sum(axis=1) > k_eff)
    for r in crowded:
        candidates = np.flatnonzero(D[r] <= kth[r])  # ascending index
        part[r] = candidates[np.argsort(D[r, candidates], kind="stable")[:k_eff]]
    dist = D[rows[:, None], part]
    order = np.lexsort((part, dist), axis=1)
    return np.take_along_axis(part, order, axis=1).astype(np.intp), np.take_along_axis(dist, order, axis=1)


def _knn_brute(X: FloatArray, categorical: BoolArray, rows: IntArray, k_eff: int) -> tuple[IntArray, FloatArray]:
    n = X.shape[0]
    step = max(1, _BLOCK_ELEMENTS // max(n, 1))
    idx = np.empty((len(rows), k_eff), dtype=np.intp)
    dist = np.empty((len(rows), k_eff))
    for start in range(0, len(rows), step):
        block = rows[start : start + step]
        D = _block_delta(X, block, categorical)
        D[np.arange(len(block)), block] = np.inf  # a trial is not its own neighbour
        idx[start : start + step], dist[start : start + step] = _select_sorted(D, k_eff)
    return idx, dist


def _embed(X: FloatArray, categorical: BoolArray) -> FloatArray:
    """Columns whose L1 distance is delta: categorical codes become one-hot x 0.5."""
    columns = []
    for a, is_cat in enumerate(categorical):
        if is_cat:
            codes = np.unique(X[:, a], return_inverse=True)[1].reshape(-1)
            columns.append(0.5 * (codes[:, None] == np.arange(codes.max() + 1)[None, :]))
        else:
            columns.append(X[:, a : a + 1])
    return np.hstack(columns)


def _knn_kdtree(X: FloatArray, categorical: BoolArray, k_eff: int) -> tuple[IntArray, FloatArray]:
    """Tree candidates, exact re-check, brute force for rows the candidates may not cover.

    The tree sums the same terms in another order, so its distances are only
    close to delta. A row is exact when its furthest candidate is beyond the
    exact k-th distance by more than the rounding slack: no trial outside the
    candidates can then reach or tie the k-th place.
    """
    from scipy.spatial import cKDTree

    n = X.shape[0]
    n_query = min(k_eff + 1 + _KDTREE_PAD, n)
    tree_dist, cand = cKDTree(_embed(X, categorical)).query(_embed(X, categorical), k=n_query, p=1, workers=-1)
    cand = cand.astype(np.intp)
    rows = np.arange(n)
    exact = pair_delta(X[:, None, :], X[cand], categorical)
    exact[cand == rows[:, None]] = np.inf
    order = np.lexsort((cand, exact), axis=1)[:, :k_eff]
    idx = np.take_along_axis(cand, order, axis=1)
    dist = np.take_along_axis(exact, order, axis=1)
    if n_query < n:
        unsure = np.flatnonzero(tree_dist[:, -1] <= dist[:, -1] + _SLACK * (1.0 + dist[:, -1]))
        if len(unsure):
            idx[unsure], dist[unsure] = _knn_brute(X, categorical, unsure, k_eff)
    return idx, dist


def _group_rows(X: FloatArray, categorical: BoolArray) -> tuple[FloatArray, list[IntArray]]:
    """Distinct categorical combinations (rows of the key table) and the trials holding each."""
    if not categorical.any():
        return np.zeros((1, 0)), [np.arange(X.shape[0])]
    keys, inverse = np.unique(X[:, categorical], axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    members = np.argsort(inverse, kind="stable")
    edges = np.concatenate([[0], np.cumsum(np.bincount(inverse, minlength=len(keys)))])
    return keys, [members[edges[g] : edges[g + 1]] for g in range(len(keys))]


def _usable_groups(X: FloatArray, categorical: BoolArray, k_eff: int) -> list[IntArray] | None:
    """The groups of `_knn_grouped` when it pays off: some numeric columns, few large groups."""
    if categorical.all():
        return None
    keys, groups = _group_rows(X, categorical)
    small = sum(len(ids) for ids in groups if len(ids) <= k_eff + 1)
    if len(keys) > _GROUP_MAX or small > _GROUP_SMALL_SHARE * X.shape[0]:
        return None
    return groups


def _knn_grouped(
    X: FloatArray, categorical: BoolArray, k_eff: int, groups: list[IntArray]
) -> tuple[IntArray, FloatArray]:
    """Exact k-NN with one tree over the numeric columns per categorical combination (group).

    A trial's own group (categorical diffs all 0) gives, after an exact
    re-check of its tree candidates, an upper bound U on its exact k-th
    distance (a row is asked again with more candidates while the furthest one
    is not beyond U by more than the rounding slack). A trial of another group
    differs in at least one categorical column, so it can reach delta <= U only
    within U - 1 on the numeric columns: one ball query of that radius (plus
    the slack) on a tree over all trials finds every such trial. The union of
    candidates, all re-checked exactly, is ranked by (delta, index). Rows whose
    own group is too small to give U are done by brute force.
    """
    from scipy.spatial import cKDTree

    n = X.shape[0]
    numeric = np.ascontiguousarray(X[:, ~categorical])
    trees = [cKDTree(numeric[ids], leafsize=_LEAFSIZE, balanced_tree=False, compact_nodes=False) for ids in groups]
    idx = np.zeros((n, k_eff), dtype=np.intp)
    dist = np.full((n, k_eff), np.inf)
    sure = np.zeros(n, dtype=bool)
    rows_parts: list[IntArray] = []
    cols_parts: list[IntArray] = []
    dist_parts: list[FloatArray] = []
    for g, ids in enumerate(groups):
        if len(ids) <= k_eff:
            continue
        pending = ids
        n_query = min(k_eff + 1 + _GROUP_PAD, len(ids))
        while len(pending):
            # Rows whose candidates may not cover their k-th distance are asked again
            # with four times as many candidates (ties on discrete columns).
            retry: list[IntArray] = []
            for start in range(0, len(pending), _CHUNK_ROWS):
                rows = pending[start : start + _CHUNK_ROWS]
                tree_dist, local = trees[g].query(numeric[rows], k=n_query, p=1, workers=-1)
                cand = ids[local.reshape(len(rows), n_query)]
                exact = pair_delta(X[rows][:, None, :], X[cand], categorical)
                exact[cand == rows[:, None]] = np.inf
                order = np.lexsort((cand, exact), axis=1)[:, :k_eff]
                top_idx = np.take_along_axis(cand, order, axis=1)
                top_dist = np.take_along_axis(exact, order, axis=1)
                kth = top_dist[:, -1]
                tree_last = tree_dist.reshape(len(rows), n_query)[:, -1]
                ok = (n_query == len(ids)) | (tree_last > kth + _SLACK * (1.0 + kth))
                idx[rows[ok]], dist[rows[ok]], sure[rows[ok]] = top_idx[ok], top_dist[ok], True
                retry.append(rows[~ok])
            pending = np.concatenate(retry)
            n_query = min(4 * n_query, len(ids))
    if len(groups) > 1:
        bound = dist[:, -1]
        reach = np.where(sure, bound - 1.0 + _SLACK * (1.0 + bound), -1.0)
        queries = np.flatnonzero(reach >= 0.0)
        if len(queries):
            everyone = cKDTree(numeric, leafsize=_LEAFSIZE, balanced_tree=False, compact_nodes=False)
            group_of = np.empty(n, dtype=np.intp)
            for g, ids in enumerate(groups):
                group_of[ids] = g
            for start in range(0, len(queries), _CHUNK_ROWS):
                chunk = queries[start : start + _CHUNK_ROWS]
                found = everyone.query_ball_point(numeric[chunk], reach[chunk], p=1, workers=-1, return_sorted=False)
                counts = np.fromiter(map(len, found), dtype=np.intp, count=len(found))
                if not counts.any():
                    continue
                rows = np.repeat(chunk, counts)
                cols = np.fromiter(chain.from_iterable(found), dtype=np.intp, count=int(counts.sum()))
                other = group_of[cols] != group_of[rows]
                rows, cols = rows[other], cols[other]
                exact = pair_delta(X[rows], X[cols], categorical)
                near = exact <= bound[rows]
                rows_parts.append(rows[near])
                cols_parts.append(cols[near])
                dist_parts.append(exact[near])
    if rows_parts:
        # Merge the few cross-group candidates into their rows' lists, by (row, delta, index).
        extra = np.unique(np.concatenate(rows_parts))
        all_rows = np.concatenate([np.repeat(extra, k_eff), *rows_parts])
        all_cols = np.concatenate([idx[extra].reshape(-1), *cols_parts])
        all_dist = np.concatenate([dist[extra].reshape(-1), *dist_parts])
        order = np.lexsort((all_cols, all_dist, all_rows))
        starts = np.searchsorted(all_rows[order], extra)
        take = order[starts[:, None] + np.arange(k_eff)[None, :]]
        idx[extra], dist[extra] = all_cols[take], all_dist[take]
    unsure = np.flatnonzero(~sure)
    if len(unsure):
        idx[unsure], dist[unsure] = _knn_brute(X, categorical, unsure, k_eff)
    return idx, dist


def nearest_neighbours(
    X: FloatArray, categorical: BoolArray, k: int, method: KnnMethod = "auto"
) -> tuple[IntArray, FloatArray]:
    """Each trial's min(k, n-1) nearest others, sorted by (delta, index); shape (n, k_eff).

    "kdtree" (and "auto" from _KDTREE_MIN_N trials) uses per-categorical-group
    numeric trees (`_knn_grouped`) when the groups are few and large, else one
    tree over a one-hot embedding (`_knn_kdtree`); "brute" computes all rows.
    Every method returns the same exact answer.
    """
    n = X.shape[0]
    k_eff = min(k, n - 1)
    if k_eff <= 0:
        return np.empty((n, 0), dtype=np.intp), np.empty((n, 0))
    if method == "kdtree" or (method == "auto" and n >= _KDTREE_MIN_N):
        groups = _usable_groups(X, categorical, k_eff)
        if groups is not None:
            return _knn_grouped(X, categorical, k_eff, groups)
        return _knn_kdtree(X, categorical, k_eff)
    return _knn_brute(X, categorical, np.arange(n), k_eff)


# ---------------------------------------------------------------- weights


def rank_weight_table(k: int, sigma: float) -> FloatArray:
    """Row c holds the normalised rank weights of a list with c neighbours (zeros after)."""
    table = np.zeros((k + 1, k))
    d1 = np.exp(-((np.arange(1, k + 1) / sigma) ** 2))
    for count in range(1, k + 1):
        table[count, :count] = d1[:count] / d1[:count].sum()
    return table


def contributions(
    X: FloatArray, y: FloatArray, categorical: BoolArray, refs: IntArray, nbr: IntArray, weights: FloatArray
) -> FloatArray:
    """Per reference [sum d|dy|, sum d diff_A..., sum d |dy| diff_A...] (|dy| unnormalised).

    `nbr` (r, k) may hold padding (any valid index) where `weights` is 0.
    """
    diffs = pair_delta_terms(X[refs][:, None, :], X[nbr], categorical)
    dy = np.abs(y[nbr] - y[refs][:, None])
    weighted_dy = weights * dy
    return np.concatenate(
        [
            weighted_dy.sum(axis=1)[:, None],
            np.einsum("rk,rka->ra", weights, diffs),
            np.einsum("rk,rka->ra", weighted_dy, diffs),
        ],
        axis=1,
    )


def pair_delta_terms(A: FloatArray, B: FloatArray, categorical: BoolArray) -> FloatArray:
    """The per-attribute diffs (last axis) between broadcast rows of A and B."""
    numeric = np.abs(A - B)
    return np.where(categorical, (A != B).astype(np.float64), numeric)


_DENOMINATOR_FLOOR = 1e-9


def relief_weights(totals: FloatArray, m: FloatArray | float, tau_range: float) -> FloatArray:
    """RReliefF W from contribution totals [..., 1 + 2a] and reference mass m [...]."""
    n_features = (totals.shape[-1] - 1) // 2
    n_dc = totals[..., :1] / tau_range
    n_da = totals[..., 1 : 1 + n_features]
    n_dcda = totals[..., 1 + n_features :] / tau_range
    mass = np.asarray(m, dtype=np.float64)[..., None]
    rest = mass - n_dc
    # Each numerator is bounded by its denominator, and an exactly-zero denominator means a
    # zero numerator (0/0: no such neighbour pairs). A denominator that is only rounding
    # residue (streamed vs batch sums differ in the last bits) must count as that zero, or
    # residue / residue turns into an arbitrary ratio; real denominators are far above this.
    floor = _DENOMINATOR_FLOOR * np.maximum(mass, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        first = np.where(n_dc > floor, n_dcda / np.where(n_dc > floor, n_dc, 1.0), 0.0)
        second = np.where(rest > floor, (n_da - n_dcda) / np.where(rest > floor, rest, 1.0), 0.0)
    weights = np.asarray(first - second, dtype=np.float64)
    # Both terms lie in [0, 1], so |W| below _ZERO is rounding left by streamed
    # sums; snapping it keeps max(W, 0) (and the importances) identical for
    # fit and partial_fit where the exact W is 0.
    weights[np.abs(weights) < _ZERO] = 0.0
    return weights


# ---------------------------------------------------------------- estimator


class NRReliefF:
    """N-RReliefF importances with exact streaming updates and Poisson-bootstrap CIs.

    Parameters are stored as given; `fit` resets and calls `partial_fit`.
    Learned state (after the first `partial_fit`): `raw_weights_`, `importances_`,
    `ranking_` (indices best first), `n_seen_`, `ci_low_`, `ci_high_`,
    `rank_probability_`, `bootstrap_importances_`, `bootstrap_raw_weights_`,
    `message_` ("" when the importances are meaningful).
    """

    def __init__(
        self,
        n_neighbors: int = 10,
        sigma: float = 20.0,
        categorical: Sequence[bool] | BoolArray | None = None,
        n_bootstrap: int = 200,
        random_state: int = 0,
    ) -> None:
        self.n_neighbors = n_neighbors
        self.sigma = sigma
        self.categorical = categorical
        self.n_bootstrap = n_bootstrap
        self.random_state = random_state
        self.knn_method: KnnMethod = "auto"
        self._reset()

    # -- public API

    def fit(self, X: npt.ArrayLike, y: npt.ArrayLike) -> NRReliefF:
        self._reset()
        return self.partial_fit(X, y)

    def partial_fit(self, X_new: npt.ArrayLike, y_new: npt.ArrayLike) -> NRReliefF:
        X_arr, y_arr = self._check(X_new, y_new)
        if len(y_arr) == 0:
            return self
        if self._n == 0 or len(y_arr) >= self._n:
            # A chunk at least as large as what we hold: a batch rebuild costs
            # about as much as streaming it, and yields the same state.
            self._rebuild(np.vstack([self._X[: self._n], X_arr]), np.concatenate([self._y[: self._n], y_arr]))
        else:
            for x, value in zip(X_arr, y_arr, strict=False):
                self._add_one(x, float(value))
        self._read_out()
        return self

    @property
    def n_features_(self) -> int:
        return self._n_features

    # -- validation and storage

    def _reset(self) -> None:
        self._n = 0
        self._n_features = 0
        self._cat: BoolArray = np.zeros(0, dtype=bool)
        self._table = rank_weight_table(self.n_neighbors, self.sigma)
        self._allocate(0, 0)
        self.n_seen_ = 0

    def _allocate(self, capacity: int, n_features: int) -> None:
        k, width, boot = self.n_neighbors, 1 + 2 * n_features, self.n_bootstrap
        self._X = np.zeros((capacity, n_features))
        self._y = np.zeros(capacity)
        self._nbr = np.zeros((capacity, k), dtype=np.intp)
        self._dist = np.full((capacity, k), np.inf)
        self._count = np.zeros(capacity, dtype=np.intp)
        self._contrib = np.zeros((capacity, width))
        self._boot_w = np.zeros((capacity, boot), dtype=np.uint8)
        self._totals = np.zeros(width)
        self._boot_totals = np.zeros((boot, width))
        self._boot_m = np.zeros(boot)

    def _grow(self, needed: int) -> None:
        if needed <= self._X.shape[0]:
            return
        old: list[npt.NDArray[np.generic]] = self._state()
        totals, boot_totals, boot_m = self._totals, self._boot_totals, self._boot_m
        self._allocate(max(needed, 2 * self._X.shape[0], 64), self._n_features)
        for target, source in zip(self._state(), old, strict=True):
            target[: self._n] = source[: self._n]
        self._totals, self._boot_totals, self._boot_m = totals, boot_totals, boot_m

    def _state(self) -> list[npt.NDArray[np.generic]]:
        return [self._X, self._y, self._nbr, self._dist, self._count, self._contrib, self._boot_w]

    def _check(self, X_new: npt.ArrayLike, y_new: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
        if self.n_neighbors < 1 or self.sigma <= 0 or self.n_bootstrap < 0:
            raise ValueError(
                f"need n_neighbors >= 1, sigma > 0, n_bootstrap >= 0; got {self.n_neighbors}, "
                f"{self.sigma}, {self.n_bootstrap}"
            )
        X_arr = np.asarray(X_new, dtype=np.float64)
        y_arr = np.asarray(y_new, dtype=np.float64).reshape(-1)
        if X_arr.ndim != 2 or X_arr.shape[0] != y_arr.shape[0]:
            raise ValueError(f"X must be (n, a) with one metric per row; got X {X_arr.shape}, y {y_arr.shape}")
        if not (np.isfinite(X_arr).all() and np.isfinite(y_arr).all()):
            raise ValueError("X and y must be finite: exclude failed or diverged trials before ranking")
        if self._n_features == 0:
            self._start(X_arr.shape[1])
        if X_arr.shape[1] != self._n_features:
            raise ValueError(f"X must have {self._n_features} columns, got {X_arr.shape[1]}")
        return X_arr, y_arr

    def _start(self, n_features: int) -> None:
        cat = np.zeros(n_features, dtype=bool) if self.categorical is None else np.asarray(self.categorical, bool)
        if cat.shape != (n_features,):
            raise ValueError(f"categorical mask must have one entry per column ({n_features}), got {cat.shape}")
        self._n_features, self._cat = n_features, cat
        self._allocate(0, n_features)

    # -- batch path

    def _rebuild(self, X: FloatArray, y: FloatArray) -> None:
        n = len(y)
        self._n = 0
        self._allocate(0, self._n_features)
        self._grow(n)
        self._X[:n], self._y[:n], self._n = X, y, n
        idx, dist = nearest_neighbours(X, self._cat, self.n_neighbors, self.knn_method)
        k_eff = idx.shape[1]
        self._nbr[:n, :k_eff], self._dist[:n, :k_eff], self._count[:n] = idx, dist, k_eff
        # Chunks of references bound the (refs, k, attributes) diff arrays and the
        # Poisson draws; both are per-reference, so the result does not depend on the chunking.
        self._boot_totals[:] = 0.0
        for start in range(0, n, _CHUNK_ROWS):
            stop = min(start + _CHUNK_ROWS, n)
            self._contrib[start:stop] = self._score(np.arange(start, stop))
            self._boot_w[start:stop] = poisson_weights(self.random_state, start, stop, self.n_bootstrap)
            self._boot_totals += self._boot_w[start:stop].T.astype(np.float64) @ self._contrib[start:stop]
        self._totals = self._contrib[:n].sum(axis=0)
        self._boot_m = self._boot_w[:n].sum(axis=0, dtype=np.float64)

    def _score(self, refs: IntArray) -> FloatArray:
        weights = self._table[self._count[refs]]
        return contributions(self._X, self._y, self._cat, refs, self._nbr[refs], weights)

    # -- incremental path

    def _add_one(self, x: FloatArray, value: float) -> None:
        n = self._n
        self._grow(n + 1)
        self._X[n], self._y[n] = x, value
        self._boot_w[n] = poisson_weights(self.random_state, n, n + 1, self.n_bootstrap)[0]
        self._boot_m += self._boot_w[n]
        dv = pair_delta(self._X[:n], x[None, :], self._cat)
        k_own = min(self.n_neighbors, n)
        own_idx, own_dist = _select_sorted(dv[None, :], k_own)
        self._nbr[n, :k_own], self._dist[n, :k_own], self._count[n] = own_idx[0], own_dist[0], k_own
        # Padding distances are inf, so a list that is not full always takes the newcomer;
        # a full one only when strictly closer than its k-th (equal loses: higher index).
        entered = np.flatnonzero(dv < self._dist[:n, -1])
        self._insert(entered, n, dv[entered])
        self._n = n + 1
        changed = np.append(entered, n)
        fresh = self._score(changed)
        delta = fresh - self._contrib[changed]
        self._contrib[changed] = fresh
        self._totals += delta.sum(axis=0)
        self._boot_totals += self._boot_w[changed].T.astype(np.float64) @ delta

    def _insert(self, refs: IntArray, newcomer: int, dist: FloatArray) -> None:
        merged_idx = np.concatenate([self._nbr[refs], np.full((len(refs), 1), newcomer)], axis=1)
        merged_dist = np.concatenate([self._dist[refs], dist[:, None]], axis=1)
        order = np.lexsort((merged_idx, merged_dist), axis=1)[:, : self.n_neighbors]
        self._nbr[refs] = np.take_along_axis(merged_idx, order, axis=1)
        self._dist[refs] = np.take_along_axis(merged_dist, order, axis=1)
        self._count[refs] = np.minimum(self._count[refs] + 1, self.n_neighbors)

    # -- read-out

    def _read_out(self) -> None:
        n, a = self._n, self._n_features
        y = self._y[:n]
        tau_range = float(y.max() - y.min()) if n else 0.0
        self.n_seen_ = n
        self.message_ = MSG_TOO_FEW if n < 2 else MSG_CONSTANT if tau_range == 0.0 else ""
        if self.message_:
            self.raw_weights_ = np.zeros(a)
            boot_raw = np.zeros((self.n_bootstrap, a))
        else:
            self.raw_weights_ = relief_weights(self._totals, float(n), tau_range)
            boot_raw = relief_weights(self._boot_totals, self._boot_m, tau_range)
        self.importances_ = normalise(self.raw_weights_)
        if not self.message_ and not self.importances_.any():
            self.message_ = MSG_NO_SIGNAL
        self.ranking_ = rank_order(self.importances_, self.raw_weights_)
        self.bootstrap_raw_weights_ = boot_raw
        self.bootstrap_importances_ = normalise(boot_raw)
        self.ci_low_, self.ci_high_ = percentile_interval(self.bootstrap_importances_)
        self.rank_probability_ = rank_probability(
            self.ranking_, rank_order(self.bootstrap_importances_, self.bootstrap_raw_weights_)
        )
