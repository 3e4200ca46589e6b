from __future__ import annotations

import numpy as np

from importance.nrrelieff import NRReliefF
from importance.uncertainty import poisson_weights
from tests.importance.conftest import stream


def _data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    X = rng.random((300, 3))
    return X, 3.0 * X[:, 0] + 2.0 * X[:, 1] + rng.normal(0, 0.1, 300)


def test_reproducible_and_seed_dependent() -> None:
    X, y = _data()
    a, b = NRReliefF(random_state=1).fit(X, y), NRReliefF(random_state=1).fit(X, y)
    c = NRReliefF(random_state=2).fit(X, y)
    np.testing.assert_array_equal(a.ci_low_, b.ci_low_)
    np.testing.assert_array_equal(a.rank_probability_, b.rank_probability_)
    assert not np.array_equal(a.bootstrap_importances_, c.bootstrap_importances_)


def test_intervals_contain_point_estimate() -> None:
    X, y = _data()
    est = NRReliefF().fit(X, y)
    assert (est.ci_low_ <= est.importances_).all() and (est.importances_ <= est.ci_high_).all()
    assert est.ci_high_[0] - est.ci_low_[0] > 0.05  # the bootstrap does move the estimate
    assert est.ci_low_[0] > est.ci_high_[1]
    assert est.rank_probability_[0] == 1.0


def test_weights_depend_only_on_seed_and_trial() -> None:
    whole = poisson_weights(3, 0, 50, 7)
    np.testing.assert_array_equal(whole[20:30], poisson_weights(3, 20, 30, 7))
    assert abs(poisson_weights(0, 0, 4000, 50).mean() - 1.0) < 0.02  # Poisson(1) has mean 1


def test_fit_equals_partial_fit_for_intervals() -> None:
    X, y = _data()
    batch = NRReliefF(n_bootstrap=50).fit(X, y)
    streamed = stream(NRReliefF(n_bootstrap=50), X, y, [1, 2, 3, 50, 51, 130, 299])
    np.testing.assert_allclose(streamed.bootstrap_importances_, batch.bootstrap_importances_, atol=1e-12)
    np.testing.assert_allclose(streamed.ci_low_, batch.ci_low_, atol=1e-12)
    np.testing.assert_allclose(streamed.ci_high_, batch.ci_high_, atol=1e-12)
    np.testing.assert_array_equal(streamed.rank_probability_, batch.rank_probability_)
