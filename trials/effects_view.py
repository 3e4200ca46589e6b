"""The effects of a ranking in the user's terms: level labels from the search space, the metric's own sign.

`importance` sees encoded trials: unit positions, category codes, and a metric that is
negated when the sweep minimises it (higher is better there). Before a group entry is
stored or printed, this module names each level by the values it holds and turns means,
CIs and differences back into the metric as measured.
"""

from __future__ import annotations

import math

from importance.effects import NOT_APPLICABLE, PAIR_BINS
from importance.ranking_record import Effect, EffectLevel, Interaction, RankingGroup
from trials.samplers import MODEL_SAMPLERS
from trials.space import ChoiceParam, NumericParam, Param, SearchSpace


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


def _negated(low: float | None, high: float | None) -> dict[str, float | None]:
    """An interval of the negated metric: the bounds swap."""
    return {"ci_low": None if high is None else -high, "ci_high": None if low is None else -low}


def _level(level: EffectLevel, param: Param, maximize: bool) -> EffectLevel:
    update: dict[str, object] = {"label": level_label(param, level.key, level.u_min, level.u_max)}
    if not maximize:
        update |= {"mean": None if level.mean is None else -level.mean, **_negated(level.ci_low, level.ci_high)}
    return level.model_copy(update=update)


def _effect(effect: Effect, param: Param, maximize: bool) -> Effect:
    levels = [_level(level, param, maximize) for level in effect.levels]
    largest = effect.largest
    if largest is not None:
        by_key = {level.key: level.label for level in levels}
        update: dict[str, object] = {"from_label": by_key[largest.from_key], "to_label": by_key[largest.to_key]}
        if not maximize:
            difference = None if largest.difference is None else -largest.difference
            update |= {"difference": difference, **_negated(largest.ci_low, largest.ci_high)}
        largest = largest.model_copy(update=update)
    return effect.model_copy(update={"levels": levels, "largest": largest})


def _interaction(pair: Interaction, params: dict[str, Param], maximize: bool) -> Interaction:
    if pair.first_keys is None or pair.second_keys is None:
        return pair
    update: dict[str, object] = {
        "first_labels": [coarse_label(params[pair.first], k) for k in pair.first_keys],
        "second_labels": [coarse_label(params[pair.second], k) for k in pair.second_keys],
    }
    if not maximize and pair.cell_means is not None:
        update["cell_means"] = [[None if v is None else -v for v in line] for line in pair.cell_means]
    return pair.model_copy(update=update)


def present(group: RankingGroup, space: SearchSpace, maximize: bool, sampler: str) -> RankingGroup:
    """The group with level labels, the metric's own sign and the design note."""
    params = {p.name: p for p in space.params}
    rows = [
        row
        if row.effect is None
        else row.model_copy(update={"effect": _effect(row.effect, params[row.name], maximize)})
        for row in group.rows
    ]
    metric_mean = group.metric_mean if maximize or group.metric_mean is None else -group.metric_mean
    interactions = [_interaction(pair, params, maximize) for pair in group.interactions or []]
    return group.model_copy(
        update={
            "design_note": design_note(sampler),
            "rows": rows,
            "metric_mean": metric_mean,
            "interactions": interactions if group.interactions is not None else None,
        }
    )
