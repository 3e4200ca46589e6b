"""p-values, Holm, verdicts and the detectable importance; agreement across datasets."""

from __future__ import annotations

import json

import numpy as np
import pytest

from importance.agreement import agreement, kendalls_w
from importance.config import RankingConfig
from importance.groups import POOLED, GroupedRanking
from importance.nrrelieff import NRReliefF
from importance.significance import (
    MATTERS,
    NO_DETECTABLE_EFFECT,
    UNDETERMINED,
    Verdicts,
    detectable_share,
    holm,
    pool,
)
from importance.stability import StabilityTracker


def test_holm_by_hand() -> None:
    # Sorted: 0.005*4 = 0.02, 0.01*3 = 0.03, 0.03*2 = 0.06, 0.04*1 = 0.04 -> running max 0.06.
    np.testing.assert_allclose(holm(np.array([0.01, 0.04, 0.03, 0.005])), [0.03, 0.06, 0.06, 0.02])
    np.testing.assert_allclose(holm(np.array([0.9, 0.8])), [1.0, 1.0])  # capped at 1


def test_detectable_share_by_hand() -> None:
    # W = [0.3, 0.1, -0.2]; if attribute 2 had W = 0.1 its share would be 0.1 / (0.4 + 0.1) = 0.2.
    shares = detectable_share(np.array([0.3, 0.1, -0.2]), np.array([0.3, 0.1, 0.1]))
    np.testing.assert_allclose(shares, [0.3 / 0.4, 0.1 / 0.4, 0.2])
    assert detectable_share(np.array([-0.1]), np.array([0.05]))[0] == 1.0  # nothing else positive


def test_stouffer_pooling_by_hand() -> None:
    # Two groups of 100 and 400 trials with z = 1 and z = 2: (10*1 + 20*2) / sqrt(100 + 400) = 2.236.
    from scipy.stats import norm

    a = Verdicts(np.array([norm.sf(1.0)]), np.array([0.0]), [UNDETERMINED], np.array([0.1]), "", 100)
    b = Verdicts(np.array([norm.sf(2.0)]), np.array([0.0]), [UNDETERMINED], np.array([0.2]), "", 400)
    pooled = pool([(100, a), (400, b)], np.array([0.2]), 500)
    assert pooled.p_values[0] == pytest.approx(norm.sf(50 / np.sqrt(500)))
    assert pooled.detectable[0] == pytest.approx((100 * 0.1 + 400 * 0.2) / 500)


def _mixed(seed: int, n: int, signal: bool) -> tuple[np.ndarray, np.ndarray, list[bool]]:
    """Two numeric, one ordinal (5 levels), one categorical (4) and one numeric noise column."""
    rng = np.random.default_rng(seed)
    X = rng.random((n, 5))
    X[:, 2] = rng.integers(0, 5, n) / 4
    X[:, 3] = rng.integers(0, 4, n)
    effect = np.sqrt(X[:, 0]) + X[:, 1] ** 2 + X[:, 2] + np.array([0.0, 0.8, -0.5, 0.3])[X[:, 3].astype(int)]
    y = effect + rng.normal(0, 0.1, n) if signal else rng.random(n)
    return X, y, [False, False, False, True, False]


@pytest.mark.slow
def test_pure_noise_keeps_the_family_wise_error_rate() -> None:
    """Holm at 0.05 over 5 hyperparameters: at most about 1 in 20 noise sweeps may show any 'matters'.
    The seeds are fixed, so this is deterministic; bench/bench_truth.py measures the rate over more seeds."""
    families = 0
    for seed in range(40):
        X, y, cat = _mixed(seed, 300, signal=False)
        families += MATTERS in NRReliefF(categorical=cat, n_bootstrap=0).fit(X, y).verdicts_
    assert families <= 4, f"{families} of 40 noise sweeps had a hyperparameter that 'matters'"


def test_effects_matter_and_an_irrelevant_column_has_no_detectable_effect() -> None:
    X, y, cat = _mixed(1, 2000, signal=True)
    est = NRReliefF(categorical=cat, n_bootstrap=0).fit(X, y)
    assert est.verdicts_[:4] == [MATTERS] * 4, (est.verdicts_, est.p_adjusted_)
    assert est.verdicts_[4] == NO_DETECTABLE_EFFECT
    assert 0 < est.detectable_[4] <= 0.10
    assert (est.p_adjusted_[:4] <= 0.05).all() and est.p_adjusted_[4] > 0.05


def test_too_few_trials_and_constant_metric_are_undetermined_with_a_reason() -> None:
    X, y, cat = _mixed(2, 20, signal=True)
    few = NRReliefF(categorical=cat).fit(X, y)
    assert few.verdicts_ == [UNDETERMINED] * 5 and "fewer than 30 trials" in few.verdict_note_
    flat = NRReliefF(categorical=cat).fit(*_mixed(3, 100, signal=True)[:1], np.full(100, 0.5))
    assert flat.verdicts_ == [UNDETERMINED] * 5 and "constant" in flat.verdict_note_


def test_a_stream_refreshes_its_tests_every_refresh_every_trials() -> None:
    X, y, cat = _mixed(4, 200, signal=True)
    est = NRReliefF(categorical=cat, n_bootstrap=0, refresh_every=50)
    for i in range(129):
        est.partial_fit(X[i : i + 1], y[i : i + 1])
    assert est.tested_at_ == 80  # first at 30 (the first testable count), then 50 after each test
    est.partial_fit(X[129:130], y[129:130])
    assert est.tested_at_ == 130
    est.partial_fit(X[130:131], y[130:131])
    assert est.tested_at_ == 130  # stale by one trial until the next refresh, and says so
    est.refresh_significance()
    assert est.tested_at_ == 131


def test_kendalls_w_by_hand() -> None:
    assert kendalls_w(np.array([[0.5, 0.3, 0.2], [0.6, 0.3, 0.1]])) == pytest.approx(1.0)
    assert kendalls_w(np.array([[0.5, 0.3, 0.2], [0.1, 0.3, 0.6]])) == pytest.approx(0.0)
    found = agreement(
        ["a", "b", "c", "d"],
        {"x": np.array([0.5, 0.3, 0.2, 0.0]), "y": np.array([0.4, 0.2, 0.3, 0.1]), "z": np.array([0, 0.1, 0.2, 0.7])},
        [0, 1, 2, 3],
        top_k=3,
    )
    assert found is not None and found.top_held == 2 and found.n_groups == 3
    assert found.sentence.startswith("The pooled top 3 (a, b, c) holds on 2 of 3 datasets")
    assert agreement(["a"], {"x": np.array([1.0])}, [0]) is None


def test_ties_at_zero_do_not_block_stability() -> None:
    """A settled top 2 with the rest tied at zero: the zeros are not 'overlapping CIs'."""
    tracker = StabilityTracker(top_k=3, window=10, names=["a", "b", "c", "d"])
    share = [0.7, 0.3, 0.0, 0.0]
    low, high = [0.6, 0.2, 0.0, 0.0], [0.8, 0.4, 0.0, 0.0]
    tracker.update(10, [0, 1, 3, 2], low, high, share)
    tracker.update(30, [0, 1, 2, 3], low, high, share)  # zeros swap places: not a change
    assert tracker.stable and tracker.stable_since == 10
    assert tracker.state().settled is True
    assert "top-2 order (a > b)" in tracker.sentence()


def test_snapshot_carries_verdicts_aligned_with_names_and_agreement() -> None:
    X, y, cat = _mixed(5, 600, signal=True)
    ranking = GroupedRanking(
        ["s", "q", "o", "c", "n"], categorical=cat, config=RankingConfig(bootstrap=20, method="fixed-scale")
    )
    ranking.partial_fit(X, y, ["d1"] * 300 + ["d2"] * 300)
    ranking.refresh_significance()
    snap = {group: json.loads(entry.model_dump_json()) for group, entry in ranking.snapshot().items()}
    for group in ("d1", "d2", POOLED):
        entry = snap[group]
        assert sorted(row["name"] for row in entry["rows"]) == sorted(["s", "q", "o", "c", "n"])
        for key in ("p_value", "p_adjusted", "verdict", "detectable"):
            assert all(key in row for row in entry["rows"]), key
        assert entry["method"] == "fixed-scale" and entry["tested_at"] == entry["n_trials"]
        verdicts = {row["name"]: row["verdict"] for row in entry["rows"]}
        assert verdicts["o"] == MATTERS  # the strongest effect (the ordinal) in every group
    assert snap[POOLED]["agreement"]["n_groups"] == 2
    assert "datasets" in snap[POOLED]["agreement"]["sentence"]
    assert snap["d1"].get("agreement") is None


def test_a_hyperparameter_held_fixed_is_undetermined_not_without_effect() -> None:
    X, y, cat = _mixed(6, 400, signal=True)
    X[:, 4] = 0.5  # narrowed to one value: nothing can be said about its effect
    est = NRReliefF(categorical=cat, n_bootstrap=0).fit(X, y)
    assert est.verdicts_[4] == UNDETERMINED and np.isnan(est.detectable_[4])
