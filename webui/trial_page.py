"""One page of the trials table, read through the sorted indexes: the cost is the page's, not the sweep's."""

from __future__ import annotations

import time
from typing import Any

from broker.store import Store
from broker.store.trial_index import sortable
from trials.errors import SweeprankError
from trials.records import SweepRecord
from trials.specs import TrialResult


def _duration(state: dict[str, Any], result: TrialResult | None, now: float) -> float | None:
    if result is not None and result.wall_time_s:
        return result.wall_time_s
    if state.get("started"):
        return float(state.get("ended") or now) - float(state["started"])
    return None


def trial_rows(store: Store, sweep_id: str, trial_ids: list[int]) -> list[dict[str, Any]]:
    """The table's rows of these trials, in the given order (live state, planned config, final result)."""
    states = store.trials.states_of(sweep_id, trial_ids)
    configs = store.sweeps.planned_configs_of(sweep_id, trial_ids)
    results = store.results.get_many(sweep_id, trial_ids)
    now = time.time()
    return [
        {
            "trial_id": t,
            "state": states.get(t, {}),
            "config": configs.get(t, {}),
            "result": results[t].model_dump(mode="json") if t in results else None,
            "duration_s": _duration(states.get(t, {}), results.get(t), now),
        }
        for t in trial_ids
    ]


def page_ids(store: Store, record: SweepRecord, offset: int, limit: int, sort: str, descending: bool) -> list[int]:
    """Trial ids of one page; see broker/store/trial_index.py for the order of a sorted page."""
    names = [*record.space["parameters"], *record.spec.fixed]
    if not sortable(sort, names):
        choices = "trial_id, dataset, status, worker, duration, a hyperparameter or a result field"
        raise SweeprankError(f"sort must be {choices}, got {sort!r}")
    return store.trial_index.page(record.id, sort, record.n_trials, offset, limit, descending)
