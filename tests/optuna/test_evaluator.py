"""`NRReliefFImportanceEvaluator` on real Optuna studies (in memory, SQLite), inside Optuna's own functions."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib
import optuna
import pytest

import sweeprank
from offline.optuna_evaluator import NRReliefFImportanceEvaluator
from offline.optuna_study import study_table
from sweeprank.rank_cmd import main
from tests.optuna.studies import N_COMPLETE, add_unranked, x_study
from tests.ranking_rows import by_name
from trials.space import ChoiceParam, NumericParam

matplotlib.use("Agg")  # no display here; the plot is checked through its axes

PARAMS = {"x", "y", "optimizer", "batch_size", "layers"}


def verdicts_of(evaluator: NRReliefFImportanceEvaluator) -> dict[str, str]:
    assert evaluator.result_ is not None
    group = evaluator.result_.rankings["all"]
    assert all(row.verdict is not None for row in group.rows)
    return {row.name: row.verdict or "" for row in group.rows}


@pytest.mark.parametrize("where", ["memory", "sqlite"])
@pytest.mark.slow
def test_the_only_parameter_that_drives_the_value_ranks_first_and_alone_matters(where: str, tmp_path: Path) -> None:
    study = x_study(None if where == "memory" else f"sqlite:///{tmp_path / 'study.db'}")
    evaluator = NRReliefFImportanceEvaluator(bootstrap=50)
    importances = evaluator.evaluate(study)
    assert set(importances) == PARAMS
    assert next(iter(importances)) == "x"
    assert list(importances.values()) == sorted(importances.values(), reverse=True)
    assert sum(importances.values()) == pytest.approx(1.0)
    verdicts = verdicts_of(evaluator)
    assert verdicts["x"] == "matters"
    assert [name for name, verdict in verdicts.items() if verdict == "matters"] == ["x"]
    assert evaluator.result_ is not None and evaluator.result_.direction == "minimize"


def test_the_space_comes_from_the_distributions() -> None:
    evaluator = NRReliefFImportanceEvaluator(bootstrap=10)
    table = study_table(x_study(), group="all")
    assert table.space["x"] == NumericParam("x", "float", 1e-4, 1.0, log=True)
    assert table.space["layers"] == NumericParam("layers", "int", 1, 9)
    # Numbers offered as categorical choices are ordered: an ordinal, sorted.
    assert table.space["batch_size"] == ChoiceParam("batch_size", "ordinal", (32, 64, 256))
    assert table.space["optimizer"] == ChoiceParam("optimizer", "categorical", ("sgd", "adam", "rmsprop"))
    assert evaluator.evaluate(x_study(), params=[]) == {}


@pytest.mark.slow
def test_inside_get_param_importances_and_both_of_optunas_plots() -> None:
    study = x_study()
    found = optuna.importance.get_param_importances(study, evaluator=NRReliefFImportanceEvaluator(bootstrap=20))
    assert next(iter(found)) == "x" and found["x"] > 0.5
    assert sum(found.values()) == pytest.approx(1.0)
    axes = optuna.visualization.matplotlib.plot_param_importances(
        study, evaluator=NRReliefFImportanceEvaluator(bootstrap=20)
    )
    labels = [label.get_text() for label in axes.get_yticklabels()]
    assert set(labels) == PARAMS and labels[-1] == "x"  # the top bar is the most important
    figure = optuna.visualization.plot_param_importances(study, evaluator=NRReliefFImportanceEvaluator(bootstrap=20))
    [bars] = figure.data
    assert set(bars.y) == PARAMS and bars.y[-1] == "x" and bars.x[-1] == pytest.approx(found["x"], abs=0.01)


def test_only_complete_trials_are_ranked() -> None:
    study = x_study()
    add_unranked(study)
    evaluator = NRReliefFImportanceEvaluator(bootstrap=10)
    assert next(iter(evaluator.evaluate(study))) == "x"
    assert evaluator.result_ is not None
    assert evaluator.result_.n_trials == N_COMPLETE
    assert evaluator.result_.excluded == {"pruned": 2, "failed": 1, "running": 1}


def test_params_and_target_choose_what_is_ranked() -> None:
    study = x_study()
    evaluator = NRReliefFImportanceEvaluator(bootstrap=20)
    assert set(evaluator.evaluate(study, params=["y", "layers"])) == {"y", "layers"}
    by_y = evaluator.evaluate(study, target=lambda t: 5.0 * t.params["y"])
    assert next(iter(by_y)) == "y"
    assert evaluator.result_ is not None and evaluator.result_.direction == "maximize"
    with pytest.raises(ValueError, match="appear in no completed trial"):
        evaluator.evaluate(study, params=["nope"])


@pytest.mark.slow
def test_a_multi_objective_study_ranks_its_pareto_front_the_same_in_evaluator_notebook_and_cli(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Regression: target=None raised in the evaluator while the CLI and rank(study) silently ranked values_0.

    Both objectives are minimised and both grow with `a`; `b` moves only the second a little: the
    Pareto front (non-domination rank) is decided by `a`, which PED-ANOVA's choice also follows.
    """
    url = f"sqlite:///{tmp_path / 'two.db'}"
    study = optuna.create_study(
        storage=url,
        study_name="two",
        directions=["minimize", "minimize"],
        sampler=optuna.samplers.RandomSampler(seed=1),
    )

    def objective(trial: optuna.Trial) -> tuple[float, float]:
        a, b = trial.suggest_float("a", 0, 1), trial.suggest_float("b", 0, 1)
        trial.suggest_float("noise", 0, 1)
        return a, a + 0.2 * b

    study.optimize(objective, n_trials=80)
    evaluator = NRReliefFImportanceEvaluator(bootstrap=20)
    found = evaluator.evaluate(study)
    assert next(iter(found)) == "a"
    assert evaluator.result_ is not None
    assert (evaluator.result_.metric, evaluator.result_.direction) == ("pareto_front", "minimize")
    in_notebook = sweeprank.rank(study, bootstrap=20)
    assert in_notebook.metric == "pareto_front" and in_notebook.importances == pytest.approx(found)
    out = tmp_path / "out.json"
    assert main(["rank", "--optuna-storage", url, "--bootstrap", "20", "--json", str(out)]) == 0
    assert "ranking each trial's Pareto front (0 = not dominated; lower is better)" in capsys.readouterr().out
    cli = json.loads(out.read_text())["rankings"]["all"]
    assert by_name(cli, "importance") == pytest.approx(found)
    # target= still picks one objective.
    assert next(iter(evaluator.evaluate(study, target=lambda t: t.values[1] - t.values[0]))) == "b"


def test_an_empty_or_only_pruned_study_gives_nothing() -> None:
    """Regression: both raised "params: no completed trial has any parameter"; Optuna's evaluators give {}."""
    study = optuna.create_study()
    evaluator = NRReliefFImportanceEvaluator(bootstrap=10)
    assert evaluator.evaluate(study) == {}

    def pruned(trial: optuna.Trial) -> float:
        trial.suggest_float("x", 0, 1)
        raise optuna.TrialPruned()

    study.optimize(pruned, n_trials=3)
    assert optuna.importance.get_param_importances(study, evaluator=evaluator) == {}


def conditional_study() -> optuna.Study:
    """`depth` exists only for model "tree" and drives the value there; "linear" trials lack it."""

    def objective(trial: optuna.Trial) -> float:
        model = trial.suggest_categorical("model", ["tree", "linear"])
        trial.suggest_float("noise", 0.0, 1.0)
        if model == "tree":
            return float(trial.suggest_int("depth", 1, 20))
        return 10.0

    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=5))
    study.optimize(objective, n_trials=120)
    return study


def test_a_parameter_a_trial_lacks_is_left_out_of_its_config() -> None:
    table = study_table(conditional_study(), group="all")
    assert table.space.names == ["depth", "model", "noise"]  # every parameter seen, not Optuna's intersection
    linear = [row for row in table.rows if row.config["model"] == "linear"]
    assert linear and all("depth" not in row.config for row in linear)


def test_conditional_parameters_are_ranked_with_params_none() -> None:
    evaluator = NRReliefFImportanceEvaluator(bootstrap=20)
    importances = evaluator.evaluate(conditional_study())
    assert set(importances) == {"depth", "model", "noise"}
    assert next(iter(importances)) == "depth"
    assert verdicts_of(evaluator)["noise"] != "matters"


def test_trials_in_one_bin_are_still_told_apart() -> None:
    """Optuna's empty-search-space case failed about 1 run in 60: three x values in one of the 8 bins explain no
    variance there, and Optuna split the all-zero answer evenly, giving the constant y as much as x."""

    def objective(trial: optuna.Trial) -> float:
        x = trial.suggest_float("x", 0, 5)
        y = trial.suggest_float("y", 1, 1)
        return 4 * x**2 + 4 * y**2

    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=86))
    study.optimize(objective, n_trials=3)
    assert sorted(t.params["x"] for t in study.trials) == pytest.approx([0.763, 1.013, 1.035], abs=1e-3)
    evaluator = NRReliefFImportanceEvaluator(bootstrap=10)
    found = optuna.importance.get_param_importances(study, evaluator=evaluator)
    assert evaluator.result_ is not None and not any(evaluator.result_.rankings["all"].importances().values())
    assert found == {"x": 1.0, "y": 0.0}
