"""What a ranking says, as the command line and the notebook print it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from importance.config import RankingConfig
from importance.ranking_record import MATTERS, NO_DETECTABLE_EFFECT, POOLED, UNDETERMINED
from offline.effects_text import effects_lines, no_effect_lines
from offline.pooling import format_p, pooling_notes
from offline.table import ALL
from trials.records import MethodComparison, RankingGroup

if TYPE_CHECKING:  # the ranker loads scipy; the commands that only print a served ranking need none of it
    from offline.ranker import RankResult

INFERRED_TITLE = "inferred space (check it; --save-space F writes it; pass it back with --space F):"


def _fmt(value: float | None, spec: str = ".3f") -> str:
    return "n/a" if value is None else format(value, spec)


_VERDICT_WORDS = {MATTERS: "matters", NO_DETECTABLE_EFFECT: "no effect", UNDETERMINED: "undetermined"}


def ranking_table(title: str, entry: RankingGroup, metric: str = "metric") -> list[str]:
    """One group's ranking: importance with its 95% CI, P(rank), raw W, p (Holm), verdict; then what it says."""
    lines = [f"== {title} ({entry.n_trials} trials) =="]
    if entry.verdict_note:
        lines.append(f"Undetermined: {entry.verdict_note}. The numbers below are not evidence of anything yet.")
    lines.append(
        f"{'rank':>4}  {'name':<20} {'importance':>10}  {'95% CI':<16} {'P(rank)':>7}  "
        f"{'var share' if entry.has_effects else 'raw W':>9}  "
        f"{'p (Holm)':>8}  verdict"
    )
    for row in entry.rows:
        verdict = row.verdict or UNDETERMINED
        ci = f"[{_fmt(row.ci_low)}, {_fmt(row.ci_high)}]"
        lines.append(
            f"{row.rank:>4}  {row.name:<20} {_fmt(row.importance):>10}  {ci:<16} "
            f"{_fmt(row.rank_probability, '.2f'):>7}  {_fmt(row.raw_weight, '.4f'):>9}  "
            f"{format_p(row.p_adjusted):>8}  {_VERDICT_WORDS.get(verdict, verdict)}"
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
    if all(row.verdict is None for row in entry.rows) or entry.verdict_note:
        return []
    matters = entry.with_verdict(MATTERS)
    quiet = [row for row in entry.rows if row.verdict == NO_DETECTABLE_EFFECT]
    reassured = [row.name for row in quiet]
    open_ = [row.name for row in entry.rows if row.verdict not in (MATTERS, NO_DETECTABLE_EFFECT)]
    lines = [
        f"Matters (Holm-adjusted p <= 0.05): {', '.join(matters)}."
        if matters
        else "No hyperparameter has a detectable effect (Holm-adjusted p > 0.05 for all)."
    ]
    if quiet and entry.has_effects:
        lines += no_effect_lines(entry, reassured, metric)
    elif quiet:
        bound = max(row.detectable or 0.0 for row in quiet)
        lines.append(
            f"No detectable effect: {', '.join(reassured)} "
            f"(an importance of {bound:.2g} or more would have been detected with 80% power)."
        )
    if open_:
        lines.append(f"Undetermined (neither shown to matter nor ruled out): {', '.join(open_)}.")
    return lines


def _comparison_table(title: str, mine: dict[str, float | None], methods: dict[str, MethodComparison]) -> list[str]:
    header = f"{'name':<20} {'sweeprank':>10}" + "".join(f" {m:>10}" for m in methods)
    lines = [f"-- comparison: {title} --", header]
    for name, importance in mine.items():
        lines.append(
            f"{name:<20} {_fmt(importance):>10}"
            + "".join(f" {_fmt(r.importances[name]):>10}" for r in methods.values())
        )
    lines.append(
        f"{'Kendall tau':<20} {'':>10}" + "".join(f" {_fmt(r.kendall_tau, '.2f'):>10}" for r in methods.values())
    )
    return lines


def method_words(parameters: RankingConfig) -> str:
    if parameters.method == "anova":
        return "by share of the metric's variance (main effect plus pairwise interactions), method anova"
    blocks = f" (blocks of {parameters.relief_block_size} trials)" if parameters.relief_block_size else ""
    return f"with N-RReliefF, method {parameters.method}{blocks}"


def render(result: RankResult, effects: bool = False) -> str:
    parameters = result.parameters
    lines = [f"metric {result.metric} ({result.direction}), {result.n_trials} trials ranked {method_words(parameters)}"]
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
        lines += ["", *_comparison_table(group, entry.importances(), methods)]
    return "\n".join(lines)
