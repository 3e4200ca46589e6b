"""Rank the same trials with Optuna's fANOVA and PED-ANOVA (or any evaluator), next to sweeprank's ranking.

Optuna is imported inside the functions: the rest of `importance` stays
numpy-only, and the comparators are optional. We build an in-memory study from
finished trials and ask Optuna's own evaluators (no hand-written fANOVA).
Kendall's tau is computed over the hyperparameters' importance values.

Each trial is given only the distributions of the parameters it has (a conditional parameter
absent from a trial is absent from its distributions too, as in a real Optuna study); callers
that hold the study's own per-trial distributions pass them, so that a float's `step`, a log
scale and categorical choices reach Optuna's evaluators exactly as the study declared them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TypedDict

from importance.evaluator import OPTUNA_METHODS, FinishedTrials, evaluator

# What a sweep's ranking is compared with by default (any evaluator's name can be asked for).
METHODS = OPTUNA_METHODS


class MethodResult(TypedDict):
    """One comparator's normalised importances and its Kendall tau against N-RReliefF (None if undefined)."""

    importances: dict[str, float]
    kendall_tau: float | None


def kendall_tau(a: Mapping[str, float], b: Mapping[str, float]) -> float | None:
    """Kendall's tau-b between two importance maps over their common names; None if undefined."""
    from scipy.stats import kendalltau

    names = [n for n in a if n in b]
    if len(names) < 2:
        return None
    tau = kendalltau([a[n] for n in names], [b[n] for n in names]).statistic
    return None if tau != tau else float(tau)  # NaN when one side is constant


def compare(
    trials: FinishedTrials,
    ours: Mapping[str, float],
    methods: Sequence[str] = METHODS,
    seed: int = 0,
) -> dict[str, MethodResult]:
    """{method: {"importances": {name: share}, "kendall_tau": tau against `ours`}}, each through its evaluator."""
    out: dict[str, MethodResult] = {}
    for method in methods:
        importances = evaluator(method, seed=seed).importances(trials)
        out[method] = {"importances": importances, "kendall_tau": kendall_tau(ours, importances)}
    return out


def pool_comparisons(
    per_group: Mapping[str, tuple[int, Mapping[str, MethodResult]]],
    nrrelieff: Mapping[str, float],
    names: Sequence[str],
) -> dict[str, MethodResult]:
    """Pooled comparators, defined as the pooled N-RReliefF is (docs/architecture.md, "Pooling"):
    the trial-count-weighted mean of each method's per-group importances, with Kendall tau against
    the pooled N-RReliefF. `per_group`: group -> (trials, `compare`'s answer for that group)."""
    total = sum(n for n, _ in per_group.values())
    methods = {m for _, answer in per_group.values() for m in answer}
    out: dict[str, MethodResult] = {}
    for method in sorted(methods):
        pooled = {
            name: sum(n * answer[method]["importances"][name] for n, answer in per_group.values()) / total
            for name in names
        }
        out[method] = {"importances": pooled, "kendall_tau": kendall_tau(nrrelieff, pooled)}
    return out
