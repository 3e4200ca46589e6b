"""A sweeprank space as Optuna distributions, and a config as Optuna params (optuna imported lazily).

Ordinals become categorical distributions of their choices: Optuna has no ordinal type, and
optuna-dashboard then shows the values; sweeprank reads them back as ordinals (offline/optuna_study.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from trials.space import ChoiceParam, NumericParam, SearchSpace

if TYPE_CHECKING:
    from optuna.distributions import BaseDistribution


def space_distributions(space: SearchSpace) -> dict[str, BaseDistribution]:
    """Optuna distributions of a sweeprank space; ordinals become categorical over their choices."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    out: dict[str, BaseDistribution] = {}
    for param in space.params:
        if isinstance(param, ChoiceParam):
            out[param.name] = CategoricalDistribution(list(param.choices))
        elif param.kind == "int":
            out[param.name] = IntDistribution(int(param.low), int(param.high), log=param.log)
        else:
            out[param.name] = FloatDistribution(float(param.low), float(param.high), log=param.log)
    return out


def to_optuna_params(space: SearchSpace, config: Mapping[str, object]) -> dict[str, Any]:
    """A config's applicable values (None or absent = not applicable, left out), cast to the distribution's type."""
    params: dict[str, Any] = {}
    for param in space.params:
        value = config.get(param.name)
        if value is None:
            continue
        if isinstance(param, NumericParam) and isinstance(value, (int, float)):
            params[param.name] = int(value) if param.kind == "int" else float(value)
        else:
            params[param.name] = value
    return params
