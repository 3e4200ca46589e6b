"""Adapter between search spaces + trial records and the arrays of `importance`.

Columns follow the space's order. Numeric and ordinal hyperparameters become
their unit position on the declared range (log10 where declared); categorical
ones become their choice index and are flagged in the categorical mask, for
which the math uses a 0/1 diff. Trials that did not complete, or whose metric
is NaN/inf, are excluded and counted by reason: never turned into numbers.

A config may lack a hyperparameter or hold None for it: the hyperparameter is
not applicable in that trial (a conditional one, outside its branch). It is
encoded as NaN, which N-RReliefF reads as "not applicable" (the rule is in
`importance.nrrelieff`). A name the space does not know, and a value outside
the space, stay errors.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from importance.evaluator import Distributions, FinishedTrials
from trials.errors import SpecError
from trials.space import ChoiceParam, SearchSpace, Value
from trials.specs import TrialResult

COMPLETED = "completed"


@dataclass(frozen=True)
class TrialRow:
    """One trial as the ranking sees it: who, which config, which metric value."""

    trial_id: str
    config: Mapping[str, object]
    value: float | None
    status: str = COMPLETED
    group: str = ""


@dataclass
class EncodedTrials:
    """Arrays ready for N-RReliefF, plus what was left out and why."""

    names: list[str]
    categorical: npt.NDArray[np.bool_]
    X: npt.NDArray[np.float64]
    y: npt.NDArray[np.float64]
    trial_ids: list[str]
    groups: list[str]
    configs: list[dict[str, Value]]
    excluded: Counter[str] = field(default_factory=Counter)

    @property
    def n(self) -> int:
        return len(self.trial_ids)

    def finished(self, params: Sequence[Mapping[str, Any]], distributions: Distributions) -> FinishedTrials:
        """These trials as every importance evaluator reads them (`params`/`distributions`: Optuna's view)."""
        return FinishedTrials(self.names, self.categorical, self.X, self.y, params, distributions)

    def subset(self, group: str) -> EncodedTrials:
        rows = [i for i, g in enumerate(self.groups) if g == group]
        return EncodedTrials(
            self.names,
            self.categorical,
            self.X[rows],
            self.y[rows],
            [self.trial_ids[i] for i in rows],
            [group] * len(rows),
            [self.configs[i] for i in rows],
        )


def result_row(result: TrialResult, metric: str, space: SearchSpace) -> TrialRow:
    """A stored trial result as the ranking sees it; the dataset is its group.

    Only the space's hyperparameters: the values a sweep holds (spec `fixed`) are the same in every trial.
    """
    config = {name: result.config[name] for name in space.names if name in result.config}
    return TrialRow(str(result.trial_id), config, result.metric(metric), result.status.value, result.dataset)


def categorical_mask(space: SearchSpace) -> npt.NDArray[np.bool_]:
    return np.array([isinstance(p, ChoiceParam) and p.kind == "categorical" for p in space.params])


def applicable_config(space: SearchSpace, config: Mapping[str, object], where: str = "config") -> dict[str, Value]:
    """The validated values of the hyperparameters that apply; absent or None ones are left out."""
    known = space.names
    unknown = [name for name in config if name not in known]
    if unknown:
        raise SpecError(where, f"names hyperparameters the space does not have: {unknown} (known: {space.names})")
    applicable: dict[str, Value] = {}
    for param in space.params:
        value = config.get(param.name)
        if value is None:
            continue
        try:
            applicable[param.name] = param.validate(value)
        except SpecError as err:
            raise SpecError(f"{where}.{param.name}", err.message) from None
    return applicable


def encode_config(space: SearchSpace, config: Mapping[str, Value | None]) -> list[float]:
    """One validated config as a row of the math's matrix; NaN where a hyperparameter is not applicable."""
    row = []
    for param in space.params:
        value = config.get(param.name)
        if value is None:
            row.append(math.nan)
        elif isinstance(param, ChoiceParam) and param.kind == "categorical":
            row.append(float(param.index(value)))
        else:
            row.append(param.unit(value))
    return row


def encode_trials(space: SearchSpace, rows: Iterable[TrialRow], maximize: bool = True) -> EncodedTrials:
    """Validate and encode trial rows; metric is flipped for minimisation so higher is better."""
    kept_ids: list[str] = []
    groups: list[str] = []
    configs: list[dict[str, Value]] = []
    matrix: list[list[float]] = []
    values: list[float] = []
    excluded: Counter[str] = Counter()
    for row in rows:
        if row.status != COMPLETED:
            excluded[row.status] += 1
            continue
        if row.value is None or not math.isfinite(row.value):
            excluded["non-finite metric"] += 1
            continue
        config = applicable_config(space, row.config, where=f"trial {row.trial_id}")
        kept_ids.append(row.trial_id)
        groups.append(row.group)
        configs.append(config)
        matrix.append(encode_config(space, config))
        values.append(row.value if maximize else -row.value)
    X = np.array(matrix, dtype=np.float64).reshape(len(matrix), len(space.params))
    return EncodedTrials(
        space.names, categorical_mask(space), X, np.array(values, dtype=np.float64), kept_ids, groups, configs, excluded
    )


def optuna_view(space: SearchSpace, encoded: EncodedTrials) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Params and Optuna distributions for the comparators (optuna imported lazily).

    Optuna has no ordinal type: an ordinal becomes its position as an int
    distribution, which keeps the order that makes it ordinal. A hyperparameter
    that is not applicable in a trial is absent from its params, as in Optuna.
    """
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    distributions: dict[str, Any] = {}
    for param in space.params:
        if isinstance(param, ChoiceParam):
            distributions[param.name] = (
                CategoricalDistribution(list(param.choices))
                if param.kind == "categorical"
                else IntDistribution(0, len(param.choices) - 1)
            )
        elif param.kind == "int":
            distributions[param.name] = IntDistribution(int(param.low), int(param.high), log=param.log)
        else:
            distributions[param.name] = FloatDistribution(param.low, param.high, log=param.log)
    params = []
    for config in encoded.configs:
        params.append(
            {
                p.name: p.index(config[p.name])
                if isinstance(p, ChoiceParam) and p.kind == "ordinal"
                else config[p.name]
                for p in space.params
                if p.name in config
            }
        )
    return params, distributions
