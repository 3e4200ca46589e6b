"""Effects in metric units: per-level means and the variance decomposition built on them.

Functional ANOVA (Hooker 2007; fANOVA, Hutter, Hoos & Leyton-Brown 2014) splits
the variance of a metric over a random design into main effects
V_A = Var(E[y | x_A]) and interactions. Here they come from group means, as in a
two-way ANOVA, on levels:

- a categorical's choices; a numeric or ordinal hyperparameter's unit position
  on its DECLARED range (its own scale: log10 for log ranges) cut into
  `N_BINS` equal bins, so an int or ordinal with at most `N_BINS` values has
  one level per value; "not applicable" (NaN: a conditional hyperparameter
  outside its branch) is a level of its own, so a branch switch is an effect
  of the hyperparameter it switches.
- Main share S_A = (SS_between - (g - 1) MS_within) / SS_total (epsilon
  squared, Kelley 1935). SS_between grows with noise by (g - 1) sigma^2 on
  average, which the correction removes: a hyperparameter with no effect sits
  at 0 on average instead of at (g - 1) / n.
- Pairwise interaction share S_AB from the 2-D table on `PAIR_BINS` bins per
  numeric axis: (SS_cells - SS_A - SS_B - df_AB MS_within) / SS_total.
- Tests: each table's F test (main: between-level variance; pair: the cells
  beyond both margins). Trials of a random design are independent draws, so
  under "A has no effect" its levels' means differ only by noise whatever the
  other hyperparameters do: the test is per hyperparameter, not the global
  null of a shuffled metric.

Uncertainty is a parametric bootstrap of the tables (each level's mean drawn
from N(mean, sd^2 / n)); a share's replicates are the point estimate plus the
spread of the replicate sums of squares around their own mean; its cost depends on the number of cells,
never on n. Draws follow the levels' sorted keys, so they do not depend on the
order trials arrived in.

Every statistic is a function of per-level and per-cell counts, sums and sums
of squares (about y's first value, for precision), so adding a trial is exact:
`partial_fit` on a stream and one `fit` hold the same tables.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations
from typing import Any, TypeVar, cast

import numpy as np
import numpy.typing as npt
from scipy.special import fdtrc, ndtri
from scipy.stats import rankdata

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]
BoolArray = npt.NDArray[np.bool_]
ArrayT = TypeVar("ArrayT", bound=npt.NDArray[np.generic])

N_BINS = 8  # levels of a numeric hyperparameter: enough to show a U shape, few enough to fill at 300 trials
# Per numeric axis of a pair's table: 25 cells keep ~40 trials per cell at 1,000 trials, and an int or ordinal
# of up to 5 values keeps one level per value.
PAIR_BINS = 5
NOT_APPLICABLE = -1  # the level key of "not applicable"
MIN_RESIDUAL_DF = 10  # the adjusted main-effect tests need this many trials beyond the additive model's levels
Z95 = 1.959963984540054


def level_keys(column: FloatArray, categorical: bool, bins: int) -> IntArray:
    """Level key of each value: a categorical's code, a numeric value's bin, NOT_APPLICABLE for NaN/inf."""
    keys = np.full(len(column), NOT_APPLICABLE, dtype=np.intp)
    known = np.isfinite(column)
    if categorical:
        keys[known] = column[known].astype(np.intp)
    else:
        # The epsilon keeps an ordinal position such as 3/4 in its own bin despite rounding.
        keys[known] = np.clip(np.floor(column[known] * bins + 1e-9), 0, bins - 1).astype(np.intp)
    return keys


class _Levels:
    """Dense indices for the level keys of each hyperparameter, in order of first appearance."""

    def __init__(self, n_features: int) -> None:
        self.index: list[dict[int, int]] = [{} for _ in range(n_features)]
        self._canonical: tuple[IntArray, list[list[int]]] | None = None

    @property
    def width(self) -> int:
        return max((len(lookup) for lookup in self.index), default=0)

    def indices(self, keys: IntArray) -> IntArray:
        """(n, a) keys -> (n, a) dense indices, registering new keys."""
        if len(keys) == 1:  # a streamed trial: plain lookups beat the vectorised path
            row = []
            for lookup, key in zip(self.index, keys[0].tolist(), strict=True):
                if key not in lookup:
                    lookup[key] = len(lookup)
                    self._canonical = None
                row.append(lookup[key])
            return np.array([row], dtype=np.intp)
        self._canonical = None
        out = np.empty(keys.shape, dtype=np.intp)
        for j, lookup in enumerate(self.index):
            column = keys[:, j]
            for key in np.unique(column).tolist():
                lookup.setdefault(int(key), len(lookup))
            known = np.fromiter(lookup, dtype=np.intp, count=len(lookup))
            order = np.argsort(known)
            out[:, j] = np.fromiter(lookup.values(), dtype=np.intp, count=len(lookup))[order][
                np.searchsorted(known[order], column)
            ]
        return out

    def canonical(self) -> tuple[IntArray, list[list[int]]]:
        """Per hyperparameter, the dense indices in key order (N/A last, unused slots after) and the keys."""
        if self._canonical is None:
            self._canonical = self._order()
        return self._canonical

    def _order(self) -> tuple[IntArray, list[list[int]]]:
        width = self.width
        permutation = np.zeros((len(self.index), width), dtype=np.intp)
        keys: list[list[int]] = []
        for j, lookup in enumerate(self.index):
            ordered = sorted(lookup, key=lambda key: (key == NOT_APPLICABLE, key))
            used = [lookup[key] for key in ordered]
            permutation[j] = used + [i for i in range(width) if i not in set(used)]
            keys.append(ordered)
        return permutation, keys


def _grow(array: FloatArray, shape: tuple[int, ...], fill: float = 0.0) -> FloatArray:
    if array.shape == shape:
        return array
    grown = np.full(shape, fill)
    grown[tuple(slice(0, s) for s in array.shape)] = array
    return grown


@dataclass
class Groups:
    """One-way ANOVAs of n trials, vectorised over leading axes; the last axis holds the groups (levels or cells).

    Groups with no trial are masked; a group seen once borrows the pooled within-group variance.
    """

    counts: FloatArray
    means: FloatArray  # NaN where unused (about the shift)
    variances: FloatArray
    ss_between: FloatArray
    groups: IntArray
    ms_within: FloatArray
    n: int
    sst: float

    @classmethod
    def of(cls, stats: FloatArray, n: int, sst: float) -> Groups:
        counts, sums, squares = stats[..., 0], stats[..., 1], stats[..., 2]
        used = counts > 0
        safe = np.where(used, counts, 1.0)
        means = np.where(used, sums / safe, np.nan)
        grand = sums.sum(axis=-1, keepdims=True) / np.maximum(counts.sum(axis=-1, keepdims=True), 1.0)
        ss_between = np.where(used, counts * (np.where(used, means, 0.0) - grand) ** 2, 0.0).sum(axis=-1)
        groups = used.sum(axis=-1)
        df_within = n - groups
        ms_within = np.where(df_within > 0, (sst - ss_between) / np.maximum(df_within, 1), 0.0)
        within = np.maximum(squares - np.where(used, sums * sums / safe, 0.0), 0.0)
        own = within / np.maximum(counts - 1.0, 1.0)
        variances = np.where(counts > 1, own, np.maximum(ms_within, 0.0)[..., None])
        return cls(counts, means, variances, ss_between, groups, ms_within, n, sst)

    @property
    def used(self) -> BoolArray:
        return self.counts > 0

    @property
    def standard_errors(self) -> FloatArray:
        return np.where(self.used, np.sqrt(self.variances / np.maximum(self.counts, 1.0)), np.nan)

    def share(self) -> FloatArray:
        """Epsilon squared: between-group variance beyond noise, as a share of the metric's."""
        if self.sst <= 0:
            return np.zeros(self.groups.shape)
        return np.where(self.groups >= 2, (self.ss_between - (self.groups - 1) * self.ms_within) / self.sst, 0.0)

    def replicate_means(self, noise: FloatArray) -> FloatArray:
        """Replicate means (B, ..., groups) from standard normal draws of the same shape; 0 where unused."""
        return np.where(self.used, self.means + noise * np.nan_to_num(self.standard_errors), 0.0)

    def replicate_ss(self, means: FloatArray) -> FloatArray:
        """SS_between of replicate means (B, ..., groups)."""
        grand = (means * self.counts).sum(axis=-1, keepdims=True) / np.maximum(
            self.counts.sum(axis=-1, keepdims=True), 1.0
        )
        return np.asarray((self.counts * (means - grand) ** 2).sum(axis=-1), dtype=np.float64)

    def equivalence_bounds(self, level: float = 0.05) -> FloatArray:
        """Per table, the largest |level mean - overall mean| plausible at `level`, simultaneous over the levels.

        Bonferroni over the levels, each level's own standard error (conservative: the overall mean's
        own noise is shared by all levels); inf while a level has fewer than 2 trials or there is a single level.
        """
        z = ndtri(1.0 - level / (2 * np.maximum(self.groups, 1)))
        grand = np.nansum(np.where(self.used, self.means, 0.0) * self.counts, axis=-1) / np.maximum(
            self.counts.sum(axis=-1), 1.0
        )
        gap = np.abs(np.where(self.used, self.means, 0.0) - grand[..., None])
        bound = np.where(self.used, gap + z[..., None] * np.nan_to_num(self.standard_errors), 0.0).max(axis=-1)
        thin = ((self.counts > 0) & (self.counts < 2)).any(axis=-1) | (self.groups < 2)
        return np.where(thin, np.inf, bound)


@dataclass
class Decomposition:
    """A read-out of the tables: the metric's spread, the main effects, the pairs, and replicates of every share."""

    n: int
    mean: float
    sd: float
    shift: float
    level_keys: list[list[int]]  # per hyperparameter, its levels' keys in display order
    mains: Groups  # (a, levels)
    main_shares: FloatArray  # (a,)
    main_p: FloatArray
    main_replicates: FloatArray  # (B, a)
    equivalence: FloatArray  # (a,): no level's mean is farther than this from the overall mean (95% simultaneous)
    u_min: FloatArray  # (a, levels): observed unit range of each level
    u_max: FloatArray
    pairs: list[tuple[int, int]]
    pair_keys: list[list[int]]  # per hyperparameter, its coarse levels' keys
    cells: Groups  # (P, coarse * coarse)
    pair_shares: FloatArray  # (P,)
    pair_p: FloatArray
    pair_replicates: FloatArray  # (B, P)

    incidence: FloatArray  # (P, a): 1 where the pair involves the hyperparameter

    def totals(self, counted: BoolArray) -> FloatArray:
        """Main share plus the pairwise shares of the `counted` pairs (P,) that involve each hyperparameter."""
        return self.main_shares + np.where(counted, self.pair_shares, 0.0) @ self.incidence

    def replicate_totals(self, counted: BoolArray) -> FloatArray:
        return self.main_replicates + np.where(counted, self.pair_replicates, 0.0) @ self.incidence

    def largest_difference(self, j: int, categorical: bool) -> tuple[int, int, float, float] | None:
        """Level keys (from, to), the difference of their means and the half-width of its 95% CI; None below 2 levels.

        The two levels whose means differ most, ordered by position (by mean for a categorical). The CI is
        simultaneous over every pair of levels (Bonferroni): the pair was picked for being the most different,
        and an unadjusted CI of it would exclude 0 far more often than 5 % of the time when nothing matters.
        """
        counts = self.mains.counts[j]
        candidates = np.flatnonzero(counts >= 2)
        if len(candidates) < 2:
            candidates = np.flatnonzero(counts > 0)
        if len(candidates) < 2:
            return None
        means = self.mains.means[j]
        low = int(candidates[np.argmin(means[candidates])])
        high = int(candidates[np.argmax(means[candidates])])
        keys = self.level_keys[j]
        first, second = low, high
        # Display order puts N/A last, so the lower index is the earlier position.
        if not categorical and keys[high] != NOT_APPLICABLE and keys[low] != NOT_APPLICABLE and high < low:
            first, second = high, low
        var = self.mains.variances[j]
        se = float(np.sqrt(var[first] / counts[first] + var[second] / counts[second]))
        pairs = int(self.mains.groups[j]) * (int(self.mains.groups[j]) - 1) // 2
        z = float(ndtri(1.0 - 0.05 / (2 * max(pairs, 1))))
        return keys[first], keys[second], float(means[second] - means[first]), z * se


class EffectTables:
    """The exact incremental tables of one group of trials (module docstring)."""

    def __init__(self, categorical: BoolArray) -> None:
        self.categorical = np.asarray(categorical, dtype=bool)
        a = len(self.categorical)
        self.n = 0
        self.shift = 0.0
        self.total = np.zeros(3)
        self.fine = _Levels(a)
        self.coarse = _Levels(a)
        self.pairs = list(combinations(range(a), 2))
        self.incidence = np.zeros((len(self.pairs), a))
        for p, (i, j) in enumerate(self.pairs):
            self.incidence[p, i] = self.incidence[p, j] = 1.0
        self.main_stats = np.zeros((a, 0, 3))
        self.u_min = np.zeros((a, 0))
        self.u_max = np.zeros((a, 0))
        self.pair_stats = np.zeros((len(self.pairs), 0, 0, 3))
        # Co-occurrence counts of the fine levels of each pair: with the main tables they are the normal equations
        # of the additive model of every hyperparameter, which the main-effect tests adjust for.
        self.cross = np.zeros((len(self.pairs), 0, 0))
        # Each trial's dense level indices and metric: the rank-based tests recount the tables from them.
        self.rows_fine = np.zeros((0, a), dtype=np.int32)
        self.rows_coarse = np.zeros((0, a), dtype=np.int32)
        self.values = np.zeros(0)

    def add(self, X: FloatArray, y: FloatArray) -> None:
        if len(y) == 0:
            return
        if self.n == 0:
            self.shift = float(y[0])
        centred = y - self.shift
        self.n += len(y)
        self.total += [len(y), centred.sum(), (centred * centred).sum()]
        columns = range(len(self.categorical))
        fine = self.fine.indices(np.column_stack([level_keys(X[:, j], self.categorical[j], N_BINS) for j in columns]))
        coarse = self.coarse.indices(
            np.column_stack([level_keys(X[:, j], self.categorical[j], PAIR_BINS) for j in columns])
        )
        a, width, side = len(self.categorical), self.fine.width, self.coarse.width
        self.main_stats = _grow(self.main_stats, (a, width, 3))
        self.u_min = _grow(self.u_min, (a, width), np.inf)
        self.u_max = _grow(self.u_max, (a, width), -np.inf)
        flat = (np.arange(a) * width)[None, :] + fine
        _accumulate(self.main_stats.reshape(a * width, 3), flat.ravel(), np.repeat(centred, a))
        u = np.where(np.isfinite(X), X, np.nan).ravel()
        np.fmin.at(self.u_min.reshape(-1), flat.ravel(), u)
        np.fmax.at(self.u_max.reshape(-1), flat.ravel(), u)
        if self.pairs:
            self.pair_stats = _grow(self.pair_stats, (len(self.pairs), side, side, 3))
            first = np.array([i for i, _ in self.pairs])
            second = np.array([j for _, j in self.pairs])
            cell = (np.arange(len(self.pairs)) * side * side)[None, :] + coarse[:, first] * side + coarse[:, second]
            size = len(self.pairs) * side * side
            _accumulate(self.pair_stats.reshape(size, 3), cell.ravel(), np.repeat(centred, len(self.pairs)))
            self.cross = _grow(self.cross, (len(self.pairs), width, width))
            both = (np.arange(len(self.pairs)) * width * width)[None, :] + fine[:, first] * width + fine[:, second]
            self.cross.reshape(-1)[:] += np.bincount(both.ravel(), minlength=self.cross.size)
        self.rows_fine = _append(self.rows_fine, fine, self.n)
        self.rows_coarse = _append(self.rows_coarse, coarse, self.n)
        self.values = _append(self.values, centred, self.n)

    def decompose(self, n_bootstrap: int, random_state: int, test: bool = True) -> Decomposition:
        """Shares, tests, level means and replicates of the trials seen (module docstring).

        `test=False` leaves the p-values NaN: the rank-based tests recount the tables (O(n)), which a stream
        does on a schedule (importance.anova).
        """
        n, total_sum, total_sq = self.total
        mean_c = total_sum / n
        sst = float(max(total_sq - n * mean_c * mean_c, 0.0))
        a = len(self.categorical)
        rng = np.random.default_rng(random_state)
        order, keys = self.fine.canonical()
        main_stats = np.take_along_axis(self.main_stats, order[:, :, None], axis=1)
        mains = Groups.of(main_stats, int(n), sst)
        main_shares, main_errors, _ = self._adjusted_mains(order, mains, int(n), sst, self.total)
        main_replicates = main_shares + rng.standard_normal((n_bootstrap, a)) * main_errors
        coarse_order, coarse_keys = self.coarse.canonical()
        shares, _, replicates, cells = self._pairs(coarse_order, int(n), sst, n_bootstrap, rng, self.pair_stats)
        main_p, p_values = (
            self._rank_tests(order, coarse_order) if test else (np.full(a, np.nan), np.full(len(self.pairs), np.nan))
        )
        return Decomposition(
            n=int(n),
            mean=mean_c + self.shift,
            sd=float(np.sqrt(sst / (n - 1))) if n > 1 else 0.0,
            shift=self.shift,
            level_keys=keys,
            mains=mains,
            main_shares=main_shares,
            main_p=main_p,
            main_replicates=main_replicates,
            equivalence=mains.equivalence_bounds(),
            u_min=np.take_along_axis(self.u_min, order, axis=1),
            u_max=np.take_along_axis(self.u_max, order, axis=1),
            pairs=self.pairs,
            pair_keys=coarse_keys,
            cells=cells,
            pair_shares=shares,
            pair_p=p_values,
            pair_replicates=replicates,
            incidence=self.incidence,
        )

    def _rank_tests(self, order: IntArray, coarse_order: IntArray) -> tuple[FloatArray, FloatArray]:
        """Main-effect and interaction p-values of the same F tests on the metric's ranks.

        On the metric itself the tests assume one noise variance everywhere, which real metrics break: a
        loss of 10 x with x log-uniform has all its spread in the top bins of x, and the pooled within-cell
        variance then made a hyperparameter the metric never reads "interact" with x (p = 0.047 at 80 trials).
        Ranks have the same spread in every bin, and a hyperparameter with no effect leaves the ranks'
        distribution the same at each of its levels, so the tests keep their level. Shares and effects stay
        in the metric's units.
        """
        n = self.n
        # Dense ranks: tied trials share a rank and the next value takes the next one. Ordinary ranks give a
        # block of ties (runs stuck at chance accuracy, a constant branch) the width of the block, which opens
        # a gap around it: the trials next to the tie then spread far more than their neighbours, and an unread
        # hyperparameter "interacted" with a conditional one at p = 1e-40.
        dense = rankdata(self.values[:n], method="dense")
        ranks = dense / max(float(dense.max()), 1.0)
        a, width, side = len(self.categorical), self.fine.width, self.coarse.width
        # Counts do not depend on the metric: those of the tables are kept. Sums are one bincount per column
        # (not one over every column repeated): the same additions in the same order, without the (n, a) and
        # (n, P) temporaries that made this O(n) recount cost seconds at 100k trials.
        main_stats = np.zeros((a, width, 3))
        main_stats[..., 0] = self.main_stats[..., 0]
        for j in range(a):
            _accumulate_sums(main_stats[j], self.rows_fine[:n, j], ranks)
        main_stats = np.take_along_axis(main_stats, order[:, :, None], axis=1)
        total = np.array([n, ranks.sum(), (ranks * ranks).sum()])
        sst = float(total[2] - total[1] ** 2 / n)
        mains = Groups.of(main_stats, n, sst)
        _, _, main_p = self._adjusted_mains(order, mains, n, sst, total)
        pair_stats = np.zeros((len(self.pairs), side * side, 3))
        pair_stats[..., 0] = self.pair_stats[..., 0].reshape(len(self.pairs), side * side)
        coarse = self.rows_coarse[:n]
        for p, (i, j) in enumerate(self.pairs):
            _accumulate_sums(pair_stats[p], coarse[:, i] * side + coarse[:, j], ranks)
        reshaped = pair_stats.reshape(len(self.pairs), side, side, 3)
        _, pair_p, _, _ = self._pairs(coarse_order, n, sst, 0, np.random.default_rng(0), reshaped)
        return main_p, pair_p

    def _adjusted_mains(
        self, order: IntArray, mains: Groups, n: int, sst: float, total: FloatArray
    ) -> tuple[FloatArray, ...]:
        """Each hyperparameter's main share, its standard error and F test, adjusted for all the others.

        Type II sums of squares of the additive model of every hyperparameter (one-hot levels). The one-way
        estimate counts every other hyperparameter's effect as noise; in a random design they are
        independent of the one estimated, so fitting them too leaves its expectation alone and removes their
        variance from the residual: a 3-level offset worth 5 % of the variance beside a U-shaped float went
        from p = 0.045 to far below 0.001 at 300 trials. The share is (SS_A - df MS_residual) / SS_total;
        its standard error is normal theory's (SS_A / sigma^2 is noncentral chi-square).
        """
        a = mains.counts.shape[0]
        extras, sigma2 = mains.ss_between.astype(np.float64).copy(), np.maximum(mains.ms_within, 0.0)
        df_error = np.asarray(n - mains.groups, dtype=np.float64)
        fit = self._additive_fit(order, mains, n, total)
        # One-way (each hyperparameter alone) while the additive model has too few trials left over for its
        # residual: a few dozen trials of many hyperparameters.
        if fit is not None:
            theta, inverse, owner, rss, df_residual = fit
            sigma2 = np.full(a, rss / df_residual)
            df_error = np.full(a, float(df_residual))
            for j in range(a):
                mine = np.flatnonzero(owner == j) + 1
                if len(mine):
                    # Dropping a block of coefficients costs theta' (C_block)^-1 theta of fitted sum of squares.
                    block = inverse[
                        mine[0] : mine[-1] + 1, mine[0] : mine[-1] + 1
                    ]  # a hyperparameter's columns are adjacent
                    try:
                        extras[j] = max(float(theta[mine] @ np.linalg.solve(block, theta[mine])), 0.0)
                    except np.linalg.LinAlgError:  # levels confounded with others': nothing is left to test
                        extras[j] = 0.0
        df = np.asarray(mains.groups - 1, dtype=np.float64)
        ok = (df >= 1) & (df_error >= 1) & (sigma2 > 1e-12 * sst / max(n, 1)) & (sst > 0)
        safe_df, safe_sigma2 = np.maximum(df, 1.0), np.where(ok, sigma2, 1.0)
        p_values = np.where(ok, fdtrc(safe_df, np.maximum(df_error, 1.0), extras / safe_df / safe_sigma2), np.nan)
        scale = sst if sst > 0 else 1.0
        # With no trial to spare for a noise estimate (a handful of trials), the share is the descriptive one,
        # SS_A / SS_total: an order for the ranking, never a verdict (those need 30 trials).
        descriptive = (df >= 1) & (sst > 0) & ~ok
        shares = np.where(ok, (extras - df * sigma2) / scale, np.where(descriptive, extras / scale, 0.0))
        noncentrality = np.maximum(extras - df * sigma2, 0.0) / safe_sigma2
        errors = np.where(ok, sigma2 * np.sqrt(2.0 * (np.maximum(df, 0.0) + 2.0 * noncentrality)) / scale, 0.0)
        return shares, errors, p_values

    def _additive_fit(
        self, order: IntArray, mains: Groups, n: int, total: FloatArray
    ) -> tuple[FloatArray, FloatArray, IntArray, float, int] | None:
        """Least squares of the additive model from the tables: coefficients, (X'X)^-1, each column's owner,
        the residual sum of squares and its degrees of freedom; None when too few trials are left over.

        Full-rank parametrisation: an intercept, then every seen level of each hyperparameter but its first.
        """
        a = mains.counts.shape[0]
        columns = [(j, i) for j in range(a) for i in np.flatnonzero(mains.used[j])[1:].tolist()]
        df_residual = n - 1 - len(columns)
        if df_residual < MIN_RESIDUAL_DF:
            return None
        owner = np.array([j for j, _ in columns], dtype=np.intp)
        level = np.array([i for _, i in columns], dtype=np.intp)
        counts = mains.counts[owner, level]
        width = mains.counts.shape[1]
        # Every level of every hyperparameter (display order), then the columns kept.
        full = np.zeros((a * width, a * width))
        for p, (u, v) in enumerate(self.pairs):
            cross = self.cross[p][order[u]][:, order[v]]
            full[u * width : (u + 1) * width, v * width : (v + 1) * width] = cross
            full[v * width : (v + 1) * width, u * width : (u + 1) * width] = cross.T
        kept = owner * width + level
        gram = np.empty((len(columns) + 1, len(columns) + 1))
        gram[0, 0] = n
        gram[0, 1:] = gram[1:, 0] = counts
        gram[1:, 1:] = full[np.ix_(kept, kept)]
        gram[1 + np.arange(len(columns)), 1 + np.arange(len(columns))] = counts
        sums = np.concatenate([[total[1]], np.nan_to_num(mains.means * mains.counts)[owner, level]])
        inverse = np.asarray(np.linalg.pinv(gram, hermitian=True), dtype=np.float64)
        theta = np.asarray(inverse @ sums, dtype=np.float64)
        rss = float(total[2] - theta @ sums)
        return (theta, inverse, owner, rss, df_residual) if rss > 0 else None

    def _pairs(
        self, order: IntArray, n: int, sst: float, n_bootstrap: int, rng: np.random.Generator, pair_stats: FloatArray
    ) -> tuple[FloatArray, FloatArray, FloatArray, Groups]:
        """Interaction shares, F-test p-values and replicates of every pair, vectorised over pairs.

        The interaction sum of squares is the cells' minus the additive two-way model's, fitted by least
        squares on the cells' counts and sums: with unequal cell counts (any random design) the margins'
        sums of squares are not orthogonal, and subtracting them instead inflated the F test (8 % family-wise
        false positives on pure noise at 200 trials, not 5 %).
        """
        P, side = len(self.pairs), self.coarse.width
        if P == 0:
            empty = np.zeros(0)
            return empty, empty, np.zeros((n_bootstrap, 0)), Groups.of(np.zeros((0, 0, 3)), n, sst)
        first = order[[i for i, _ in self.pairs]]
        second = order[[j for _, j in self.pairs]]
        stats = np.take_along_axis(pair_stats, first[:, :, None, None], axis=1)
        stats = np.take_along_axis(stats, second[:, None, :, None], axis=2)
        cells = Groups.of(stats.reshape(P, side * side, 3), n, sst)
        rows = Groups.of(stats.sum(axis=2), n, sst)
        columns = Groups.of(stats.sum(axis=1), n, sst)
        df = cells.groups - rows.groups - columns.groups + 1
        counts = stats[..., 0]
        solver = _additive_solver(counts)
        sums = stats[..., 1]
        ss = cells.ss_between - _additive_ss(solver, sums, n)
        ms_within, df_within = _live_within(stats.reshape(P, side * side, 3), sst, n)
        # A pair test needs trials beyond its cells: with one or two left, MS_within is a difference of nearly
        # equal sums, and the last bits of streamed versus batch sums decided "interacts".
        ok = (df > 0) & (df_within >= MIN_RESIDUAL_DF) & (ms_within > 0) & (sst > 0)
        safe_df = np.maximum(df, 1)
        scale = sst if sst > 0 else 1.0
        shares = np.where(ok, (ss - df * ms_within) / scale, 0.0)
        statistic = np.where(ok, np.maximum(ss, 0.0) / safe_df / np.where(ok, ms_within, 1.0), 0.0)
        p_values = np.where(ok, fdtrc(safe_df, np.maximum(df_within, 1), statistic), np.nan)
        # Replicates: cell means drawn with their own noise; the spread of the interaction SS they give, around
        # its own mean, is the sampling spread of the share.
        drawn = cells.replicate_means(rng.standard_normal((n_bootstrap, P, side * side)))
        drawn_sums = (drawn * cells.counts).reshape(n_bootstrap, P, side, side)
        replicate_ss = cells.replicate_ss(drawn) - _additive_ss(solver, drawn_sums, n)
        spread = replicate_ss - replicate_ss.mean(axis=0, keepdims=True) if n_bootstrap else replicate_ss
        replicates = np.where(ok, shares + spread / scale, 0.0)
        return shares, p_values, np.broadcast_to(replicates, (n_bootstrap, P)).copy(), cells


def _live_within(cells: FloatArray, sst: float, n: int) -> tuple[FloatArray, FloatArray]:
    """Per pair, the within-cell mean square and its degrees of freedom over the cells that vary.

    A cell of several trials with one and the same metric (a branch whose metric is constant, runs stuck at
    chance accuracy) has no noise to measure; pooled in, it shrank MS_within and made an unread hyperparameter
    "interact" with the one that splits off that branch (p = 3e-7 on a conditional study). Left out, the test
    is conservative there: those cells add nothing to the interaction sum of squares either.
    """
    counts, sums, squares = cells[..., 0], cells[..., 1], cells[..., 2]
    within = np.maximum(squares - np.where(counts > 0, sums * sums / np.maximum(counts, 1.0), 0.0), 0.0)
    frozen = (counts >= 2) & (within <= 1e-12 * max(sst, 1e-300) * counts / max(n, 1))
    live = (counts > 0) & ~frozen
    df = np.where(live, counts - 1.0, 0.0).sum(axis=-1)
    total = np.where(live, within, 0.0).sum(axis=-1)
    return np.where(df > 0, total / np.maximum(df, 1.0), 0.0), df


def _additive_solver(counts: FloatArray) -> FloatArray:
    """Per pair (P, r, c) of cell counts, the pseudo-inverse of the additive model's normal equations.

    Unknowns: one effect per row and per column; equations: each row's and each column's sum.
    """
    P, r, c = counts.shape
    normal = np.zeros((P, r + c, r + c))
    normal[:, np.arange(r), np.arange(r)] = counts.sum(axis=2)
    normal[:, r + np.arange(c), r + np.arange(c)] = counts.sum(axis=1)
    normal[:, :r, r:] = counts
    normal[:, r:, :r] = counts.transpose(0, 2, 1)
    return np.asarray(np.linalg.pinv(normal, hermitian=True), dtype=np.float64)


def _additive_ss(solver: FloatArray, sums: FloatArray, n: int) -> FloatArray:
    """SS_between of the additive two-way fit from cell sums (..., P, r, c) (about any shift)."""
    b = np.concatenate([sums.sum(axis=-1), sums.sum(axis=-2)], axis=-1)
    theta = np.einsum("pij,...pj->...pi", solver, b)
    total = sums.sum(axis=(-1, -2))
    return np.asarray((theta * b).sum(axis=-1) - total * total / max(n, 1), dtype=np.float64)


def _append(store: ArrayT, rows: npt.NDArray[np.generic], n: int) -> ArrayT:
    """`rows` appended after the first n - len(rows) rows of `store`, grown by doubling."""
    start = n - len(rows)
    if len(store) < n:
        grown = np.zeros((max(n, 2 * len(store)), *store.shape[1:]), dtype=store.dtype)
        grown[:start] = store[:start]
        store = cast(ArrayT, grown)
    store[start:n] = rows
    return store


def _accumulate(stats: FloatArray, index: IntArray, y: FloatArray) -> None:
    stats[:, 0] += np.bincount(index, minlength=len(stats))
    _accumulate_sums(stats, index, y)


def _accumulate_sums(stats: FloatArray, index: npt.NDArray[np.signedinteger[Any]], y: FloatArray) -> None:
    size = len(stats)
    stats[:, 1] += np.bincount(index, weights=y, minlength=size)
    stats[:, 2] += np.bincount(index, weights=y * y, minlength=size)
