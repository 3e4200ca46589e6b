"""The record models: unknown values are null, old records take defaults, "pooled" means the same everywhere."""

from __future__ import annotations

import math

from trials.records import Agreement, HyperparameterRank, RankingGroup, Stability

EFFECT = {
    "main_share": 0.1,
    "main_ci": [0.05, 0.15],
    "total_share": 0.1,
    "p_main": 0.01,
    "relief_weight": 0.02,
    "equivalence_bound": None,
    "levels": [{"key": 0, "n": 20, "mean": 0.5, "ci_low": 0.4, "ci_high": 0.6}],
    "largest": None,
}
STABILITY = {"stable": True, "stable_since": 40, "top_k": [0], "unchanged_for": 50, "window": 30, "sentence": ""}


def test_unknown_values_are_null_and_survive_a_json_round_trip() -> None:
    nan, inf = math.nan, math.inf
    group = RankingGroup(
        n_trials=3,
        rows=[
            HyperparameterRank(
                name="a", rank=1, importance=1.0, ci_low=nan, ci_high=1.0, rank_probability=nan, raw_weight=0.2
            ),
            HyperparameterRank(
                name="b",
                rank=2,
                importance=0.0,
                ci_low=0.0,
                ci_high=0.0,
                rank_probability=nan,
                raw_weight=inf,
                detectable=nan,
            ),
        ],
        stability=Stability.model_validate(STABILITY),
        agreement=Agreement(kendall_w=math.nan, n_groups=2, top_k=1, top_held=1, sentence=""),
    )
    a, b = group.rows
    assert (a.ci_low, b.ci_low, a.raw_weight, b.raw_weight, b.detectable) == (None, 0.0, 0.2, None, None)
    assert group.agreement is not None and group.agreement.kendall_w is None
    assert "NaN" not in group.model_dump_json() and "Infinity" not in group.model_dump_json()
    assert RankingGroup.model_validate_json(group.model_dump_json()) == group


def test_a_record_of_parallel_lists_reads_as_rows_in_ranking_order() -> None:
    """Records stored before the rows: one list per field aligned with `names`, and `ranking` the order."""
    stored = {
        "n_trials": 40,
        "names": ["a", "b", "c"],
        "importances": [0.1, 0.6, 0.3],
        "raw_weights": [0.01, 0.06, 0.03],
        "ci_low": [0.0, 0.5, 0.2],
        "ci_high": [0.2, 0.7, 0.4],
        "rank_probability": [1.0, 1.0, 1.0],
        "ranking": ["b", "c", "a"],
        "verdicts": ["undetermined", "matters", "matters"],
        "effects": [{**EFFECT, "name": name} for name in ("a", "b", "c")],
        "stability": STABILITY,
    }
    group = RankingGroup.model_validate(stored)
    assert [(row.name, row.rank, row.importance, row.verdict) for row in group.rows] == [
        ("b", 1, 0.6, "matters"),
        ("c", 2, 0.3, "matters"),
        ("a", 3, 0.1, "undetermined"),
    ]
    assert group.row("c").ci_low == 0.2 and group.row("a").effect is not None
    assert group.row("b").p_adjusted is None, "a field the old record lacks is unknown, not invented"
    assert RankingGroup.model_validate_json(group.model_dump_json()) == group


def test_a_stability_without_settled_takes_stable() -> None:
    assert Stability.model_validate(STABILITY).settled is True
    assert Stability.model_validate(STABILITY | {"stable": False, "stable_since": None}).settled is False
    assert Stability.model_validate(STABILITY | {"settled": False}).settled is False
