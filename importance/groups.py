"""Per-group (per-dataset) rankings and their pooled ranking.

Each group gets its own `NRReliefF`: neighbours are never searched across
datasets, whose metrics are not comparable. The pooled ranking is the
trial-count-weighted mean of the per-group importance vectors (docs/architecture.md,
"Pooling"), over the groups whose ranking is meaningful (importances sum to 1;
a group with a constant metric or no positive W has nothing to pool).
Pooled p-values combine the groups' by Stouffer's weighted z (weights
sqrt(n)), then Holm (`importance.significance.pool`). With two or more groups
the pooled entry also says how far the datasets agree (`importance.agreement`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from importance.agreement import agreement
from importance.anova import AnovaRanking
from importance.config import RankingConfig
from importance.nrrelieff import NRReliefF
from importance.ranking import Ranking
from importance.ranking_record import MATTERS, NO_DETECTABLE_EFFECT, POOLED, UNDETERMINED, RankingGroup
from importance.significance import Verdicts, pool
from importance.stability import StabilityTracker

FloatArray = npt.NDArray[np.float64]
MSG_NOTHING_TO_POOL = "no group has a meaningful ranking yet"
Estimator = NRReliefF | AnovaRanking


def estimator_for(
    config: RankingConfig,
    categorical: Sequence[bool] | npt.NDArray[np.bool_] | None = None,
    refresh_every: int = 50,
) -> Estimator:
    """A new estimator of the config's method: variance shares (anova) or N-RReliefF (fixed-scale, paper)."""
    if config.method == "anova":
        return AnovaRanking(categorical, config.bootstrap, config.seed, config.k, config.sigma, delta=config.delta)
    return NRReliefF(
        config.k,
        config.sigma,
        categorical,
        config.bootstrap,
        config.seed,
        block_size=config.relief_block_size,
        n_permutations=config.permutations,
        refresh_every=refresh_every,
    )


class GroupedRanking:
    """One NRReliefF per group plus the pooled ranking, with a stability tracker each."""

    def __init__(
        self,
        names: Sequence[str],
        categorical: Sequence[bool] | npt.NDArray[np.bool_] | None = None,
        config: RankingConfig | None = None,
        top_k: int = 3,
        refresh_every: int = 50,
    ) -> None:
        self.names = list(names)
        self.categorical = categorical
        self.config = config or RankingConfig()
        self.top_k = top_k
        self.block_size = self.config.relief_block_size
        self.refresh_every = refresh_every
        self.estimators: dict[str, Estimator] = {}
        self.trackers: dict[str, StabilityTracker] = {POOLED: self._tracker()}

    def _tracker(self) -> StabilityTracker:
        return StabilityTracker(top_k=self.top_k, window=self.config.window, names=self.names)

    def partial_fit(self, X: npt.ArrayLike, y: npt.ArrayLike, groups: Sequence[str]) -> GroupedRanking:
        X_arr, y_arr = np.asarray(X, dtype=np.float64), np.asarray(y, dtype=np.float64)
        labels = np.asarray(list(groups), dtype=object)
        if X_arr.ndim != 2 or X_arr.shape[1] != len(self.names) or not len(labels) == len(y_arr) == len(X_arr):
            raise ValueError(
                f"need X (n, {len(self.names)}), y (n,) and one group per row; "
                f"got X {X_arr.shape}, y {y_arr.shape}, {len(labels)} groups"
            )
        if POOLED in set(labels.tolist()):
            raise ValueError(f"group name {POOLED!r} is reserved for the pooled ranking")
        for group in dict.fromkeys(labels.tolist()):
            rows = labels == group
            estimator = self.estimators.get(group)
            if estimator is None:
                estimator = self._estimator()
                self.estimators[group] = estimator
                self.trackers[group] = self._tracker()
            estimator.partial_fit(X_arr[rows], y_arr[rows])
            self._track(group, estimator.result())
        self._track(POOLED, self.pooled())
        return self

    def _estimator(self) -> Estimator:
        # Distinct seeds per group keep replicates of different datasets independent.
        seed = self.config.seed + len(self.estimators)
        return estimator_for(self.config.model_copy(update={"seed": seed}), self.categorical, self.refresh_every)

    def _track(self, group: str, ranking: Ranking) -> None:
        self.trackers[group].update(
            ranking.n_trials, ranking.order, ranking.ci_low, ranking.ci_high, ranking.importances
        )

    def refresh_significance(self) -> None:
        """Test every group now (a stream tests every `refresh_every` trials; a final read-out wants it exact)."""
        for estimator in self.estimators.values():
            if estimator.tested_at_ != estimator.n_seen_:
                estimator.refresh_significance()

    @property
    def n_seen_(self) -> int:
        return sum(e.n_seen_ for e in self.estimators.values())

    def pooled(self) -> Ranking:
        """Trial-count-weighted means over meaningful groups, point estimate and each replicate."""
        useful = [e for e in self.estimators.values() if not e.message_]
        tested = [(e.n_seen_, e.result().verdicts) for e in (useful or self.estimators.values())]
        a, n_boot = len(self.names), self.config.bootstrap
        if not useful:
            zeros = np.zeros(a)
            verdicts = pool(tested, zeros, 0)
            nan = np.full(a, np.nan)
            replicates = np.zeros((n_boot, a))
            order = np.arange(a)
            return Ranking(
                self.n_seen_,
                zeros,
                zeros,
                replicates,
                replicates,
                zeros,
                zeros,
                nan,
                order,
                verdicts,
                MSG_NOTHING_TO_POOL,
            )
        share = np.array([e.n_seen_ for e in useful], dtype=np.float64)
        share /= share.sum()

        def mean(values: list[FloatArray]) -> FloatArray:
            return np.asarray(sum(w * v for w, v in zip(share, values, strict=True)), dtype=np.float64)

        raw = mean([e.raw_weights_ for e in useful])
        verdicts = pool(tested, raw, self.n_seen_)
        if self.config.method == "anova":
            _reassure_only_where_all_groups_do(verdicts, [v for _, v in tested])
        return Ranking.from_replicates(
            self.n_seen_,
            mean([e.importances_ for e in useful]),
            raw,
            mean([e.bootstrap_importances_ for e in useful]),
            mean([e.bootstrap_raw_weights_ for e in useful]),
            verdicts,
        )

    def snapshot(self) -> dict[str, RankingGroup]:
        """Every group's ranking record, then "pooled" (with the agreement across groups)."""
        out: dict[str, RankingGroup] = {}
        for group, e in self.estimators.items():
            out[group] = e.result().to_record(self.names, self.config.method, self.trackers[group].state())
            if isinstance(e, AnovaRanking):
                out[group] = e.with_effects(out[group], self.names)
        p = self.pooled()
        pooled = p.to_record(self.names, self.config.method, self.trackers[POOLED].state())
        useful = {g: e.importances_ for g, e in self.estimators.items() if not e.message_}
        positive = [int(i) for i in p.order if p.importances[i] > 0]
        found = agreement(self.names, useful, positive, self.top_k)
        out[POOLED] = pooled.model_copy(update={"agreement": None if found is None else found.record()})
        return out


def _reassure_only_where_all_groups_do(pooled: Verdicts, groups: list[Verdicts]) -> None:
    """A pooled "no detectable effect" needs each dataset's equivalence statement (their metric units differ)."""
    for j, verdict in enumerate(pooled.verdicts):
        every = bool(groups) and all(g.verdicts[j] == NO_DETECTABLE_EFFECT for g in groups)
        if every and verdict != MATTERS:
            pooled.verdicts[j] = NO_DETECTABLE_EFFECT
        elif verdict == NO_DETECTABLE_EFFECT and not every:
            pooled.verdicts[j] = UNDETERMINED
