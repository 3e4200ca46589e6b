"""Synthetic metrics with a known answer."""

from __future__ import annotations

import numpy as np

from importance.nrrelieff import NRReliefF


def test_strong_weak_and_noise() -> None:
    rng = np.random.default_rng(3)
    X = rng.random((400, 5))
    y = 3.0 * X[:, 0] + 1.0 * X[:, 1] + rng.normal(0, 0.05, 400)
    est = NRReliefF().fit(X, y)
    assert est.ranking_[:2].tolist() == [0, 1]
    assert est.raw_weights_[0] > est.raw_weights_[1] > est.raw_weights_[2:].max()
    assert est.importances_[0] > 0.5


def test_categorical_effect() -> None:
    # All-categorical space, k large enough that lists reach trials differing in one column.
    rng = np.random.default_rng(4)
    X = rng.integers(0, 3, size=(300, 3)).astype(float)
    y = np.array([0.0, 1.0, 3.0])[X[:, 0].astype(int)] + rng.normal(0, 0.1, 300)
    est = NRReliefF(n_neighbors=30, categorical=[True, True, True]).fit(X, y)
    assert est.ranking_[0] == 0 and est.importances_[0] > 0.9


def test_pure_interaction_beats_noise() -> None:
    rng = np.random.default_rng(5)
    X = rng.random((500, 4))
    y = ((X[:, 0] > 0.5) ^ (X[:, 1] > 0.5)).astype(float) + rng.normal(0, 0.05, 500)
    est = NRReliefF().fit(X, y)
    assert sorted(est.ranking_[:2].tolist()) == [0, 1]
    assert min(est.raw_weights_[:2]) > max(est.raw_weights_[2:])
