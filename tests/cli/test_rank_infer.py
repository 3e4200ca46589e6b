"""`sweeprank rank` without --space: the space inferred from the table (trials/infer.py)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from sweeprank.rank import INFERRED_TITLE, main
from sweeprank.table import layout, table_trials
from tests.cli.test_rank_cli import SPACE, write_trials
from trials.infer import MAX_CHOICES, infer_param, infer_space
from trials.presets import load_space_file
from trials.space import ChoiceParam, NumericParam


def test_numbers_become_int_or_float_with_the_data_bounds() -> None:
    assert infer_param("layers", ["1", "7", "3", "12", "5", "2", "9", "4", "6", "8", "10", "11"]) == NumericParam(
        "layers", "int", 1, 12
    )
    # pandas writes an int column with empty cells as floats: 3.0 is still an int.
    assert infer_param("units", [3.0, 40.0, None, 17.0] * 5 + [float(i) for i in range(20, 31)]).kind == "int"
    dropout = infer_param("dropout", [f"{x:.4f}" for x in np.linspace(0.05, 0.6, 30)])
    assert dropout == NumericParam("dropout", "float", 0.05, 0.6)


@pytest.mark.parametrize(
    ("low", "high", "log"),
    [(1e-5, 1e-1, True), (1.0, 100.0, True), (1.0, 99.0, False), (0.0, 1000.0, False), (-100.0, -1.0, False)],
)
def test_log_scale_when_a_positive_range_spans_two_decades(low: float, high: float, log: bool) -> None:
    param = infer_param("x", list(np.linspace(low, high, 25)))
    assert isinstance(param, NumericParam) and param.log is log and (param.low, param.high) == (low, high)


def test_few_repeated_values_become_ordinal_many_stay_numeric() -> None:
    sizes = [32, 64, 128, 256, 512] * 6
    assert infer_param("batch", sizes) == ChoiceParam("batch", "ordinal", (32, 64, 128, 256, 512))
    at_threshold = list(range(MAX_CHOICES)) * 2
    assert isinstance(infer_param("a", at_threshold), ChoiceParam)
    over = list(range(MAX_CHOICES + 1)) * 2
    assert infer_param("b", over) == NumericParam("b", "int", 0, MAX_CHOICES)
    # Few rows: values seen once each are a sample of a range, not a list of choices.
    assert infer_param("c", [0.1, 0.2, 0.3, 0.4]) == NumericParam("c", "float", 0.1, 0.4)


def test_text_and_booleans_are_categorical_unique_text_is_not_a_hyperparameter() -> None:
    assert infer_param("opt", ["sgd", "adam", "sgd", "rmsprop"]) == ChoiceParam(
        "opt", "categorical", ("adam", "rmsprop", "sgd")
    )
    assert infer_param("bn", [True, False, np.bool_(True), "True"]) == ChoiceParam(
        "bn", "categorical", ("False", "True")
    )
    assert infer_param("mixed", [1, "relu", 2]) == ChoiceParam("mixed", "categorical", ("1", "2", "relu"))
    assert infer_param("note", [f"run {i}" for i in range(MAX_CHOICES + 1)]) is None
    assert infer_param("empty", ["", None, float("nan")]) is None


def test_conditional_columns_are_noted_and_their_bounds_skip_empty_cells() -> None:
    inferred = infer_space({"momentum": ["0.9", "", "0.5", None, "0.1"] * 4, "lr": [0.1, 0.01, 0.001, 0.2, 0.02] * 4})
    assert inferred.conditional == {"momentum": 8}
    assert inferred.space["momentum"] == ChoiceParam("momentum", "ordinal", (0.1, 0.5, 0.9))
    assert "momentum: {type: ordinal, choices: [0.1, 0.5, 0.9]}  # conditional: not applicable (empty) in 8 of 20" in (
        inferred.to_yaml()
    )


def test_empty_cells_are_not_applicable_not_an_error(tmp_path: Path) -> None:
    """Regression: an empty cell stopped the run with "must be a number, got ''"."""
    records = [{"lr": "0.1", "momentum": "", "acc": "0.5"}, {"lr": "0.2", "momentum": "0.9", "acc": "0.6"}]
    given = infer_space({"lr": ["0.1", "0.2"] * 10, "momentum": ["0.9", "0.5"] * 10}).space
    table = table_trials(records, str, layout(["lr", "momentum", "acc"], "acc", space=given), given)
    assert [row.config for row in table.rows] == [{"lr": 0.1, "momentum": None}, {"lr": 0.2, "momentum": 0.9}]


def test_yaml_round_trip_ranks_the_same(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    trials = write_trials(tmp_path / "trials.csv")
    saved, inferred_json, given_json = tmp_path / "space.yaml", tmp_path / "a.json", tmp_path / "b.json"
    args = ["rank", str(trials), "--metric", "accuracy", "--bootstrap", "20"]
    assert main([*args, "--save-space", str(saved), "--json", str(inferred_json)]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith(INFERRED_TITLE + "\n# inferred by sweeprank from 118 trials")
    assert printed.index("parameters:") < printed.index("== all trials")
    assert saved.read_text() in printed
    space = load_space_file(saved)
    # The id, status and metric columns are never hyperparameters; every other column is one.
    assert space.names == ["dataset", *SPACE.names]
    assert space["learning_rate"].log and space["num_conv_layers"] == ChoiceParam(
        "num_conv_layers", "ordinal", (1, 2, 3, 4, 5)
    )
    assert main([*args, "--space", str(saved), "--json", str(given_json)]) == 0
    assert INFERRED_TITLE not in capsys.readouterr().out
    first, second = json.loads(inferred_json.read_text()), json.loads(given_json.read_text())
    assert first["rankings"] == second["rankings"] and first["n_trials"] == 118
    assert first["rankings"]["all"]["ranking"][0] == "num_conv_layers"


def test_metric_is_required_outside_optuna_tables(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rank", str(write_trials(tmp_path / "t.csv"))]) == 2
    assert "--metric: is required" in capsys.readouterr().err
