"""Does a hyperparameter matter at all? A permutation test per hyperparameter, and a verdict.

The neighbour lists depend only on the configurations, never on the metric, so
the null hypothesis "the metric does not depend on the hyperparameters" is
tested by shuffling the metric over the trials while the lists stay fixed:
each shuffle costs one pass over the (reference, neighbour) pairs, and all
shuffles together are one matrix product. For each hyperparameter the raw
weight W is compared with its null distribution:
- while shuffles are cheap (up to about 1,000 trials) there are at least
  `EXACT_PERMUTATIONS` of them and the p-value is the permutation test's own,
  (1 + #{null >= W}) / (P + 1): valid at any n, and fine enough for Holm;
- beyond that, a few hundred shuffles leave the tail too coarse, and the
  p-value is the tail of W's standardised distance from the null mean (normal,
  widened to Student-t for the estimated sd).
  W is a smooth function of sums over thousands of pairs, so its null is close
  to normal there; at a few hundred trials it is right-skewed and the normal
  tail gave 8 % family-wise false positives instead of 5 % (bench/bench_truth.py).

Under this global null an attribute with no effect among others that do have
one sits below the null mean (its neighbour differences crowd out those of the
attributes that matter), so the test is conservative for it.

Multiple testing: Holm's step-down adjustment across the hyperparameters of one
ranking controls the family-wise error rate at `alpha` under any dependence.

Verdicts:
- `matters`: Holm-adjusted p <= alpha and W > 0.
- `no_detectable_effect`: not significant, and an importance of `negligible`
  or more would have been detected with 80 % power (`detectable` says the
  smallest importance that would have been detected).
- `undetermined`: too few trials, a constant metric, or not significant while
  a non-negligible importance could still hide below the noise.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.special import ndtr, ndtri, stdtr

from importance.ranking_record import MATTERS, NO_DETECTABLE_EFFECT, UNDETERMINED

FloatArray = npt.NDArray[np.float64]


ALPHA = 0.05
POWER = 0.8
NEGLIGIBLE = 0.10  # an importance below this share is not worth tuning first
MIN_TRIALS = 30  # below this a permutation null of N-RReliefF is too lumpy to trust
EXACT_PERMUTATIONS = 1000  # from this many shuffles on, p-values are the permutation test's own
MAX_PERMUTATIONS = 2000
PERMUTATION_BUDGET = 10_000_000  # (pairs x shuffles) per test: about 0.05 s here
TOO_FEW_TO_TEST = f"fewer than {MIN_TRIALS} trials: too few to test for an effect"


def holm(p_values: FloatArray) -> FloatArray:
    """Holm's step-down adjusted p-values (monotone, capped at 1), in the input order."""
    p = np.asarray(p_values, dtype=np.float64)
    m = len(p)
    if m == 0:
        return p.copy()
    order = np.argsort(p, kind="stable")
    stepped = np.minimum(1.0, (m - np.arange(m)) * p[order])
    adjusted = np.empty(m)
    adjusted[order] = np.maximum.accumulate(stepped)
    return adjusted


def permutations_for(n_pairs: int, minimum: int) -> int:
    """Shuffles to draw for a test over `n_pairs` (reference, neighbour) pairs: many while cheap."""
    affordable = PERMUTATION_BUDGET // max(n_pairs, 1)
    return int(max(minimum, min(MAX_PERMUTATIONS, affordable)))


def permutation_p_values(observed: FloatArray, null: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    """One-sided p of `observed` (a,) against null replicates (P, a); also the null mean and sd."""
    mean = null.mean(axis=0) if len(null) else np.zeros(observed.shape)
    sd = null.std(axis=0, ddof=1) if len(null) > 1 else np.zeros(observed.shape)
    if len(null) >= EXACT_PERMUTATIONS:
        # Ties count against the observed W (>=), as a permutation test must.
        exceed = (null >= observed[None, :] - 1e-12).sum(axis=0)
        return (1.0 + exceed) / (len(null) + 1.0), mean, sd
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(sd > 0, (observed - mean) / np.where(sd > 0, sd, 1.0), np.where(observed > mean, np.inf, -np.inf))
    # The mean and sd are estimated from P shuffles: a new draw from that null is Student-t
    # with P - 1 degrees of freedom and scale sd * sqrt(1 + 1/P), a little wider than normal.
    p = stdtr(len(null) - 1, -z / np.sqrt(1.0 + 1.0 / len(null)))
    return np.asarray(p, dtype=np.float64), mean, sd


@dataclass
class Verdicts:
    """Per-hyperparameter test results, aligned with the ranking's names."""

    p_values: FloatArray
    p_adjusted: FloatArray
    verdicts: list[str]
    detectable: FloatArray
    note: str = ""
    n_trials: int = 0

    @classmethod
    def undetermined(cls, n_features: int, note: str, n_trials: int = 0) -> Verdicts:
        nan = np.full(n_features, np.nan)
        return cls(nan, nan.copy(), [UNDETERMINED] * n_features, nan.copy(), note, n_trials)


def detectable_share(raw_weights: FloatArray, detectable_w: FloatArray) -> FloatArray:
    """The importance share an attribute would get if its W were `detectable_w`, the others unchanged."""
    positive = np.maximum(raw_weights, 0.0)
    others = positive.sum() - positive
    w = np.maximum(detectable_w, 0.0)
    total = others + w
    return np.where(total > 0, w / np.where(total > 0, total, 1.0), 1.0)


@dataclass(frozen=True)
class VerdictRule:
    """The thresholds of the verdicts (module docstring)."""

    alpha: float = ALPHA
    negligible: float = NEGLIGIBLE
    min_trials: int = MIN_TRIALS


def judge(
    raw_weights: FloatArray,
    p_values: FloatArray,
    detectable: FloatArray,
    n_trials: int,
    message: str = "",
    rule: VerdictRule = VerdictRule(),
) -> Verdicts:
    """Verdicts from p-values and detectable shares; `message` (constant metric...) makes all undetermined."""
    a = len(raw_weights)
    if n_trials < rule.min_trials:
        note = TOO_FEW_TO_TEST if rule.min_trials == MIN_TRIALS else f"fewer than {rule.min_trials} trials"
        return Verdicts.undetermined(a, note, n_trials)
    if message and not np.isfinite(p_values).any():
        return Verdicts.undetermined(a, message, n_trials)
    adjusted = holm(p_values)
    verdicts = [
        MATTERS
        if adj <= rule.alpha and w > 0
        else NO_DETECTABLE_EFFECT
        if np.isfinite(det) and det <= rule.negligible
        else UNDETERMINED
        for adj, w, det in zip(adjusted, raw_weights, detectable, strict=True)
    ]
    return Verdicts(np.asarray(p_values, dtype=np.float64), adjusted, verdicts, detectable, "", n_trials)


def judge_against_null(
    raw_weights: FloatArray, null: FloatArray, n_trials: int, message: str = "", rule: VerdictRule = VerdictRule()
) -> Verdicts:
    """Verdicts of one ranking from its raw W (a,) and the permutation null replicates (P, a)."""
    a = len(raw_weights)
    if message or len(null) < 2:
        return Verdicts.undetermined(a, message or "no permutation null computed", n_trials)
    p, mean, sd = permutation_p_values(raw_weights, null)
    # The W that a Bonferroni-level one-sided test would pass with the target power.
    detectable_w = mean + sd * (ndtri(1.0 - rule.alpha / a) + ndtri(POWER))
    # A hyperparameter that never differs between neighbours (held fixed) cannot be judged at all.
    detectable = np.where(sd > 0, detectable_share(raw_weights, detectable_w), np.nan)
    return judge(raw_weights, p, detectable, n_trials, "", rule)


def pool(groups: Sequence[tuple[int, Verdicts]], raw_weights: FloatArray, n_trials: int) -> Verdicts:
    """Pooled verdicts: Stouffer's z over the groups (weights sqrt(n)), then Holm; detectable as the
    trial-weighted mean of the groups' (a dataset-independent effect must show in the weighted sum)."""
    a = len(raw_weights)
    tested = [(n, v) for n, v in groups if np.isfinite(v.p_values).all()]
    if not tested:
        notes = sorted({v.note for _, v in groups if v.note})
        return Verdicts.undetermined(a, "; ".join(notes) or "no group has been tested yet", n_trials)
    weights = np.sqrt(np.array([n for n, _ in tested], dtype=np.float64))
    z = np.stack([ndtri(1.0 - np.clip(v.p_values, 1e-300, 1.0 - 1e-16)) for _, v in tested])
    combined = (weights[:, None] * z).sum(axis=0) / np.sqrt((weights**2).sum())
    p = np.asarray(ndtr(-combined), dtype=np.float64)
    counts = np.array([n for n, _ in tested], dtype=np.float64)
    detectable = (counts[:, None] * np.stack([v.detectable for _, v in tested])).sum(axis=0) / counts.sum()
    return judge(raw_weights, p, detectable, n_trials)
