"""The effects of a ranking in the user's terms: level labels from the search space, the metric's own sign.

`importance` sees encoded trials: unit positions, category codes, and a metric that is
negated when the sweep minimises it (higher is better there). Before a group entry is
stored or printed, this module names each level by the values it holds and turns means,
CIs and differences back into the metric as measured.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from typing import Any

from trials.samplers import MODEL_SAMPLERS
from trials.space import ChoiceParam, NumericParam, Param, SearchSpace

NOT_APPLICABLE = -1  # importance.effects.NOT_APPLICABLE (trials does not import importance)
PAIR_BINS = 5  # importance.effects.PAIR_BINS (tests/importance/test_anova.py checks they agree)


def design_note(sampler: str) -> str:
    """What effects and verdicts can mean under a sweep's sampler ("" for designs that sample independently)."""
    if sampler not in MODEL_SAMPLERS:
        return ""
    return (
        f"This sweep's sampler ({sampler}) chose each configuration from earlier results, so a level's mean "
        "mixes the hyperparameter's effect with where the sampler looked: read the effects, shares and verdicts "
        "as a description of these trials, not as causes."
    )


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


def _value_at(param: Param, u: float) -> object:
    """The value at unit position u of a numeric or ordinal hyperparameter (the inverse of its encoding)."""
    if isinstance(param, ChoiceParam):
        last = len(param.choices) - 1
        return param.choices[min(max(round(u * last), 0), last)]
    lo, hi = (param.low, param.high) if not param.log else (math.log10(param.low), math.log10(param.high))
    scaled = lo + u * (hi - lo)
    value = 10**scaled if param.log else scaled
    return round(value) if param.kind == "int" else float(value)


def _range_label(param: Param, low_u: float | None, high_u: float | None) -> str:
    if low_u is None or high_u is None:
        return ""
    low, high = _value_at(param, low_u), _value_at(param, high_u)
    return _fmt(low) if low == high else f"{_fmt(low)} – {_fmt(high)}"


def level_label(param: Param, key: int, u_min: float | None = None, u_max: float | None = None) -> str:
    """The values a level holds: a choice, one number, or the observed range of a bin."""
    if key == NOT_APPLICABLE:
        return "n/a"
    if isinstance(param, ChoiceParam) and param.kind == "categorical":
        return _fmt(param.choices[key]) if 0 <= key < len(param.choices) else str(key)
    return _range_label(param, u_min, u_max)


def coarse_label(param: Param, key: int) -> str:
    """A level of a pair's table: a category, or a quarter of a numeric range (declared edges)."""
    if key == NOT_APPLICABLE or (isinstance(param, ChoiceParam) and param.kind == "categorical"):
        return level_label(param, key)
    if isinstance(param, ChoiceParam):
        last = len(param.choices) - 1
        positions = [i for i in range(last + 1) if min(int(i / max(last, 1) * PAIR_BINS + 1e-9), PAIR_BINS - 1) == key]
        return _range_label(param, positions[0] / max(last, 1), positions[-1] / max(last, 1)) if positions else "–"
    assert isinstance(param, NumericParam)
    return _range_label(param, key / PAIR_BINS, (key + 1) / PAIR_BINS)


def _negate_interval(row: dict[str, Any], low: str = "ci_low", high: str = "ci_high") -> None:
    lo, hi = row.get(low), row.get(high)
    row[low] = None if hi is None else -hi
    row[high] = None if lo is None else -lo


def present(entry: Mapping[str, Any], space: SearchSpace, maximize: bool, sampler: str) -> dict[str, Any]:
    """A copy of a plain group entry with level labels, the metric's own sign and the design note."""
    out = copy.deepcopy(dict(entry))
    out["design_note"] = design_note(sampler)
    if "effects" not in out:
        return out
    params = {p.name: p for p in space.params}
    sign = 1.0 if maximize else -1.0
    if not maximize and out.get("metric_mean") is not None:
        out["metric_mean"] = -out["metric_mean"]
    for effect in out["effects"]:
        param = params[effect["name"]]
        for level in effect["levels"]:
            level["label"] = level_label(param, level["key"], level.get("u_min"), level.get("u_max"))
            if not maximize:
                level["mean"] = None if level["mean"] is None else sign * level["mean"]
                _negate_interval(level)
        largest = effect.get("largest")
        if largest is not None:
            by_key = {level["key"]: level["label"] for level in effect["levels"]}
            largest["from_label"], largest["to_label"] = by_key[largest["from_key"]], by_key[largest["to_key"]]
            if not maximize:
                largest["difference"] = None if largest["difference"] is None else -largest["difference"]
                _negate_interval(largest)
    for pair in out.get("interactions") or []:
        if "first_keys" not in pair:
            continue
        pair["first_labels"] = [coarse_label(params[pair["first"]], k) for k in pair["first_keys"]]
        pair["second_labels"] = [coarse_label(params[pair["second"]], k) for k in pair["second_keys"]]
        if not maximize:
            pair["cell_means"] = [[None if v is None else -v for v in line] for line in pair["cell_means"]]
    return out
