"""`sweeprank rank`: rank the hyperparameters of finished trials in a CSV file.

Cells are cast by the search space (numbers for numeric hyperparameters,
choices compared after casting), so a bad cell is reported by line and column
before any math runs. Rows are ranked in file order, which is their arrival
order (ties, blocks of the fixed-scale method). The file is fed to the ranking
in at most `CHECKPOINTS` chunks (one row each for files up to that size), so
the stability tracker sees the ranking after every chunk and can say at which
trial it settled; the permutation tests run once, on all rows, at the end.
"""

from __future__ import annotations

import argparse
import csv
import resource
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict
from threadpoolctl import threadpool_limits

from importance.groups import DEFAULT_METHOD, METHODS, POOLED, GroupedRanking
from importance.significance import MATTERS, NO_DETECTABLE_EFFECT, UNDETERMINED
from sweeprank.effects_text import effects_lines, no_effect_lines
from sweeprank.pooling import format_p, pooling_notes
from sweeprank.table import ALL, TableTrials, flatten, header_of, layout, table_trials
from trials.effects_view import present
from trials.encoding import EncodedTrials, TrialRow, encode_trials, optuna_view
from trials.errors import SpecError, SweeprankError
from trials.infer import InferredSpace
from trials.presets import PRESETS, load_space_file, preset
from trials.records import MethodComparison, RankingGroup
from trials.space import SearchSpace

INFERRED_TITLE = "inferred space (check it; --save-space F writes it; pass it back with --space F):"
CHECKPOINTS = 5000  # read-outs while feeding the file: "stable since" is exact up to this many rows
PAPER_GROWTH = 2  # paper method: a chunk as large as what is held refits everything; doubling costs 2 fits
PROGRESS_MIN_ROWS = 20_000
NEVER = 2**62  # refresh_every while replaying: tests run once at the end
Native = dict[str, tuple[dict[str, Any], dict[str, Any]]]  # trial id -> its Optuna params, distributions


def add_parser(subparsers: Any) -> None:
    """Register `rank` on an argparse subparsers object."""
    parser = subparsers.add_parser("rank", help="rank hyperparameters of finished trials (N-RReliefF)")
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
        "--compare", default="", help="also rank with Optuna's evaluators, a comma list of fanova,ped-anova"
    )
    parser.add_argument("--json", dest="json_out", help="write the full result as JSON here")
    parser.add_argument(
        "--status-column",
        help="rows whose status is not completed/complete/finished are excluded (default: status, state or State)",
    )
    parser.add_argument(
        "--method",
        choices=METHODS,
        default=DEFAULT_METHOD,
        help="anova (default): each hyperparameter's share of the metric's variance, main effect plus pairwise "
        "interactions; fixed-scale: N-RReliefF that holds as trials grow; paper: the paper-exact fixed-k N-RReliefF",
    )
    parser.add_argument(
        "--effects",
        action="store_true",
        help="print each hyperparameter's effect in the metric's units (mean per level, 95%% CI) and the top "
        "pairwise interactions (anova method)",
    )
    parser.add_argument(
        "--delta",
        type=float,
        help="smallest difference in the metric's units worth calling an effect; 'no detectable effect' means "
        "no level's mean is farther from the overall mean (default: 0.2 robust standard deviations of the metric)",
    )
    parser.add_argument("--progress", action="store_true", help="progress bar on stderr (default: big files on a tty)")
    parser.add_argument("--k", type=int, default=10, help="neighbours per reference trial")
    parser.add_argument("--sigma", type=float, default=20.0, help="rank-weight width")
    parser.add_argument("--bootstrap", type=int, default=200, help="Poisson bootstrap replicates")
    parser.add_argument("--seed", type=int, default=0, help="random seed of the bootstrap and tests (default 0)")
    parser.add_argument("--stable-window", type=int, default=100, help="trials the top-3 order must hold")
    parser.set_defaults(func=run)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sweeprank")
    add_parser(parser.add_subparsers(dest="command", required=True))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Standalone entry point: `python -m sweeprank.rank rank TRIALS.csv ...`."""
    args = build_parser().parse_args(argv)
    return int(args.func(args))


@dataclass(frozen=True)
class RankOptions:
    """What `rank` needs to read a file and rank it (the command line's options, or a caller's)."""

    trials: str
    metric: str = ""  # empty: the table's convention names it (Optuna's `value`)
    maximize: bool = True
    by: str | None = None
    status_column: str | None = None
    method: str = DEFAULT_METHOD
    delta: float | None = None
    k: int = 10
    sigma: float = 20.0
    bootstrap: int = 200
    seed: int = 0
    stable_window: int = 100
    progress: bool = False

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> RankOptions:
        return cls(**{f.name: getattr(args, f.name) for f in fields(cls)})


class RankParameters(BaseModel):
    model_config = ConfigDict(extra="forbid")

    method: str
    block_size: int | None
    k: int
    sigma: float
    bootstrap: int
    permutations: int
    seed: int


class RankResult(BaseModel):
    """What `rank` found, as printed and as written by --json."""

    model_config = ConfigDict(extra="forbid")

    metric: str
    direction: Literal["maximize", "minimize"]
    n_trials: int
    excluded: dict[str, int]
    parameters: RankParameters
    # "stable since" is exact when this is 1; otherwise it is the first checkpoint of the settled order.
    stability_resolution: int
    rankings: dict[str, RankingGroup]
    comparison: dict[str, dict[str, MethodComparison]] | None = None


def run(args: argparse.Namespace) -> int:
    started = time.monotonic()
    try:
        methods = _methods(args.compare)
        native = None
        if args.optuna_storage:
            space, rows, options, native = read_study(args)
            if args.save_space:
                _save_space(args.save_space, None, space)
        else:
            if not args.trials:
                raise SpecError("trials", "give a CSV file, or --optuna-storage URL for an Optuna study")
            options = RankOptions.from_args(args)
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
            result.comparison = _compare_all(space, encoded, result.rankings, methods, args.seed, native)
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


def _methods(raw: str) -> list[str]:
    from importance.compare import METHODS

    methods = [m.strip() for m in raw.split(",") if m.strip()]
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise SpecError("--compare", f"known methods are {list(METHODS)}, got {unknown}")
    return methods


def read_study(args: argparse.Namespace) -> tuple[SearchSpace, list[TrialRow], RankOptions, Native]:
    """An Optuna study's trials, space (from its distributions), options and its trials' own
    distributions (for --compare); says what it skipped."""
    if args.trials:
        raise SpecError("trials", f"give a CSV file or --optuna-storage, not both (got {args.trials!r})")
    from sweeprank.optuna_study import PARETO_METRIC, STUDY_STATES, load_study, study_table

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
    options = replace(
        RankOptions.from_args(args), trials=args.optuna_storage, metric=table.metric, maximize=table.maximize
    )
    return table.space, table.rows, options, table.native


def _space(ref: str) -> SearchSpace:
    return preset(ref) if ref in PRESETS else load_space_file(ref)


def _save_space(path: str, inferred: InferredSpace | None, space: SearchSpace) -> None:
    try:
        Path(path).write_text(inferred.to_yaml() if inferred else yaml.safe_dump(space.to_dict(), sort_keys=False))
    except OSError as err:
        raise SpecError(path, f"cannot write the space file: {err.strerror}") from None


def read_trials(options: RankOptions, space: SearchSpace | None) -> TableTrials:
    """The CSV file's trials in file order, read by the table conventions (sweeprank/table.py)."""
    path = str(options.trials)
    try:
        with open(path, newline="") as handle:
            reader = csv.DictReader(handle)
            records: list[Mapping[str, object]] = []
            lines: list[int] = []
            for row in reader:
                records.append(row)
                lines.append(reader.line_num)
            fieldnames = list(reader.fieldnames or [])
    except OSError as err:
        raise SpecError(path, f"cannot read trials file: {err.strerror}") from None
    records = flatten(records)
    header = header_of(records) if records and list(records[0]) != fieldnames else fieldnames
    columns = layout(header, options.metric or None, options.by, options.status_column, space, where=path)
    return table_trials(records, lambda i: f"{path} line {lines[i]}", columns, space)


# ---------------------------------------------------------------- ranking


def checkpoints(n: int, method: str) -> list[int]:
    """Row counts at which the ranking is read out while the file is fed in; the last is n."""
    if method == "paper":
        points, at = [], 2
        while at < n:
            points.append(at)
            at = max(at + 1, int(at * PAPER_GROWTH))
        return [*points, n]
    step = max(1, -(-n // CHECKPOINTS))
    return [*range(step, n, step), n]


def rank(encoded: EncodedTrials, options: RankOptions, space: SearchSpace | None = None) -> RankResult:
    """Feed the trials in file order, checkpoint by checkpoint, then test and snapshot every group.

    With the space, effects are labelled by the values each level holds (trials.effects_view).
    """
    if encoded.n == 0:
        raise SpecError(
            str(options.trials), f"no completed trial with a finite metric (excluded: {dict(encoded.excluded)})"
        )
    ranking = GroupedRanking(
        encoded.names,
        encoded.categorical,
        options.k,
        options.sigma,
        options.bootstrap,
        options.seed,
        window=options.stable_window,
        method=options.method,
        refresh_every=NEVER,
        delta=options.delta,
    )
    points = checkpoints(encoded.n, options.method)
    show = options.progress or (encoded.n >= PROGRESS_MIN_ROWS and sys.stderr.isatty())
    start = 0
    # Small matrices: BLAS threads only contend (sweeprank/cli.py main); a notebook or Optuna caller gets it too.
    with threadpool_limits(limits=1, user_api="blas"):
        for count, stop in enumerate(points, start=1):
            ranking.partial_fit(encoded.X[start:stop], encoded.y[start:stop], encoded.groups[start:stop])
            if show:
                _progress(stop, encoded.n, count == len(points), start)
            start = stop
        ranking.refresh_significance()
    rankings = {
        group: RankingGroup.model_validate(
            present(entry, space, options.maximize, "random") if space is not None else entry
        )
        for group, entry in ranking.snapshot().items()
    }
    if not options.by:
        rankings.pop(POOLED)
    return RankResult(
        metric=options.metric,
        direction="maximize" if options.maximize else "minimize",
        n_trials=encoded.n,
        excluded=dict(encoded.excluded),
        parameters=RankParameters(
            method=options.method,
            block_size=ranking.block_size,
            k=options.k,
            sigma=options.sigma,
            bootstrap=options.bootstrap,
            permutations=ranking.n_permutations,
            seed=options.seed,
        ),
        stability_resolution=points[0] if len(points) > 1 else 1,
        rankings=rankings,
    )


def _progress(done: int, total: int, last: bool, previous: int) -> None:
    """Redraw only when the bar gains a step (at most 40 writes), so a log file is not flooded."""
    width = 40
    filled = width * done // total
    if filled == width * previous // total and not last:
        return
    end = "\n" if last else ""
    print(f"\rranking {'#' * filled}{'.' * (width - filled)} {done:,}/{total:,} trials", end=end, file=sys.stderr)


def _shares(group: RankingGroup) -> dict[str, float]:
    """N-RReliefF's shares by name; an unknown share (null) counts as 0."""
    return {name: value or 0.0 for name, value in zip(group.names, group.importances, strict=False)}


def _compare_all(
    space: SearchSpace,
    encoded: EncodedTrials,
    rankings: dict[str, RankingGroup],
    methods: list[str],
    seed: int,
    native: Native | None = None,
) -> dict[str, dict[str, MethodComparison]]:
    """Comparators per group; pooled = the same trial-count-weighted mean as N-RReliefF's.

    `native`: an Optuna study's own params and distributions by trial id, given to the comparators
    as they are (a float's step, a log scale, numeric choices), so they answer as on the study itself.
    """
    from importance.compare import MethodResult, compare, pool_comparisons

    found: dict[str, dict[str, MethodResult]] = {}
    for group in (g for g in rankings if g != POOLED):
        subset = encoded.subset(group)
        params, distributions = (
            optuna_view(space, subset)
            if native is None
            else ([native[t][0] for t in subset.trial_ids], [native[t][1] for t in subset.trial_ids])
        )
        # encoded.y is already "higher is better", whatever --minimize said.
        found[group] = compare(
            params, distributions, subset.y.tolist(), _shares(rankings[group]), "maximize", methods, seed
        )
    if POOLED in rankings:
        per_group = {g: (rankings[g].n_trials, found[g]) for g in list(found)}
        found[POOLED] = pool_comparisons(per_group, _shares(rankings[POOLED]), encoded.names)
    return {g: {m: MethodComparison.model_validate(r) for m, r in answer.items()} for g, answer in found.items()}


# ---------------------------------------------------------------- output


def _fmt(value: float | None, spec: str = ".3f") -> str:
    return "n/a" if value is None else format(value, spec)


_VERDICT_WORDS = {MATTERS: "matters", NO_DETECTABLE_EFFECT: "no effect", UNDETERMINED: "undetermined"}


def ranking_table(title: str, entry: RankingGroup, metric: str = "metric") -> list[str]:
    """One group's ranking: importance with its 95% CI, P(rank), raw W, p (Holm), verdict; then what it says."""
    lines = [f"== {title} ({entry.n_trials} trials) =="]
    verdicts: list[str] = list(entry.verdicts or [UNDETERMINED] * len(entry.names))
    if entry.verdict_note:
        lines.append(f"Undetermined: {entry.verdict_note}. The numbers below are not evidence of anything yet.")
    lines.append(
        f"{'rank':>4}  {'name':<20} {'importance':>10}  {'95% CI':<16} {'P(rank)':>7}  "
        f"{'var share' if entry.effects else 'raw W':>9}  "
        f"{'p (Holm)':>8}  verdict"
    )
    names = entry.names
    adjusted = entry.p_adjusted or [None] * len(names)
    for place, name in enumerate(entry.ranking, start=1):
        i = names.index(name)
        ci = f"[{_fmt(entry.ci_low[i])}, {_fmt(entry.ci_high[i])}]"
        lines.append(
            f"{place:>4}  {name:<20} {_fmt(entry.importances[i]):>10}  {ci:<16} "
            f"{_fmt(entry.rank_probability[i], '.2f'):>7}  {_fmt(entry.raw_weights[i], '.4f'):>9}  "
            f"{format_p(adjusted[i]):>8}  {_VERDICT_WORDS.get(verdicts[i], verdicts[i])}"
        )
    lines.extend(verdict_summary(entry, metric))
    if entry.agreement:
        lines.append(entry.agreement.sentence)
    lines.append(entry.stability.sentence)
    if entry.message:
        lines.append(f"Note: {entry.message}")
    return lines


def verdict_summary(entry: RankingGroup, metric: str = "metric") -> list[str]:
    """What the verdicts say, in words; nothing is called unimportant because its share is 0."""
    verdicts = entry.verdicts
    if not verdicts or entry.verdict_note:
        return []
    names, detectable = entry.names, entry.detectable or [None] * len(entry.names)
    order = [entry.names.index(n) for n in entry.ranking]
    matters = [names[i] for i in order if verdicts[i] == MATTERS]
    quiet = [i for i in order if verdicts[i] == NO_DETECTABLE_EFFECT]
    reassured = [names[i] for i in quiet]
    open_ = [names[i] for i in order if verdicts[i] not in (MATTERS, NO_DETECTABLE_EFFECT)]
    lines = [
        f"Matters (Holm-adjusted p <= 0.05): {', '.join(matters)}."
        if matters
        else "No hyperparameter has a detectable effect (Holm-adjusted p > 0.05 for all)."
    ]
    if quiet and entry.effects:
        lines += no_effect_lines(entry, reassured, metric)
    elif quiet:
        bound = max(detectable[i] or 0.0 for i in quiet)
        lines.append(
            f"No detectable effect: {', '.join(names[i] for i in quiet)} "
            f"(an importance of {bound:.2g} or more would have been detected with 80% power)."
        )
    if open_:
        lines.append(f"Undetermined (neither shown to matter nor ruled out): {', '.join(open_)}.")
    return lines


def _comparison_table(
    title: str, names: list[str], mine: list[float | None], methods: dict[str, MethodComparison]
) -> list[str]:
    header = f"{'name':<20} {'N-RReliefF':>10}" + "".join(f" {m:>10}" for m in methods)
    lines = [f"-- comparison: {title} --", header]
    for i, name in enumerate(names):
        lines.append(
            f"{name:<20} {_fmt(mine[i]):>10}" + "".join(f" {_fmt(r.importances[name]):>10}" for r in methods.values())
        )
    lines.append(
        f"{'Kendall tau':<20} {'':>10}" + "".join(f" {_fmt(r.kendall_tau, '.2f'):>10}" for r in methods.values())
    )
    return lines


def _method_words(parameters: RankParameters) -> str:
    if parameters.method == "anova":
        return "by share of the metric's variance (main effect plus pairwise interactions), method anova"
    blocks = f" (blocks of {parameters.block_size} trials)" if parameters.block_size else ""
    return f"with N-RReliefF, method {parameters.method}{blocks}"


def render(result: RankResult, effects: bool = False) -> str:
    parameters = result.parameters
    lines = [
        f"metric {result.metric} ({result.direction}), {result.n_trials} trials ranked {_method_words(parameters)}"
    ]
    if result.stability_resolution > 1:
        lines.append(f"stability checked every {result.stability_resolution:,} trials")
    excluded = result.excluded
    lines.append(
        "excluded: " + (", ".join(f"{count} {why}" for why, count in sorted(excluded.items())) if excluded else "none")
    )
    for group, entry in result.rankings.items():
        lines += [
            "",
            *ranking_table(
                "all trials"
                if group == ALL
                else f"group {group}"
                if group != POOLED
                else "pooled (trial-count-weighted mean of groups)",
                entry,
                result.metric,
            ),
        ]
        if effects:
            lines += effects_lines(entry, result.metric)
    notes = pooling_notes(result.rankings)
    if notes:
        lines += ["", "Pooled and per-dataset verdicts differ:", *notes]
    for group, methods in (result.comparison or {}).items():
        entry = result.rankings[group]
        lines += ["", *_comparison_table(group, entry.names, entry.importances, methods)]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
