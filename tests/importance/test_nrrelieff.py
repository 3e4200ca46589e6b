from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from importance.nrrelieff import MSG_CONSTANT, MSG_NO_SIGNAL, MSG_TOO_FEW, NRReliefF
from tests.importance.conftest import stream, trial_sets
from tests.importance.textbook import textbook_weights

FAST = settings(max_examples=60, deadline=None)


def test_hand_computed_four_trials() -> None:
    # x1 decides the metric, x2 is noise. sigma huge -> rank weights exactly 1/2, 1/2; k = 2.
    X = np.array([[0.0, 0.0], [0.0, 0.5], [1.0, 0.0], [1.0, 0.4]])
    y = np.array([0.0, 0.0, 1.0, 1.0])
    # Two nearest (L1): 0 -> {1 (0.5), 2 (1.0)}; 1 -> {0 (0.5), 3 (1.1)}; 2 -> {3 (0.4), 0 (1.0)};
    # 3 -> {2 (0.4), 1 (1.1)}. Pairs (dy, dx1, dx2): (0,0,.5) (1,1,0) (0,0,.5) (1,1,.1) (0,0,.4) (1,1,0)
    # (0,0,.4) (1,1,.1), each weighted 1/2:
    # N_dC = 2; N_dA = [2, 1.0]; N_dCdA = [2, 0.1]; m = 4
    # W[x1] = 2/2 - (2-2)/(4-2) = 1;  W[x2] = 0.1/2 - (1.0-0.1)/(4-2) = -0.4
    est = NRReliefF(n_neighbors=2, sigma=1e9, block_size=None).fit(X, y)
    np.testing.assert_allclose(est.raw_weights_, [1.0, -0.4], atol=1e-12)
    np.testing.assert_allclose(est.importances_, [1.0, 0.0])
    assert est.ranking_.tolist() == [0, 1]
    assert est.n_seen_ == 4 and est.message_ == ""


def test_hand_computed_categorical_with_tie() -> None:
    # One categorical column, k = 1, ties broken by arrival order (lower index first):
    # 0 -> 1 (1, 2, 3 all at distance 1); 1 -> 3 (same category, distance 0); 2 -> 0 (all at 1); 3 -> 1.
    X = np.array([[0.0], [1.0], [2.0], [1.0]])
    y = np.array([0.0, 1.0, 1.0, 0.5])
    # Pairs (dy, dA): (1, 1) (0.5, 0) (1, 1) (0.5, 0).  N_dC = 3; N_dA = 2; N_dCdA = 2; m = 4
    # W = 2/3 - (2 - 2)/(4 - 3) = 2/3
    est = NRReliefF(n_neighbors=1, categorical=[True], block_size=None).fit(X, y)
    np.testing.assert_allclose(est.raw_weights_, [2 / 3], rtol=1e-12)


# Block sizes: None is the paper-exact method; small blocks make several blocks, a partial
# last block and steps of its k appear in 30-40 trials.
BLOCKS = st.sampled_from([None, 2, 5, 8, 13])


@FAST
@given(trial_sets(), st.integers(1, 6), st.floats(0.5, 50.0), st.sampled_from(["brute", "kdtree"]), BLOCKS)
def test_matches_textbook_loop(data: tuple, k: int, sigma: float, method: str, block_size: int | None) -> None:
    X, y, categorical = data
    est = NRReliefF(n_neighbors=k, sigma=sigma, categorical=categorical, n_bootstrap=0, block_size=block_size)
    est.knn_method = method  # type: ignore[assignment]
    est.fit(X, y)
    expected = textbook_weights(X, y, categorical, k, sigma, block_size)
    np.testing.assert_allclose(est.raw_weights_, expected, rtol=1e-9, atol=1e-12)


@FAST
@given(trial_sets(max_n=40), st.integers(1, 6), st.lists(st.integers(0, 40), max_size=6), st.booleans(), BLOCKS)
@pytest.mark.slow
def test_partial_fit_streams_equal_fit(
    data: tuple, k: int, cuts: list[int], one_by_one: bool, block_size: int | None
) -> None:
    X, y, categorical = data
    params = {"n_neighbors": k, "categorical": categorical, "n_bootstrap": 20, "block_size": block_size}
    batch = NRReliefF(**params, n_permutations=30).fit(X, y)
    streamed = NRReliefF(**params, n_permutations=30)
    stream(streamed, X, y, list(range(len(y))) if one_by_one else cuts)
    streamed.refresh_significance()
    for name in ("raw_weights_", "importances_", "ci_low_", "ci_high_", "rank_probability_", "p_values_"):
        np.testing.assert_allclose(getattr(streamed, name), getattr(batch, name), rtol=1e-9, atol=1e-12, err_msg=name)
    assert streamed.ranking_.tolist() == batch.ranking_.tolist()
    assert streamed.verdicts_ == batch.verdicts_
    assert streamed.n_seen_ == batch.n_seen_ == len(y)


def test_exact_ties_go_to_the_lower_index() -> None:
    """An ordinal of 4 levels sits at 0, 1/3, 2/3, 1. From 2/3, the levels 1/3 and 1 are both exactly
    1/3 away, but their float differences are 0.3333333333333333 and 0.33333333333333337: the
    documented rule (lower arrival index first) must decide, not the last bit."""
    X = np.array([[2 / 3], [1.0], [1 / 3]])
    assert abs(X[0, 0] - X[1, 0]) != abs(X[0, 0] - X[2, 0])
    y = np.array([0.0, 1.0, 0.5])
    est = NRReliefF(n_neighbors=1, block_size=None, n_bootstrap=0).fit(X, y)
    assert est._nbr[0, 0] == 1  # the level at 1.0 arrived first
    swapped = NRReliefF(n_neighbors=1, block_size=None, n_bootstrap=0).fit(X[[0, 2, 1]], y[[0, 2, 1]])
    assert swapped._nbr[0, 0] == 1  # now the level at 1/3 arrived first, and wins
    streamed = stream(NRReliefF(n_neighbors=1, block_size=None, n_bootstrap=0), X, y, [1, 2])
    assert streamed._nbr[0, 0] == 1


@pytest.mark.parametrize("case", ["new_extremes", "duplicates", "single_column", "n_below_k"])
def test_stream_edge_cases(case: str) -> None:
    rng = np.random.default_rng(1)
    X, y = rng.random((60, 3)), rng.random(60)
    if case == "new_extremes":
        y = np.linspace(0.4, 0.6, 60)
        y[[20, 40, 59]] = [-5.0, 9.0, -7.0]  # each becomes a new min or max mid-stream
    elif case == "duplicates":
        X = np.repeat(X[:6], 10, axis=0)
    elif case == "single_column":
        X = X[:, :1]
    else:
        X, y = X[:7], y[:7]
    batch = NRReliefF(block_size=None).fit(X, y)
    streamed = stream(NRReliefF(block_size=None), X, y, list(range(len(y))))
    np.testing.assert_allclose(streamed.raw_weights_, batch.raw_weights_, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(
        batch.raw_weights_, textbook_weights(X, y, np.zeros(X.shape[1], bool), 10, 20.0), rtol=1e-9, atol=1e-12
    )


def test_constant_metric_is_reported_not_ranked() -> None:
    X = np.random.default_rng(2).random((30, 3))
    est = stream(NRReliefF(), X, np.full(30, 0.7), [5, 17])
    assert est.message_ == MSG_CONSTANT
    assert not est.importances_.any() and not est.raw_weights_.any()
    assert np.isnan(est.rank_probability_).all()  # no P(rank) 1.00 for a ranking of nothing


def test_too_few_and_no_signal_messages() -> None:
    assert NRReliefF().fit([[0.1, 0.2]], [1.0]).message_ == MSG_TOO_FEW
    # Nearest pairs (0,1) and (2,3) share their metric: N_dC = 0, W = -N_dA / m = -0.1.
    noise = NRReliefF(n_neighbors=1, block_size=None).fit(np.array([[0.0], [0.1], [0.9], [1.0]]), [0.0, 0.0, 1.0, 1.0])
    np.testing.assert_allclose(noise.raw_weights_, [-0.1])
    assert noise.message_ == MSG_NO_SIGNAL and noise.importances_.sum() == 0.0


def test_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="finite"):
        NRReliefF().fit([[0.1], [np.inf]], [1.0, 2.0])  # NaN in X is "not applicable"; inf is an error
    with pytest.raises(ValueError, match="finite"):
        NRReliefF().fit([[0.1], [0.2]], [1.0, np.nan])
    est = NRReliefF().fit([[0.1, 0.2], [0.3, 0.4]], [1.0, 2.0])
    with pytest.raises(ValueError, match="2 columns"):
        est.partial_fit([[0.1]], [1.0])
    with pytest.raises(ValueError, match="one entry per column"):
        NRReliefF(categorical=[True]).fit([[0.1, 0.2]], [1.0])


def test_rounding_residue_in_a_denominator_is_treated_as_zero() -> None:
    """Found by hypothesis: a bootstrap replicate whose m - N_dC is 0 in one summation order
    and ~1e-16 in the other gave residue/residue, an arbitrary ratio, in one of them."""
    X = np.array([[0.0, 1.0, 1.0, 1.0], [0.0, 0.0, 1.0, 1.0], [0.0, 0.0, 1.0, 0.0]])
    y = np.array([0.0, 0.74, 0.0])
    batch = NRReliefF(n_neighbors=2, n_bootstrap=20, block_size=None).fit(X, y)
    streamed = NRReliefF(n_neighbors=2, n_bootstrap=20, block_size=None)
    for i in range(3):
        streamed.partial_fit(X[i : i + 1], y[i : i + 1])
    np.testing.assert_allclose(streamed.bootstrap_raw_weights_, batch.bootstrap_raw_weights_, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(streamed.ci_high_, batch.ci_high_, rtol=1e-9, atol=1e-12)
