"""One ranking read-out, whether of one estimator (one dataset) or pooled over datasets."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from importance.ranking_record import HyperparameterRank, RankingGroup, Stability
from importance.significance import Verdicts
from importance.uncertainty import percentile_interval, rank_order, rank_probability

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]


@dataclass(frozen=True)
class Ranking:
    """Importances with their bootstrap replicates, the order, the tests, and any caveat."""

    n_trials: int
    importances: FloatArray
    raw_weights: FloatArray
    replicates: FloatArray  # (B, a) bootstrap importances
    replicate_raw: FloatArray  # (B, a) bootstrap raw weights
    ci_low: FloatArray
    ci_high: FloatArray
    rank_probability: FloatArray
    order: IntArray  # indices, most important first
    verdicts: Verdicts
    message: str = ""

    @classmethod
    def from_replicates(
        cls,
        n_trials: int,
        importances: FloatArray,
        raw_weights: FloatArray,
        replicates: FloatArray,
        replicate_raw: FloatArray,
        verdicts: Verdicts,
        message: str = "",
    ) -> Ranking:
        """Order, CIs and P(rank) derived from the point estimate and its replicates."""
        order, low, high, probability = derive_order_and_intervals(importances, raw_weights, replicates, replicate_raw)
        return cls(
            n_trials,
            importances,
            raw_weights,
            replicates,
            replicate_raw,
            low,
            high,
            probability,
            order,
            verdicts,
            message,
        )

    def to_record(self, names: list[str], method: str, stability: Stability) -> RankingGroup:
        """The group's ranking record: a row per hyperparameter, most important first."""
        v = self.verdicts
        columns = [self.importances, self.ci_low, self.ci_high, self.rank_probability, self.raw_weights]
        columns += [v.p_values, v.p_adjusted, v.detectable]
        importance, low, high, probability, raw, p, adjusted, detectable = (_plain(c) for c in columns)
        rows = [
            HyperparameterRank(
                name=names[i],
                rank=place,
                importance=importance[i],
                ci_low=low[i],
                ci_high=high[i],
                rank_probability=probability[i],
                raw_weight=raw[i],
                p_value=p[i],
                p_adjusted=adjusted[i],
                verdict=v.verdicts[i],
                detectable=detectable[i],
            )
            for place, i in enumerate(self.order, start=1)
        ]
        return RankingGroup(
            n_trials=int(self.n_trials),
            method=method,
            rows=rows,
            verdict_note=v.note,
            tested_at=int(v.n_trials),
            stability=stability,
            message=self.message,
        )


class Readout(Protocol):
    """The learned state every estimator exposes (NRReliefF, AnovaRanking)."""

    n_seen_: int
    importances_: FloatArray
    raw_weights_: FloatArray
    bootstrap_importances_: FloatArray
    bootstrap_raw_weights_: FloatArray
    ci_low_: FloatArray
    ci_high_: FloatArray
    rank_probability_: FloatArray
    ranking_: IntArray
    message_: str


def ranking_of(estimator: Readout, verdicts: Verdicts) -> Ranking:
    """An estimator's current read-out as one `Ranking` (the same shape as a pooled ranking)."""
    return Ranking(
        estimator.n_seen_,
        estimator.importances_,
        estimator.raw_weights_,
        estimator.bootstrap_importances_,
        estimator.bootstrap_raw_weights_,
        estimator.ci_low_,
        estimator.ci_high_,
        estimator.rank_probability_,
        estimator.ranking_,
        verdicts,
        estimator.message_,
    )


def _plain(values: npt.ArrayLike) -> list[float | None]:
    """JSON has no NaN: unknown values become null."""
    return [float(v) if np.isfinite(v) else None for v in np.asarray(values, dtype=float)]


def derive_order_and_intervals(
    importances: FloatArray, raw_weights: FloatArray, replicates: FloatArray, replicate_raw: FloatArray
) -> tuple[IntArray, FloatArray, FloatArray, FloatArray]:
    """The order (best first), the 95% percentile interval and P(rank) of a point estimate and its replicates."""
    order = rank_order(importances, raw_weights)
    low, high = percentile_interval(replicates)
    return order, low, high, rank_probability(order, rank_order(replicates, replicate_raw))
