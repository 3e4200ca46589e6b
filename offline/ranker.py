"""Rank the hyperparameters of finished trials held in a table (a CSV file, a DataFrame, an Optuna study).

Cells are cast by the search space (numbers for numeric hyperparameters,
choices compared after casting), so a bad cell is reported by line and column
before any math runs. Rows are ranked in file order, which is their arrival
order (ties, blocks of the fixed-scale method). The file is fed to the ranking
in at most `CHECKPOINTS` chunks (one row each for files up to that size), so
the stability tracker sees the ranking after every chunk and can say at which
trial it settled; the permutation tests run once, on all rows, at the end.
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict
from threadpoolctl import threadpool_limits

from importance.config import RankingConfig
from importance.groups import POOLED, GroupedRanking
from offline.table import TableTrials, flatten, header_of, layout, table_trials
from trials.effects_view import present
from trials.encoding import EncodedTrials, optuna_view
from trials.errors import SpecError
from trials.records import MethodComparison, RankingGroup
from trials.space import SearchSpace

CHECKPOINTS = 5000  # read-outs while feeding the file: "stable since" is exact up to this many rows
PAPER_GROWTH = 2  # paper method: a chunk as large as what is held refits everything; doubling costs 2 fits
PROGRESS_MIN_ROWS = 20_000
NEVER = 2**62  # refresh_every while replaying: tests run once at the end
Native = dict[str, tuple[dict[str, Any], dict[str, Any]]]  # trial id -> its Optuna params, distributions


@dataclass(frozen=True)
class RankOptions:
    """What `rank` needs to read a table and rank it (the command line's options, or a caller's)."""

    trials: str
    metric: str = ""  # empty: the table's convention names it (Optuna's `value`)
    maximize: bool = True
    by: str | None = None
    status_column: str | None = None
    config: RankingConfig = field(default_factory=RankingConfig)
    progress: bool = False

    @classmethod
    def of(cls, trials: str, **options: Any) -> RankOptions:
        """Options from keywords: RankOptions' own, and RankingConfig's fields (`stable_window` is `window`)."""
        if "stable_window" in options:
            options["window"] = options.pop("stable_window")
        config = {name: options.pop(name) for name in list(options) if name in RankingConfig.model_fields}
        return cls(trials=trials, config=RankingConfig.model_validate(config), **options)


class RankResult(BaseModel):
    """What `rank` found, as printed and as written by --json."""

    model_config = ConfigDict(extra="forbid")

    metric: str
    direction: Literal["maximize", "minimize"]
    n_trials: int
    excluded: dict[str, int]
    parameters: RankingConfig
    # "stable since" is exact when this is 1; otherwise it is the first checkpoint of the settled order.
    stability_resolution: int
    rankings: dict[str, RankingGroup]
    comparison: dict[str, dict[str, MethodComparison]] | None = None


def read_trials(options: RankOptions, space: SearchSpace | None) -> TableTrials:
    """The CSV file's trials in file order, read by the table conventions (offline/table.py)."""
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
    ranking = GroupedRanking(encoded.names, encoded.categorical, options.config, refresh_every=NEVER)
    points = checkpoints(encoded.n, options.config.method)
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
        group: present(entry, space, options.maximize, "random") if space is not None else entry
        for group, entry in ranking.snapshot().items()
    }
    if not options.by:
        rankings.pop(POOLED)
    return RankResult(
        metric=options.metric,
        direction="maximize" if options.maximize else "minimize",
        n_trials=encoded.n,
        excluded=dict(encoded.excluded),
        parameters=options.config,
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


def shares_of(group: RankingGroup) -> dict[str, float]:
    """The ranking's shares by name; an unknown share (null) counts as 0."""
    return {name: value or 0.0 for name, value in group.importances().items()}


def compare_all(
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
        found[group] = compare(subset.finished(params, distributions), shares_of(rankings[group]), methods, seed)
    if POOLED in rankings:
        per_group = {g: (rankings[g].n_trials, found[g]) for g in list(found)}
        found[POOLED] = pool_comparisons(per_group, shares_of(rankings[POOLED]), encoded.names)
    return {g: {m: MethodComparison.model_validate(r) for m, r in answer.items()} for g, answer in found.items()}
