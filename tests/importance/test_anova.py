"""The default ranking (importance.anova, importance.effects): hand-computed cases, a textbook loop,
streaming = batch, and the verdicts' promises (no false reassurance, per-hyperparameter error rate)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import stats

from importance.anova import AnovaRanking
from importance.config import RankingConfig
from importance.effects import N_BINS, PAIR_BINS, EffectTables, level_keys
from importance.groups import POOLED, GroupedRanking
from importance.ranking_record import MATTERS, NO_DETECTABLE_EFFECT, UNDETERMINED, RankingGroup, Stability


def _design(n: int, levels: list[int | None], seed: int) -> np.ndarray:
    """Random design in the encoded form: unit positions for numeric columns (None), codes for categoricals."""
    rng = np.random.default_rng(seed)
    columns = [rng.random(n) if L is None else rng.integers(0, L, n).astype(float) for L in levels]
    return np.column_stack(columns)


def _cat(levels: list[int | None]) -> np.ndarray:
    return np.array([L is not None for L in levels])


def test_main_share_and_test_match_a_hand_computed_one_way_anova() -> None:
    X = np.array([[0.0], [0.0], [1.0], [1.0], [2.0], [2.0]])
    y = np.array([1.0, 3.0, 4.0, 6.0, 8.0, 10.0])
    tables = EffectTables(np.array([True]))
    tables.add(X, y)
    d = tables.decompose(0, 0)
    # group means 2, 5, 9; grand 5.333; SSB = 2 (3.333^2 + 0.333^2 + 3.667^2) = 49.333; SST = 55.333
    ssb, sst = 2 * ((2 - 16 / 3) ** 2 + (5 - 16 / 3) ** 2 + (9 - 16 / 3) ** 2), float(np.sum((y - y.mean()) ** 2))
    msw = (sst - ssb) / 3
    assert d.main_shares[0] == pytest.approx((ssb - 2 * msw) / sst)
    # The test runs on the metric's ranks (importance.effects: a common noise variance is not assumed).
    assert d.main_p[0] == pytest.approx(stats.f_oneway([1, 2], [3, 4], [5, 6]).pvalue)
    assert list(d.mains.means[0] + d.shift) == pytest.approx([2.0, 5.0, 9.0])


def _slow_interaction_share(x1: np.ndarray, x2: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """The textbook extra sum of squares: the additive two-way model's residual minus the cell means' residual."""
    n, grand = len(y), y.mean()
    sst = float(((y - grand) ** 2).sum())
    cells: dict[tuple[int, int], list[float]] = {}
    for a, b, value in zip(x1, x2, y, strict=True):
        cells.setdefault((int(a), int(b)), []).append(float(value))
    rss_cells = sum(float(((np.array(v) - np.mean(v)) ** 2).sum()) for v in cells.values())
    rows, cols = sorted(set(x1.tolist())), sorted(set(x2.tolist()))
    design = np.column_stack([x1 == r for r in rows] + [x2 == c for c in cols]).astype(float)
    fitted = design @ np.linalg.lstsq(design, y, rcond=None)[0]
    rss_additive = float(((y - fitted) ** 2).sum())
    df = len(cells) - len(rows) - len(cols) + 1
    msw = rss_cells / (n - len(cells))
    interaction = rss_additive - rss_cells
    share = (interaction - df * msw) / sst
    p = float(stats.f.sf(interaction / df / msw, df, n - len(cells)))
    return share, p


def test_pair_share_and_test_match_a_textbook_loop() -> None:
    X = _design(400, [None, 3, None], seed=4)
    y = np.sin(6 * X[:, 0]) * (X[:, 1] - 1) + X[:, 2] + np.random.default_rng(1).standard_normal(400) * 0.3
    tables = EffectTables(_cat([None, 3, None]))
    tables.add(X, y)
    d = tables.decompose(0, 0)
    coarse = [level_keys(X[:, j], bool(c), PAIR_BINS) for j, c in enumerate(_cat([None, 3, None]))]
    ranks = stats.rankdata(y)
    for p, (i, j) in enumerate(d.pairs):
        share, _ = _slow_interaction_share(coarse[i], coarse[j], y)
        _, p_value = _slow_interaction_share(coarse[i], coarse[j], ranks)  # the tests run on ranks
        assert d.pair_shares[p] == pytest.approx(share, abs=1e-10)
        assert d.pair_p[p] == pytest.approx(p_value, rel=1e-8, abs=1e-300)


def test_a_hyperparameter_the_metric_never_reads_does_not_interact_with_one_that_spreads_it() -> None:
    """A loss of 10 x (x log-uniform) has all its spread at large x: F tests on the metric itself, which
    assume one noise variance, made an unread column "interact" with x; on ranks they keep their level."""
    levels: list[int | None] = [None, None, 3, 5]
    false = 0
    for seed in range(40):
        X = _design(80, levels, seed)
        y = 10 * 10 ** (4 * (X[:, 0] - 1))
        verdicts = AnovaRanking(_cat(levels), n_bootstrap=0).fit(X, y).verdicts_.verdicts
        assert verdicts[0] == MATTERS
        false += MATTERS in verdicts[1:]
    assert false <= 4  # a 5 % rate exceeds 4 of 40 about 5 % of the time (binomial)


def test_levels_are_values_bins_and_not_applicable() -> None:
    column = np.array([0.0, 0.25, 0.5, 0.75, 1.0, np.nan])  # an ordinal of 5 positions, one trial outside its branch
    assert list(level_keys(column, False, N_BINS)) == [0, 2, 4, 6, 7, -1]
    assert list(level_keys(np.array([2.0, 0.0, np.nan]), True, N_BINS)) == [2, 0, -1]


STABILITY = Stability(stable=False, settled=False, stable_since=None, top_k=[], unchanged_for=0, window=50, sentence="")


def _entry(ranking: AnovaRanking, names: list[str]) -> RankingGroup:
    return ranking.with_effects(ranking.result().to_record(names, "anova", STABILITY), names)


def _level_means(group: RankingGroup) -> list[float | None]:
    by_name = {row.name: row.effect for row in group.rows}
    return [level.mean for name in sorted(by_name) if (e := by_name[name]) for level in e.levels]


def test_streaming_in_chunks_equals_one_fit() -> None:
    levels: list[int | None] = [None, 4, None, 3]
    X = _design(700, levels, seed=7)
    y = X[:, 0] ** 2 + (X[:, 1] == 2) * 0.5 + X[:, 2] * (X[:, 3] - 1) + np.random.default_rng(2).normal(0, 0.2, 700)
    once = AnovaRanking(_cat(levels), n_bootstrap=50, random_state=3).fit(X, y)
    streamed = AnovaRanking(_cat(levels), n_bootstrap=50, random_state=3)
    for start in range(0, 690, 30):
        streamed.partial_fit(X[start : start + 30], y[start : start + 30])
    for i in range(690, 700):  # single trials take the streaming path
        streamed.partial_fit(X[i : i + 1], y[i : i + 1])
    streamed.refresh_significance()
    np.testing.assert_allclose(streamed.raw_weights_, once.raw_weights_, atol=1e-12)
    np.testing.assert_allclose(streamed.ci_low_, once.ci_low_, atol=1e-9)
    np.testing.assert_allclose(streamed.ci_high_, once.ci_high_, atol=1e-9)
    assert streamed.verdicts_.verdicts == once.verdicts_.verdicts
    names = ["a", "b", "c", "d"]
    a, b = _entry(streamed, names), _entry(once, names)
    assert _level_means(a) == pytest.approx(_level_means(b))
    assert [p.share for p in a.interactions or []] == pytest.approx([p.share for p in b.interactions or []])


@pytest.mark.parametrize("n_hyper", [2, 3, 6])
def test_a_binary_optimizer_worth_040_matters_in_nine_of_ten_seeds(n_hyper: int) -> None:
    """The case N-RReliefF scored 0.000: a log learning rate plus adam worth +0.40 accuracy."""
    levels: list[int | None] = [None, 2] + [None] * (n_hyper - 2)
    for n in (30, 60, 100, 300, 1000):
        found = 0
        for seed in range(10):
            X = _design(n, levels, seed)
            rng = np.random.default_rng([seed, n])
            y = 0.45 + 0.4 * (X[:, 1] == 1) + 0.3 * np.exp(-(((X[:, 0] - 0.6) / 0.25) ** 2)) - 0.15
            y = y + rng.normal(0, 0.05, n)
            ranking = AnovaRanking(_cat(levels), n_bootstrap=0).fit(X, y)
            found += ranking.verdicts_.verdicts[1] == MATTERS and ranking.importances_[1] > 0.3
        assert found >= 9, (n_hyper, n, found)


def test_an_independent_random_column_rarely_matters_where_others_do() -> None:
    """Per hyperparameter, not only under the global null: a 3-level column the metric never reads."""
    levels: list[int | None] = [None, 4, None, 3]
    false = 0
    for seed in range(100):
        X = _design(300, levels, seed)
        rng = np.random.default_rng([seed, 9])
        y = np.sin(4 * X[:, 0]) + 0.5 * (X[:, 1] == 1) + X[:, 0] * X[:, 2] + rng.normal(0, 0.3, 300)
        ranking = AnovaRanking(_cat(levels), n_bootstrap=0).fit(X, y)
        assert ranking.verdicts_.verdicts[0] == MATTERS
        false += ranking.verdicts_.verdicts[3] == MATTERS
    assert false <= 9  # a true 5 % rate exceeds 9 of 100 about 3 % of the time (binomial)


@pytest.mark.slow
def test_pure_noise_keeps_the_family_wise_error() -> None:
    levels: list[int | None] = [None, 3, None, 4, None]
    any_false = 0
    for seed in range(200):
        X = _design(200, levels, seed)
        y = np.random.default_rng([seed, 3]).standard_normal(200)
        any_false += MATTERS in AnovaRanking(_cat(levels), n_bootstrap=0).fit(X, y).verdicts_.verdicts
    # At a true 5 % rate, 200 repeats exceed 15 false alarms 4 % of the time (binomial); 10 % would average 20.
    assert any_false <= 15


def test_no_effect_is_reachable_for_null_hyperparameters_at_10k() -> None:
    levels: list[int | None] = [None, 3, None, 4]
    X = _design(10_000, levels, seed=11)
    y = X[:, 0] + 0.3 * (X[:, 1] == 0) + np.random.default_rng(5).normal(0, 0.3, 10_000)
    verdicts = AnovaRanking(_cat(levels), n_bootstrap=0).fit(X, y).verdicts_.verdicts
    assert verdicts[:2] == [MATTERS, MATTERS]
    assert verdicts[2:] == [NO_DETECTABLE_EFFECT, NO_DETECTABLE_EFFECT]


def test_an_interaction_without_main_effects_is_found_and_never_called_no_effect() -> None:
    levels: list[int | None] = [None, None, None, 3]
    for n in (300, 1000):
        X = _design(n, levels, seed=n)
        y = 4 * (X[:, 0] - 0.5) * (X[:, 1] - 0.5) + 0.3 * X[:, 2] + np.random.default_rng(n).normal(0, 0.1, n)
        ranking = AnovaRanking(_cat(levels), n_bootstrap=20).fit(X, y)
        assert ranking.verdicts_.verdicts[0] == ranking.verdicts_.verdicts[1] == MATTERS
        entry = _entry(ranking, ["x1", "x2", "x3", "c"])
        top = (entry.interactions or [])[0]
        assert {top.first, top.second} == {"x1", "x2"} and top.verdict == MATTERS
        assert top.cell_means is not None and np.array(top.cell_counts).sum() == n


def test_u_shape_plus_categorical_offset_ranks_both() -> None:
    """3(x - 0.3)^2 + offset(opt): N-RReliefF gave the categorical a raw W of exactly 0 at 300 trials."""
    levels: list[int | None] = [None, 3]
    X = _design(300, levels, seed=2)
    y = 3 * (X[:, 0] - 0.3) ** 2 + np.array([0.0, 0.25, 0.1])[X[:, 1].astype(int)]
    y = y + np.random.default_rng(0).normal(0, 0.05, 300)
    ranking = AnovaRanking(_cat(levels), n_bootstrap=0).fit(X, y)
    assert ranking.verdicts_.verdicts == [MATTERS, MATTERS]
    assert ranking.raw_weights_[1] > 0.03


def test_too_few_trials_and_a_constant_metric_say_so() -> None:
    levels: list[int | None] = [None, 3]
    X = _design(20, levels, seed=1)
    assert AnovaRanking(_cat(levels)).fit(X, X[:, 0]).verdicts_.verdicts == [UNDETERMINED, UNDETERMINED]
    constant = AnovaRanking(_cat(levels)).fit(_design(50, levels, 2), np.ones(50))
    assert constant.message_ and constant.verdicts_.verdicts == [UNDETERMINED, UNDETERMINED]


def test_groups_pool_and_reassure_only_where_every_dataset_does() -> None:
    levels: list[int | None] = [None, 3, 3]
    X = _design(4000, levels, seed=4)
    rng = np.random.default_rng(8)
    groups = ["a"] * 2000 + ["b"] * 2000
    # z matters in dataset b only.
    y = X[:, 0] + np.where(np.arange(4000) >= 2000, 0.5 * (X[:, 2] == 1), 0.0) + rng.normal(0, 0.2, 4000)
    ranking = GroupedRanking(["x", "c", "z"], categorical=_cat(levels), config=RankingConfig(bootstrap=20))
    ranking.partial_fit(X, y, groups)
    snapshot = ranking.snapshot()
    assert snapshot["a"].row("z").verdict == NO_DETECTABLE_EFFECT
    assert snapshot["b"].row("z").verdict == MATTERS
    assert snapshot[POOLED].row("z").verdict != NO_DETECTABLE_EFFECT
    assert snapshot["a"].has_effects and not snapshot[POOLED].has_effects


def test_every_pair_is_reported_once_with_its_test() -> None:
    levels: list[int | None] = [None, 3, None, 2]
    X = _design(300, levels, seed=5)
    ranking = AnovaRanking(_cat(levels), n_bootstrap=10).fit(X, X[:, 0] + np.random.default_rng(1).random(300))
    entry = _entry(ranking, ["a", "b", "c", "d"])
    pairs = {(p.first, p.second) for p in entry.interactions or []}
    assert pairs == set(itertools.combinations("abcd", 2))
    shares = [p.share for p in entry.interactions or []]
    assert shares == sorted(shares, reverse=True)
