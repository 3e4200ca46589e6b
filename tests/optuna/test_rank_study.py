"""`sweeprank rank --optuna-storage`: a real SQLite database and a real journal file."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import optuna
import pytest
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend

from sweeprank.rank_cmd import main
from tests.optuna.studies import N_COMPLETE, add_unranked, objective, x_study
from tests.ranking_rows import order

SKIPPED = "skipped 2 pruned, 1 failed, 1 running, 0 waiting"


def top(printed: str) -> str:
    """The name in the first row of the first ranking table."""
    lines = printed.splitlines()
    header = next(i for i, line in enumerate(lines) if line.split()[:2] == ["rank", "name"])
    return lines[header + 1].split()[1]


def rank(*args: str) -> int:
    return main(["rank", "--bootstrap", "30", *args])


@pytest.mark.parametrize("form", ["sqlite", "journal-url", "journal-path"])
@pytest.mark.slow
def test_ranks_only_complete_trials_and_says_what_it_skipped(
    form: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if form == "sqlite":
        url = f"sqlite:///{tmp_path / 'study.db'}"
        storage: str | JournalStorage = url
    else:
        path = tmp_path / "study.journal"
        storage = JournalStorage(JournalFileBackend(str(path)))
        url = f"journal://{path}" if form == "journal-url" else str(path)
    add_unranked(x_study(storage))
    out = tmp_path / "out.json"
    assert rank("--optuna-storage", url, "--study", "x-matters", "--json", str(out)) == 0
    printed = capsys.readouterr().out
    assert f"study x-matters: {N_COMPLETE + 4} trials, ranking the {N_COMPLETE} COMPLETE; {SKIPPED}" in printed
    assert "metric value (minimize), 80 trials ranked" in printed
    assert "excluded: 1 failed, 2 pruned, 1 running" in printed
    assert "Matters (Holm-adjusted p <= 0.05): x." in printed
    result = json.loads(out.read_text())
    assert result["n_trials"] == N_COMPLETE
    assert order(result["rankings"]["all"])[0] == "x"


@pytest.mark.slow
def test_the_only_study_is_found_without_its_name_and_a_user_attribute_can_be_the_metric(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'study.db'}"

    def scored(trial: optuna.Trial) -> float:
        value = objective(trial)
        trial.set_user_attr("y_score", 3 * trial.params["y"])
        return value

    optuna.create_study(storage=url, sampler=optuna.samplers.RandomSampler(seed=2)).optimize(scored, n_trials=80)
    assert rank("--optuna-storage", url, "--metric", "y_score") == 0
    printed = capsys.readouterr().out
    assert "metric y_score (maximize)" in printed
    assert top(printed) == "y"


@pytest.mark.slow
def test_multi_objective_picks_the_objective_and_refuses_one_it_lacks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'study.db'}"
    study = optuna.create_study(
        storage=url,
        study_name="two",
        directions=["minimize", "maximize"],
        sampler=optuna.samplers.RandomSampler(seed=1),
    )
    study.optimize(lambda t: (t.suggest_float("a", 0, 1), t.suggest_float("b", 0, 1)), n_trials=60)
    assert rank("--optuna-storage", url, "--objective", "1") == 0
    printed = capsys.readouterr().out
    assert "metric values_1 (maximize)" in printed
    assert top(printed) == "b"
    assert rank("--optuna-storage", url, "--objective", "2") == 2
    assert "--objective: must be 0..1: the study has 2 objective(s), got 2" in capsys.readouterr().err


@pytest.mark.slow
def test_bad_storages_and_names_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "missing.db"
    assert rank("--optuna-storage", f"sqlite:///{missing}") == 2
    assert f"no SQLite file at {missing}" in capsys.readouterr().err
    assert not missing.exists()  # reading never creates an empty database
    assert rank("--optuna-storage", str(tmp_path / "missing.journal")) == 2
    assert "no journal file at" in capsys.readouterr().err
    url = f"sqlite:///{tmp_path / 'study.db'}"
    x_study(url)
    x_study(url, name="other")
    assert rank("--optuna-storage", url) == 2
    assert "holds 2 studies" in capsys.readouterr().err
    assert rank("--optuna-storage", url, "--study", "nope") == 2
    assert "has no study 'nope'" in capsys.readouterr().err
    assert rank("--optuna-storage", url, "--study", "other", "trials.csv") == 2
    assert "not both" in capsys.readouterr().err


@pytest.mark.slow
def test_compare_on_a_conditional_study_with_a_stepped_float_equals_optunas_own_evaluators(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Regression: --compare failed with "Inconsistent parameters ... and distributions" on a
    conditional parameter, and lost a float's step (PED-ANOVA's ccp_alpha 0.554 became 0.935)."""
    url = f"sqlite:///{tmp_path / 'study.db'}"
    study = optuna.create_study(storage=url, sampler=optuna.samplers.RandomSampler(seed=6))

    def objective(trial: optuna.Trial) -> float:
        model = trial.suggest_categorical("model", ["tree", "linear"])
        alpha = trial.suggest_float("ccp_alpha", 0.0, 0.1, step=0.025)
        lr = trial.suggest_float("lr", 1e-4, 1e-1, log=True)
        if model == "tree":
            return alpha + 0.01 * trial.suggest_int("depth", 1, 12)
        return alpha + 0.02 * abs(lr - 0.01)

    study.optimize(objective, n_trials=120)
    out = tmp_path / "out.json"
    assert rank("--optuna-storage", url, "--compare", "fanova,ped-anova", "--json", str(out)) == 0
    comparison = json.loads(out.read_text())["comparison"]["all"]
    evaluators = {
        "fanova": optuna.importance.FanovaImportanceEvaluator(seed=0),
        "ped-anova": optuna.importance.PedAnovaImportanceEvaluator(),
    }
    for method, evaluator in evaluators.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # PED-ANOVA is experimental
            own = optuna.importance.get_param_importances(study, evaluator=evaluator, normalize=True)
        # fANOVA ranks only the parameters every trial has; the comparison column shows 0 for the others.
        assert ("depth" in own) is (method == "ped-anova")
        expected = {name: own.get(name, 0.0) for name in ("ccp_alpha", "depth", "lr", "model")}
        assert comparison[method]["importances"] == pytest.approx(expected, rel=1e-9, abs=1e-12)
