"""What a ranking says, as the command line and the notebook print it."""

from __future__ import annotations

from importance.config import RankingConfig
from importance.groups import POOLED
from importance.significance import MATTERS, NO_DETECTABLE_EFFECT, UNDETERMINED
from offline.effects_text import effects_lines, no_effect_lines
from offline.pooling import format_p, pooling_notes
from offline.ranker import RankResult
from offline.table import ALL
from trials.records import MethodComparison, RankingGroup

INFERRED_TITLE = "inferred space (check it; --save-space F writes it; pass it back with --space F):"


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
        lines += ["", *_comparison_table(group, entry.names, entry.importances, methods)]
    return "\n".join(lines)
