"""Samplers: the registry of every sampler a sweep may name, and the planned ones' draws.

`SAMPLERS` is the one place a sampler is declared: the spec's accepted values (trials/specs.py), the
CLI's choices (`sweeprank tune --sampler`), the web form's options and the tuner's construction
(broker/tuning/asker.py) are all read from it, so a new sampler is one entry here.

- Planned samplers draw every config up front. The space-filling ones draw points of the unit cube
  (one axis per hyperparameter) and map them through each hyperparameter's `from_unit`, so log
  scales and ordinal/categorical cells are handled in one place.
- Model-based samplers are Optuna's: each config is asked when a slot frees, after the results so
  far are told (broker/tuning/asker.py). Optuna is imported only when one is built.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np

from trials.errors import SpecError
from trials.space import ChoiceParam, NumericParam, SearchSpace, Value

if TYPE_CHECKING:
    import optuna

Config = dict[str, Value]


@dataclass(frozen=True)
class Sampler:
    """One sampler a sweep may name: exactly one of `plan` (planned) and `optuna` (model-based) is set."""

    name: str
    label: str  # how a form shows it
    description: str
    # Planned: every config of a sweep of n trials, from its varied space and seed.
    plan: Callable[[SearchSpace, int, int], list[Config]] | None = None
    # Model-based: the Optuna sampler one ask uses, seeded by the trial's seed.
    optuna: Callable[[int], optuna.samplers.BaseSampler] | None = None
    # Refuses (SpecError) a space and trial count it cannot serve, before anything is stored.
    check: Callable[[SearchSpace, int], None] | None = None

    def __post_init__(self) -> None:
        if (self.plan is None) == (self.optuna is None):
            raise ValueError(f"sampler {self.name!r}: give exactly one of plan and optuna")

    @property
    def model_based(self) -> bool:
        return self.optuna is not None


def _unit_sampler(points: Callable[[int, int, int], np.ndarray]) -> Callable[[SearchSpace, int, int], list[Config]]:
    """A planned sampler from a draw of n points of the unit cube (dims, n, seed)."""

    def plan(space: SearchSpace, n: int, seed: int) -> list[Config]:
        units = points(len(space.params), n, seed)
        return [{p.name: p.from_unit(float(u)) for p, u in zip(space.params, row, strict=True)} for row in units]

    return plan


def _random_points(dims: int, n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).random((n, dims))


def _sobol_points(dims: int, n: int, seed: int) -> np.ndarray:
    # Sobol balance needs powers of two; draw the next one and keep the first n.
    from scipy.stats import qmc  # here, not at the top: scipy.stats costs every service a second to start

    m = max(0, math.ceil(math.log2(max(n, 1))))
    return qmc.Sobol(dims, scramble=True, seed=seed).random_base2(m)[:n]


def _lhs_points(dims: int, n: int, seed: int) -> np.ndarray:
    from scipy.stats import qmc

    return qmc.LatinHypercube(dims, seed=seed).random(n)


def _tpe(seed: int) -> optuna.samplers.BaseSampler:
    from optuna.samplers import TPESampler

    # constant_liar: trials in flight count as bad guesses, so concurrent asks do not pile onto one region.
    return TPESampler(seed=seed, constant_liar=True)


def _gp(seed: int) -> optuna.samplers.BaseSampler:
    from optuna.samplers import GPSampler  # imports torch: a host that asks gp configs needs it

    return GPSampler(seed=seed, warn_independent_sampling=False)


def _cmaes(seed: int) -> optuna.samplers.BaseSampler:
    from optuna.samplers import CmaEsSampler  # needs the cmaes package

    return CmaEsSampler(seed=seed, warn_independent_sampling=False)


def _grid_axis(param: NumericParam | ChoiceParam, per_axis: int) -> list[Value]:
    if isinstance(param, ChoiceParam):
        return list(param.choices)
    if param.kind == "int" and param.high - param.low + 1 <= per_axis:
        return list(range(int(param.low), int(param.high) + 1))
    units = [0.5] if per_axis == 1 else [i / (per_axis - 1) for i in range(per_axis)]
    return list(dict.fromkeys(param.from_unit(u) for u in units))


#: Points of the largest grid a sweep may draw from: its shuffle holds one integer per point.
GRID_MAX_POINTS = 2_000_000


def _grid_axes(space: SearchSpace, n: int) -> list[list[Value]]:
    """The axes of the smallest even grid with at least n points (their product is never materialised)."""
    per_axis = 1
    while math.prod(len(_grid_axis(p, per_axis)) for p in space.params) < n and per_axis < 1024:
        per_axis += 1
    return [_grid_axis(p, per_axis) for p in space.params]


def check_grid(space: SearchSpace, n: int) -> None:
    """Refuse a grid too large to shuffle, before anything is drawn (SpecError naming the size)."""
    size = math.prod(len(axis) for axis in _grid_axes(space, n))
    if size > GRID_MAX_POINTS:
        raise SpecError(
            "sampler",
            f"grid: the smallest grid with {n:,} points has {size:,} (the limit is {GRID_MAX_POINTS:,}); "
            f"give fewer choices or use {_either(name for name in PLANNED_SAMPLERS if name != 'grid')}",
        )


def _either(names: Iterable[str]) -> str:
    *rest, last = names
    return f"{', '.join(rest)} or {last}" if rest else last


def grid_configs(space: SearchSpace, n: int, seed: int) -> list[Config]:
    """The smallest even grid with at least n points, shuffled by seed, first n kept."""
    check_grid(space, n)
    axes = _grid_axes(space, n)
    order = np.random.default_rng(seed).permutation(math.prod(len(axis) for axis in axes))
    # Point i of itertools.product(*axes): mixed radix, the last axis fastest.
    configs = []
    for index in order[:n]:
        values: list[Value] = []
        rest = int(index)
        for axis in reversed(axes):
            rest, digit = divmod(rest, len(axis))
            values.append(axis[digit])
        configs.append(dict(zip(space.names, reversed(values), strict=True)))
    return configs


SAMPLERS: dict[str, Sampler] = {
    sampler.name: sampler
    for sampler in (
        Sampler("random", "Random", "independent uniform draws", plan=_unit_sampler(_random_points)),
        Sampler(
            "sobol", "Sobol", "a scrambled Sobol sequence (even at powers of 2)", plan=_unit_sampler(_sobol_points)
        ),
        Sampler("lhs", "Latin hypercube", "each axis cut into n even strata", plan=_unit_sampler(_lhs_points)),
        Sampler(
            "grid", "Grid", "the smallest even grid of at least n points, shuffled", plan=grid_configs, check=check_grid
        ),
        Sampler("tpe", "TPE", "Optuna's tree-structured Parzen estimator", optuna=_tpe),
        Sampler("gp", "Gaussian process", "Optuna's Gaussian-process sampler (imports torch)", optuna=_gp),
        Sampler("cmaes", "CMA-ES", "Optuna's CMA-ES (the cmaes package)", optuna=_cmaes),
    )
}
#: Samplers that draw every config up front, and Optuna's, which ask each config when a slot frees.
PLANNED_SAMPLERS = tuple(name for name, sampler in SAMPLERS.items() if not sampler.model_based)
MODEL_SAMPLERS = tuple(name for name, sampler in SAMPLERS.items() if sampler.model_based)

# The spec's field types: checked against the registry at run time; mypy sees plain strings.
if TYPE_CHECKING:
    SamplerName = str
    ModelSamplerName = str
else:
    SamplerName = Literal[tuple(SAMPLERS)]
    ModelSamplerName = Literal[MODEL_SAMPLERS]


def sampler_summary() -> str:
    """One line on what each kind of sampler does, naming them (the spec's field description, CLI help)."""
    return (
        f"{', '.join(PLANNED_SAMPLERS)}: configs drawn up front; "
        f"{', '.join(MODEL_SAMPLERS)}: Optuna's samplers, each config asked when a slot frees"
    )


def sample_configs(space: SearchSpace, n: int, sampler: str = "random", seed: int = 0) -> list[Config]:
    """The n configs of a planned sampler (ValueError for a model-based or unknown name)."""
    plan = SAMPLERS[sampler].plan if sampler in SAMPLERS else None
    if plan is None:
        raise ValueError(f"{sampler!r} is not a planned sampler; planned: {list(PLANNED_SAMPLERS)}")
    return plan(space, n, seed)
