"""Encoding trial records for the math, and validating sweep specs."""

from __future__ import annotations

import math

import numpy as np
import pytest

from trials.encoding import TrialRow, encode_trials, optuna_view
from trials.errors import SpecError
from trials.presets import preset
from trials.specs import SpecInvalid, TrialLimits, parse_sweep_spec

CONFIG = {
    "num_conv_layers": 3,
    "num_filters": 32,
    "kernel_size": 7,
    "activation": "tanh",
    "fc_units": 128,
    "dropout_rate": 0.4,
    "learning_rate": 1e-3,
    "optimizer": "adam",
    "batch_size": 128,
    "epochs": 20,
}


def test_encoding_rows_unit_positions_and_categorical_codes() -> None:
    space = preset("cnn-paper")
    encoded = encode_trials(space, [TrialRow("t1", CONFIG, 0.9, group="fashion_mnist")])
    row = dict(zip(encoded.names, encoded.X[0], strict=True))
    assert row["num_conv_layers"] == pytest.approx(0.5)
    assert row["kernel_size"] == 1.0 and row["batch_size"] == 0.5
    assert row["learning_rate"] == pytest.approx(0.5)
    assert row["activation"] == 3.0 and row["optimizer"] == 1.0  # choice indices
    assert encoded.categorical.tolist() == [n in ("activation", "optimizer") for n in encoded.names]
    assert encoded.groups == ["fashion_mnist"] and encoded.y.tolist() == [0.9]


def test_failed_and_non_finite_trials_are_excluded_and_counted() -> None:
    rows = [
        TrialRow("a", CONFIG, 0.5),
        TrialRow("b", CONFIG, None, status="failed"),
        TrialRow("c", CONFIG, math.nan),
        TrialRow("d", CONFIG, math.inf),
        TrialRow("e", CONFIG, 0.1, status="diverged"),
    ]
    encoded = encode_trials(preset("cnn-paper"), rows)
    assert encoded.trial_ids == ["a"]
    assert encoded.excluded == {"failed": 1, "diverged": 1, "non-finite metric": 2}


def test_minimised_metrics_are_flipped_and_out_of_bounds_is_an_error() -> None:
    space = preset("cnn-paper")
    encoded = encode_trials(space, [TrialRow("a", CONFIG, 0.3)], maximize=False)
    assert encoded.y.tolist() == [-0.3]
    with pytest.raises(SpecError, match=r"trial z.epochs: must lie in \[1, 20\], got 21"):
        encode_trials(space, [TrialRow("z", {**CONFIG, "epochs": 21}, 0.3)])


def test_optuna_view_uses_positions_for_ordinals() -> None:
    space = preset("cnn-paper")
    encoded = encode_trials(space, [TrialRow("a", CONFIG, 0.3)])
    params, distributions = optuna_view(space, encoded)
    assert params[0]["batch_size"] == 2 and params[0]["kernel_size"] == 2 and params[0]["activation"] == "tanh"
    assert distributions["learning_rate"].log and distributions["batch_size"].high == 4
    for name, value in params[0].items():
        assert distributions[name]._contains(distributions[name].to_internal_repr(value))


def test_subset_by_group() -> None:
    rows = [TrialRow(str(i), CONFIG, float(i), group="ab"[i % 2]) for i in range(5)]
    encoded = encode_trials(preset("cnn-paper"), rows)
    only_b = encoded.subset("b")
    assert only_b.trial_ids == ["1", "3"] and np.array_equal(only_b.y, [1.0, 3.0])


def test_sweep_spec_defaults_and_limits() -> None:
    spec = parse_sweep_spec(
        {"owner": "ann", "name": "s", "datasets": ["digits", "tfds:cifar10_corrupted/fog_1"], "n_trials": 10}
    )
    assert spec.search_space() == preset("cnn-paper")
    assert spec.limits == TrialLimits() and spec.limits.soft_time_limit_s < spec.limits.hard_time_limit_s


def test_sweep_spec_reports_every_field_error() -> None:
    with pytest.raises(SpecInvalid) as err:
        parse_sweep_spec({"owner": "", "name": "x" * 101, "datasets": [], "n_trials": 10**6, "priority": 11})
    fields = {f for f, _ in err.value.errors}
    assert fields == {"owner", "name", "datasets", "n_trials", "priority"}
