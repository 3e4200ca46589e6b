"""Encoding configs whose conditional hyperparameters are not applicable (absent or None)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from trials.encoding import TrialRow, encode_trials, optuna_view
from trials.errors import SpecError
from trials.space import SearchSpace

SPACE = SearchSpace.from_dict(
    {
        "layers": {"type": "int", "low": 1, "high": 2},
        "width_2": {"type": "int", "low": 8, "high": 64, "log": True},
        "act_2": {"type": "categorical", "choices": ["relu", "tanh"]},
    }
)


def test_absent_and_none_are_encoded_as_nan_and_left_out_of_the_config() -> None:
    rows = [
        TrialRow("one", {"layers": 1}, 0.1),
        TrialRow("none", {"layers": 1, "width_2": None, "act_2": None}, 0.2),
        TrialRow("two", {"layers": 2, "width_2": 64, "act_2": "tanh"}, 0.3),
    ]
    encoded = encode_trials(SPACE, rows)
    assert np.isnan(encoded.X[:2, 1:]).all()
    np.testing.assert_array_equal(encoded.X[:, 0], [0.0, 0.0, 1.0])
    np.testing.assert_array_equal(encoded.X[2], [1.0, 1.0, 1.0])
    assert encoded.configs[:2] == [{"layers": 1}, {"layers": 1}]
    params, distributions = optuna_view(SPACE, encoded)
    assert params == [{"layers": 1}, {"layers": 1}, {"layers": 2, "width_2": 64, "act_2": "tanh"}]
    assert set(distributions) == {"layers", "width_2", "act_2"}


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"layers": 1, "depth": 3}, r"trial t: names hyperparameters the space does not have: \['depth'\]"),
        ({"layers": 2, "width_2": "wide"}, r"trial t.width_2: must be a number, got 'wide'"),
        ({"layers": 2, "width_2": ""}, r"trial t.width_2: must be a number, got ''"),
        ({"layers": 2, "width_2": math.nan}, r"trial t.width_2: must lie in \[8, 64\], got nan"),
        ({"layers": 2, "act_2": "elu"}, r"trial t.act_2: must be one of \['relu', 'tanh'\], got 'elu'"),
    ],
)
def test_unknown_names_and_wrong_values_stay_errors(config: dict[str, object], message: str) -> None:
    with pytest.raises(SpecError, match=message):
        encode_trials(SPACE, [TrialRow("t", config, 0.5)])
