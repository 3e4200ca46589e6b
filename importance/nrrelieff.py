"""N-RReliefF hyperparameter importance at a fixed neighbourhood scale, batch and incremental.

References
----------
- M. Robnik-Šikonja and I. Kononenko (2003), "Theoretical and empirical
  analysis of ReliefF and RReliefF", Machine Learning 53:23-69 (RReliefF: the
  N_dC, N_dA, N_dCdA sums and the weight formula; section 5 on the number of
  neighbours: k trades locality against noise).
- R. J. Urbanowicz et al. (2018), "Relief-based feature selection:
  introduction and review", J. Biomed. Inform. 85:189-203 (SURF/MultiSURF:
  neighbourhoods defined by a distance scale rather than a count).
- X. Sun, Y. Lin, et al. (2019), N-RReliefF: RReliefF weights clipped at zero
  and normalised to sum 1, used to rank hyperparameters.
- R. Wang, I. Nabney, M. Golbabaee, "Efficient hyperparameter importance
  assessment for CNNs", arXiv 2410.08920 (N-RReliefF on >10,000 CNNs).

What the default estimates, and why (docs/architecture.md, "The importance engine")
------------------------------------------------------------------------------------
With a fixed k the neighbourhood of a trial shrinks as n grows. A categorical
mismatch costs a whole unit of distance (an ordinal or integer step a large
fraction of one), so once the k nearest trials are closer than that, they all
share the trial's discrete values: those diffs become 0 and so does the
attribute's weight, however strong its effect. The paper-exact estimate is
therefore a function of n: in bench/bench_truth.py a categorical with a true
share of 0.20 scores 0.03 at 300 trials and 0.000 at 10,000.

The default holds the neighbourhood at a fixed scale instead: trials are split
in arrival order into blocks of `block_size` (50), every trial's k nearest
neighbours are searched inside its own block, and the contributions of all
blocks are summed into one set of N_dC, N_dA, N_dCdA. Each block is an
independent N-RReliefF sample at the same density, so the expected importances
do not change with n; more trials only add blocks and shrink the CIs. The
last, partial block of r trials uses k_r = round(k r / block_size) neighbours
(at least 5, at most k), which keeps its neighbourhood about the same share of
its trials. The
diffs, the rank weights and the W formula are N-RReliefF's. Arrival order is
the order results are stored; every sampler we ship (random, Sobol, LHS,
shuffled grid) makes it a random order over the space. `block_size=None`
selects the paper-exact method (one block holding every trial, k fixed),
kept for reproducing the paper, with its n-drift.

Our choices (the papers do not print one formula)
-------------------------------------------------
- Inputs are already encoded: numeric/ordinal columns hold unit positions on
  the DECLARED range, diff = |u_i - u_j|; categorical columns hold integer codes,
  diff = 0 if equal else 1. Nothing is rescaled by observed min/max, so adding
  trials never changes earlier diffs.
- Not applicable (N/A): a hyperparameter that does not apply to a trial (a
  conditional one, e.g. a second layer's width when there is one layer) is
  NaN in X. Its diff is 0 when it is N/A in both trials, 1 when it is N/A in
  exactly one, and the diff above otherwise. Being in another branch of the
  space is the largest difference there is, as for a categorical mismatch;
  "N/A" is not a missing value: ReliefF's missing-value rule (Kononenko 1994;
  Robnik-Sikonja and Kononenko 2003) replaces an unknown diff by a probability
  estimated from the values of the other instances, a guess at a value that
  exists but was not observed. Here no value exists, and that estimate would
  also move as trials arrive, breaking exact streaming. This diff enters the
  distance and the N_dA, N_dCdA sums like any other, so whether a trial is in
  the branch counts towards the attribute's weight: a conditional attribute
  shares in the effect of the switch that enables it (read its importance as
  "this branch and its value"). An attribute that is N/A in every trial has
  diff 0 everywhere: W = 0, importance 0, verdict undetermined (its permutation
  null has no spread).
- delta(i, j) = sum of diffs, computed exactly on an integer grid
  (`importance.neighbours`), so equal distances are equal and ties go to the
  lower arrival index, on every code path.
- Every trial is a reference (m = n). Its k_eff = min(k, size of its block - 1)
  nearest others in its block by delta.
- Rank weights d1 = exp(-(rank / sigma)^2), rank = 1..k_eff, normalised to 1.
- Sums of |tau_i - tau_j| are kept unnormalised and divided by (tau_max -
  tau_min) at read-out, so a new extreme metric value stays exact.
- W[A] = N_dCdA / N_dC - (N_dA - N_dCdA) / (m - N_dC); a term whose denominator
  is 0 is taken as 0. I[A] = max(W[A], 0) / sum_B max(W[B], 0).
- Whether a hyperparameter matters at all is a permutation test over the fixed
  neighbour lists (`importance.significance`), refreshed at least every
  `refresh_every` trials.

Incremental updates keep, per reference, its sorted neighbour list and its
contribution vector [C, A..., CA...]; totals (and the bootstrap replicate
totals, see `importance.uncertainty`) change by (new - old) of the references
whose list a new trial enters (only references of its block). When the
partial block's k_r steps up, that block alone is re-scored. State is
O(n k + n B), never n x n.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from importance.neighbours import (
    CHUNK_ROWS,
    BoolArray,
    FloatArray,
    IntArray,
    KnnMethod,
    _select_sorted,
    grid_scale,
    nearest_neighbours,
    pair_delta,
    settle_not_applicable,
    to_grid,
)
from importance.ranking import Ranking, derive_order_and_intervals, ranking_of
from importance.significance import (
    ALPHA,
    MIN_TRIALS,
    TOO_FEW_TO_TEST,
    VerdictRule,
    Verdicts,
    judge_against_null,
    permutations_for,
)
from importance.uncertainty import (
    normalise,
    poisson_weights,
)

DEFAULT_BLOCK_SIZE = 50
# A partial block keeps at least this many neighbours: with fewer, W of a small sweep is mostly noise.
_MIN_PARTIAL_K = 5
_ZERO = 1e-12  # |W| below this is rounding noise (W is a difference of two ratios in [0, 1])
_BLOCK_DISTANCES = 1 << 20  # block-distance entries per chunk of full blocks: ~8 MiB
_NULL_ELEMENTS = 1 << 22  # (references x neighbours x permutations) per chunk of the null: ~32 MiB

MSG_TOO_FEW = "need at least 2 trials to rank hyperparameters"
MSG_CONSTANT = "the metric is constant over the ranked trials: no hyperparameter can be ranked"
MSG_NO_SIGNAL = "every raw weight W <= 0: no hyperparameter explains the metric better than noise"


# ---------------------------------------------------------------- weights


def rank_weight_table(k: int, sigma: float) -> FloatArray:
    """Row c holds the normalised rank weights of a list with c neighbours (zeros after)."""
    table = np.zeros((k + 1, k))
    d1 = np.exp(-((np.arange(1, k + 1) / sigma) ** 2))
    for count in range(1, k + 1):
        table[count, :count] = d1[:count] / d1[:count].sum()
    return table


def contributions(
    X: FloatArray,
    y: FloatArray,
    categorical: BoolArray,
    scale: float,
    refs: IntArray,
    nbr: IntArray,
    weights: FloatArray,
) -> FloatArray:
    """Per reference [sum d|dy|, sum d diff_A..., sum d |dy| diff_A...] (|dy| unnormalised).

    X holds grid rows (`importance.neighbours.to_grid`). `nbr` (r, k) may hold
    padding (any valid index) where `weights` is 0.
    """
    diffs = pair_delta_terms(X[refs][:, None, :], X[nbr], categorical, scale)
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


def pair_delta_terms(A: FloatArray, B: FloatArray, categorical: BoolArray, scale: float) -> FloatArray:
    """The per-attribute diffs in [0, 1] (last axis) between broadcast grid rows of A and B."""
    with np.errstate(invalid="ignore"):  # -inf - -inf: two categorical N/A, replaced by the 0/1 diff below
        numeric = np.abs(A - B) / scale
    if np.isnan(numeric).any():
        settle_not_applicable(numeric, A, B, 1.0)
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
    """N-RReliefF importances with exact streaming updates, Poisson-bootstrap CIs and verdicts.

    Parameters are stored as given; `fit` resets and calls `partial_fit`.
    `block_size=None` is the paper-exact method (see the module docstring).
    Learned state (after the first `partial_fit`): `raw_weights_`, `importances_`,
    `ranking_` (indices best first), `n_seen_`, `ci_low_`, `ci_high_`,
    `rank_probability_`, `bootstrap_importances_`, `bootstrap_raw_weights_`,
    `message_` ("" when the importances are meaningful), and the test results
    `p_values_`, `p_adjusted_`, `verdicts_`, `detectable_`, `verdict_note_`,
    `tested_at_` (the trial count they were computed at).
    """

    def __init__(
        self,
        n_neighbors: int = 10,
        sigma: float = 20.0,
        categorical: Sequence[bool] | BoolArray | None = None,
        n_bootstrap: int = 200,
        random_state: int = 0,
        block_size: int | None = DEFAULT_BLOCK_SIZE,
        n_permutations: int = 100,
        refresh_every: int = 50,
        alpha: float = ALPHA,
    ) -> None:
        self.n_neighbors = n_neighbors
        self.sigma = sigma
        self.categorical = categorical
        self.n_bootstrap = n_bootstrap
        self.random_state = random_state
        self.block_size = block_size
        self.n_permutations = n_permutations
        self.refresh_every = refresh_every
        self.alpha = alpha
        self.knn_method: KnnMethod = "auto"
        self._reset()

    @property
    def method(self) -> str:
        return "paper" if self.block_size is None else "fixed-scale"

    # -- public API

    def fit(self, X: npt.ArrayLike, y: npt.ArrayLike) -> NRReliefF:
        self._reset()
        self.partial_fit(X, y)
        if self.tested_at_ != self._n:
            self.refresh_significance()
        return self

    def partial_fit(self, X_new: npt.ArrayLike, y_new: npt.ArrayLike) -> NRReliefF:
        X_arr, y_arr = self._check(X_new, y_new)
        if len(y_arr) == 0:
            return self
        n_old = self._n
        if len(y_arr) == 1 and n_old > 0:
            self._add_one(X_arr[0], float(y_arr[0]))
        elif self.block_size is not None or n_old == 0 or len(y_arr) >= n_old:
            # A chunk re-scores only the blocks it touches (paper mode: all trials, one block),
            # which costs about as much as streaming it and yields the same state.
            self._append(X_arr, y_arr)
            self._rescore_from(self._block_start(n_old))
        else:
            for x, value in zip(X_arr, y_arr, strict=True):
                self._add_one(x, float(value))
        self._read_out()
        if self._n - self.tested_at_ >= self.refresh_every or self.tested_at_ < MIN_TRIALS <= self._n:
            self.refresh_significance()
        return self

    def refresh_significance(self) -> None:
        """Recompute the permutation null, p-values and verdicts for the trials seen so far."""
        a = self._n_features
        null = self._permutation_null() if not self.message_ else np.zeros((0, a))
        self._set_verdicts(
            judge_against_null(self.raw_weights_, null, self._n, self.message_, VerdictRule(alpha=self.alpha))
        )

    @property
    def n_features_(self) -> int:
        return self._n_features

    def result(self) -> Ranking:
        """The current read-out as one `Ranking` (the same shape as a pooled ranking)."""
        verdicts = Verdicts(
            self.p_values_,
            self.p_adjusted_,
            list(self.verdicts_),
            self.detectable_,
            self.verdict_note_,
            self.tested_at_,
        )
        return ranking_of(self, verdicts)

    # -- validation and storage

    def _reset(self) -> None:
        self._n = 0
        self._n_features = 0
        self._cat: BoolArray = np.zeros(0, dtype=bool)
        self._scale = 1.0
        self._table = rank_weight_table(self.n_neighbors, self.sigma)
        self._allocate(0, 0)
        self.n_seen_ = 0
        self.tested_at_ = 0
        self._set_verdicts(Verdicts.undetermined(0, MSG_TOO_FEW))

    def _set_verdicts(self, verdicts: Verdicts) -> None:
        self.p_values_ = verdicts.p_values
        self.p_adjusted_ = verdicts.p_adjusted
        self.verdicts_ = verdicts.verdicts
        self.detectable_ = verdicts.detectable
        self.verdict_note_ = verdicts.note
        self.tested_at_ = self._n

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
        if self.n_neighbors < 1 or self.sigma <= 0 or self.n_bootstrap < 0 or self.n_permutations < 0:
            raise ValueError(
                "need n_neighbors >= 1, sigma > 0, n_bootstrap >= 0, n_permutations >= 0; got "
                f"{self.n_neighbors}, {self.sigma}, {self.n_bootstrap}, {self.n_permutations}"
            )
        if self.block_size is not None and self.block_size < 2:
            raise ValueError(f"block_size must be at least 2 (or None for the paper method), got {self.block_size}")
        X_arr = np.asarray(X_new, dtype=np.float64)
        y_arr = np.asarray(y_new, dtype=np.float64).reshape(-1)
        if X_arr.ndim != 2 or X_arr.shape[0] != y_arr.shape[0]:
            raise ValueError(f"X must be (n, a) with one metric per row; got X {X_arr.shape}, y {y_arr.shape}")
        if np.isinf(X_arr).any() or not np.isfinite(y_arr).all():
            raise ValueError(
                "X must be finite or NaN (not applicable), y finite: exclude failed or diverged trials before ranking"
            )
        if self._n_features == 0:
            self._start(X_arr.shape[1])
        if X_arr.shape[1] != self._n_features:
            raise ValueError(f"X must have {self._n_features} columns, got {X_arr.shape[1]}")
        return X_arr, y_arr

    def _start(self, n_features: int) -> None:
        cat = np.zeros(n_features, dtype=bool) if self.categorical is None else np.asarray(self.categorical, bool)
        if cat.shape != (n_features,):
            raise ValueError(f"categorical mask must have one entry per column ({n_features}), got {cat.shape}")
        self._n_features, self._cat, self._scale = n_features, cat, grid_scale(n_features)
        self._allocate(0, n_features)
        self._set_verdicts(Verdicts.undetermined(n_features, TOO_FEW_TO_TEST))

    # -- blocks

    def _block_start(self, index: int) -> int:
        return 0 if self.block_size is None else index - index % self.block_size

    def _k_for(self, block_trials: int) -> int:
        """Neighbours per reference in a block holding `block_trials` trials (before the n - 1 cap)."""
        if self.block_size is None:
            return self.n_neighbors
        scaled = int(self.n_neighbors * block_trials / self.block_size + 0.5)
        return min(self.n_neighbors, max(_MIN_PARTIAL_K, scaled))

    def _blocks(self, start: int) -> list[tuple[int, int]]:
        size = self._n if self.block_size is None else self.block_size
        return [(s, min(s + size, self._n)) for s in range(start, self._n, max(size, 1))]

    # -- batch path

    def _append(self, X: FloatArray, y: FloatArray) -> None:
        n_old, n = self._n, self._n + len(y)
        self._grow(n)
        self._X[n_old:n], self._y[n_old:n] = to_grid(X, self._cat, self._scale), y
        self._boot_w[n_old:n] = poisson_weights(self.random_state, n_old, n, self.n_bootstrap)
        self._boot_m += self._boot_w[n_old:n].sum(axis=0, dtype=np.float64)
        self._n = n

    def _rescore_from(self, start: int) -> None:
        """New neighbour lists and contributions for every reference from `start` (a block start) on."""
        blocks = self._blocks(start)
        full = [b for b in blocks if self.block_size is not None and b[1] - b[0] == self.block_size]
        if full:
            self._neighbours_of_full_blocks(full[0][0], full[-1][1])
        for s, e in blocks[len(full) :]:
            idx, dist = nearest_neighbours(self._X[s:e], self._cat, self._scale, self._k_for(e - s), self.knn_method)
            k_eff = idx.shape[1]
            self._dist[s:e] = np.inf
            self._nbr[s:e, :k_eff], self._dist[s:e, :k_eff], self._count[s:e] = idx + s, dist, k_eff
        # Chunks of references bound the (refs, k, attributes) diff arrays; contributions are
        # per reference, so the result does not depend on the chunking.
        for chunk_start in range(start, self._n, CHUNK_ROWS):
            refs = np.arange(chunk_start, min(chunk_start + CHUNK_ROWS, self._n))
            fresh = self._score(refs)
            delta = fresh - self._contrib[refs]
            self._contrib[refs] = fresh
            if start > 0:
                self._totals += delta.sum(axis=0)
                self._boot_totals += self._boot_w[refs].T.astype(np.float64) @ delta
        if start == 0:
            # A whole rebuild sums from scratch, so rounding never accumulates across rebuilds.
            self._totals = self._contrib[: self._n].sum(axis=0)
            self._boot_totals = self._boot_w[: self._n].T.astype(np.float64) @ self._contrib[: self._n]

    def _neighbours_of_full_blocks(self, start: int, stop: int) -> None:
        """Neighbour lists of consecutive full blocks at once: one (blocks, M, M) distance array a
        chunk instead of a call per block. Grid distances are exact and the sort is stable, so
        equal distances keep index order, as in `nearest_neighbours`."""
        size, k = int(self.block_size or 0), min(self.n_neighbors, int(self.block_size or 0) - 1)
        per_chunk = max(1, _BLOCK_DISTANCES // (size * size))
        for chunk in range(start, stop, per_chunk * size):
            end = min(chunk + per_chunk * size, stop)
            grid = self._X[chunk:end].reshape(-1, size, self._n_features)
            dist = pair_delta(grid[:, :, None, :], grid[:, None, :, :], self._cat, self._scale)
            dist[:, np.arange(size), np.arange(size)] = np.inf  # a trial is not its own neighbour
            order = np.argsort(dist, axis=2, kind="stable")[:, :, :k]
            offsets = chunk + size * np.arange(len(grid))[:, None, None]
            self._nbr[chunk:end, :k] = (order + offsets).reshape(-1, k)
            self._dist[chunk:end] = np.inf
            self._dist[chunk:end, :k] = np.take_along_axis(dist, order, axis=2).reshape(-1, k)
            self._count[chunk:end] = k

    def _score(self, refs: IntArray) -> FloatArray:
        weights = self._table[self._count[refs]]
        return contributions(self._X, self._y, self._cat, self._scale, refs, self._nbr[refs], weights)

    # -- incremental path

    def _add_one(self, x: FloatArray, value: float) -> None:
        n = self._n
        s = self._block_start(n)
        before = n - s
        k_new = self._k_for(before + 1)
        self._append(x[None, :], np.array([value]))
        if before and k_new != self._k_for(before):
            self._rescore_from(s)  # the partial block's k stepped up: only this block changes
            return
        xg = self._X[n]
        dv = pair_delta(self._X[s:n], xg[None, :], self._cat, self._scale)
        k_own = min(k_new, before)
        if k_own:
            own_idx, own_dist = _select_sorted(dv[None, :], k_own)
            self._nbr[n, :k_own], self._dist[n, :k_own] = own_idx[0] + s, own_dist[0]
        self._count[n] = k_own
        # Unfilled slots hold inf, so a list that is not full always takes the newcomer;
        # a full one only when strictly closer than its k-th (equal loses: higher index).
        entered = s + np.flatnonzero(dv < self._dist[s:n, k_new - 1])
        self._insert(entered, n, dv[entered - s], k_new)
        changed = np.append(entered, n)
        fresh = self._score(changed)
        delta = fresh - self._contrib[changed]
        self._contrib[changed] = fresh
        self._totals += delta.sum(axis=0)
        self._boot_totals += self._boot_w[changed].T.astype(np.float64) @ delta

    def _insert(self, refs: IntArray, newcomer: int, dist: FloatArray, k_block: int) -> None:
        merged_idx = np.concatenate([self._nbr[refs], np.full((len(refs), 1), newcomer)], axis=1)
        merged_dist = np.concatenate([self._dist[refs], dist[:, None]], axis=1)
        order = np.lexsort((merged_idx, merged_dist), axis=1)[:, : self.n_neighbors]
        self._nbr[refs] = np.take_along_axis(merged_idx, order, axis=1)
        self._dist[refs] = np.take_along_axis(merged_dist, order, axis=1)
        self._dist[refs, k_block:] = np.inf
        self._count[refs] = np.minimum(self._count[refs] + 1, k_block)

    # -- read-out

    def _tau_range(self) -> float:
        y = self._y[: self._n]
        return float(y.max() - y.min()) if self._n else 0.0

    def _read_out(self) -> None:
        n, a = self._n, self._n_features
        tau_range = self._tau_range()
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
        self.bootstrap_raw_weights_ = boot_raw
        self.bootstrap_importances_ = normalise(boot_raw)
        self.ranking_, self.ci_low_, self.ci_high_, self.rank_probability_ = derive_order_and_intervals(
            self.importances_, self.raw_weights_, self.bootstrap_importances_, boot_raw
        )
        if self.message_ in (MSG_TOO_FEW, MSG_CONSTANT):
            # Every replicate is all zeros, so each would "agree" with the order: that is no evidence.
            self.rank_probability_ = np.full(a, np.nan)

    def _permutation_null(self) -> FloatArray:
        """Raw W of shuffles of the metric over the fixed neighbour lists, (P, a); P per `permutations_for`.

        The shuffles depend only on (random_state, n), so a stream and a batch fit of
        the same trials test against the same null.
        """
        n, a = self._n, self._n_features
        if self.n_permutations < 2 or n < 2:
            return np.zeros((0, a))
        P = permutations_for(int(self._count[:n].sum()), self.n_permutations)
        rng = np.random.default_rng([self.random_state, n])
        # float32: the null only feeds a mean, an sd and a normal tail; half the memory traffic.
        y = self._y[:n].astype(np.float32)
        shuffled = np.empty((n, P), dtype=np.float32)
        for p in range(P):  # one permutation at a time: no (P, n) index array
            shuffled[:, p] = y[rng.permutation(n)]
        n_dc = np.zeros(P)
        n_dcda = np.zeros((P, a))
        step = max(1, _NULL_ELEMENTS // (self.n_neighbors * P))
        for chunk_start in range(0, n, step):
            refs = np.arange(chunk_start, min(chunk_start + step, n))
            nbr = self._nbr[refs]
            weights = self._table[self._count[refs]]
            diffs = pair_delta_terms(self._X[refs][:, None, :], self._X[nbr], self._cat, self._scale)
            weighted_dy = np.abs(shuffled[nbr] - shuffled[refs][:, None, :])
            weighted_dy *= weights[:, :, None].astype(np.float32)
            n_dc += weighted_dy.sum(axis=(0, 1), dtype=np.float64)
            n_dcda += np.tensordot(weighted_dy, diffs.astype(np.float32), axes=([0, 1], [0, 1]))
        n_da = np.broadcast_to(self._totals[1 : 1 + a], (P, a))
        totals = np.concatenate([n_dc[:, None], n_da, n_dcda], axis=1)
        return relief_weights(totals, float(n), self._tau_range())
