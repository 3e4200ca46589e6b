"""`sweeprank rank` without --space: the space inferred from the table (offline/infer.py)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from offline.infer import MAX_CHOICES, infer_param, infer_space, looks_log_uniform, parse_cell
from offline.rendering import INFERRED_TITLE
from offline.table import layout, table_trials
from sweeprank.rank_cmd import main
from tests.cli.test_rank_cli import SPACE, write_trials
from tests.ranking_rows import order
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
    ("values", "log"),
    [
        (np.geomspace(1e-5, 1e-1, 25), True),
        (np.geomspace(1.0, 100.0, 25), True),
        (np.geomspace(1.0, 99.0, 25), False),  # under two decades: linear whatever the spacing
        (np.linspace(1e-5, 1e-1, 25), False),  # evenly spaced: linear although it spans four decades
        (np.linspace(0.0, 1000.0, 25), False),
        (np.linspace(-100.0, -1.0, 25), False),
    ],
)
def test_log_scale_when_a_positive_range_spans_two_decades_and_looks_log_uniform(values: np.ndarray, log: bool) -> None:
    param = infer_param("x", list(values))
    assert isinstance(param, NumericParam) and param.log is log
    assert (param.low, param.high) == (values.min(), values.max())


@pytest.mark.parametrize("seed", range(5))
def test_random_draws_uniform_on_0_1_are_linear_log_uniform_draws_are_log(seed: int) -> None:
    """Regression: uniform [0, 1] draws span 3 decades and were inferred as log scale."""
    rng = np.random.default_rng(seed)
    uniform = infer_param("dropout", list(rng.uniform(0.0, 1.0, 200)))
    log_uniform = infer_param("lr", list(10 ** rng.uniform(-5, -1, 200)))
    assert isinstance(uniform, NumericParam) and uniform.low < 0.01 and not uniform.log
    assert isinstance(log_uniform, NumericParam) and log_uniform.log
    assert not looks_log_uniform(list(rng.uniform(0.0, 1.0, 200) + 1e-9))


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


@pytest.mark.parametrize("word", ["none", "None", "null", "NULL"])
def test_none_and_null_are_a_choice_when_the_column_has_other_values(word: str) -> None:
    """Regression: `none` was read as "not applicable", so `norm: none` trials lost their norm."""
    inferred = infer_space({"norm": [word, "batch", "layer", "", None] * 4})
    assert inferred.space["norm"] == ChoiceParam("norm", "categorical", tuple(sorted([word, "batch", "layer"])))
    assert inferred.conditional == {"norm": 8}  # only the empty cells are "not applicable"
    assert parse_cell(inferred.space["norm"], word) == word and parse_cell(inferred.space["norm"], "") is None
    # Numbers and a none word: a choice too (scikit-learn's max_depth=None is "unlimited").
    assert infer_param("max_depth", [3, 5, word, 10] * 3) == ChoiceParam(
        "max_depth", "categorical", tuple(sorted(["3", "5", "10", word]))
    )
    # Nothing but none words: the column holds nothing.
    assert infer_param("unused", [word, "", word]) is None


def test_a_none_word_outside_a_given_spaces_choices_is_not_applicable() -> None:
    space = infer_space({"opt": ["sgd", "adam"] * 5, "lr": list(np.geomspace(1e-4, 1e-1, 10))}).space
    assert parse_cell(space["opt"], "None") is None and parse_cell(space["lr"], "null") is None


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


@pytest.mark.slow
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
    assert order(first["rankings"]["all"])[0] == "num_conv_layers"


def test_metric_is_required_outside_optuna_tables(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rank", str(write_trials(tmp_path / "t.csv"))]) == 2
    assert "--metric: is required" in capsys.readouterr().err


def test_an_inferred_space_shows_as_its_yaml() -> None:
    """Regression: in a notebook `result.inferred` showed a raw dataclass dump, not the YAML the CLI prints."""
    inferred = infer_space({"opt": ["sgd", "adam"] * 5, "lr": list(np.geomspace(1e-4, 1e-1, 10))})
    assert repr(inferred) == inferred.to_yaml() and repr(inferred).startswith("# inferred by sweeprank from 10 trials")
