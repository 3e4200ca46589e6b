"""One page of the trials table, read through the sorted indexes: the cost is the page's, not the sweep's."""

from __future__ import annotations

import time

from pydantic import BaseModel

from broker.store import Store
from broker.store.trial_index import sortable
from trials.errors import SweeprankError
from trials.records import SweepRecord
from trials.space import Value
from trials.specs import TrialResult
from trials.trial_state import TrialState


class TrialRow(BaseModel):
    trial_id: int
    state: TrialState  # only the fields set so far (a trial the sweep does not have: none)
    config: dict[str, Value]
    result: TrialResult | None
    duration_s: float | None


def _duration(state: TrialState, result: TrialResult | None, now: float) -> float | None:
    if result is not None and result.wall_time_s:
        return result.wall_time_s
    if state.started:
        return (state.ended or now) - state.started
    return None


def trial_rows(store: Store, sweep_id: str, trial_ids: list[int]) -> list[TrialRow]:
    """The table's rows of these trials, in the given order (live state, planned config, final result)."""
    states = store.trials.states_of(sweep_id, trial_ids)
    configs = store.sweeps.planned_configs_of(sweep_id, trial_ids)
    results = store.results.get_many(sweep_id, trial_ids)
    now = time.time()
    return [
        TrialRow(
            trial_id=t,
            state=states.get(t, TrialState()),
            config=configs.get(t, {}),
            result=results.get(t),
            duration_s=_duration(states.get(t, TrialState()), results.get(t), now),
        )
        for t in trial_ids
    ]


def page_ids(store: Store, record: SweepRecord, offset: int, limit: int, sort: str, descending: bool) -> list[int]:
    """Trial ids of one page; see broker/store/trial_index.py for the order of a sorted page."""
    if not sortable(sort, record.config_names):
        choices = "trial_id, dataset, status, worker, duration, a hyperparameter or a result field"
        raise SweeprankError(f"sort must be {choices}, got {sort!r}")
    return store.trial_index.page(record, sort, offset, limit, descending)
