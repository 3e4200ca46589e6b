"""Exact k nearest neighbours under the N-RReliefF distance, ties broken by arrival order.

delta(i, j) = sum over attributes of |u_i - u_j| (numeric and ordinal unit
positions) plus one unit per differing categorical value (docs/architecture.md,
"The importance engine"). Floats make "equal distance" depend on the order of
the additions (83/60 summed two ways differs in the last bit), so every
distance here is computed on an integer grid: a unit position u becomes
round(u * SCALE) and a categorical mismatch adds SCALE. SCALE is a multiple of
lcm(1..22), so every step of an ordinal or integer range with up to 23 levels
is an exact grid point, and every sum stays an integer below 2**53, where
float64 arithmetic is exact. Equal distances are therefore equal bit for bit,
whatever the order of the additions, and ties go to the lower index as
documented. Continuous values move by at most 1/(2 SCALE) (about 2e-15).

Not applicable (N/A, a NaN in the input; docs/architecture.md, "Not
applicable values"): an attribute that is N/A in both trials differs by 0, in
exactly one of them by a whole unit (SCALE on the grid), like a categorical
mismatch. On the grid a categorical N/A becomes the code -inf, a category of
its own (the input must be finite otherwise), so categorical code needs no
change; a numeric N/A stays NaN, and each distance checks its result for NaN
once and only then takes the N/A-aware route, so data without N/A pays one
cheap pass. The per-group trees cannot bound distances across N/A patterns,
so data with a numeric N/A uses the one-hot tree or brute force.
"""

from __future__ import annotations

import math
from itertools import chain
from typing import Literal

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]
BoolArray = npt.NDArray[np.bool_]
KnnMethod = Literal["auto", "brute", "kdtree"]

_LCM_1_TO_22 = 232_792_560
_EXACT_BITS = 52  # float64 holds every integer up to 2**53; one bit of headroom for the trees' sums
_BLOCK_ELEMENTS = 1 << 18  # distance block of ~2 MiB: stays in cache while summed
_KDTREE_MIN_N = 3000  # below this brute force is as fast and simpler
_KDTREE_PAD = 8  # extra candidates asked of the tree so boundary ties are usually covered
_SLACK = 1e-9  # relative; the trees sum the same integers, so this only guards their own rounding
_GROUP_MAX = 64  # more categorical combinations than this: the group-pair loop costs more than it saves
_GROUP_SMALL_SHARE = 0.05  # at most this share of trials in groups too small to bound their k-th distance
_LEAFSIZE = 32
_GROUP_PAD = 4  # extra own-group candidates; rows with boundary ties are asked again
CHUNK_ROWS = 8192  # bounds the (rows, candidates, attributes) arrays


def grid_scale(n_features: int) -> float:
    """The grid step count per unit for `n_features` attributes: a multiple of lcm(1..22), sums below 2**52."""
    spare_bits = _EXACT_BITS - math.log2(max(n_features, 1)) - math.log2(_LCM_1_TO_22) - 1
    return float(_LCM_1_TO_22 * 2 ** max(int(spare_bits), 0))


def to_grid(X: FloatArray, categorical: BoolArray, scale: float) -> FloatArray:
    """Numeric columns as integer grid positions (N/A stays NaN), categorical codes unchanged (compared
    for equality only; N/A becomes the code -inf)."""
    out = np.array(X, dtype=np.float64, copy=True)
    out[:, ~categorical] = np.rint(out[:, ~categorical] * scale)
    codes = out[:, categorical]
    codes[np.isnan(codes)] = -np.inf
    out[:, categorical] = codes
    return out


def settle_not_applicable(diff: FloatArray, a: FloatArray, b: FloatArray, unit: float) -> None:
    """In place: where the broadcast values a or b are N/A, diff (their shape) becomes 0 (both) or `unit` (one)."""
    a_na, b_na = np.broadcast_arrays(np.isnan(a), np.isnan(b))
    either = a_na | b_na
    diff[either] = np.where(a_na & b_na, 0.0, unit)[either]


# ---------------------------------------------------------------- distances


def pair_delta(A: FloatArray, B: FloatArray, categorical: BoolArray, unit: float) -> FloatArray:
    """delta between broadcast grid rows of A and B (last axis = attributes); a categorical mismatch adds `unit`."""
    total: FloatArray | None = None
    for a, is_cat in enumerate(categorical):
        diff = (A[..., a] != B[..., a]) * unit if is_cat else np.abs(A[..., a] - B[..., a])
        total = diff if total is None else np.add(total, diff, out=total)
    assert total is not None
    if np.isnan(total).any():  # a numeric N/A: NaN propagated through the sum
        return _pair_delta_not_applicable(A, B, categorical, unit)
    return total


def _pair_delta_not_applicable(A: FloatArray, B: FloatArray, categorical: BoolArray, unit: float) -> FloatArray:
    total = np.zeros(np.broadcast_shapes(A.shape, B.shape)[:-1])
    for a, is_cat in enumerate(categorical):
        if is_cat:
            total += (A[..., a] != B[..., a]) * unit
            continue
        diff = np.abs(A[..., a] - B[..., a])
        settle_not_applicable(diff, A[..., a], B[..., a], unit)
        total += diff
    return total


def _block_delta(
    X: FloatArray, rows: IntArray, categorical: BoolArray, unit: float, not_applicable: BoolArray
) -> FloatArray:
    """delta(rows, all) with in-place ops; exact on the grid like `pair_delta`. `not_applicable` flags
    the numeric columns of X that hold an N/A."""
    D = np.empty((len(rows), X.shape[0]))
    tmp = np.empty_like(D)
    for a, is_cat in enumerate(categorical):
        target = D if a == 0 else tmp
        column, own = X[:, a], X[rows, a][:, None]
        if is_cat:
            np.not_equal(own, column[None, :], out=target)  # bool -> 0.0/1.0 exactly
            target *= unit
        else:
            np.subtract(own, column[None, :], out=target)
            np.abs(target, out=target)
            if not_applicable[a]:
                settle_not_applicable(target, own, column[None, :], unit)
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


def _knn_brute(
    X: FloatArray, categorical: BoolArray, unit: float, rows: IntArray, k_eff: int
) -> tuple[IntArray, FloatArray]:
    n = X.shape[0]
    step = max(1, _BLOCK_ELEMENTS // max(n, 1))
    idx = np.empty((len(rows), k_eff), dtype=np.intp)
    dist = np.empty((len(rows), k_eff))
    not_applicable = np.asarray(np.isnan(X).any(axis=0), dtype=np.bool_)
    for start in range(0, len(rows), step):
        block = rows[start : start + step]
        D = _block_delta(X, block, categorical, unit, not_applicable)
        D[np.arange(len(block)), block] = np.inf  # a trial is not its own neighbour
        idx[start : start + step], dist[start : start + step] = _select_sorted(D, k_eff)
    return idx, dist


def _embed(X: FloatArray, categorical: BoolArray, unit: float) -> FloatArray:
    """Columns whose L1 distance is delta (a lower bound of it, for positions off [0, unit] next to an N/A).

    Categorical codes become one-hot x unit/2 (the N/A code -inf is one more
    category). A numeric column with an N/A becomes two, g -> (g/2, -g/2) and
    N/A -> (unit/2, unit/2): |g - g'| between two positions, and exactly unit
    between a position in [0, unit] and N/A (positions are clipped to that range,
    which keeps the embedding a lower bound for any input).
    """
    columns = []
    for a, is_cat in enumerate(categorical):
        if is_cat:
            codes = np.unique(X[:, a], return_inverse=True)[1].reshape(-1)
            columns.append(0.5 * unit * (codes[:, None] == np.arange(codes.max() + 1)[None, :]))
        elif np.isnan(X[:, a]).any():
            half = 0.5 * np.clip(X[:, a], 0.0, unit)
            columns.append(np.where(np.isnan(half)[:, None], 0.5 * unit, np.stack([half, -half], axis=1)))
        else:
            columns.append(X[:, a : a + 1])
    return np.hstack(columns)


def _knn_kdtree(X: FloatArray, categorical: BoolArray, unit: float, k_eff: int) -> tuple[IntArray, FloatArray]:
    """Tree candidates, exact re-check, brute force for rows the candidates may not cover.

    The tree sums the same grid integers, but checking its answer exactly keeps
    us independent of how it adds. A row is exact when its furthest candidate is beyond the
    exact k-th distance by more than the rounding slack: no trial outside the
    candidates can then reach or tie the k-th place.
    """
    from scipy.spatial import cKDTree

    n = X.shape[0]
    n_query = min(k_eff + 1 + _KDTREE_PAD, n)
    embedded = _embed(X, categorical, unit)
    tree_dist, cand = cKDTree(embedded).query(embedded, k=n_query, p=1, workers=-1)
    cand = cand.astype(np.intp)
    rows = np.arange(n)
    exact = pair_delta(X[:, None, :], X[cand], categorical, unit)
    exact[cand == rows[:, None]] = np.inf
    order = np.lexsort((cand, exact), axis=1)[:, :k_eff]
    idx = np.take_along_axis(cand, order, axis=1)
    dist = np.take_along_axis(exact, order, axis=1)
    if n_query < n:
        unsure = np.flatnonzero(tree_dist[:, -1] <= dist[:, -1] + _SLACK * (1.0 + dist[:, -1]))
        if len(unsure):
            idx[unsure], dist[unsure] = _knn_brute(X, categorical, unit, unsure, k_eff)
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
    """The groups of `_knn_grouped` when it pays off: some numeric columns, none with an N/A (a
    difference in N/A pattern costs a unit, but the numeric trees could not bound it), few large groups."""
    if categorical.all() or np.isnan(X[:, ~categorical]).any():
        return None
    keys, groups = _group_rows(X, categorical)
    small = sum(len(ids) for ids in groups if len(ids) <= k_eff + 1)
    if len(keys) > _GROUP_MAX or small > _GROUP_SMALL_SHARE * X.shape[0]:
        return None
    return groups


def _knn_grouped(
    X: FloatArray, categorical: BoolArray, unit: float, k_eff: int, groups: list[IntArray]
) -> tuple[IntArray, FloatArray]:
    """Exact k-NN with one tree over the numeric columns per categorical combination (group).

    A trial's own group (categorical diffs all 0) gives, after an exact
    re-check of its tree candidates, an upper bound U on its exact k-th
    distance (a row is asked again with more candidates while the furthest one
    is not beyond U by more than the rounding slack). A trial of another group
    differs in at least one categorical column, so it can reach delta <= U only
    within U - unit on the numeric columns: one ball query of that radius (plus
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
            for start in range(0, len(pending), CHUNK_ROWS):
                rows = pending[start : start + CHUNK_ROWS]
                tree_dist, local = trees[g].query(numeric[rows], k=n_query, p=1, workers=-1)
                cand = ids[local.reshape(len(rows), n_query)]
                exact = pair_delta(X[rows][:, None, :], X[cand], categorical, unit)
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
        reach = np.where(sure, bound - unit + _SLACK * (1.0 + bound), -1.0)
        queries = np.flatnonzero(reach >= 0.0)
        if len(queries):
            everyone = cKDTree(numeric, leafsize=_LEAFSIZE, balanced_tree=False, compact_nodes=False)
            group_of = np.empty(n, dtype=np.intp)
            for g, ids in enumerate(groups):
                group_of[ids] = g
            for start in range(0, len(queries), CHUNK_ROWS):
                chunk = queries[start : start + CHUNK_ROWS]
                found = everyone.query_ball_point(numeric[chunk], reach[chunk], p=1, workers=-1, return_sorted=False)
                counts = np.fromiter(map(len, found), dtype=np.intp, count=len(found))
                if not counts.any():
                    continue
                rows = np.repeat(chunk, counts)
                cols = np.fromiter(chain.from_iterable(found), dtype=np.intp, count=int(counts.sum()))
                other = group_of[cols] != group_of[rows]
                rows, cols = rows[other], cols[other]
                exact = pair_delta(X[rows], X[cols], categorical, unit)
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
        idx[unsure], dist[unsure] = _knn_brute(X, categorical, unit, unsure, k_eff)
    return idx, dist


def nearest_neighbours(
    X: FloatArray, categorical: BoolArray, unit: float, k: int, method: KnnMethod = "auto"
) -> tuple[IntArray, FloatArray]:
    """Each grid row's min(k, n-1) nearest others, sorted by (delta, index); shape (n, k_eff).

    "kdtree" (and "auto" from _KDTREE_MIN_N trials) uses per-categorical-group
    numeric trees (`_knn_grouped`) when the groups are few and large and no
    numeric column holds an N/A, else one tree over a one-hot embedding
    (`_knn_kdtree`); "brute" computes all rows.
    Every method returns the same exact answer.
    """
    n = X.shape[0]
    k_eff = min(k, n - 1)
    if k_eff <= 0:
        return np.empty((n, 0), dtype=np.intp), np.empty((n, 0))
    if method == "kdtree" or (method == "auto" and n >= _KDTREE_MIN_N):
        groups = _usable_groups(X, categorical, k_eff)
        if groups is not None:
            return _knn_grouped(X, categorical, unit, k_eff, groups)
        return _knn_kdtree(X, categorical, unit, k_eff)
    return _knn_brute(X, categorical, unit, np.arange(n), k_eff)
