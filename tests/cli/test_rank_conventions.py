"""`sweeprank rank` reads Optuna's and W&B's exports as they are (offline/table.py)."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import optuna
import pytest

from sweeprank.rank_cmd import main
from tests.ranking_rows import order

N_TRIALS = 90


def objective(trial: optuna.Trial, conditional: bool = False) -> float:
    """lr decides the value; every 7th trial is pruned, every 11th fails, each after reporting."""
    lr = trial.suggest_float("lr", 1e-5, 1e-1, log=True)
    trial.suggest_int("layers", 1, 8)
    optimizer = trial.suggest_categorical("optimizer", ["sgd", "adam"])
    trial.suggest_categorical("batch_norm", [True, False])
    if conditional and optimizer == "sgd":
        trial.suggest_float("momentum", 0.0, 0.99)
    value = -abs(math.log10(lr) + 3)
    trial.report(value, step=0)
    if trial.number % 11 == 4:
        raise RuntimeError("diverged")
    if trial.number % 7 == 3:
        raise optuna.TrialPruned()
    return value


def optuna_csv(path: Path, conditional: bool = False) -> tuple[Path, dict[str, int]]:
    """A real study's `trials_dataframe().to_csv()`, and how many trials ended in each state."""
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=3))
    study.optimize(lambda t: objective(t, conditional), n_trials=N_TRIALS, catch=(RuntimeError,))
    study.trials_dataframe().to_csv(path, index=False)
    states: dict[str, int] = {}
    for trial in study.trials:
        states[trial.state.name] = states.get(trial.state.name, 0) + 1
    return path, states


def rank_json(tmp_path: Path, trials: Path, *extra: str) -> dict:
    out = tmp_path / "out.json"
    assert main(["rank", str(trials), "--bootstrap", "20", "--json", str(out), *extra]) == 0
    return json.loads(out.read_text())


def test_optuna_csv_ranks_only_complete_trials_and_says_what_it_skipped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Regression: `state` was not read, so PRUNED trials (they carry a value) were ranked silently."""
    path, states = optuna_csv(tmp_path / "study.csv")
    assert states["PRUNED"] > 0 and states["FAIL"] > 0
    space = tmp_path / "space.yaml"
    result = rank_json(tmp_path, path, "--save-space", str(space))  # no --metric: an Optuna table's is `value`
    printed = capsys.readouterr().out
    assert rank_json(tmp_path, path, "--space", str(space))["n_trials"] == states["COMPLETE"]
    assert result["n_trials"] == states["COMPLETE"] and result["metric"] == "value"
    assert result["excluded"] == {"pruned": states["PRUNED"], "fail": states["FAIL"]}
    assert f"excluded: {states['FAIL']} fail, {states['PRUNED']} pruned" in printed
    assert order(result["rankings"]["all"])[0] == "lr"
    # Only params_ columns are hyperparameters: not number, datetime_*, duration, state, value.
    assert sorted(order(result["rankings"]["all"])) == ["batch_norm", "layers", "lr", "optimizer"]
    assert "lr: {type: float, low: " in printed and "log: true}" in printed
    assert "batch_norm: {type: categorical, choices: ['False', 'True']}" in printed


def test_optuna_multi_objective_needs_the_objective_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "multi.csv"
    path.write_text("number,values_0,values_1,params_x,state\n0,1.0,2.0,0.5,COMPLETE\n")
    assert main(["rank", str(path)]) == 2
    assert "several objectives: pick one of ['values_0', 'values_1']" in capsys.readouterr().err


def write_wandb(path: Path, prefix: str | None) -> Path:
    """A W&B runs export: run columns, then config and summary prefixed ("" for none, as the runs table
    exports them), or a `config` and a `summary` column of dicts (prefix None, as the API's example writes)."""
    rows = []
    for i in range(60):
        lr, layers, optimizer = 10 ** (-5 + 4 * (i * 7 % 60) / 59), 1 + i % 4, ("adam", "sgd")[i % 2]
        config = {"lr": lr, "layers": layers, "optimizer": optimizer}
        val_acc = 1 - abs(math.log10(lr) + 3) / 3
        # Outcomes a runs table holds next to the metric: they follow it, and must not rank as hyperparameters.
        outcomes = {"val_loss": 1 - val_acc + (i % 3) / 50, "best_val_acc": val_acc + (i % 5) / 100}
        outcomes |= {"train_loss": (1 - val_acc) / 2 + (i % 4) / 40, "epoch": 5 + i % 6}
        summary = {"val_acc": val_acc, **outcomes, "_step": 9, "_runtime": 12.5}
        row = {"Name": f"run-{i}", "State": "crashed" if i % 10 == 9 else "finished", "Runtime": 60 + i}
        row["Created"] = f"2026-01-01T00:{i:02d}:00"
        if prefix is None:
            row |= {"config": repr(config), "summary": repr(summary)}
        else:
            row |= {f"config{prefix}{k}" if prefix else k: v for k, v in config.items()}
            row |= {f"summary{prefix}{k}" if prefix else k: v for k, v in summary.items()}
        rows.append(row)
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


@pytest.mark.parametrize("prefix", [".", "/", "", None])
def test_wandb_export_config_columns_and_finished_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], prefix: str | None
) -> None:
    """Regression (prefix ""): an unprefixed runs table ranked val_loss, best_val_acc, train_loss and
    epoch as hyperparameters, and they took most of the weight."""
    result = rank_json(tmp_path, write_wandb(tmp_path / "wandb.csv", prefix), "--metric", "val_acc")
    assert result["n_trials"] == 54 and result["excluded"] == {"crashed": 6}
    entry = result["rankings"]["all"]
    assert sorted(order(entry)) == ["layers", "lr", "optimizer"] and order(entry)[0] == "lr"
    warned = capsys.readouterr().err
    for column in ("val_loss", "best_val_acc", "train_loss", "epoch"):
        assert (f"warning: {column} left out (named like an outcome)" in warned) is (prefix == "")


def test_conditional_optuna_parameters_rank_with_their_empty_cells(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """momentum exists only for sgd: its empty cells are "not applicable", never an error."""
    path, states = optuna_csv(tmp_path / "conditional.csv", conditional=True)
    result = rank_json(tmp_path, path)
    printed = capsys.readouterr().out
    assert result["n_trials"] == states["COMPLETE"]
    assert "momentum" in order(result["rankings"]["all"]) and order(result["rankings"]["all"])[0] == "lr"
    assert "# conditional: not applicable (empty) in" in printed
