"""What the sweep list and the sweep page show beyond the stored records: ETA, best so far, a one-line reading.

All of it is derived from stored records (sweep, results, latest ranking); nothing is recomputed here.
"""

from __future__ import annotations

import time

from broker.store import Store
from importance.ranking_record import MATTERS, UNDETERMINED
from importance.ranking_record import NO_DETECTABLE_EFFECT as NO_EFFECT
from trials.records import AnalystHealth, RankingGroup, SweepRecord, SweepSummary
from trials.specs import SweepStatus
from webui.health import ranking_pause
from webui.lineage import best_progress, lineage

# How much of the pooled importance the leaders named by a reading without verdicts cover, and at most how many.
_MOST = 0.6
_MAX_NAMED = 3
# At most this many names per verdict in the one-line reading; the rest are counted ("and 4 others").
_MAX_LISTED = 4


def eta_seconds(record: SweepRecord, now: float | None = None) -> float | None:
    """Remaining trials at the sweep's average rate so far; None when ended or nothing finished yet."""
    if record.status.final or record.n_final == 0:
        return None
    elapsed = (now or time.time()) - record.created
    return elapsed / record.n_final * (record.n_trials - record.n_final)


def _names(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _listed(items: list[str]) -> str:
    if len(items) <= _MAX_LISTED:
        return _names(items)
    rest = len(items) - (_MAX_LISTED - 1)
    return _names([*items[: _MAX_LISTED - 1], f"{rest} others"])


def _share(value: float) -> str:
    # Two decimals as on the bars, but a tiny bound keeps its digits rather than printing as 0.00.
    return f"{value:.2f}" if value >= 0.01 else f"{value:.2g}"


def _verb(items: list[str], one: str, many: str) -> str:
    return one if len(items) == 1 else many


def _leaders(group: RankingGroup, share: dict[str, float]) -> str:
    """The top of the ranking by share alone: a description of the estimate, claiming no effect either way."""
    top: list[str] = []
    for name in group.ranking:
        if sum(share[n] for n in top) >= _MOST or len(top) == _MAX_NAMED:
            break
        top.append(name)
    covered = sum(share[n] for n in top)
    return f"{_names(top)} {_verb(top, 'explains', 'explain')} {covered:.0%} of the importance"


def _verdict_parts(group: RankingGroup, share: dict[str, float]) -> list[str]:
    """What the per-hyperparameter tests say, strongest first; names follow the ranking order."""
    detectable = {row.name: row.detectable for row in group.rows}
    adjusted = [row.p_adjusted for row in group.rows]
    by = {v: group.with_verdict(v) for v in (MATTERS, NO_EFFECT, UNDETERMINED)}
    parts = []
    if by[MATTERS]:
        named = [f"{n} ({share[n]:.2f})" for n in by[MATTERS]]
        parts.append(f"{_listed(named)} {_verb(named, 'matters', 'matter')}")
    elif all(p is not None for p in adjusted):
        parts.append("No hyperparameter has a detectable effect yet (Holm-adjusted p ≥ 0.05 for all)")
    else:
        parts.append("No hyperparameter has a detectable effect yet (Holm-adjusted p ≥ 0.05 for all tested)")
    if quiet := by[NO_EFFECT]:
        bounds = [detectable[n] for n in quiet]
        part = f"{_listed(quiet)} {_verb(quiet, 'shows', 'show')} no detectable effect"
        # The largest bound holds for each of them: every test would have seen an importance that large.
        if all(b is not None for b in bounds):
            each = "" if len(quiet) == 1 else " for each"
            part += f" (an importance ≥ {_share(max(b for b in bounds if b is not None))} would have been seen{each})"
        parts.append(part)
    if open_ := by[UNDETERMINED]:
        parts.append(f"{_listed(open_)} {_verb(open_, 'is', 'are')} undetermined")
    return parts


def _settling(group: RankingGroup, status: str | None) -> str:
    settled, since = group.stability.settled, group.stability.stable_since
    if status is not None and SweepStatus(status).final:
        return f"settled since trial {since}" if settled else "did not settle"
    return f"stable since trial {since}" if settled else "still changing"


def reading(group: RankingGroup | None, status: str | None = None) -> str:
    """One plain sentence about a ranking group, driven by its verdicts, and whether the ranking settled.

    A small share is never read as "does not matter": only a "no_detectable_effect" verdict says so, with the
    smallest effect the test could have seen. Records from before verdicts (no "verdicts" field) name the leaders.
    """
    if group is None:
        return "No ranking yet: it appears after the first completed trials."
    share = {name: value or 0.0 for name, value in group.importances().items()}
    if group.message and not any(share.values()):
        return group.message
    note = group.verdict_note
    if note:
        parts = [f"{_leaders(group, share)} so far", f"no verdicts yet ({note})"]
    elif any(row.verdict for row in group.rows):
        parts = _verdict_parts(group, share)
    else:
        parts = [_leaders(group, share)]
    return f"{'; '.join(parts)} — {group.n_trials} completed trials, {_settling(group, status)}."


def _failed_reading(record: SweepRecord) -> str:
    return (
        f"No ranking: none of the {record.n_trials} trials completed "
        f"({', '.join(f'{n} {s}' for s, n in record.counts.items() if n)}); each trial's error is in the trials table."
    )


def tunable(record: SweepRecord, pooled: RankingGroup | None) -> bool:
    """Whether to offer `tune`: the ranking has settled (or the sweep ended) and names something that matters."""
    if pooled is None or not pooled.with_verdict(MATTERS):
        return False
    return pooled.stability.settled or record.status.final


def sweep_summary(store: Store, record: SweepRecord, analyst: AnalystHealth | None = None) -> SweepSummary:
    """With `analyst` (its health now), a sweep whose results wait for a stopped analyst says so."""
    ranking = store.rankings.latest(record.id)
    # A ranking over no completed trial is the declaration order with zero shares: nothing to show.
    pooled = ranking.pooled if ranking and ranking.pooled.n_trials > 0 else None
    progress = best_progress(store, record)
    return SweepSummary(
        id=record.id,
        owner=record.owner,
        name=record.name,
        status=record.status,
        final=record.status.final,
        n_trials=record.n_trials,
        n_final=record.n_final,
        counts=record.counts,
        created=record.created,
        stop_reason=record.stop_reason,
        eta_s=eta_seconds(record),
        best=progress.best,
        top=pooled.ranking[:3] if pooled else [],
        stability=pooled.stability if pooled else None,
        reading=_failed_reading(record) if record.status is SweepStatus.FAILED else reading(pooled, record.status),
        ranking_paused=ranking_pause(record, ranking, analyst, time.time()) if analyst is not None else None,
        progress=progress,
        lineage=lineage(store, record),
        sampler=record.sampler,
        tuned=record.spec.tune.tuned if record.spec.tune else None,
        tunable=tunable(record, pooled),
    )
