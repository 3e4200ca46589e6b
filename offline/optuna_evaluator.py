"""N-RReliefF inside Optuna: `NRReliefFImportanceEvaluator`.

    import optuna
    from offline.optuna_evaluator import NRReliefFImportanceEvaluator

    optuna.importance.get_param_importances(study, evaluator=NRReliefFImportanceEvaluator())

The evaluator ranks a study exactly as `sweeprank rank --optuna-storage` does
(offline/optuna_study.py says how trials and distributions are read).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from optuna.importance import BaseImportanceEvaluator
from optuna.study import Study
from optuna.trial import FrozenTrial, TrialState

from importance.config import RankingConfig
from importance.ranking_record import RankingGroup
from offline.optuna_study import study_table
from offline.ranker import RankOptions, RankResult, rank, shares_of
from offline.table import ALL
from trials.encoding import encode_trials
from trials.space import SearchSpace


class NRReliefFImportanceEvaluator(BaseImportanceEvaluator):
    """sweeprank's hyperparameter importance (the name keeps the paper's method, which `method` still selects),
    with its CIs, verdicts and effects.

    Options are those of `sweeprank rank`: `method` ("anova", the default: each hyperparameter's share of the
    metric's variance, main effect plus interactions; "fixed-scale": N-RReliefF whose answer holds as trials
    grow; "paper": the paper-exact fixed-k N-RReliefF), `k` neighbours and rank-weight width `sigma` (for
    N-RReliefF), `bootstrap` replicates, `seed`.

    `evaluate` returns the importances: non-negative shares that sum to 1
    (or are all 0 when no hyperparameter has a positive weight, which
    `get_param_importances` then spreads evenly, as it does for any evaluator),
    ordered best first. The full result (CIs, P(rank), raw W, p-values, verdicts)
    of the last call is kept in `result_` (`offline.rendering.render(result_)` prints it).

    Unlike Optuna's own evaluators, `params=None` ranks every parameter that
    appears in any COMPLETE trial, not only those present in all of them: a
    parameter a trial lacks is "not applicable" there (conditional parameters);
    and a parameter whose range differs between trials (a dynamic space) is
    ranked on the union of its ranges rather than refused. Both are on purpose
    (README, "From and to Optuna"). A study without a COMPLETE trial that has a
    parameter (empty, or only pruned) gives {}, as Optuna's evaluators do.
    `target` is a callable on FrozenTrial, as in Optuna; without it the objective
    value is ranked, or, for a multi-objective study, each trial's Pareto front
    (its non-domination rank), as Optuna's PED-ANOVA does. N-RReliefF uses
    |Δ value|, so the direction does not change the importances.
    """

    def __init__(self, **config: Any) -> None:
        """Keywords are importance.config.RankingConfig's fields (method, k, sigma, bootstrap, seed, ...)."""
        self.config = RankingConfig.model_validate(config)
        self.result_: RankResult | None = None

    def evaluate(
        self,
        study: Study,
        params: list[str] | None = None,
        *,
        target: Callable[[FrozenTrial], float] | None = None,
    ) -> dict[str, float]:
        if params is not None and not params:
            return {}
        if params is None and not any(
            t.params for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        ):
            return {}
        self.result_, _ = rank_study(
            study,
            params=params,
            target=target,
            **self.config.model_dump(),
        )
        return _shares(self.result_.rankings[ALL])


def _shares(group: RankingGroup) -> dict[str, float]:
    """The importances; where the variance shares are all 0 but N-RReliefF sees a difference, its shares.

    The shares read levels (8 bins of a float's range): a handful of trials that fall in one bin explain nothing
    there, while N-RReliefF compares them at full resolution. Optuna would split an all-zero answer evenly, which
    would say a constant parameter matters as much as the one that moved the metric.
    """
    shares = shares_of(group)
    if any(shares.values()):
        return shares
    relief = {row.name: max(row.effect.relief_weight or 0.0, 0.0) if row.effect else 0.0 for row in group.rows}
    total = sum(relief.values())
    return {name: value / total for name, value in relief.items()} if total > 0 else shares


def rank_study(
    study: Study,
    *,
    params: list[str] | None = None,
    target: Callable[[FrozenTrial], float] | None = None,
    maximize: bool | None = None,
    by: str | None = None,
    **options: Any,
) -> tuple[RankResult, SearchSpace]:
    """A study's COMPLETE trials ranked with `sweeprank rank`'s options; the space is its distributions.

    `maximize` applies to a target (default: maximize); without one the study's direction does.
    """
    found = study_table(study, params=params, target=target, maximize=maximize is not False, group=ALL, by=by)
    settings = RankOptions.of(
        f"study {found.study_name}",
        metric=found.metric,
        maximize=found.maximize if maximize is None else maximize,
        by=by,
        **options,
    )
    return rank(encode_trials(found.space, found.rows, maximize=settings.maximize), settings), found.space
