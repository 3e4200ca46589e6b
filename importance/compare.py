"""Rank the same trials with Optuna's fANOVA and PED-ANOVA, next to N-RReliefF.

Optuna is imported inside the functions: the rest of `importance` stays
numpy-only, and the comparators are optional. We build an in-memory study from
finished trials and ask Optuna's own evaluators (no hand-written fANOVA).
Kendall's tau is computed over the hyperparameters' importance values.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any, TypedDict

METHODS = ("fanova", "ped-anova")


class MethodResult(TypedDict):
    """One comparator's normalised importances and its Kendall tau against N-RReliefF (None if undefined)."""

    importances: dict[str, float]
    kendall_tau: float | None


def _evaluator(method: str, seed: int) -> Any:
    from optuna.importance import FanovaImportanceEvaluator, PedAnovaImportanceEvaluator

    if method == "fanova":
        return FanovaImportanceEvaluator(seed=seed)
    if method == "ped-anova":
        return PedAnovaImportanceEvaluator()
    raise ValueError(f"unknown comparison method {method!r}; known: {list(METHODS)}")


def optuna_importances(
    method: str,
    params: Sequence[Mapping[str, Any]],
    distributions: Mapping[str, Any],
    values: Sequence[float],
    direction: str = "maximize",
    seed: int = 0,
) -> dict[str, float]:
    """One Optuna evaluator's importances, normalised to sum 1, for every name in `distributions`."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    evaluator = _evaluator(method, seed)
    if direction not in ("maximize", "minimize"):
        raise ValueError(f"direction must be 'maximize' or 'minimize', got {direction!r}")
    study = optuna.create_study(direction="maximize" if direction == "maximize" else "minimize")
    study.add_trials(
        [
            optuna.trial.create_trial(params=dict(p), distributions=dict(distributions), value=float(v))
            for p, v in zip(params, values, strict=False)
        ]
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PED-ANOVA is marked experimental
        found = optuna.importance.get_param_importances(study, evaluator=evaluator, normalize=False)
    raw = {name: max(float(found.get(name, 0.0)), 0.0) for name in distributions}
    total = sum(raw.values())
    return {name: (value / total if total > 0 else 0.0) for name, value in raw.items()}


def kendall_tau(a: Mapping[str, float], b: Mapping[str, float]) -> float | None:
    """Kendall's tau-b between two importance maps over their common names; None if undefined."""
    from scipy.stats import kendalltau

    names = [n for n in a if n in b]
    if len(names) < 2:
        return None
    tau = kendalltau([a[n] for n in names], [b[n] for n in names]).statistic
    return None if tau != tau else float(tau)  # NaN when one side is constant


def compare(
    params: Sequence[Mapping[str, Any]],
    distributions: Mapping[str, Any],
    values: Sequence[float],
    nrrelieff: Mapping[str, float],
    direction: str = "maximize",
    methods: Sequence[str] = METHODS,
    seed: int = 0,
) -> dict[str, MethodResult]:
    """{method: {"importances": {name: share}, "kendall_tau": tau vs N-RReliefF}}."""
    out: dict[str, MethodResult] = {}
    for method in methods:
        importances = optuna_importances(method, params, distributions, values, direction, seed)
        out[method] = {"importances": importances, "kendall_tau": kendall_tau(nrrelieff, importances)}
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
