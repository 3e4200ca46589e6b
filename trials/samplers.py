"""Samplers: turn a space and a seed into n configs, reproducibly.

Every sampler draws points of the unit cube (one axis per hyperparameter) and
maps them through each hyperparameter's `from_unit`, so log scales and
ordinal/categorical cells are handled in one place.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
from scipy.stats import qmc

from trials.errors import SpecError
from trials.space import ChoiceParam, NumericParam, SearchSpace, Value

SamplerName = Literal["random", "sobol", "lhs", "grid"]


def _unit_points(name: SamplerName, dims: int, n: int, seed: int) -> np.ndarray:
    if name == "random":
        return np.random.default_rng(seed).random((n, dims))
    if name == "sobol":
        # Sobol balance needs powers of two; draw the next one and keep the first n.
        m = max(0, math.ceil(math.log2(max(n, 1))))
        return qmc.Sobol(dims, scramble=True, seed=seed).random_base2(m)[:n]
    if name == "lhs":
        return qmc.LatinHypercube(dims, seed=seed).random(n)
    raise ValueError(f"unknown sampler {name!r}")


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
            "give fewer choices or use random, sobol or lhs",
        )


def grid_configs(space: SearchSpace, n: int, seed: int) -> list[dict[str, Value]]:
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


def sample_configs(
    space: SearchSpace, n: int, sampler: SamplerName = "random", seed: int = 0
) -> list[dict[str, Value]]:
    if sampler == "grid":
        return grid_configs(space, n, seed)
    units = _unit_points(sampler, len(space.params), n, seed)
    return [{p.name: p.from_unit(float(u)) for p, u in zip(space.params, row, strict=True)} for row in units]
