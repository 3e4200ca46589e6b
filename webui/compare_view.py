"""A member's compare request: served from the stored comparison when it is of the current ranking, else
handed to the analyst (broker/store/comparisons.py), which computes it off the request path."""

from __future__ import annotations

from broker.store import Store
from trials.errors import SweeprankError
from trials.records import ComparisonState


def request_comparison(store: Store, sweep_id: str) -> ComparisonState:
    ranking = store.rankings.latest(sweep_id)
    if ranking is None:
        store.sweeps.get(sweep_id)  # an unknown sweep is a 404, not "no ranking"
        raise SweeprankError(f"sweep {sweep_id} has no ranking yet: compare after its first completed trials")
    stored = store.comparisons.latest(sweep_id)
    if stored is not None and (stored.n_results, stored.ranking_time) == (ranking.n_results, ranking.time):
        return ComparisonState(status="done", n_results=ranking.n_results, comparison=stored)
    store.comparisons.request(sweep_id)
    return ComparisonState(status="computing", n_results=ranking.n_results)
