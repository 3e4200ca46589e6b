"""The ranking's parameters are declared once (importance/config.py): the spec, the flags of `sweeprank rank`
and `sweeprank analyst`, and the analyst all take them from there, so the page and the command line agree."""

from __future__ import annotations

import ast
import csv
import json
from pathlib import Path

import numpy as np
import pytest

from analyst.service import SweepAnalysis
from importance.config import RankingConfig
from importance.ranking_record import POOLED
from sweeprank.cli import build_parser
from sweeprank.rank_cmd import main as rank_main
from tests.test_layout import project_modules
from trials.samplers import sample_configs
from trials.specs import SweepSpec, TrialResult, TrialStatus, parse_sweep_spec

WINDOW_NAMES = {"window", "stability_window", "stable_window"}


def _literal_window_defaults(tree: ast.AST) -> list[int]:
    """Lines where a window-like keyword or parameter gets a number written out."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.keyword) and node.arg in WINDOW_NAMES and isinstance(node.value, ast.Constant):
            found.append(node.lineno)
        elif isinstance(node, ast.arguments):
            named = [*node.posonlyargs, *node.args][-len(node.defaults) :] if node.defaults else []
            pairs = [*zip(named, node.defaults, strict=True), *zip(node.kwonlyargs, node.kw_defaults, strict=True)]
            found += [d.lineno for a, d in pairs if a.arg in WINDOW_NAMES and isinstance(d, ast.Constant)]
        elif (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and node.target.id in WINDOW_NAMES
            and isinstance(node.value, ast.Constant)
        ):
            found.append(node.lineno)
    return found


def test_the_stability_window_default_is_written_in_one_place() -> None:
    written = {
        str(path): lines
        for path in project_modules().values()
        if (lines := _literal_window_defaults(ast.parse(path.read_text())))
    }
    assert written == {}, "a window default outside importance/config.py (file: lines)"
    window = RankingConfig.model_fields["window"].default
    assert SweepSpec.model_fields["stability_window"].default == window
    rank = build_parser().parse_args(["rank", "trials.csv"])
    assert rank.window == window


def test_flags_are_the_config_fields_with_their_defaults() -> None:
    defaults = RankingConfig().model_dump()
    rank = vars(build_parser().parse_args(["rank", "trials.csv"]))
    assert {field: rank[field] for field in defaults} == defaults
    analyst = vars(build_parser().parse_args(["analyst"]))
    assert {field: analyst[field] for field in defaults if field in analyst} == {
        field: defaults[field] for field in ("k", "sigma", "bootstrap", "seed", "permutations", "block_size")
    }
    with pytest.raises(SystemExit):
        build_parser().parse_args(["rank", "trials.csv", "--method", "made-up"])


def _trials(n: int) -> tuple[SweepSpec, list[TrialResult]]:
    spec = parse_sweep_spec({"owner": "ann", "name": "window", "datasets": ["digits"], "n_trials": n})
    rng = np.random.default_rng(5)
    results = []
    for trial_id, config in enumerate(sample_configs(spec.search_space(), n, "random", 3)):
        # Three hyperparameters matter, clearly apart, so the top-3 order settles part-way through the file.
        accuracy = (
            0.4 * (config["optimizer"] == "adam")
            - 0.1 * float(config["num_conv_layers"])
            - 0.2 * float(config["dropout_rate"])
            + rng.normal(0, 0.05)
        )
        results.append(
            TrialResult(
                sweep_id="sw1",
                trial_id=trial_id,
                attempt=1,
                dataset="digits",
                config=config,
                status=TrialStatus.COMPLETED,
                test_accuracy=accuracy,
            )
        )
    return spec, results


def test_the_page_and_the_command_line_say_the_same_stable_since_on_one_file(tmp_path: Path) -> None:
    spec, results = _trials(240)
    names = spec.search_space().names
    path = tmp_path / "trials.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([*names, "test_accuracy", "status"])
        writer.writerows([*(r.config[n] for n in names), r.test_accuracy, "completed"] for r in results)

    # The page shows what the analyst records, one result at a time as they arrive.
    analysis = SweepAnalysis("sw1", spec, spec.search_space(), RankingConfig(bootstrap=20), "sr:sweep:sw1:arrival")
    for result in results:
        analysis.add([result])
    page = analysis.records()[0].groups["digits"].stability

    out = tmp_path / "rank.json"
    args = [str(path), "--space", "cnn-paper", "--metric", "test_accuracy", "--bootstrap", "20", "--json", str(out)]
    assert rank_main(["rank", *args]) == 0
    cli = json.loads(out.read_text())["rankings"]["all"]["stability"]

    assert page.window == cli["window"] == RankingConfig().window
    assert page.stable_since is not None, "the file should settle, or this test shows nothing"
    assert (page.stable_since, page.top_k) == (cli["stable_since"], cli["top_k"])
    assert POOLED in analysis.records()[0].groups
