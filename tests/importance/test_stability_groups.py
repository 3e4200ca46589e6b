from __future__ import annotations

import numpy as np
import pytest

from importance.config import RankingConfig
from importance.groups import POOLED, GroupedRanking
from importance.ranking_record import RankingGroup
from importance.stability import StabilityTracker

SEPARATED = ([0.5, 0.3, 0.1, 0.0], [0.6, 0.4, 0.2, 0.05])


def test_stable_after_window_with_separated_cis() -> None:
    tracker = StabilityTracker(top_k=3, window=100, names=["a", "b", "c", "d"])
    tracker.update(50, [1, 0, 2, 3], *SEPARATED)
    tracker.update(100, [0, 1, 2, 3], *SEPARATED)
    assert not tracker.stable and tracker.stable_since is None
    assert "needs 100" in tracker.sentence()
    tracker.update(150, [0, 1, 2, 3], *SEPARATED)
    assert not tracker.stable
    tracker.update(200, [0, 1, 2, 3], *SEPARATED)
    assert tracker.stable and tracker.stable_since == 100
    assert tracker.sentence().startswith("Stable since trial 100: top-3 order (a > b > c)")


def test_overlapping_cis_block_stability_and_order_change_resets() -> None:
    tracker = StabilityTracker(top_k=2, window=10)
    low, high = [0.3, 0.2, 0.0], [0.5, 0.35, 0.1]  # a and b overlap
    tracker.update(10, [0, 1, 2], low, high)
    tracker.update(40, [0, 1, 2], low, high)
    assert not tracker.stable and "overlap" in tracker.sentence()
    tracker.update(50, [0, 1, 2], [0.4, 0.2, 0.0], high)
    assert tracker.stable_since == 10
    tracker.update(55, [1, 0, 2], [0.4, 0.2, 0.0], high)
    assert not tracker.stable and tracker.unchanged_for == 0


def _group_data(seed: int, n: int, strong: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.random((n, 3))
    return X, 2.0 * X[:, strong] + 0.5 * X[:, 2] + rng.normal(0, 0.05, n)


def test_pooled_is_trial_count_weighted_mean() -> None:
    (Xa, ya), (Xb, yb) = _group_data(1, 90, 0), _group_data(2, 30, 1)
    ranking = GroupedRanking(["x", "y", "z"], config=RankingConfig(bootstrap=40))
    ranking.partial_fit(np.vstack([Xa, Xb]), np.concatenate([ya, yb]), ["a"] * 90 + ["b"] * 30)
    ranking.partial_fit(Xa[:0], ya[:0], [])
    snap = {g: RankingGroup.model_validate_json(e.model_dump_json()) for g, e in ranking.snapshot().items()}
    names = ["x", "y", "z"]

    def importances(group: str) -> np.ndarray:
        shares = snap[group].importances()
        return np.array([shares[name] for name in names], dtype=float)

    # 90 and 30 trials -> weights 3/4 and 1/4.
    np.testing.assert_allclose(importances(POOLED), 0.75 * importances("a") + 0.25 * importances("b"))
    assert snap[POOLED].n_trials == 120
    assert snap["a"].ranking[0] == "x" and snap["b"].ranking[0] == "y"
    assert snap[POOLED].ranking[0] == "x"
    pooled_reps = (
        0.75 * ranking.estimators["a"].bootstrap_importances_ + 0.25 * ranking.estimators["b"].bootstrap_importances_
    )
    low = {row.name: row.ci_low for row in snap[POOLED].rows}
    np.testing.assert_allclose([low[name] for name in names], np.percentile(pooled_reps, 2.5, axis=0))
    for group in (POOLED, "a"):
        assert sorted(row.name for row in snap[group].rows) == names
        assert [row.rank for row in snap[group].rows] == [1, 2, 3]


def test_reserved_group_name() -> None:
    with pytest.raises(ValueError, match="reserved"):
        GroupedRanking(["x"]).partial_fit([[0.1]], [1.0], [POOLED])
