"""Best so far against trials and compute, and where a sweep sits among tune sweeps (parent, children, chain)."""

from __future__ import annotations

from broker.store import Store
from broker.tuning.chain import chain_of
from trials.records import BestPoint, BestProgress, BestResult, Lineage, SweepRecord


def best_progress(store: Store, record: SweepRecord) -> BestProgress:
    """The sweep's best so far, in arrival order, as the store keeps it with each result (broker/store/progress.py)."""
    return store.progress.best_progress(record.id, record.spec.metric, record.spec.direction == "maximize")


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


def lineage(store: Store, record: SweepRecord) -> Lineage | None:
    """None for a sweep that is no tune sweep and started none."""
    children = store.sweeps.children(record.id)
    if record.parent is None and not children:
        return None
    if record.spec.tune is None or not record.spec.tune.groups:
        return Lineage(parent=record.parent, children=children, chain=[])
    chain = chain_of(store, record)
    members = [store.sweeps.get(sweep_id) for sweep_id in chain]
    progress = joined([best_progress(store, m) for m in members], record.spec.direction == "maximize")
    return Lineage(parent=record.parent, children=children, chain=chain, chain_progress=progress)
