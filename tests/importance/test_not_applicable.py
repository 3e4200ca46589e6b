"""N/A (NaN) values in the N-RReliefF distance: 0 when both trials are N/A, 1 when one is (the module docstring)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from importance.neighbours import grid_scale, nearest_neighbours, to_grid
from importance.nrrelieff import NRReliefF
from importance.ranking_record import MATTERS, UNDETERMINED
from tests.importance.conftest import stream, trial_sets
from tests.importance.textbook import textbook_weights
from trials.encoding import TrialRow, encode_trials
from trials.space import SearchSpace

FAST = settings(max_examples=60, deadline=None)
NAN = np.nan


def test_hand_computed_with_not_applicable() -> None:
    # x1 numeric, x2 numeric and N/A in trials 0 and 2. k = 1, paper method.
    # delta(0,1) = 0 + 1 (one N/A) = 1; delta(0,2) = 1 + 0 (both N/A) = 1; delta(1,2) = 1 + 1 = 2.
    # 0 -> 1 (tie at 1, lower index); 1 -> 0; 2 -> 0. Pairs (dy, dx1, dx2): (1, 0, 1) (1, 0, 1) (0.5, 1, 0).
    # N_dC = 2.5; N_dA = [1, 2]; N_dCdA = [0.5, 2]; m = 3.
    # W[x1] = 0.5/2.5 - (1 - 0.5)/0.5 = -0.8;  W[x2] = 2/2.5 - 0/0.5 = 0.8
    X = np.array([[0.0, NAN], [0.0, 0.5], [1.0, NAN]])
    y = np.array([0.0, 1.0, 0.5])
    est = NRReliefF(n_neighbors=1, block_size=None, n_bootstrap=0).fit(X, y)
    assert est._nbr[:3, 0].tolist() == [1, 0, 0]
    np.testing.assert_allclose(est.raw_weights_, [-0.8, 0.8], rtol=1e-12)
    np.testing.assert_allclose(est.importances_, [0.0, 1.0])


def test_exact_ties_with_not_applicable_go_to_the_lower_index() -> None:
    """From trial 0, one N/A mismatch (1 unit) ties with ordinal steps of 1/3 + 2/3 (1 unit, but not
    in float arithmetic): the lower arrival index must win, whichever trial that is."""
    X = np.array([[1 / 3, 2 / 3, NAN], [1 / 3, 2 / 3, 0.5], [2 / 3, 0.0, NAN]])
    y = np.array([0.0, 1.0, 0.5])
    for order in ([0, 1, 2], [0, 2, 1]):
        batch = NRReliefF(n_neighbors=1, block_size=None, n_bootstrap=0).fit(X[order], y[order])
        streamed = stream(NRReliefF(n_neighbors=1, block_size=None, n_bootstrap=0), X[order], y[order], [1, 2])
        assert batch._nbr[0, 0] == streamed._nbr[0, 0] == 1


BLOCKS = st.sampled_from([None, 2, 5, 13])


@FAST
@given(
    trial_sets(not_applicable=True),
    st.integers(1, 6),
    st.floats(0.5, 50.0),
    st.sampled_from(["brute", "kdtree"]),
    BLOCKS,
)
def test_matches_textbook_loop_with_not_applicable(
    data: tuple, k: int, sigma: float, method: str, block_size: int | None
) -> None:
    X, y, categorical = data
    est = NRReliefF(n_neighbors=k, sigma=sigma, categorical=categorical, n_bootstrap=0, block_size=block_size)
    est.knn_method = method  # type: ignore[assignment]
    est.fit(X, y)
    expected = textbook_weights(X, y, categorical, k, sigma, block_size)
    np.testing.assert_allclose(est.raw_weights_, expected, rtol=1e-9, atol=1e-12)


@FAST
@given(
    trial_sets(max_n=40, not_applicable=True),
    st.integers(1, 6),
    st.lists(st.integers(0, 40), max_size=6),
    st.booleans(),
    BLOCKS,
)
@pytest.mark.slow
def test_partial_fit_streams_equal_fit_with_not_applicable(
    data: tuple, k: int, cuts: list[int], one_by_one: bool, block_size: int | None
) -> None:
    X, y, categorical = data
    params = {"n_neighbors": k, "categorical": categorical, "n_bootstrap": 20, "block_size": block_size}
    batch = NRReliefF(**params, n_permutations=30).fit(X, y)
    streamed = NRReliefF(**params, n_permutations=30)
    stream(streamed, X, y, list(range(len(y))) if one_by_one else cuts)
    streamed.refresh_significance()
    for name in ("raw_weights_", "importances_", "ci_low_", "ci_high_", "p_values_"):
        np.testing.assert_allclose(getattr(streamed, name), getattr(batch, name), rtol=1e-9, atol=1e-12, err_msg=name)
    assert streamed.verdicts_ == batch.verdicts_


@settings(max_examples=40, deadline=None)
@given(trial_sets(max_n=120, not_applicable=True), st.integers(1, 12))
def test_every_neighbour_search_gives_the_same_lists_with_not_applicable(data: tuple, k: int) -> None:
    X, _, categorical = data
    scale = grid_scale(X.shape[1])
    grid = to_grid(X, categorical, scale)
    brute = nearest_neighbours(grid, categorical, scale, k, "brute")
    tree = nearest_neighbours(grid, categorical, scale, k, "kdtree")
    np.testing.assert_array_equal(tree[0], brute[0])
    np.testing.assert_array_equal(tree[1], brute[1])


def test_trees_agree_with_brute_force_on_large_conditional_data() -> None:
    # Few large categorical groups: without the N/A the per-group trees would be taken (`_knn_grouped`).
    rng = np.random.default_rng(3)
    n = 4000
    X = np.column_stack([rng.integers(0, 2, n), rng.integers(0, 5, n) / 4, rng.random(n), rng.random(n)])
    X[X[:, 0] == 0, 3] = NAN  # the last column applies only where the categorical is 1
    categorical = np.array([True, False, False, False])
    scale = grid_scale(4)
    grid = to_grid(X, categorical, scale)
    brute = nearest_neighbours(grid, categorical, scale, 10, "brute")
    tree = nearest_neighbours(grid, categorical, scale, 10, "auto")
    np.testing.assert_array_equal(tree[0], brute[0])
    np.testing.assert_array_equal(tree[1], brute[1])


def test_a_hyperparameter_never_applicable_gets_zero_and_no_claim() -> None:
    rng = np.random.default_rng(4)
    X = np.column_stack([rng.random(200), rng.random(200), np.full(200, NAN)])
    y = X[:, 0] + 0.1 * rng.random(200)
    est = NRReliefF(n_bootstrap=20).fit(X, y)
    assert est.raw_weights_[2] == 0.0 and est.importances_[2] == 0.0
    assert est.ci_high_[2] == 0.0
    assert est.verdicts_[2] == UNDETERMINED
    assert est.importances_[0] > 0.5  # the others are ranked as without the column


CONDITIONAL_SPACE = SearchSpace.from_dict(
    {
        "branch": {"type": "categorical", "choices": ["plain", "tuned"]},
        "strength": {"type": "float", "low": 0.0, "high": 1.0},
        "noise_a": {"type": "float", "low": 0.0, "high": 1.0},
        "noise_b": {"type": "int", "low": 1, "high": 8},
    }
)


def test_conditional_parameter_that_matters_in_its_branch_ranks_above_noise() -> None:
    # `strength` exists only in the "tuned" branch, and the metric follows it there; in the "plain"
    # branch the metric is drawn from the same distribution, so the branch itself carries no effect.
    rng = np.random.default_rng(5)
    rows = []
    for i in range(600):
        tuned = bool(rng.random() < 0.5)
        strength = float(rng.random())
        branch = {"branch": "tuned", "strength": strength} if tuned else {"branch": "plain"}
        noise = {"noise_a": float(rng.random()), "noise_b": int(rng.integers(1, 9))}
        value = strength if tuned else float(rng.random())
        rows.append(TrialRow(str(i), {**branch, **noise}, value + float(rng.normal(0.0, 0.02))))
    encoded = encode_trials(CONDITIONAL_SPACE, rows)
    assert np.isnan(encoded.X[:, 1]).sum() > 200
    est = NRReliefF(categorical=encoded.categorical, n_bootstrap=50).fit(encoded.X, encoded.y)
    strength_column, noise_columns = 1, [2, 3]
    assert est.importances_[strength_column] > 2 * est.importances_[noise_columns].max(), est.importances_
    assert est.verdicts_[strength_column] == MATTERS
    assert all(est.verdicts_[i] != MATTERS for i in noise_columns), est.verdicts_
