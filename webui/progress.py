"""Best so far against trials and compute, and where a sweep sits among tune sweeps (parent, children, chain)."""

from __future__ import annotations

from broker.store import Store
from broker.tune import chain_of
from trials.records import BestPoint, BestProgress, BestResult, Lineage, SweepRecord
from trials.specs import TrialStatus
from webui.services import LruCache

# (sweep id, its creation time, final results so far): results only grow, and a sweep id alone is reused after
# a Redis flush (the ids restart at sw1), the creation time is not.
ProgressKey = tuple[str, float, int]
ProgressCache = LruCache[ProgressKey, BestProgress]


def best_progress(store: Store, record: SweepRecord, cache: ProgressCache) -> BestProgress:
    """The sweep's best so far, in arrival order; cached per (sweep, creation, results count)."""
    key = (record.id, record.created, record.n_final)
    return cache.get_or_compute(key, lambda: _best_progress(store, record))


def _best_progress(store: Store, record: SweepRecord) -> BestProgress:
    metric, sign = record.spec.metric, 1.0 if record.spec.direction == "maximize" else -1.0
    best: BestResult | None = None
    points: list[BestPoint] = []
    n, seconds = 0, 0.0
    for result in store.results.in_arrival_order(record.id):
        n, seconds = n + 1, seconds + result.wall_time_s
        value = result.metric(metric) if result.status is TrialStatus.COMPLETED else None
        if value is not None and (best is None or sign * value > sign * best.value):
            best = BestResult(
                metric=metric,
                value=value,
                trial_id=result.trial_id,
                config=result.config,
                sweep_id=record.id,
                dataset=result.dataset,
            )
            points.append(BestPoint(n=n, trainer_s=seconds, value=value, trial_id=result.trial_id, sweep_id=record.id))
    return BestProgress(best=best, points=points, n=n, trainer_s=seconds)


def joined(progresses: list[BestProgress], maximize: bool) -> BestProgress:
    """One curve across sweeps run one after another: trials and trainer-seconds add up."""
    sign = 1.0 if maximize else -1.0
    best: BestResult | None = None
    points: list[BestPoint] = []
    n, seconds = 0, 0.0
    for progress in progresses:
        for point in progress.points:
            if best is None or sign * point.value > sign * best.value:
                points.append(point.model_copy(update={"n": n + point.n, "trainer_s": seconds + point.trainer_s}))
        if progress.best is not None and (best is None or sign * progress.best.value > sign * best.value):
            best = progress.best
        n, seconds = n + progress.n, seconds + progress.trainer_s
    return BestProgress(best=best, points=points, n=n, trainer_s=seconds)


def lineage(store: Store, record: SweepRecord, cache: ProgressCache) -> Lineage | None:
    """None for a sweep that is no tune sweep and started none."""
    children = store.sweeps.children(record.id)
    if record.parent is None and not children:
        return None
    if record.spec.tune is None or not record.spec.tune.groups:
        return Lineage(parent=record.parent, children=children, chain=[])
    chain = chain_of(store, record)
    members = [store.sweeps.get(sweep_id) for sweep_id in chain]
    progress = joined([best_progress(store, m, cache) for m in members], record.spec.direction == "maximize")
    return Lineage(parent=record.parent, children=children, chain=chain, chain_progress=progress)
