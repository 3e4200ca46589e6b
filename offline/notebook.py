"""`sweeprank.rank(table, metric=...)`: the ranking of `sweeprank rank`, in a notebook.

The table is a pandas DataFrame, a list of dicts or an Optuna study; it is read by the same
conventions as a CSV file (offline/table.py) and, without a space, the space is inferred
(offline/infer.py). pandas and matplotlib are imported only by `.to_frame()` and `.plot()`,
so the core install stays lean: they come with `pip install sweeprank[notebook]`.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import fields
from importlib import import_module
from typing import Any

import yaml

from importance.config import RankingConfig
from importance.ranking_record import MATTERS, NO_DETECTABLE_EFFECT, POOLED, UNDETERMINED
from offline.effects_text import effects_lines
from offline.infer import InferredSpace
from offline.pooling import format_p, pooling_notes
from offline.ranker import RankOptions, RankResult
from offline.ranker import rank as rank_encoded
from offline.rendering import INFERRED_TITLE, ranking_table, verdict_summary
from offline.table import ALL, flatten, header_of, layout, table_trials
from trials.encoding import encode_trials
from trials.presets import PRESETS, load_space_file, preset
from trials.records import RankingGroup
from trials.space import SearchSpace

INSTALL_HINT = "pip install sweeprank[notebook]"
# p_holm: the Holm-adjusted permutation p-value, the one the verdicts use (README, "Reading the ranking").
FRAME_COLUMNS = ("param", "rank", "importance", "ci_low", "ci_high", "p_rank", "raw_w", "p_holm", "verdict")
# The HTML table's headers and each number's format: the same digits as `sweeprank rank` prints.
HTML_COLUMNS = {
    "rank": ("rank", "d"),
    "param": ("name", ""),
    "importance": ("importance", ".3f"),
    "ci": ("95% CI", ".3f"),
    "p_rank": ("P(rank)", ".2f"),
    "raw_w": ("raw W", ".4f"),
    "p_holm": ("p (Holm-adjusted)", "p"),
    "verdict": ("verdict", ""),
}
BAR_WIDTH = 120  # pixels of an importance of 1 in the HTML table's CI bars
# Colour and hatch: the verdict reads in greyscale and for colour-blind readers too.
VERDICT_STYLE = {
    MATTERS: ("#1b6fb5", ""),
    NO_DETECTABLE_EFFECT: ("#b0b0b0", "//"),
    UNDETERMINED: ("#e8a33d", ".."),
}
_OPTIONS = ({f.name for f in fields(RankOptions)} | set(RankingConfig.model_fields) | {"stable_window"}) - {
    "trials",
    "metric",
    "by",
    "config",
}


def _optional(module: str) -> Any:
    try:
        return import_module(module)
    except ImportError:
        raise ImportError(f"this needs {module.split('.')[0]}: {INSTALL_HINT}") from None


def _is_study(table: object) -> bool:
    return hasattr(table, "trials") and hasattr(table, "study_name")


def _records(table: object) -> list[Mapping[str, object]]:
    """A DataFrame's or a list's rows as dicts (numpy scalars and NaN are read like CSV cells)."""
    if hasattr(table, "to_dict") and hasattr(table, "columns"):
        return flatten(table.to_dict("records"))  # W&B's runs DataFrame holds dicts: flattened like its CSV
    if isinstance(table, Sequence) and all(isinstance(row, Mapping) for row in table):
        return flatten(list(table))
    raise TypeError(f"rank() takes a pandas DataFrame, a list of dicts or an Optuna study, got {type(table).__name__}")


def _space(space: SearchSpace | str | Mapping[str, object] | None) -> SearchSpace | None:
    if space is None or isinstance(space, SearchSpace):
        return space
    if isinstance(space, str):
        return preset(space) if space in PRESETS else load_space_file(space)
    return SearchSpace.from_dict(space)


def rank(
    table: Any,
    metric: str | None = None,
    space: SearchSpace | str | Mapping[str, object] | None = None,
    by: str | None = None,
    *,
    maximize: bool | None = None,
    target: Any = None,
    **options: Any,
) -> Ranking:
    """Rank the hyperparameters of a table of trials with N-RReliefF.

    `metric` names the metric's column (an Optuna table's default: `value`); `space` is a
    SearchSpace, a preset name, a space file or its dict (default: inferred, see `.inferred`);
    `by` names a column to rank per group of, plus pooled. `maximize` defaults to True (a study's
    own direction for a study); `target` picks an Optuna study's objective. Other options are
    `sweeprank rank`'s: the fields of importance.config.RankingConfig (method, k, sigma, bootstrap,
    seed, permutations, block_size, window or stable_window, delta) and status_column.
    """
    unknown = sorted(set(options) - _OPTIONS)
    if unknown:
        raise TypeError(f"unknown option(s) {unknown}; known: {sorted(_OPTIONS)}")
    if _is_study(table):
        return _rank_study(table, target, maximize, by, options)
    records = _records(table)
    given = _space(space)
    columns = layout(header_of(records), metric, by, options.get("status_column"), given)
    read = table_trials(records, lambda i: f"row {i}", columns, given)
    settings = RankOptions.of("table", metric=columns.metric, maximize=maximize is not False, by=by, **options)
    encoded = encode_trials(read.space, read.rows, maximize=settings.maximize)
    return Ranking(rank_encoded(encoded, settings, read.space), read.space, read.inferred)


def _rank_study(study: Any, target: Any, maximize: bool | None, by: str | None, options: dict[str, Any]) -> Ranking:
    """An Optuna study: its COMPLETE trials, the space of its distributions, `by` a user attribute."""
    from offline.optuna_evaluator import rank_study

    result, space = rank_study(study, target=target, maximize=maximize, by=by, **options)
    return Ranking(result, space, None)


class Ranking:
    """What `sweeprank.rank` found: the numbers as attributes, a DataFrame, a plot, an HTML table.

    `group` is the ranking shown: all trials, or the pooled ranking when ranked `by` a column;
    every group's is in `rankings`.
    """

    def __init__(self, result: RankResult, space: SearchSpace, inferred: InferredSpace | None) -> None:
        self.result = result
        self.space = space
        self.inferred = inferred
        self.metric = result.metric
        self.direction = result.direction
        self.n_trials = result.n_trials
        self.excluded = result.excluded
        self.rankings: dict[str, RankingGroup] = result.rankings
        self.group = POOLED if POOLED in self.rankings else ALL
        entry = self.rankings[self.group]
        self.ranking: list[str] = list(entry.ranking)
        self.importances: dict[str, float | None] = entry.importances()

    def _rows(self, group: str | None) -> list[dict[str, str | int | float | None]]:
        rows = []
        for row in self.rankings[group or self.group].rows:
            values = (
                *(row.name, row.rank, row.importance, row.ci_low, row.ci_high),
                *(row.rank_probability, row.raw_weight, row.p_adjusted, row.verdict or UNDETERMINED),
            )
            rows.append(dict(zip(FRAME_COLUMNS, values, strict=True)))
        return rows

    def to_frame(self, group: str | None = None) -> Any:
        """One row per hyperparameter, best first: importance, its 95% CI, P(rank), raw W, Holm p, verdict."""
        pandas = _optional("pandas")
        return pandas.DataFrame(self._rows(group), columns=list(FRAME_COLUMNS))

    def plot(self, ax: Any = None, group: str | None = None) -> Any:
        """Importance bars, best on top, with 95% CI whiskers; colour and hatch say the verdict.

        Returns the matplotlib Figure (`.axes[0]` to customise, `.savefig(...)` to save). Without
        `ax` the figure is made without pyplot: Jupyter shows it once, as the cell's result, and
        prints no `<Axes: ...>` line (pyplot would also show it a second time at the end of the cell).
        """
        _optional("matplotlib")
        if ax is None:
            figure = import_module("matplotlib.figure").Figure(
                figsize=(6, 0.4 * len(self.space.names) + 1.2), layout="constrained"
            )
            ax = figure.add_subplot()
        rows = self._rows(group)[::-1]
        heights = [row["importance"] or 0.0 for row in rows]
        whiskers = [_whiskers(row) for row in rows]
        styles = [VERDICT_STYLE.get(str(row["verdict"]), VERDICT_STYLE[UNDETERMINED]) for row in rows]
        bars = ax.barh(
            [row["param"] for row in rows],
            heights,
            xerr=[[low for low, _ in whiskers], [high for _, high in whiskers]],
            color=[colour for colour, _ in styles],
            edgecolor="black",
            capsize=3,
        )
        for bar, (_, hatch) in zip(bars, styles, strict=True):
            bar.set_hatch(hatch)
        patches = import_module("matplotlib.patches")
        ax.legend(
            handles=[
                patches.Patch(facecolor=colour, hatch=hatch, edgecolor="black", label=verdict.replace("_", " "))
                for verdict, (colour, hatch) in VERDICT_STYLE.items()
            ],
            loc="lower right",
        )
        method = self.rankings[group or self.group].method
        what = "variance share (main + interactions)" if method == "anova" else "N-RReliefF share"
        ax.set_xlabel(f"importance ({what}, 95% CI)")
        ax.set_title(f"{self.metric} ({self.direction}), {self.rankings[group or self.group].n_trials} trials")
        return ax.figure

    def _effects_group(self, group: str | None) -> RankingGroup:
        """The group whose effects to show: the one asked, else the first with effects (units differ by dataset)."""
        entry = self.rankings[group or self.group]
        if entry.has_effects or group:
            return entry
        with_effects = [self.rankings[g] for g in sorted(self.rankings) if self.rankings[g].has_effects]
        return with_effects[0] if with_effects else entry

    def effects(self, group: str | None = None) -> list[str]:
        """What `sweeprank rank --effects` prints: largest differences, shares, level means, top interactions."""
        return effects_lines(self._effects_group(group), self.metric)

    def plot_effects(self, group: str | None = None, columns: int = 4) -> Any:
        """One panel per hyperparameter (ranking order): mean metric per level with its 95% CI, the overall
        mean (dashed) and the band of +-delta (dotted) that "no detectable effect" must fit in. Returns the Figure."""
        _optional("matplotlib")
        entry = self._effects_group(group)
        if not entry.has_effects:
            raise ValueError(f"no effects in this ranking (method {entry.method}): rank with method='anova'")
        ranked = [(row, row.effect) for row in entry.rows if row.effect is not None]
        rows = -(-len(ranked) // columns)
        figure = import_module("matplotlib.figure").Figure(figsize=(3.2 * columns, 2.6 * rows), layout="constrained")
        axes = figure.subplots(rows, columns, squeeze=False).ravel()
        for ax, (row, effect) in zip(axes, ranked, strict=False):
            levels = [level for level in effect.levels if level.mean is not None]
            x = range(len(levels))
            means = [level.mean or 0.0 for level in levels]
            low = [
                m - (level.ci_low if level.ci_low is not None else m) for m, level in zip(means, levels, strict=True)
            ]
            high = [
                (level.ci_high if level.ci_high is not None else m) - m for m, level in zip(means, levels, strict=True)
            ]
            ax.errorbar(x, means, yerr=[low, high], fmt="o", capsize=3)
            if entry.metric_mean is not None:
                ax.axhline(entry.metric_mean, linestyle="--", color="grey", linewidth=1)
                if entry.delta is not None:
                    for edge in (entry.metric_mean - entry.delta, entry.metric_mean + entry.delta):
                        ax.axhline(edge, linestyle=":", color="grey", linewidth=1)
            ax.set_xticks(list(x), [level.label.split(" – ")[0] for level in levels], rotation=45, fontsize=7)
            verdict = row.verdict or UNDETERMINED
            ax.set_title(f"{row.name} ({verdict.replace('_', ' ')})", fontsize=9)
        for ax in axes[len(ranked) :]:
            ax.set_visible(False)
        figure.suptitle(f"mean {self.metric} per level (95% CI); dotted: overall mean +- delta = {entry.delta:.3g}")
        return figure

    def reading(self, group: str | None = None) -> str:
        """One line: the top hyperparameter and what the verdicts say."""
        entry = self.rankings[group or self.group]
        top = self._rows(group)[0]
        said = verdict_summary(entry) or [f"Undetermined: {entry.verdict_note}."]
        return (
            f"{entry.n_trials} trials, {self.metric} ({self.direction}): {top['param']} ranks first "
            f"(importance {_number(top['importance'])}). {said[0]}"
        )

    def space_yaml(self) -> str:
        """The space ranked, as a space file (`--space` / `space=` loads it): the inferred one with its notes."""
        if self.inferred is not None:
            return self.inferred.to_yaml()
        return yaml.safe_dump(self.space.to_dict(), sort_keys=False)

    def sentences(self, group: str | None = None) -> list[str]:
        """What `sweeprank rank` prints around the table: run, exclusions, verdicts, agreement, stability, pooling."""
        entry = self.rankings[group or self.group]
        excluded = ", ".join(f"{count} {why}" for why, count in sorted(self.excluded.items())) or "none"
        lines = [f"{self.n_trials} trials of {self.metric} ({self.direction}) ranked; excluded: {excluded}."]
        if entry.verdict_note:
            lines.append(f"Undetermined: {entry.verdict_note}. The numbers below are not evidence of anything yet.")
        lines += verdict_summary(entry, self.metric)
        if entry.agreement:
            lines.append(entry.agreement.sentence)
        lines.append(entry.stability.sentence)
        if entry.message:
            lines.append(f"Note: {entry.message}")
        if (group or self.group) == POOLED:
            lines += pooling_notes(self.rankings)
        return lines

    def _repr_html_(self) -> str:
        title = "all trials" if self.group == ALL else "pooled over groups (trial-count-weighted)"
        head = "".join(f"<th>{html.escape(label)}</th>" for label, _ in HTML_COLUMNS.values())
        body = "".join(
            "<tr>" + "".join(f"<td>{_cell(row, column)}</td>" for column in HTML_COLUMNS) + "</tr>"
            for row in self._rows(None)
        )
        said = "".join(f"<p>{html.escape(line)}</p>" for line in self.sentences())
        space_title = INFERRED_TITLE if self.inferred is not None else "space ranked:"
        return (
            f"<div><p><b>{html.escape(self.reading())}</b></p><p>{html.escape(title)}</p>"
            f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{said}"
            f"<details><summary>{html.escape(space_title)}</summary><pre>{html.escape(self.space_yaml())}</pre>"
            "</details></div>"
        )

    def __repr__(self) -> str:
        title = "all trials" if self.group == ALL else "pooled"
        return "\n".join(ranking_table(title, self.rankings[self.group]))


def _whiskers(row: Mapping[str, Any]) -> tuple[float, float]:
    """How far the 95% CI reaches below and above the bar (none where a bound is unknown)."""
    height = row["importance"] or 0.0
    low = height if row["ci_low"] is None else row["ci_low"]
    high = height if row["ci_high"] is None else row["ci_high"]
    return max(0.0, height - low), max(0.0, high - height)


def _ci_bar(row: Mapping[str, Any]) -> str:
    """An inline SVG: the importance as a bar, its 95% CI as a whisker."""
    height = row["importance"] or 0.0
    low, high = _whiskers(row)
    x = [round(BAR_WIDTH * v, 1) for v in (height, height - low, height + high)]
    return (
        f'<svg width="{BAR_WIDTH + 4}" height="12" role="img" aria-label="importance with its 95% CI">'
        f'<rect x="0" y="2" width="{x[0]}" height="8" fill="{VERDICT_STYLE.get(row["verdict"], ("#e8a33d",))[0]}"/>'
        f'<line x1="{x[1]}" x2="{x[2]}" y1="6" y2="6" stroke="black"/></svg>'
    )


def _cell(row: Mapping[str, Any], column: str) -> str:
    if column == "ci":
        bounds = f"[{_number(row['ci_low'], '.3f')}, {_number(row['ci_high'], '.3f')}]"
        return f"{_ci_bar(row)} {html.escape(bounds)}"
    spec = HTML_COLUMNS[column][1]
    if column == "verdict":
        return html.escape(str(row[column]).replace("_", " "))
    return html.escape(format_p(row[column]) if spec == "p" else _number(row[column], spec))


def _number(value: object, spec: str = ".3g") -> str:
    if value is None:
        return "n/a"
    if isinstance(value, (int, float)) and spec:
        return format(value, spec)
    return str(value)
