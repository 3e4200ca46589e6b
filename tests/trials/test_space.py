"""Search spaces: declared bounds, unit positions, narrowing, validation messages."""

from __future__ import annotations

import math

import pytest

from trials.errors import SpecError
from trials.presets import PAPER_TOP5, preset
from trials.space import ChoiceParam, NumericParam, SearchSpace


def test_cnn_paper_preset_matches_the_design_table() -> None:
    space = preset("cnn-paper")
    assert space.names == [
        "num_conv_layers",
        "num_filters",
        "kernel_size",
        "activation",
        "fc_units",
        "dropout_rate",
        "learning_rate",
        "optimizer",
        "batch_size",
        "epochs",
    ]
    assert space["learning_rate"] == NumericParam("learning_rate", "float", 1e-5, 1e-1, log=True)
    assert space["kernel_size"] == ChoiceParam("kernel_size", "ordinal", (3, 5, 7))
    assert space["optimizer"] == ChoiceParam("optimizer", "categorical", ("sgd", "adam", "rmsprop", "adagrad"))
    assert {name for name, _ in PAPER_TOP5} <= set(space.names)


def test_unit_positions_use_declared_bounds_and_log_scale() -> None:
    lr = NumericParam("lr", "float", 1e-5, 1e-1, log=True)
    assert lr.unit(1e-3) == pytest.approx(0.5)
    assert lr.unit(1e-5) == 0.0 and lr.unit(1e-1) == pytest.approx(1.0)
    dropout = NumericParam("dropout", "float", 0.0, 0.8)
    assert dropout.unit(0.2) == pytest.approx(0.25)
    batch = ChoiceParam("batch", "ordinal", (32, 64, 128, 256, 512))
    assert [batch.unit(v) for v in (32, 128, 512)] == [0.0, 0.5, 1.0]


@pytest.mark.parametrize("u", [0.0, 0.1, 0.37, 0.5, 0.99, 1.0])
def test_from_unit_stays_inside_the_declared_range(u: float) -> None:
    for param in preset("cnn-paper").params:
        value = param.from_unit(u)
        assert param.validate(value) == value


def test_int_from_unit_gives_every_integer_an_equal_cell() -> None:
    layers = NumericParam("layers", "int", 1, 5)
    counts = {v: 0 for v in range(1, 6)}
    for i in range(1000):
        counts[int(layers.from_unit((i + 0.5) / 1000))] += 1
    assert all(c == 200 for c in counts.values()), counts


@pytest.mark.parametrize(
    ("value", "fragment"),
    [(0.9, "must lie in [0, 0.8], got 0.9"), ("x", "must be a number"), (math.nan, "must lie in"), (True, "number")],
)
def test_out_of_bounds_values_are_clear_errors(value: object, fragment: str) -> None:
    with pytest.raises(SpecError, match="dropout_rate") as err:
        preset("cnn-paper")["dropout_rate"].validate(value)
    assert fragment in str(err.value)


def test_validate_config_names_missing_and_unknown() -> None:
    space = SearchSpace.from_dict(
        {"a": {"type": "int", "low": 1, "high": 3}, "b": {"type": "categorical", "choices": ["x", "y"]}}
    )
    with pytest.raises(SpecError, match=r"missing \['b'\], unknown \['c'\]"):
        space.validate_config({"a": 1, "c": 2})
    assert space.validate_config({"a": 2.0, "b": "y"}) == {"a": 2, "b": "y"}
    with pytest.raises(SpecError, match="must be an integer"):
        space.validate_config({"a": 2.5, "b": "y"})


def test_narrow_keeps_inside_and_preserves_choice_order() -> None:
    space = preset("cnn-paper").narrow({"epochs": {"high": 3}, "batch_size": {"choices": [512, 64]}})
    assert space["epochs"] == NumericParam("epochs", "int", 1, 3)
    assert space["batch_size"] == ChoiceParam("batch_size", "ordinal", (64, 512))
    with pytest.raises(SpecError, match=r"narrow.epochs: must lie in \[1, 20\], got 30"):
        preset("cnn-paper").narrow({"epochs": {"high": 30}})
    with pytest.raises(SpecError, match=r"narrow\.depth"):
        preset("cnn-paper").narrow({"depth": {"high": 3}})


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ({"a": {"type": "float", "low": 2, "high": 1}}, "low <= high"),
        ({"a": {"type": "float", "low": 0, "high": 1, "log": True}}, "log-scaled range needs low > 0"),
        ({"a": {"type": "ordinal", "choices": []}}, "at least one choice"),
        ({"a": {"type": "categorical", "choices": ["x", "x"]}}, "distinct"),
        ({"a": {"type": "tensor"}}, "a.type"),
        ({"a": {"type": "int", "low": 1}}, "a.high: is required"),
        ({"a": {"type": "int", "low": 1, "high": 2, "step": 1}}, "unknown keys ['step']"),
        ({}, "at least one hyperparameter"),
    ],
)
def test_bad_space_definitions(raw: dict[str, object], fragment: str) -> None:
    with pytest.raises(SpecError) as err:
        SearchSpace.from_dict(raw)
    assert fragment in str(err.value)


def test_space_round_trips_through_its_dict_form() -> None:
    space = preset("cnn-paper")
    assert SearchSpace.from_dict(space.to_dict()) == space
