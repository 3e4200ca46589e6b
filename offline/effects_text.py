"""Effects and interactions of a ranking in words: what `sweeprank rank --effects` and the notebook print.

Every sentence names the statistic behind it: a difference of means with its 95% CI, a
variance share with its CI, a Holm-adjusted p, or the equivalence bound against delta.
"""

from __future__ import annotations

from trials.records import Effect, Interaction, RankingGroup

TOP_PAIRS = 3


def _num(value: float | None, spec: str = ".3g") -> str:
    return "n/a" if value is None else format(value, spec)


def _signed(value: float | None) -> str:
    return "n/a" if value is None else format(value, "+.3g")


def _p(value: float | None) -> str:
    return "n/a" if value is None else "<0.0001" if value < 1e-4 else format(value, ".2g")


def largest_sentence(name: str, effect: Effect, metric: str) -> str:
    """ "batch_size 32 → 512: mean test_accuracy -0.19 [-0.21, -0.17]" """
    largest = effect.largest
    if largest is None:
        return f"{name}: fewer than two levels seen"
    return (
        f"{name} {largest.from_label} → {largest.to_label}: mean {metric} {_signed(largest.difference)} "
        f"[{_num(largest.ci_low)}, {_num(largest.ci_high)}]"
    )


def no_effect_sentence(name: str, effect: Effect, metric: str, delta: float | None) -> str:
    """The equivalence statement behind a `no_detectable_effect` verdict."""
    return (
        f"{name}: no level of it moves mean {metric} by more than δ = {_num(delta)} from the overall mean "
        f"(95% simultaneous bound {_num(effect.equivalence_bound)}), and no interaction with it is detectable"
    )


def interaction_sentence(pair: Interaction) -> str:
    verdict = "interacts" if pair.verdict == "matters" else "not shown to interact"
    return (
        f"{pair.first} × {pair.second}: interaction share {_num(pair.share, '.3f')} "
        f"[{_num(pair.ci_low, '.3f')}, {_num(pair.ci_high, '.3f')}], p (Holm) {_p(pair.p_adjusted)}: {verdict}"
    )


def effects_lines(entry: RankingGroup, metric: str) -> list[str]:
    """Per hyperparameter (ranking order): largest difference, shares, level means; then the top pairs."""
    if not entry.has_effects:
        return []
    lines = [f"-- effects in {metric} (mean per level, 95% CI); δ = {_num(entry.delta)} --"]
    if entry.design_note:
        lines.append(entry.design_note)
    for row in entry.rows:
        effect = row.effect
        if effect is None:
            continue
        lines.append(
            f"{largest_sentence(row.name, effect, metric)}; main share {_num(effect.main_share, '.3f')} "
            f"[{_num(effect.main_ci[0], '.3f')}, {_num(effect.main_ci[1], '.3f')}], "
            f"with interactions {_num(effect.total_share, '.3f')}, N-RReliefF W {_num(effect.relief_weight, '.4f')}"
        )
        means = [
            f"{level.label or level.key}: {_num(level.mean)} [{_num(level.ci_low)}, {_num(level.ci_high)}] n={level.n}"
            for level in effect.levels
        ]
        lines.append("    " + "  ".join(means))
    pairs = (entry.interactions or [])[:TOP_PAIRS]
    if pairs:
        lines.append("-- strongest pairwise interactions (share of the metric's variance beyond both main effects) --")
        lines += [interaction_sentence(pair) for pair in pairs]
    return lines


def no_effect_lines(entry: RankingGroup, quiet: list[str], metric: str) -> list[str]:
    effects = {row.name: row.effect for row in entry.rows if row.effect is not None}
    return [f"No detectable effect: {no_effect_sentence(name, effects[name], metric, entry.delta)}." for name in quiet]
