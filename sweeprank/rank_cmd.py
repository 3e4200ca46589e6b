"""`sweeprank rank`: rank the hyperparameters of finished trials in a CSV file or an Optuna study."""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from broker.settings import Settings
from offline.infer import InferredSpace
from offline.rendering import INFERRED_TITLE, render
from offline.table import ALL
from sweeprank.ranking_flags import add_ranking_flags, config_from_args
from trials.encoding import TrialRow, encode_trials
from trials.errors import SpecError, SweeprankError
from trials.presets import PRESETS, load_space_file, preset
from trials.space import SearchSpace

# The ranker (scipy, a second to import) is loaded when a ranking runs: every command's start-up reads this module.
if TYPE_CHECKING:
    from offline.ranker import Native, RankOptions


def add_parser(subparsers: Any) -> None:
    """Register `rank` on an argparse subparsers object."""
    parser = subparsers.add_parser(
        "rank", help="rank hyperparameters of finished trials in a CSV file or an Optuna study"
    )
    parser.add_argument("trials", nargs="?", help="CSV file, one trial per row (or give --optuna-storage)")
    parser.add_argument(
        "--space",
        help=f"space file (YAML/JSON) or preset name {list(PRESETS)}; default: inferred from the table and printed",
    )
    parser.add_argument("--save-space", help="write the space (the inferred one, or --space) to this YAML file")
    parser.add_argument(
        "--metric",
        help="column holding the metric (default for an Optuna export: value); "
        "with --optuna-storage, a user attribute (default: the objective)",
    )
    study = parser.add_argument_group("Optuna study (instead of a CSV file)")
    study.add_argument(
        "--optuna-storage",
        metavar="URL",
        help="sqlite:///file.db, postgresql://..., a journal file (journal:///path or a path ending .log/.journal)",
    )
    study.add_argument("--study", help="study name (default: the storage's only study)")
    study.add_argument(
        "--objective",
        type=int,
        help="rank this objective (0, 1, ...) of a multi-objective study; default: each trial's Pareto front "
        "(0 = not dominated), as Optuna's PED-ANOVA does",
    )
    direction = parser.add_mutually_exclusive_group()
    direction.add_argument(
        "--maximize",
        dest="maximize",
        action="store_true",
        default=True,
        help="higher metric is better (the default; an Optuna study's objectives keep their own direction)",
    )
    direction.add_argument("--minimize", dest="maximize", action="store_false", help="lower metric is better (a loss)")
    parser.add_argument("--by", help="column naming the group (dataset); ranks per group plus pooled")
    parser.add_argument(
        "--compare",
        default="",
        help="also rank with these evaluators, a comma list of fanova, ped-anova (Optuna's) "
        "or anova, fixed-scale, paper",
    )
    parser.add_argument("--json", dest="json_out", help="write the full result as JSON here")
    parser.add_argument(
        "--status-column",
        help="rows whose status is not completed/complete/finished are excluded (default: status, state or State)",
    )
    parser.add_argument(
        "--effects",
        action="store_true",
        help="print each hyperparameter's effect in the metric's units (mean per level, 95%% CI) and the top "
        "pairwise interactions (anova method)",
    )
    parser.add_argument("--progress", action="store_true", help="progress bar on stderr (default: big files on a tty)")
    add_ranking_flags(
        parser, ("method", "delta", "k", "sigma", "bootstrap", "seed", "window", "permutations", "block_size")
    )
    parser.set_defaults(func=run)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sweeprank")
    add_parser(parser.add_subparsers(dest="command", required=True))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Standalone entry point: `python -m sweeprank.rank_cmd rank TRIALS.csv ...`."""
    args = build_parser().parse_args(argv)
    return int(args.func(args))


def run(args: argparse.Namespace, settings: Settings | None = None) -> int:
    """A file in, a table out: the stack's settings are not needed."""
    from offline.ranker import compare_all, rank, read_trials

    started = time.monotonic()
    try:
        if args.json_out:
            _check_writable(args.json_out)
        methods = _methods(args.compare)
        native = None
        if args.optuna_storage:
            space, rows, options, native = read_study(args)
            if args.save_space:
                _save_space(args.save_space, None, space)
        else:
            if not args.trials:
                raise SpecError("trials", "give a CSV file, or --optuna-storage URL for an Optuna study")
            options = options_from_args(args)
            table = read_trials(options, _space(args.space) if args.space else None)
            space, rows = table.space, table.rows
            if table.inferred:
                print(INFERRED_TITLE, table.inferred.to_yaml(), sep="\n")
                for name, why in table.inferred.left_out.items():
                    print(f"sweeprank rank: warning: {name} left out ({why}); --space keeps it", file=sys.stderr)
            if args.save_space:
                _save_space(args.save_space, table.inferred, space)
            options = replace(options, metric=table.layout.metric)
        encoded = encode_trials(space, rows, maximize=options.maximize)
        result = rank(encoded, options, space)
        if methods:
            result.comparison = compare_all(space, encoded, result.rankings, methods, args.seed, native)
    except (SweeprankError, ValueError) as err:
        print(f"sweeprank rank: {err}", file=sys.stderr)
        return 2
    print(render(result, effects=args.effects))
    if args.json_out:
        Path(args.json_out).write_text(
            result.model_dump_json(indent=2, exclude={"comparison"} if result.comparison is None else None)
        )
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(
        f"ranked {result.n_trials:,} trials in {time.monotonic() - started:.1f} s, peak memory {peak_mib:.0f} MiB",
        file=sys.stderr,
    )
    return 0


# ---------------------------------------------------------------- input


def options_from_args(args: argparse.Namespace) -> RankOptions:
    from offline.ranker import RankOptions

    return RankOptions(
        trials=args.trials,
        metric=args.metric or "",
        maximize=args.maximize,
        by=args.by,
        status_column=args.status_column,
        config=config_from_args(args),
        progress=args.progress,
    )


def _methods(raw: str) -> list[str]:
    from importance.config import METHODS
    from importance.evaluator import OPTUNA_METHODS

    known = [*OPTUNA_METHODS, *METHODS]
    methods = [m.strip() for m in raw.split(",") if m.strip()]
    unknown = [m for m in methods if m not in known]
    if unknown:
        raise SpecError("--compare", f"known methods are {known}, got {unknown}")
    return methods


def read_study(args: argparse.Namespace) -> tuple[SearchSpace, list[TrialRow], RankOptions, Native]:
    """An Optuna study's trials, space (from its distributions), options and its trials' own
    distributions (for --compare); says what it skipped."""
    if args.trials:
        raise SpecError("trials", f"give a CSV file or --optuna-storage, not both (got {args.trials!r})")
    from offline.optuna_study import PARETO_METRIC, STUDY_STATES, load_study, study_table

    study = load_study(args.optuna_storage, args.study)
    table = study_table(
        study, objective=args.objective, metric=args.metric, maximize=args.maximize, group=ALL, by=args.by
    )
    complete = len(table.rows) - sum(table.states.values())
    skipped = ", ".join(f"{table.states[state]} {state}" for state in STUDY_STATES)
    print(f"study {table.study_name}: {len(table.rows)} trials, ranking the {complete} COMPLETE; skipped {skipped}")
    if table.metric == PARETO_METRIC:
        print(
            "a multi-objective study: ranking each trial's Pareto front "
            "(0 = not dominated; lower is better); --objective N ranks one objective"
        )
    options = replace(options_from_args(args), trials=args.optuna_storage, metric=table.metric, maximize=table.maximize)
    return table.space, table.rows, options, table.native


def _check_writable(path: str) -> None:
    """Refuse an output path that cannot be written before the ranking runs, not after minutes of it."""
    folder = Path(path).resolve().parent
    if not folder.is_dir():
        raise SpecError("--json", f"cannot write {path}: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise SpecError("--json", f"cannot write {path}: the folder {folder} is not writable")


def _space(ref: str) -> SearchSpace:
    return preset(ref) if ref in PRESETS else load_space_file(ref)


def _save_space(path: str, inferred: InferredSpace | None, space: SearchSpace) -> None:
    try:
        Path(path).write_text(inferred.to_yaml() if inferred else yaml.safe_dump(space.to_dict(), sort_keys=False))
    except OSError as err:
        raise SpecError(path, f"cannot write the space file: {err.strerror}") from None


if __name__ == "__main__":
    sys.exit(main())
