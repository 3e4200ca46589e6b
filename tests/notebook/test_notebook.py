"""`sweeprank.rank(table, ...)` in a notebook: DataFrame or list of dicts in; frame, plot and HTML out.

An Optuna study goes in directly too (its distributions are the space).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest

import sweeprank
from sweeprank.notebook import FRAME_COLUMNS, INSTALL_HINT, Ranking
from trials.space import NumericParam

matplotlib.use("Agg")
ROOT = Path(__file__).resolve().parents[2]


def trials(n: int = 80, seed: int = 0) -> list[dict[str, object]]:
    """depth decides the score; width, activation and note (a text per run) do not."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        depth = int(rng.integers(1, 30))
        rows.append(
            {
                "run": f"run-{i}",
                "depth": depth,
                "width": float(rng.uniform(0.0, 1.0)),
                "activation": str(rng.choice(["relu", "tanh", "gelu"])),
                "dataset": ("a", "b")[i % 2],
                "score": 0.03 * depth + float(rng.normal(0, 0.02)),
            }
        )
    return rows


@pytest.fixture(scope="module")
def from_frame() -> Ranking:
    return sweeprank.rank(pd.DataFrame(trials()), metric="score", bootstrap=30)


def test_a_dataframe_ranks_its_strong_parameter_first(from_frame: Ranking) -> None:
    assert from_frame.ranking[0] == "depth" and from_frame.n_trials == 80
    assert from_frame.inferred is not None and from_frame.space["depth"] == NumericParam("depth", "int", 1, 29)
    assert set(from_frame.space.names) == {"depth", "width", "activation", "dataset"}  # `run` is unique text
    assert from_frame.importances["depth"] == max(v or 0.0 for v in from_frame.importances.values())


def test_a_list_of_dicts_ranks_the_same_as_its_dataframe(from_frame: Ranking) -> None:
    listed = sweeprank.rank(trials(), metric="score", bootstrap=30)
    assert listed.ranking == from_frame.ranking and listed.importances == from_frame.importances


def test_to_frame_has_one_row_per_param_best_first(from_frame: Ranking) -> None:
    frame = from_frame.to_frame()
    assert list(frame.columns) == list(FRAME_COLUMNS) and len(frame) == 4
    assert frame.iloc[0]["param"] == "depth" and frame.iloc[0]["verdict"] == "matters"
    assert (frame["ci_low"] <= frame["importance"]).all() and (frame["importance"] <= frame["ci_high"]).all()
    assert frame.iloc[0]["p_value"] <= 0.05


def test_plot_draws_one_bar_per_param_with_a_legend(from_frame: Ranking) -> None:
    ax = from_frame.plot()
    assert len(ax.patches) == 4
    assert [t.get_text() for t in ax.get_yticklabels()][-1] == "depth"  # best on top
    assert {t.get_text() for t in ax.get_legend().get_texts()} == {"matters", "no detectable effect", "undetermined"}
    _, given = matplotlib.pyplot.subplots()
    assert from_frame.plot(ax=given) is given


def test_html_table_is_escaped_and_repr_is_the_text_table(from_frame: Ranking) -> None:
    page = from_frame._repr_html_()
    assert "<table>" in page and "<th>importance</th>" in page and "<td>depth</td>" in page
    assert "80 trials, score (maximize): depth ranks first" in page and "p &lt;= 0.05" in page
    assert "== all trials (80 trials) ==" in repr(from_frame)
    hostile = sweeprank.rank(
        [{"<b>x</b>": row["depth"], "score": row["score"]} for row in trials()], metric="score", bootstrap=5
    )
    assert "<b>x</b>" not in hostile._repr_html_() and "&lt;b&gt;x&lt;/b&gt;" in hostile._repr_html_()


def test_by_ranks_each_group_and_shows_the_pooled_one() -> None:
    result = sweeprank.rank(pd.DataFrame(trials()), metric="score", by="dataset", bootstrap=20)
    assert set(result.rankings) == {"a", "b", "pooled"} and result.group == "pooled"
    assert "dataset" not in result.space.names and result.ranking[0] == "depth"
    assert len(result.to_frame("a")) == 3


def test_bad_input_says_what_it_takes() -> None:
    with pytest.raises(TypeError, match="DataFrame, a list of dicts or an Optuna study"):
        sweeprank.rank("trials.csv", metric="score")
    with pytest.raises(TypeError, match=r"unknown option\(s\) \['bootstraps'\]"):
        sweeprank.rank(trials(), metric="score", bootstraps=3)


def _python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=False)


def test_importing_sweeprank_imports_neither_pandas_nor_matplotlib() -> None:
    done = _python("import sys, sweeprank, sweeprank.cli; print(sorted({'pandas', 'matplotlib'} & set(sys.modules)))")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_without_pandas_the_error_says_what_to_install() -> None:
    code = (
        "import sys; sys.modules['pandas'] = None\n"
        "import sweeprank\n"
        "result = sweeprank.rank([{'x': i % 7, 'y': i} for i in range(40)], metric='y', bootstrap=5)\n"
        "print(result.ranking)\n"
        "result.to_frame()\n"
    )
    done = _python(code)
    assert done.stdout.strip() == "['x']"
    assert f"ImportError: this needs pandas: {INSTALL_HINT}" in done.stderr


def test_conditional_keys_missing_from_some_dicts_are_not_applicable() -> None:
    rows = trials()
    for row in rows[::2]:
        del row["width"]  # width applies to every other trial only
    result = sweeprank.rank(rows, metric="score", bootstrap=20)
    assert result.inferred is not None and result.inferred.conditional == {"width": 40}
    assert result.ranking[0] == "depth" and result.n_trials == 80


def test_an_optuna_study_goes_in_directly_and_plots() -> None:
    from tests.optuna.studies import N_COMPLETE, add_unranked, x_study

    study = x_study()
    add_unranked(study)
    ranked = sweeprank.rank(study)
    assert ranked.ranking[0] == "x" and ranked.n_trials == N_COMPLETE
    assert ranked.direction == "minimize"
    ax = ranked.plot()
    assert len(ax.patches) >= len(ranked.ranking)


def wandb_runs(nested: bool = False) -> tuple[list[dict[str, object]], list[dict[str, object]], list[str]]:
    """W&B's documented export: per run its summary and config dicts (numpy scalars in them) and name."""
    rng = np.random.default_rng(3)
    summaries, configs, names = [], [], []
    for i in range(60):
        lr = float(10 ** rng.uniform(-5, -1))
        depth = int(rng.integers(1, 6))
        act = str(rng.choice(["relu", "gelu"]))
        val_acc = 1 - abs(np.log10(lr) + 3) / 3 + 0.05 * (act == "relu") + float(rng.normal(0, 0.01))
        summaries.append({"val_acc": np.float64(val_acc), "_runtime": 12.5, "_step": 9})
        model = {"depth": np.int64(depth), "act": act}
        configs.append({"lr": np.float64(lr), **({"model": model} if nested else model)})
        names.append(f"run-{i}")
    return summaries, configs, names


@pytest.mark.parametrize("nested", [False, True])
def test_wandbs_runs_dataframe_ranks_as_it_comes(nested: bool) -> None:
    """Regression: pd.DataFrame({"summary": ..., "config": ..., "name": ...}) failed with
    "missing column(s) ['val_acc']", and a nested config became one categorical of dicts."""
    summaries, configs, names = wandb_runs(nested)
    frame = pd.DataFrame({"summary": summaries, "config": configs, "name": names})
    result = sweeprank.rank(frame, metric="val_acc", bootstrap=20)
    expected = ["lr", "model.act", "model.depth"] if nested else ["act", "depth", "lr"]
    assert sorted(result.space.names) == expected
    assert result.ranking[0] == "lr" and result.n_trials == 60


def test_a_csv_of_the_runs_dataframe_with_numpy_2_scalars_keeps_its_columns(tmp_path: Path) -> None:
    """Regression: pandas writes numpy-2 scalars as `np.float64(0.5)`; the dict cells then vanished silently."""
    summaries, configs, names = wandb_runs(nested=True)
    path = tmp_path / "runs.csv"
    pd.DataFrame({"summary": summaries, "config": configs, "name": names}).to_csv(path, index=False)
    assert "np.float64(" in path.read_text()
    result = sweeprank.rank(pd.read_csv(path), metric="val_acc", bootstrap=20)
    assert sorted(result.space.names) == ["lr", "model.act", "model.depth"]
