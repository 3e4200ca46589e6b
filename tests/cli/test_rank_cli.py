from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import numpy as np
import pytest

from sweeprank.rank_cmd import main
from tests.ranking_rows import by_name, order
from trials.presets import preset
from trials.samplers import sample_configs

SPACE = preset("cnn-paper")


def write_trials(
    path: Path, n: int = 120, edit: dict[tuple[int, str], str] | None = None, drop: str | None = None
) -> Path:
    rng = np.random.default_rng(0)
    columns = ["trial_id", "dataset", "status", *SPACE.names, "accuracy"]
    if drop:
        columns.remove(drop)
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, columns)
        writer.writeheader()
        for i, config in enumerate(sample_configs(SPACE, n, seed=1)):
            accuracy = 0.15 * int(config["num_conv_layers"]) + rng.normal(0, 0.02)
            row = {
                "trial_id": i,
                "dataset": "mnist" if i % 2 else "fashion",
                **config,
                "status": "failed" if i == 5 else "completed",
                "accuracy": "" if i == 7 else accuracy,
            }
            for (r, column), value in (edit or {}).items():
                if r == i:
                    row[column] = value
            writer.writerow({c: row[c] for c in columns})
    return path


def run(tmp_path: Path, *extra: str, csv_path: Path | None = None) -> int:
    path = csv_path or write_trials(tmp_path / "trials.csv")
    return main(["rank", str(path), "--space", "cnn-paper", "--metric", "accuracy", "--bootstrap", "30", *extra])


def test_good_file_prints_table_and_writes_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out.json"
    assert run(tmp_path, "--by", "dataset", "--json", str(out)) == 0
    printed = capsys.readouterr().out
    assert printed.splitlines()[5].split()[:2] == ["1", "num_conv_layers"]  # first row of the first table
    assert "excluded: 1 failed, 1 non-finite metric" in printed
    assert "pooled" in printed and "95% CI" in printed
    assert re.search(r"The pooled top \d \(num_conv_layers.*\) holds on \d of 2 datasets; Kendall's W", printed)
    result = json.loads(out.read_text())
    assert result["n_trials"] == 118
    assert set(result["rankings"]) == {"mnist", "fashion", "pooled"}
    assert order(result["rankings"]["pooled"])[0] == "num_conv_layers"


@pytest.mark.slow
def test_compare_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(tmp_path, "--compare", "fanova,ped-anova", "--minimize") == 0
    printed = capsys.readouterr().out
    assert "comparison" in printed and "Kendall tau" in printed and "ped-anova" in printed


@pytest.mark.parametrize(
    ("edit", "drop", "expected"),
    [
        ({(3, "dropout_rate"): "abc"}, None, "line 5, column dropout_rate: must be a number, got 'abc'"),
        ({(4, "learning_rate"): "0.5"}, None, "line 6, column learning_rate: must lie in [1e-05, 0.1]"),
        ({(2, "optimizer"): "lbfgs"}, None, "line 4, column optimizer: must be one of"),
        ({(9, "accuracy"): "good"}, None, "line 11, column accuracy: metric must be a number"),
        (None, "epochs", "missing column(s) ['epochs']"),
    ],
)
def test_bad_input_exits_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], edit: dict | None, drop: str | None, expected: str
) -> None:
    path = write_trials(tmp_path / "bad.csv", edit=edit, drop=drop)
    assert run(tmp_path, csv_path=path) == 2
    err = capsys.readouterr().err
    assert expected in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_unknown_hyperparameter_and_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "optuna.csv"
    path.write_text("params_depth,accuracy\n3,0.5\n")
    assert run(tmp_path, csv_path=path) == 2
    assert "['params_depth']" in capsys.readouterr().err
    assert run(tmp_path, csv_path=tmp_path / "nope.csv") == 2
    assert "cannot read trials file" in capsys.readouterr().err


@pytest.mark.slow
def test_verdicts_in_table_json_and_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out.json"
    assert run(tmp_path, "--json", str(out), "--progress") == 0
    captured = capsys.readouterr()
    assert "Matters (Holm-adjusted p <= 0.05): num_conv_layers." in captured.out
    assert "p (Holm)" in captured.out and "verdict" in captured.out
    assert "ranking ####" in captured.err and "trials in" in captured.err and "peak memory" in captured.err
    result = json.loads(out.read_text())
    entry = result["rankings"]["all"]
    for key in ("verdict", "p_value", "p_adjusted", "detectable"):
        assert all(key in row for row in entry["rows"])
    assert by_name(entry, "verdict")["num_conv_layers"] == "matters"
    assert result["parameters"]["method"] == "anova" and result["parameters"]["block_size"] == 50
    layers = by_name(entry, "effect")["num_conv_layers"]
    assert [level["label"] for level in layers["levels"]] == ["1", "2", "3", "4", "5"]
    assert layers["largest"]["from_label"] == "1" and layers["largest"]["to_label"] == "5"
    assert layers["largest"]["ci_low"] > 0.5  # accuracy rises by 0.15 per layer: 0.6 from 1 to 5
    assert result["stability_resolution"] == 1  # one read-out per row: "stable since" is exact


def test_paper_method_is_selectable(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out.json"
    assert run(tmp_path, "--method", "paper", "--json", str(out)) == 0
    assert "method paper" in capsys.readouterr().out
    result = json.loads(out.read_text())
    assert result["parameters"]["method"] == "paper" and result["parameters"]["window"] == 50
    assert result["rankings"]["all"]["method"] == "paper"


def test_too_few_trials_say_so_instead_of_ranking_confidently(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out.json"
    path = write_trials(tmp_path / "few.csv", n=12)
    assert run(tmp_path, "--json", str(out), csv_path=path) == 0
    printed = capsys.readouterr().out
    assert "Undetermined: fewer than 30 trials: too few to test for an effect" in printed
    assert "Matters" not in printed and "No detectable effect" not in printed
    assert set(by_name(json.loads(out.read_text())["rankings"]["all"], "verdict").values()) == {"undetermined"}
