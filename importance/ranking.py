"""One ranking read-out, whether of one estimator (one dataset) or pooled over datasets."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NotRequired, Protocol, TypedDict

import numpy as np
import numpy.typing as npt

from importance.agreement import AgreementState
from importance.significance import Verdicts
from importance.stability import StabilityState
from importance.uncertainty import percentile_interval, rank_order, rank_probability

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]


class LevelEntry(TypedDict):
    """One level of a hyperparameter: the mean metric of its trials with a 95% CI (metric as ranked)."""

    key: int  # a categorical's code, a numeric hyperparameter's bin, -1 for "not applicable"
    n: int
    mean: float | None
    ci_low: float | None
    ci_high: float | None
    u_min: float | None  # observed unit positions in the level (numeric hyperparameters)
    u_max: float | None


class LargestEntry(TypedDict):
    """The largest difference between two levels' means, from one level to the other, with a 95% CI that is
    simultaneous over all pairs of levels (the pair was picked for being the most different)."""

    from_key: int
    to_key: int
    difference: float | None
    ci_low: float | None
    ci_high: float | None


class EffectEntry(TypedDict):
    """One hyperparameter's effect in metric units and its variance shares (importance.anova)."""

    name: str
    main_share: float | None
    main_ci: list[float | None]
    total_share: float | None
    p_main: float | None
    relief_weight: float | None
    equivalence_bound: float | None  # no level's mean is farther from the overall mean (95% simultaneous)
    levels: list[LevelEntry]
    largest: LargestEntry | None


class InteractionEntry(TypedDict):
    """One pair's interaction share with its test; the top pairs carry their table of cell means."""

    first: str
    second: str
    share: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    p_adjusted: float | None
    verdict: str
    first_keys: NotRequired[list[int]]
    second_keys: NotRequired[list[int]]
    cell_means: NotRequired[list[list[float | None]]]
    cell_counts: NotRequired[list[list[int]]]


class GroupEntry(TypedDict):
    """One group of a ranking read-out, plain and JSON-able (lists aligned with `names`; NaN is None).

    Callers outside `importance` validate it into their record model (trials.records.RankingGroup).
    """

    n_trials: int
    method: str
    names: list[str]
    importances: list[float | None]
    raw_weights: list[float | None]
    ci_low: list[float | None]
    ci_high: list[float | None]
    rank_probability: list[float | None]
    ranking: list[str]
    p_values: list[float | None]
    p_adjusted: list[float | None]
    verdicts: list[str]
    detectable: list[float | None]
    verdict_note: str
    tested_at: int
    stability: StabilityState
    message: str
    agreement: NotRequired[AgreementState | None]  # the pooled group only
    # The anova method's groups (not pooled: each dataset's metric has its own units).
    delta: NotRequired[float | None]
    metric_mean: NotRequired[float | None]
    metric_sd: NotRequired[float | None]
    effects: NotRequired[list[EffectEntry]]
    interactions: NotRequired[list[InteractionEntry]]


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

    def to_record(self, names: list[str], method: str, stability: StabilityState) -> GroupEntry:
        """The plain, JSON-able group entry of a ranking record."""
        return {
            "n_trials": int(self.n_trials),
            "method": method,
            "names": list(names),
            "importances": _plain(self.importances),
            "raw_weights": _plain(self.raw_weights),
            "ci_low": _plain(self.ci_low),
            "ci_high": _plain(self.ci_high),
            "rank_probability": _plain(self.rank_probability),
            "ranking": [names[i] for i in self.order],
            "p_values": _plain(self.verdicts.p_values),
            "p_adjusted": _plain(self.verdicts.p_adjusted),
            "verdicts": list(self.verdicts.verdicts),
            "detectable": _plain(self.verdicts.detectable),
            "verdict_note": self.verdicts.note,
            "tested_at": int(self.verdicts.n_trials),
            "stability": stability,
            "message": self.message,
        }


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


def _plain(values: FloatArray) -> list[float | None]:
    """JSON has no NaN: unknown values become null."""
    return [float(v) if np.isfinite(v) else None for v in np.asarray(values, dtype=float)]


def derive_order_and_intervals(
    importances: FloatArray, raw_weights: FloatArray, replicates: FloatArray, replicate_raw: FloatArray
) -> tuple[IntArray, FloatArray, FloatArray, FloatArray]:
    """The order (best first), the 95% percentile interval and P(rank) of a point estimate and its replicates."""
    order = rank_order(importances, raw_weights)
    low, high = percentile_interval(replicates)
    return order, low, high, rank_probability(order, rank_order(replicates, replicate_raw))
