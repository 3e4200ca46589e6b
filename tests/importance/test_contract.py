"""What every importance method must satisfy, each called through the one `Evaluator` interface: sweeprank's
variance shares and N-RReliefF, and Optuna's fANOVA and PED-ANOVA."""

from __future__ import annotations

import numpy as np
import pytest

from importance.compare import compare, kendall_tau
from importance.config import METHODS
from importance.evaluator import OPTUNA_METHODS, FinishedTrials, evaluator

NAMES = ["strong", "weak", "noise", "fixed"]


def _data(seed: int = 6, n: int = 120) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.random((n, 4))
    X[:, 3] = 0.5
    return X, 3.0 * X[:, 0] + X[:, 1] + rng.normal(0, 0.05, n)


def finished(X: np.ndarray, y: np.ndarray, names: list[str] = NAMES) -> FinishedTrials:
    from optuna.distributions import FloatDistribution

    # The fixed hyperparameter is declared as a single value, as a narrowed space would.
    dists = {n: FloatDistribution(0.5, 0.5) if n == "fixed" else FloatDistribution(0.0, 1.0) for n in names}
    params = [dict(zip(names, map(float, row), strict=False)) for row in X]
    return FinishedTrials(names, np.zeros(len(names), dtype=bool), X[:, : len(names)], y, params, dists)


def importances(method: str, X: np.ndarray, y: np.ndarray) -> np.ndarray:
    found = evaluator(method).importances(finished(X, y))
    assert list(found) == NAMES
    return np.array([found[n] for n in NAMES])


@pytest.fixture(scope="module", params=[*METHODS, *OPTUNA_METHODS])
def method(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.mark.slow
def test_non_negative_sums_to_one_fixed_is_zero(method: str) -> None:
    X, y = _data()
    imp = importances(method, X, y)
    assert (imp >= 0).all()
    assert imp.sum() == pytest.approx(1.0)
    assert imp[3] == pytest.approx(0.0, abs=1e-9)
    assert int(np.argmax(imp)) == 0


@pytest.mark.slow
def test_trial_order_does_not_matter(method: str) -> None:
    X, y = _data(n=100)
    order = np.random.default_rng(0).permutation(len(y))
    first, second = importances(method, X, y), importances(method, X[order], y[order])
    # Sums over trials (variance shares) and exact neighbours over continuous configs (the paper's N-RReliefF, one
    # block of every trial) are exactly order-free; fixed-scale N-RReliefF blocks trials in arrival order, and the
    # Optuna forests draw their own samples, so they agree only closely.
    tolerance = 1e-9 if method in ("anova", "paper") else 0.05
    np.testing.assert_allclose(first, second, atol=tolerance)


def test_compare_reports_kendall_tau() -> None:

    X, y = _data(n=80)
    mine = {"strong": 0.7, "weak": 0.25, "noise": 0.05}
    out = compare(finished(X, y, NAMES[:3]), mine, methods=["fanova"])
    assert out["fanova"]["kendall_tau"] == pytest.approx(kendall_tau(mine, out["fanova"]["importances"]))
    assert out["fanova"]["kendall_tau"] > 0.5
    assert kendall_tau({"a": 1.0, "b": 1.0}, {"a": 0.2, "b": 0.8}) is None


def test_pooled_comparators_are_the_trial_weighted_mean_like_nrrelieff() -> None:
    from importance.compare import pool_comparisons

    per_group = {
        "a": (30, {"fanova": {"importances": {"x": 0.8, "y": 0.2}}}),
        "b": (10, {"fanova": {"importances": {"x": 0.4, "y": 0.6}}}),
    }
    pooled = pool_comparisons(per_group, {"x": 0.9, "y": 0.1}, ["x", "y"])["fanova"]
    assert pooled["importances"] == pytest.approx({"x": 0.7, "y": 0.3})  # (30 * 0.8 + 10 * 0.4) / 40
    assert pooled["kendall_tau"] == pytest.approx(1.0)


def test_an_unknown_method_is_named_with_the_known_ones() -> None:
    with pytest.raises(ValueError, match="known: anova, fixed-scale, paper, fanova, ped-anova"):
        evaluator("shap")
