"""Rank the same trials with Optuna's fANOVA and PED-ANOVA, next to N-RReliefF.

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


Distributions = Mapping[str, Any] | Sequence[Mapping[str, Any]]  # one for all trials, or one per trial


def _per_trial(params: Sequence[Mapping[str, Any]], distributions: Distributions) -> list[dict[str, Any]]:
    """Each trial's distributions, restricted to the parameters it has."""
    if isinstance(distributions, Mapping):
        return [{n: distributions[n] for n in p} for p in params]
    if len(distributions) != len(params):
        raise ValueError(f"{len(distributions)} distributions for {len(params)} trials")
    return [{n: d[n] for n in p} for p, d in zip(params, distributions, strict=True)]


def _names(distributions: Distributions) -> list[str]:
    if isinstance(distributions, Mapping):
        return list(distributions)
    return list(dict.fromkeys(n for d in distributions for n in d))


def optuna_importances(
    method: str,
    params: Sequence[Mapping[str, Any]],
    distributions: Distributions,
    values: Sequence[float],
    direction: str = "maximize",
    seed: int = 0,
) -> dict[str, float]:
    """One Optuna evaluator's importances, normalised to sum 1, for every name in `distributions`.

    A parameter Optuna's evaluator leaves out (one not in every trial: Optuna ranks the
    intersection of the trials' spaces) gets 0.
    """
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    evaluator = _evaluator(method, seed)
    if direction not in ("maximize", "minimize"):
        raise ValueError(f"direction must be 'maximize' or 'minimize', got {direction!r}")
    study = optuna.create_study(direction="maximize" if direction == "maximize" else "minimize")
    study.add_trials(
        [
            optuna.trial.create_trial(params=dict(p), distributions=d, value=float(v))
            for p, d, v in zip(params, _per_trial(params, distributions), values, strict=False)
        ]
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PED-ANOVA is marked experimental
        found = optuna.importance.get_param_importances(study, evaluator=evaluator, normalize=False)
    raw = {name: max(float(found.get(name, 0.0)), 0.0) for name in _names(distributions)}
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
    distributions: Distributions,
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
