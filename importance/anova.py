"""The default ranking: variance shares from effect tables, N-RReliefF alongside, verdicts that never falsely reassure.

Why not N-RReliefF's own weights (docs/architecture.md, "The importance engine")
--------------------------------------------------------------------------------
On real sweeps N-RReliefF's W ranks well below fANOVA and misses large effects:
a categorical whose nearest neighbours all share its value gets W = 0 however
large its effect, a stronger hyperparameter crowds out the neighbour contrast
of weaker ones, and divergent runs own the metric's range. bench/bench_truth.py
measures the alternatives on the same samples; the default ranks each
hyperparameter by its estimated TOTAL variance share (main effect plus every
pairwise interaction it is part of, `importance.effects`), which is what the
goal compares with, and keeps N-RReliefF's W (fixed-scale) in every ranking
as a second view (`relief_weights`). `--method fixed-scale` and `--method
paper` still rank by N-RReliefF.

Importance I_A = max(T_A, 0) / sum_B max(T_B, 0) with T_A = S_A + sum_B S_AB
over the pairs whose interaction test is significant in the family below:
every pair's estimate is unbiased but noisy (a hyperparameter is in a - 1 of
them), and summing the noise of all of them swamped the main effects at a few
hundred trials; a real interaction is detected long before it matters for the
order. Raw weights are T_A (a share of the metric's variance, slightly negative
by noise). CIs and P(rank) come from the tables' replicates.

Verdicts (one family, Holm)
---------------------------
The family is every main-effect F test and every pairwise interaction F test;
Holm's step-down controls the family-wise error at alpha under any dependence.
- `matters`: the hyperparameter's main test or one of its interaction tests is
  rejected.
- `no_detectable_effect`: only as an equivalence statement in metric units:
  no level's mean is farther than delta from the overall mean (95% bound,
  simultaneous over the levels), and
  none of its interaction tests is significant even before the family
  adjustment (Bonferroni over its own pairs only, which is stricter).
  delta defaults to `DELTA_SD` robust standard deviations of the metric
  (interquartile range / 1.349: divergent runs cannot inflate it) and can be
  set in metric units.
- `undetermined`: anything else (too few trials, or an effect smaller than the
  noise that could still exceed delta).
N-RReliefF's permutation test is not in the family: it tests the global null
(the metric shuffled), not "this hyperparameter has no effect given the others".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

import numpy as np
import numpy.typing as npt

from importance.effects import Z95, Decomposition, EffectTables
from importance.nrrelieff import MSG_CONSTANT, MSG_TOO_FEW, NRReliefF
from importance.ranking import Ranking, derive_order_and_intervals, ranking_of
from importance.ranking_record import Effect, EffectLevel, Interaction, LargestDifference, PairVerdict, RankingGroup
from importance.significance import (
    ALPHA,
    MATTERS,
    MIN_TRIALS,
    NO_DETECTABLE_EFFECT,
    TOO_FEW_TO_TEST,
    UNDETERMINED,
    Verdicts,
    holm,
)
from importance.uncertainty import normalise

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

DELTA_SD = 0.2  # the default delta in robust SDs of the metric: Cohen's "small" standardised difference
# The tests (on the metric's ranks, which every new trial shifts: O(n) to recount) and the replicates (CIs,
# P(rank)) are redone once the trial count has grown by this share since they were (every trial up to 50
# trials), so a live verdict or CI lags by at most 2 % of the trials (`tested_at` says where); point estimates
# and effects never lag. A final read-out (refresh_significance) brings them up to date.
REPLICATE_EVERY = 0.02
TOP_PAIRS = 3  # pairs whose cell means a ranking record carries (all pairs carry their share and test)
MSG_NO_SHARE = "no hyperparameter explains any of the metric's variance beyond noise"
_IQR_TO_SD = 1.349  # interquartile range of a normal distribution in SDs


@dataclass(frozen=True)
class EffectsReadout:
    """What the default ranking adds to a record: effects in metric units, interactions and delta."""

    decomposition: Decomposition
    delta: float
    relief_weights: FloatArray
    family_adjusted: FloatArray  # Holm-adjusted p of [mains..., pairs...]
    pair_verdicts: list[str]


class AnovaRanking:
    """Variance-share importances with exact streaming tables, replicate CIs and equivalence verdicts.

    The same learned-state names as `NRReliefF` (`importances_`, `raw_weights_`, `bootstrap_*`,
    `n_seen_`, `message_`, `tested_at_`), so groups and pooling treat both alike.
    """

    method = "anova"

    def __init__(
        self,
        categorical: Sequence[bool] | BoolArray | None = None,
        n_bootstrap: int = 200,
        random_state: int = 0,
        n_neighbors: int = 10,
        sigma: float = 20.0,
        delta: float | None = None,
        alpha: float = ALPHA,
    ) -> None:
        self.categorical = categorical
        self.n_bootstrap = n_bootstrap
        self.random_state = random_state
        self.n_neighbors = n_neighbors
        self.sigma = sigma
        self.delta = delta
        self.alpha = alpha
        self._tables: EffectTables | None = None
        self._relief = self._new_relief()
        self._reset()

    def fit(self, X: npt.ArrayLike, y: npt.ArrayLike) -> AnovaRanking:
        self._reset()
        return self.partial_fit(X, y)

    def partial_fit(self, X_new: npt.ArrayLike, y_new: npt.ArrayLike) -> AnovaRanking:
        X = np.asarray(X_new, dtype=np.float64)
        y = np.asarray(y_new, dtype=np.float64).ravel()
        if X.ndim != 2 or len(X) != len(y):
            raise ValueError(f"need X (n, a) and y (n,) with the same n; got X {X.shape}, y {y.shape}")
        if len(y) == 0:
            return self
        if self._tables is None:
            mask = np.zeros(X.shape[1], dtype=bool) if self.categorical is None else np.asarray(self.categorical)
            self._tables = EffectTables(mask)
        self._relief.partial_fit(X, y)
        self._tables.add(X, y)
        n = self._tables.n
        self._read_out(replicate=n - self._replicated_at >= max(1.0, REPLICATE_EVERY * n))
        return self

    def refresh_significance(self) -> None:
        """Bring the tests and the replicates (CIs, P(rank)) up to the trials seen."""
        if self._tables is not None and self._replicated_at != self.n_seen_:
            self._read_out(replicate=True)

    def result(self) -> Ranking:
        return ranking_of(self, self.verdicts_)

    # -- read-out

    def _reset(self) -> None:
        self._tables = None
        self._replicated_at = 0
        self._replicates = (np.zeros((0, 0)), np.zeros((0, 0)))
        self._tests = (np.zeros(0), np.zeros(0))
        self._relief = self._new_relief()
        self.n_seen_ = 0
        self.tested_at_ = 0
        self.message_ = MSG_TOO_FEW
        self.readout_: EffectsReadout | None = None
        empty = np.zeros(0)
        self.importances_ = self.raw_weights_ = self.ci_low_ = self.ci_high_ = self.rank_probability_ = empty
        self.bootstrap_importances_ = self.bootstrap_raw_weights_ = np.zeros((0, 0))
        self.ranking_ = np.zeros(0, dtype=np.intp)
        self.verdicts_ = Verdicts.undetermined(0, MSG_TOO_FEW)

    def _new_relief(self) -> NRReliefF:
        # Fixed-scale N-RReliefF for its W only; its permutation test is not a verdict here (module docstring).
        return NRReliefF(
            self.n_neighbors,
            self.sigma,
            self.categorical,
            n_bootstrap=0,
            random_state=self.random_state,
            refresh_every=1 << 62,
            n_permutations=0,
        )

    def _read_out(self, replicate: bool) -> None:
        assert self._tables is not None
        decomposition = self._tables.decompose(self.n_bootstrap if replicate else 0, self.random_state, replicate)
        n = decomposition.n
        if replicate:
            self._replicated_at = n
            self._replicates = (decomposition.main_replicates, decomposition.pair_replicates)
            self._tests = (decomposition.main_p, decomposition.pair_p)
        elif self._tests[0].shape == decomposition.main_p.shape and self._tests[1].shape == decomposition.pair_p.shape:
            decomposition.main_p, decomposition.pair_p = self._tests
            if self._replicates[0].shape[1:] == decomposition.main_replicates.shape[1:]:
                decomposition.main_replicates, decomposition.pair_replicates = self._replicates
        self.n_seen_ = n
        self.tested_at_ = self._replicated_at
        self.message_ = MSG_TOO_FEW if n < 2 else MSG_CONSTANT if decomposition.sd == 0 else ""
        delta = self.delta if self.delta is not None else DELTA_SD * _robust_sd(self._tables.values[: self._tables.n])
        self.verdicts_, adjusted, pair_verdicts = self._judge(decomposition, delta)
        # An interaction counts once its test says so, and never before there are enough trials to test.
        counted = (adjusted[len(decomposition.level_keys) :] <= self.alpha) & (n >= MIN_TRIALS)
        totals = decomposition.totals(counted)
        boot_raw = decomposition.replicate_totals(counted)
        if not self.message_ and (totals <= 0).all():
            self.message_ = MSG_NO_SHARE
        self.raw_weights_ = totals
        self.importances_ = normalise(totals)
        self.bootstrap_raw_weights_ = boot_raw
        self.bootstrap_importances_ = normalise(boot_raw)
        self.ranking_, self.ci_low_, self.ci_high_, self.rank_probability_ = derive_order_and_intervals(
            self.importances_, self.raw_weights_, self.bootstrap_importances_, self.bootstrap_raw_weights_
        )
        self.readout_ = EffectsReadout(decomposition, delta, self._relief.raw_weights_, adjusted, pair_verdicts)

    def _judge(self, d: Decomposition, delta: float) -> tuple[Verdicts, FloatArray, list[str]]:
        a, n = len(d.level_keys), d.n
        family = np.concatenate([d.main_p, d.pair_p])
        tested = np.isfinite(family)
        adjusted = np.full(len(family), np.nan)
        adjusted[tested] = holm(family[tested])
        if n < MIN_TRIALS or self.message_ in (MSG_TOO_FEW, MSG_CONSTANT):
            note = TOO_FEW_TO_TEST if n < MIN_TRIALS else self.message_
            return Verdicts.undetermined(a, note, n), adjusted, [UNDETERMINED] * len(d.pairs)
        # (a, P) membership of each hyperparameter in each pair; a pair's p sits at the pair's column.
        member = d.incidence.T > 0
        pair_p = np.where(member, np.where(np.isfinite(d.pair_p), d.pair_p, np.inf)[None, :], np.inf)
        pair_adjusted = np.where(member, np.where(np.isfinite(adjusted[a:]), adjusted[a:], np.inf)[None, :], np.inf)
        main_p = np.where(np.isfinite(d.main_p), d.main_p, np.inf)
        main_adjusted = np.where(np.isfinite(adjusted[:a]), adjusted[:a], np.inf)
        n_tests = 1 + member.sum(axis=1)
        lowest = np.minimum(main_p, pair_p.min(axis=1, initial=np.inf))
        # Bonferroni over its own tests: a valid p for "no main effect and no pairwise interaction".
        p_values = np.where(np.isfinite(lowest), np.minimum(1.0, n_tests * lowest), np.nan)
        best = np.minimum(main_adjusted, pair_adjusted.min(axis=1, initial=np.inf))
        p_adjusted = np.where(np.isfinite(best), best, np.nan)
        quiet = pair_p.min(axis=1, initial=np.inf) * np.maximum(n_tests - 1, 1) > self.alpha
        verdicts = [
            MATTERS
            if p_adjusted[j] <= self.alpha
            else NO_DETECTABLE_EFFECT
            if d.equivalence[j] < delta and quiet[j]
            else UNDETERMINED
            for j in range(a)
        ]
        pair_verdicts = [MATTERS if adj <= self.alpha else UNDETERMINED for adj in adjusted[a:]]
        # `detectable` (an importance share) does not apply: the equivalence bound in metric units replaces it.
        return Verdicts(p_values, p_adjusted, verdicts, np.full(a, np.nan), "", n), adjusted, pair_verdicts

    # -- the record's extra fields

    def with_effects(self, group: RankingGroup, names: Sequence[str]) -> RankingGroup:
        """The group's record with each row's effect, the interactions and delta (metric as ranked)."""
        if self.readout_ is None:
            return group
        r = self.readout_
        d = r.decomposition
        a = len(d.level_keys)
        categorical = np.zeros(a, dtype=bool) if self.categorical is None else np.asarray(self.categorical)
        relief = r.relief_weights if len(r.relief_weights) == a else np.full(a, np.nan)
        main_low, main_high = _interval(d.main_replicates)
        errors = d.mains.standard_errors
        effects: dict[str, Effect] = {}
        for j in range(a):
            levels = [
                EffectLevel(
                    key=key,
                    n=int(d.mains.counts[j, i]),
                    mean=d.mains.means[j, i] + d.shift,
                    ci_low=d.mains.means[j, i] + d.shift - Z95 * errors[j, i],
                    ci_high=d.mains.means[j, i] + d.shift + Z95 * errors[j, i],
                    u_min=d.u_min[j, i],
                    u_max=d.u_max[j, i],
                )
                for i, key in enumerate(d.level_keys[j])
            ]
            largest = d.largest_difference(j, bool(categorical[j]))
            effects[names[j]] = Effect(
                main_share=d.main_shares[j],
                main_ci=[main_low[j], main_high[j]],
                total_share=self.raw_weights_[j],
                p_main=d.main_p[j],
                relief_weight=relief[j],
                equivalence_bound=d.equivalence[j],
                levels=levels,
                largest=None
                if largest is None
                else LargestDifference(
                    from_key=largest[0],
                    to_key=largest[1],
                    difference=largest[2],
                    ci_low=largest[2] - largest[3],
                    ci_high=largest[2] + largest[3],
                ),
            )
        pair_low, pair_high = _interval(d.pair_replicates)
        order = sorted(range(len(d.pairs)), key=lambda p: -d.pair_shares[p])
        interactions: list[Interaction] = []
        for rank, p in enumerate(order):
            first, second = d.pairs[p]
            cells = {}
            if rank < TOP_PAIRS:
                rows, columns = len(d.pair_keys[first]), len(d.pair_keys[second])
                side = int(np.sqrt(d.cells.counts.shape[-1]))
                counts = d.cells.counts[p].reshape(side, side)[:rows, :columns]
                means = d.cells.means[p].reshape(side, side)[:rows, :columns] + d.shift
                cells = {
                    "first_keys": d.pair_keys[first],
                    "second_keys": d.pair_keys[second],
                    "cell_means": means.tolist(),
                    "cell_counts": counts.astype(int).tolist(),
                }
            interactions.append(
                Interaction(
                    first=names[first],
                    second=names[second],
                    share=d.pair_shares[p],
                    ci_low=pair_low[p],
                    ci_high=pair_high[p],
                    p_value=d.pair_p[p],
                    p_adjusted=r.family_adjusted[a + p],
                    verdict=cast(PairVerdict, r.pair_verdicts[p]),
                    **cells,
                )
            )
        return group.model_copy(
            update={
                "rows": [row.model_copy(update={"effect": effects[row.name]}) for row in group.rows],
                "delta": _num(r.delta),
                "metric_mean": _num(d.mean),
                "metric_sd": _num(d.sd),
                "interactions": interactions,
            }
        )


def _robust_sd(y: FloatArray) -> float:
    if len(y) < 2:
        return 0.0
    q1, q3 = np.percentile(y, [25.0, 75.0])
    spread = float(q3 - q1) / _IQR_TO_SD
    return spread if spread > 0 else float(np.std(y, ddof=1))


def _interval(replicates: FloatArray) -> tuple[FloatArray, FloatArray]:
    if replicates.shape[0] == 0:
        nan = np.full(replicates.shape[1], np.nan)
        return nan, nan
    low, high = np.percentile(replicates, [2.5, 97.5], axis=0)
    return np.asarray(low), np.asarray(high)


def _num(value: float) -> float | None:
    """JSON has no NaN or infinity: unknown values become null."""
    v = float(value)
    return v if np.isfinite(v) else None
