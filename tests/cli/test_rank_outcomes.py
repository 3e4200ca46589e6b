"""A table's outcome columns (a second score, a rank, a runtime, val_loss...) are left out of an
inferred space with a warning (offline/outcomes.py); `none` is a value; --compare works on both."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import spearmanr

from offline.outcomes import TRACK_MIN_SPEARMAN, named_like_outcome, tracking
from sweeprank.rank_cmd import main
from tests.ranking_rows import order
from trials.presets import preset

N = 150


def results_table(path: Path, lr_weight: float = 1.0) -> tuple[Path, np.ndarray, np.ndarray]:
    """lr (log-uniform), dropout and norm (with a real `none` choice) decide acc; the other columns are outcomes."""
    rng = np.random.default_rng(4)
    lr = 10 ** rng.uniform(-5, -1, N)
    dropout = rng.uniform(0.0, 0.6, N)
    norm = rng.choice(["none", "batch", "layer"], N)
    acc = 0.5 + lr_weight * 0.1 * (np.log10(lr) + 3) - 0.2 * dropout + 0.1 * (norm == "none") + rng.normal(0, 0.02, N)
    order = np.argsort(-acc)
    rows = []
    for i in range(N):
        rows.append(
            {
                "lr": lr[i],
                "dropout": dropout[i],
                "norm": norm[i],
                "acc": acc[i],
                "acc_second_seed": acc[i] + rng.normal(0, 1e-4),  # a second score
                "place": int(np.where(order == i)[0][0]) + 1,  # a rank
                "wall_seconds": 300 - 100 * acc[i] + rng.normal(0, 0.01),  # a runtime that follows the metric
                "val_loss": rng.uniform(0.1, 2.0),
                "best_val_acc": rng.uniform(0.1, 0.9),
                "train_loss": rng.uniform(0.1, 2.0),
                "epoch": int(rng.integers(1, 30)),
            }
        )
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path, lr, acc


def rank_json(tmp_path: Path, path: Path, *extra: str) -> dict:
    out = tmp_path / "out.json"
    assert main(["rank", str(path), "--metric", "acc", "--bootstrap", "20", "--json", str(out), *extra]) == 0
    return json.loads(out.read_text())


def test_outcome_columns_are_left_out_with_a_warning(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Regression: a second score, a rank and a runtime were ranked as hyperparameters and got `matters`."""
    path, _, _ = results_table(tmp_path / "results.csv")
    result = rank_json(tmp_path, path)
    assert sorted(order(result["rankings"]["all"])) == ["dropout", "lr", "norm"]
    captured = capsys.readouterr()
    for column in ("acc_second_seed", "place", "wall_seconds"):
        assert f"warning: {column} left out (tracks acc (Spearman" in captured.err
        assert "# left out, an outcome rather than a hyperparameter (tracks acc (Spearman" in captured.out
    for column in ("val_loss", "best_val_acc", "train_loss", "epoch"):
        assert f"warning: {column} left out (named like an outcome); --space keeps it" in captured.err


def test_a_space_that_names_an_outcome_column_keeps_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path, _, _ = results_table(tmp_path / "results.csv")
    space = tmp_path / "space.yaml"
    space.write_text(
        "parameters:\n"
        "  lr: {type: float, low: 1.0e-6, high: 0.2, log: true}\n"
        "  wall_seconds: {type: float, low: 0, high: 1000}\n"
        "  epoch: {type: int, low: 1, high: 30}\n"
    )
    result = rank_json(tmp_path, path, "--space", str(space))
    assert sorted(order(result["rankings"]["all"])) == ["epoch", "lr", "wall_seconds"]
    assert "left out" not in capsys.readouterr().err


def test_a_hyperparameter_with_a_strong_effect_is_kept(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The tracking rule must not drop a real hyperparameter that drives most of the metric."""
    path, lr, acc = results_table(tmp_path / "results.csv", lr_weight=3.0)
    rho = spearmanr(lr, acc).statistic
    assert 0.9 < rho < TRACK_MIN_SPEARMAN  # strong, yet the others and the noise still move the metric
    result = rank_json(tmp_path, path)
    entry = result["rankings"]["all"]
    assert "lr" in order(entry) and order(entry)[0] == "lr"
    assert "warning: lr left out" not in capsys.readouterr().err


@pytest.mark.parametrize(
    ("name", "outcome"),
    [
        ("val_loss", True),
        ("best_val_acc", True),
        ("train_loss", True),
        ("test/accuracy", True),
        ("epoch", True),
        ("global_step", True),
        ("train_batch_size", False),
        ("epochs", False),
        ("validation_split", False),
        ("learning_rate", False),
        ("best_of", False),
        ("wall_time_s", True),
        ("train_time", True),
        ("elapsed", True),
        ("epochs_completed", True),
        ("n_params", True),
        ("time_limit", False),
        ("timesteps", False),
        ("num_filters", False),
    ],
)
def test_the_name_rule(name: str, outcome: bool) -> None:
    assert named_like_outcome(name) is outcome


@pytest.mark.slow
def test_none_is_a_choice_and_compare_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Regression: `none` was "not applicable", which changed the ranking and made --compare fail
    with "Inconsistent parameters ... and distributions"."""
    path, _, _ = results_table(tmp_path / "results.csv")
    result = rank_json(tmp_path, path, "--compare", "fanova,ped-anova")
    printed = capsys.readouterr().out
    assert "norm: {type: categorical, choices: [batch, layer, none]}" in printed
    assert "conditional" not in printed
    assert set(result["comparison"]["all"]) == {"fanova", "ped-anova"}
    assert result["comparison"]["all"]["fanova"]["importances"]["norm"] > 0


def test_an_int_hyperparameter_that_decides_the_metric_is_not_an_outcome() -> None:
    """depth alone decides the score (Spearman > 0.98), but it repeats its values: a searched setting."""
    rng = np.random.default_rng(0)
    depth = rng.integers(1, 30, 80)
    score = 0.03 * depth + rng.normal(0, 0.02, 80)
    assert abs(spearmanr(depth, score).statistic) >= TRACK_MIN_SPEARMAN
    assert tracking(list(depth), list(score)) is None
    runtime = 10 + 5 * score + rng.normal(0, 1e-4, 80)
    assert tracking(list(runtime), list(score)) == pytest.approx(1.0, abs=0.01)


@pytest.mark.slow
def test_our_real_digits_sweep_reads_as_its_space(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """bench/data/digits_random.csv (1,999 real trials, cnn-paper space): without --space, the inferred
    hyperparameters are the space's ten, dropout_rate (uniform on [0, 0.8], 3.7 decades from its
    smallest value) stays linear, learning_rate is log, and the run's outcomes are left out."""
    out = tmp_path / "out.json"
    path = Path(__file__).resolve().parents[2] / "bench" / "data" / "digits_random.csv"
    assert main(["rank", str(path), "--metric", "test_accuracy", "--bootstrap", "5", "--json", str(out)]) == 0
    printed = capsys.readouterr()
    assert sorted(order(json.loads(out.read_text())["rankings"]["all"])) == sorted(preset("cnn-paper").names)
    assert "  dropout_rate: {type: float, low: 0.000152" in printed.out and "0.7996457991934623}" in printed.out
    assert "  learning_rate: {type: float, low: 1.0007314635821922e-05, high: 0.09977800084408588, log: true}" in (
        printed.out
    )
    for column in ("wall_time_s", "epochs_completed", "n_params"):
        assert f"warning: {column} left out (named like an outcome)" in printed.err
