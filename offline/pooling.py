"""Why a pooled verdict can differ from a dataset's own: the sentences the CLI and the notebook print.

The pooled p-value combines every dataset's p by Stouffer's z weighted by √trials, then Holm
over the hyperparameters (docs/architecture.md, "Pooling"). A hyperparameter that matters in
one dataset and not in the others is diluted by them: its pooled p can be 1.0 while its own
p in that dataset is 0.0015. Both are right; they answer different questions ("does it matter
in this dataset?" and "does it matter across the datasets?"). The sentences name each such
hyperparameter with its per-dataset verdicts, so that nobody reads "not pooled" as "nowhere".
"""

from __future__ import annotations

from collections.abc import Mapping

from importance.ranking_record import MATTERS, POOLED
from trials.records import RankingGroup

WHY = (
    "The pooled p combines every dataset's p (Stouffer's z weighted by the square root of its trials, "
    "then Holm over the hyperparameters), so an effect in some datasets and not in the others is diluted: "
    "a pooled p of 1.0 and a small p within one dataset are both right. Act on the per-dataset verdicts "
    "for that dataset."
)


def format_p(value: float | None) -> str:
    """A Holm-adjusted p as every table prints it: 4 decimals, "<0.0001" below."""
    return "n/a" if value is None else "<0.0001" if value < 1e-4 else format(value, ".4f")


def _p(entry: RankingGroup, name: str) -> str:
    return format_p(entry.row(name).p_adjusted)


def _verdict(entry: RankingGroup, name: str) -> str | None:
    return next((row.verdict for row in entry.rows if row.name == name), None)


def _words(verdict: str | None) -> str:
    return (verdict or "undetermined").replace("_", " ")


def pooling_notes(rankings: Mapping[str, RankingGroup]) -> list[str]:
    """One line per hyperparameter that matters in a dataset but not pooled, then `WHY`; [] when none."""
    pooled = rankings.get(POOLED)
    if pooled is None or all(row.verdict is None for row in pooled.rows):
        return []
    groups = {g: e for g, e in rankings.items() if g != POOLED}
    lines = []
    for name in pooled.ranking:
        if _verdict(pooled, name) == MATTERS:
            continue
        within = [g for g, e in groups.items() if _verdict(e, name) == MATTERS]
        if within:
            each = ", ".join(f"{g} {_words(_verdict(e, name))} (p {_p(e, name)})" for g, e in groups.items())
            lines.append(f"{name} matters within {', '.join(within)} but not pooled (p {_p(pooled, name)}): {each}.")
    return [*lines, WHY] if lines else []
