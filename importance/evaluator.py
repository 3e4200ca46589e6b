"""One interface for every importance method: finished trials in, a share per hyperparameter out.

sweeprank's own methods (variance shares, N-RReliefF) and Optuna's fANOVA and PED-ANOVA answer the
same call on the same trials, so a comparison, a benchmark or a contract test treats them alike
(Optuna's `BaseImportanceEvaluator` is the model). The Optuna-facing evaluator of sweeprank's
ranking (`offline.optuna_evaluator.NRReliefFImportanceEvaluator`) sits beside this, on studies.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from importance.config import METHODS, RankingConfig

OPTUNA_METHODS = ("fanova", "ped-anova")
Distributions = Mapping[str, Any] | Sequence[Mapping[str, Any]]  # one for all trials, or one per trial


def _optuna_evaluator(method: str, seed: int) -> Any:
    from optuna.importance import FanovaImportanceEvaluator, PedAnovaImportanceEvaluator

    if method == "fanova":
        return FanovaImportanceEvaluator(seed=seed)
    if method == "ped-anova":
        return PedAnovaImportanceEvaluator()
    raise ValueError(f"unknown Optuna method {method!r}; known: {list(OPTUNA_METHODS)}")


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
    found_by = _optuna_evaluator(method, seed)
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
        found = optuna.importance.get_param_importances(study, evaluator=found_by, normalize=False)
    raw = {name: max(float(found.get(name, 0.0)), 0.0) for name in _names(distributions)}
    total = sum(raw.values())
    return {name: (value / total if total > 0 else 0.0) for name, value in raw.items()}


@dataclass(frozen=True)
class FinishedTrials:
    """The same trials in both forms: encoded for sweeprank's methods, as params for Optuna's.

    `y` is higher-is-better (a minimised metric is already negated), so every method maximises.
    """

    names: list[str]
    categorical: npt.NDArray[np.bool_]
    X: npt.NDArray[np.float64]
    y: npt.NDArray[np.float64]
    params: Sequence[Mapping[str, Any]]
    distributions: Distributions


class Evaluator(Protocol):
    @property
    def name(self) -> str: ...

    def importances(self, trials: FinishedTrials) -> dict[str, float]:
        """Each hyperparameter's share, summing to 1 (all 0 when nothing explains the metric)."""
        ...


@dataclass(frozen=True)
class SweeprankEvaluator:
    """The point estimate of one of sweeprank's methods (no bootstrap, no tests)."""

    config: RankingConfig

    @property
    def name(self) -> str:
        return self.config.method

    def importances(self, trials: FinishedTrials) -> dict[str, float]:
        # Imported here: the trial tables (trials.encoding) that every command reads build on this module, and
        # the estimators load scipy, a second's start-up, which a command that only prints a ranking spares.
        from importance.groups import estimator_for

        estimator = estimator_for(self.config.model_copy(update={"bootstrap": 0}), trials.categorical)
        estimator.partial_fit(trials.X, trials.y)
        return {name: float(share) for name, share in zip(trials.names, estimator.importances_, strict=True)}


@dataclass(frozen=True)
class OptunaEvaluator:
    """Optuna's own fANOVA or PED-ANOVA evaluator on an in-memory study of the trials."""

    name: str
    seed: int = 0

    def importances(self, trials: FinishedTrials) -> dict[str, float]:
        return optuna_importances(self.name, trials.params, trials.distributions, trials.y.tolist(), seed=self.seed)


def _ours(method: str, config: RankingConfig) -> SweeprankEvaluator:
    return SweeprankEvaluator(config.model_copy(update={"method": method}))


def evaluator(name: str, config: RankingConfig | None = None, seed: int = 0) -> Evaluator:
    """The evaluator of a method name: sweeprank's (with `config`'s other parameters) or Optuna's."""
    makers: dict[str, Callable[[], Evaluator]] = {
        **{m: partial(_ours, m, config or RankingConfig()) for m in METHODS},
        **{m: partial(OptunaEvaluator, m, seed) for m in OPTUNA_METHODS},
    }
    if name not in makers:
        raise ValueError(f"unknown importance method {name!r}; known: {', '.join(makers)}")
    return makers[name]()
