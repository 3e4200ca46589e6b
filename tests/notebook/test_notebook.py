"""`sweeprank.rank(table, ...)` in a notebook: DataFrame or list of dicts in; frame, plot and HTML out.

An Optuna study goes in directly too (its distributions are the space).
"""

from __future__ import annotations

import html
import json
import os
import subprocess
import sys
from pathlib import Path

import matplotlib
import matplotlib.figure
import matplotlib.pyplot
import numpy as np
import pandas as pd
import pytest

import sweeprank
from offline.notebook import FRAME_COLUMNS, INSTALL_HINT, Ranking
from offline.pooling import WHY, format_p, pooling_notes
from offline.rendering import render
from trials.presets import load_space_file
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
    assert frame.iloc[0]["p_holm"] <= 0.05


def test_plot_draws_one_bar_per_param_with_a_legend(from_frame: Ranking) -> None:
    """Regression: .plot() returned the Axes, and Jupyter echoed `<Axes: ...>` under the chart."""
    open_before = matplotlib.pyplot.get_fignums()
    figure = from_frame.plot()
    assert isinstance(figure, matplotlib.figure.Figure) and not repr(figure).startswith("<Axes")
    assert matplotlib.pyplot.get_fignums() == open_before  # pyplot does not hold it: shown once, as the result
    [ax] = figure.axes
    assert len(ax.patches) == 4
    assert [t.get_text() for t in ax.get_yticklabels()][-1] == "depth"  # best on top
    assert {t.get_text() for t in ax.get_legend().get_texts()} == {"matters", "no detectable effect", "undetermined"}
    _, given = matplotlib.pyplot.subplots()
    assert from_frame.plot(ax=given) is given.figure


def test_html_table_is_escaped_and_repr_is_the_text_table(from_frame: Ranking) -> None:
    page = from_frame._repr_html_()
    assert "<table>" in page and "<th>importance</th>" in page and "<td>depth</td>" in page
    assert "<th>p (Holm-adjusted)</th>" in page
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


@pytest.mark.slow
def test_importing_sweeprank_imports_neither_pandas_nor_matplotlib() -> None:
    done = _python("import sys, sweeprank, sweeprank.cli; print(sorted({'pandas', 'matplotlib'} & set(sys.modules)))")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


@pytest.mark.slow
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
    [ax] = ranked.plot().axes
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


def test_the_html_says_what_the_cli_says_with_the_same_digits(from_frame: Ranking) -> None:
    """Regression: the HTML showed one line and a table, without the CLI's sentences, exclusions or space,
    and its p-values had varying digits (0, 0.0488, 0.126)."""
    page = from_frame._repr_html_()
    text = repr(from_frame).splitlines()
    rows_end = next(i for i, line in enumerate(text) if line.startswith(("Matters", "No hyperparameter")))
    for sentence in text[rows_end:]:  # verdicts, agreement, stability: as `sweeprank rank` prints them
        assert html.escape(sentence) in page
    assert "excluded: none." in page and "parameters:" in page and "depth: {type: int" in page
    frame = from_frame.to_frame()
    for p in frame["p_holm"]:
        assert f"<td>{html.escape(format_p(p))}</td>" in page
    for importance in frame["importance"]:
        assert f"<td>{importance:.3f}</td>" in page
    assert page.count("<svg") == len(frame)  # one CI bar per hyperparameter


def test_space_yaml_is_the_space_file_the_cli_prints(from_frame: Ranking, tmp_path: Path) -> None:
    assert from_frame.inferred is not None and from_frame.space_yaml() == from_frame.inferred.to_yaml()
    path = tmp_path / "space.yaml"
    path.write_text(from_frame.space_yaml())
    assert load_space_file(str(path)) == from_frame.space


def test_the_pooled_verdict_explains_itself_when_a_dataset_disagrees() -> None:
    """depth matters in dataset a only; pooled over a and five datasets where nothing matters it does not.
    Regression: the pooled p was 1.0 with nothing saying that depth's own p in a was small."""
    rng = np.random.default_rng(8)
    rows = []
    for group in "abcdef":
        for _ in range(40):
            depth, width = int(rng.integers(1, 30)), float(rng.uniform(0, 1))
            # A moderate effect in a: clear there, diluted by five datasets where nothing matters.
            score = (0.002 * depth if group == "a" else 0.0) + float(rng.normal(0, 0.02))
            rows.append({"depth": depth, "width": width, "dataset": group, "score": score})
    result = sweeprank.rank(rows, metric="score", by="dataset", bootstrap=10)
    verdicts = {g: {row.name: row.verdict for row in e.rows} for g, e in result.rankings.items()}
    assert verdicts["a"]["depth"] == "matters" and verdicts["pooled"]["depth"] != "matters"
    notes = pooling_notes(result.rankings)
    [depth] = [note for note in notes if note.startswith("depth ")]
    assert depth.startswith("depth matters within a but not pooled (p ") and ": a matters (p " in depth
    assert notes[-1] == WHY
    assert html.escape(depth) in result._repr_html_() and html.escape(WHY) in result._repr_html_()
    assert "Pooled and per-dataset verdicts differ:" in render(result.result) and WHY in render(result.result)


@pytest.mark.slow
def test_the_example_notebook_runs_end_to_end_offline() -> None:
    """docs/notebook.ipynb, every cell in order in a fresh process, shown as Jupyter shows results."""
    done = subprocess.run(
        [sys.executable, "-m", "tests.notebook.run_notebook", str(ROOT / "docs" / "notebook.ipynb")],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        env={**os.environ, "MPLBACKEND": "Agg"},
    )
    assert done.returncode == 0, done.stderr
    cells = [json.loads(line) for line in done.stdout.splitlines()]
    runs, plot, frame, space, evaluator, study = cells[1:]
    assert runs["shown"] == "text/html" and "ranks first" in runs["text"] and "p (Holm-adjusted)" in runs["text"]
    assert "model.norm: {type: categorical, choices: [batch, layer, none]}" in runs["text"]
    assert "left out, an outcome rather than a hyperparameter" not in runs["text"]  # val_loss is a summary column
    assert plot["shown"] == "image/png" and "Axes" not in plot["text"]
    assert frame["shown"] == "text/html" and "p_holm" in frame["text"]
    assert space["shown"] is None and space["stdout"].startswith("# inferred by sweeprank from 120 trials")
    assert evaluator["shown"] == "text/plain" and evaluator["text"].startswith("{'x': ")
    assert study["shown"] == "text/html" and "80 trials, value (minimize): x ranks first" in study["text"]


def test_effects_are_printed_and_plotted_per_hyperparameter(from_frame: Ranking) -> None:
    """The default ranking's effects in the metric's units: the CLI's lines, and one panel per hyperparameter."""
    lines = from_frame.effects()
    assert lines[0].startswith("-- effects in score") and any(line.startswith("depth ") for line in lines)
    entry = from_frame.rankings[from_frame.group]
    effects = {row.name: row.effect for row in entry.rows if row.effect is not None}
    assert len(effects) == len(entry.rows) and all(level.label for e in effects.values() for level in e.levels)
    figure = from_frame.plot_effects()
    visible = [ax for ax in figure.axes if ax.get_visible()]
    assert [ax.get_title().split(" (")[0] for ax in visible] == entry.ranking
    depth = effects["depth"]
    assert len(visible[0].lines[0].get_xdata()) == len([level for level in depth.levels if level.mean is not None])
