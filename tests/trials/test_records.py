"""The record models: unknown values are null, old records take defaults, "pooled" means the same everywhere."""

from __future__ import annotations

import math

from importance.groups import POOLED as IMPORTANCE_POOLED
from trials.records import POOLED, Agreement, RankingGroup, Stability

STABILITY = {"stable": True, "stable_since": 40, "top_k": [0], "unchanged_for": 50, "window": 30, "sentence": ""}


def test_the_pooled_group_has_one_name() -> None:
    assert POOLED == IMPORTANCE_POOLED


def test_unknown_values_are_null_and_survive_a_json_round_trip() -> None:
    group = RankingGroup(
        n_trials=3,
        names=["a", "b"],
        importances=[1.0, 0.0],
        raw_weights=[0.2, math.inf],
        ci_low=[math.nan, 0.0],
        ci_high=[1.0, 0.0],
        rank_probability=[math.nan, math.nan],
        ranking=["a", "b"],
        detectable=[None, math.nan],
        stability=Stability.model_validate(STABILITY),
        agreement=Agreement(kendall_w=math.nan, n_groups=2, top_k=1, top_held=1, sentence=""),
    )
    assert group.ci_low == [None, 0.0] and group.raw_weights == [0.2, None] and group.detectable == [None, None]
    assert group.agreement is not None and group.agreement.kendall_w is None
    assert "NaN" not in group.model_dump_json() and "Infinity" not in group.model_dump_json()
    assert RankingGroup.model_validate_json(group.model_dump_json()) == group


def test_a_stability_without_settled_takes_stable() -> None:
    assert Stability.model_validate(STABILITY).settled is True
    assert Stability.model_validate(STABILITY | {"stable": False, "stable_since": None}).settled is False
    assert Stability.model_validate(STABILITY | {"settled": False}).settled is False
