"""`sweeprank export SWEEP --format optuna -o study.db`: a sweep as an Optuna study.

Read through the JSON API like the other exports (the sweep, its trials page by
page, each finished trial's per-epoch metrics) and written with Optuna's own
storage classes, so `optuna.load_study` and optuna-dashboard open it:

- completed trials with a finite metric -> COMPLETE, value = the sweep's metric,
  the study's direction = the sweep's; failed, diverged, timed-out and cancelled
  trials (and a completed one without its metric) -> FAIL, with their status and error
  as user attributes; pruned trials -> PRUNED (their curve as intermediate values);
  trials without a final result (queued, running) are skipped;
- a tune sweep's held values (spec `fixed`) as the study's user attribute `held`;
- params and distributions from the sweep's space (offline/optuna_study.py);
- intermediate values: one per epoch of the attempt that gave the result, the
  validation accuracy (the training loss when the sweep's metric is a loss);
- user attributes: the dataset (so `sweeprank rank --by dataset` ranks per dataset
  again), the trial id, the attempt and the result's metrics.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from offline.optuna_study import storage_for
from sweeprank.client import Client
from trials.errors import SpecError
from trials.optuna_space import space_distributions, to_optuna_params
from trials.records import SweepRecord
from trials.space import SearchSpace
from trials.specs import METRICS, EpochMetrics, TrialResult, TrialStatus

if TYPE_CHECKING:
    from optuna.trial import FrozenTrial

PAGE = 1000  # the trials API's largest page
LOSS_METRIC = "final_train_loss"


@dataclass(frozen=True)
class Exported:
    study_name: str
    output: str
    complete: int
    failed: int
    skipped: int
    pruned: int = 0

    def sentence(self) -> str:
        pruned = f", {self.pruned} PRUNED" if self.pruned else ""
        return (
            f"wrote study {self.study_name} to {self.output}: {self.complete} COMPLETE{pruned}, {self.failed} FAIL; "
            f"skipped {self.skipped} trials without a final result"
        )


def _trials(client: Client, sweep_id: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    while True:
        page = client.get(f"/api/sweeps/{sweep_id}/trials?offset={len(rows)}&limit={PAGE}")
        rows += page["trials"]
        if not page["trials"] or len(rows) >= page["total"]:
            return rows


def _intermediate(client: Client, result: TrialResult, metric: str) -> dict[int, float]:
    raw = client.get(f"/api/sweeps/{result.sweep_id}/trials/{result.trial_id}/metrics")["metrics"]
    epochs = [EpochMetrics.model_validate(m) for m in raw]
    # Earlier attempts of a retried trial streamed epochs too; only the one that gave the result counts.
    kept = [m for m in epochs if m.attempt == result.attempt]
    return {m.epoch: m.train_loss if metric == LOSS_METRIC else m.val_accuracy for m in kept}


def _user_attrs(result: TrialResult) -> dict[str, Any]:
    attrs: dict[str, Any] = {
        "dataset": result.dataset,
        "sweeprank_trial_id": result.trial_id,
        "attempt": result.attempt,
        "status": result.status.value,
        "epochs_completed": result.epochs_completed,
    }
    attrs.update({m: getattr(result, m) for m in METRICS if getattr(result, m) is not None})
    if result.error:
        attrs["error"] = result.error
    return attrs


def frozen_trial(space: SearchSpace, result: TrialResult, metric: str, intermediate: dict[int, float]) -> FrozenTrial:
    """One finished trial as Optuna stores it."""
    from optuna.trial import TrialState, create_trial

    value = result.metric(metric)
    complete = result.status == TrialStatus.COMPLETED and value is not None and math.isfinite(value)
    state = TrialState.COMPLETE if complete else TrialState.FAIL
    if result.status == TrialStatus.PRUNED:
        state = TrialState.PRUNED
    return create_trial(
        state=state,
        value=value if complete else None,
        params=to_optuna_params(space, result.config),
        distributions={n: d for n, d in space_distributions(space).items() if result.config.get(n) is not None},
        user_attrs=_user_attrs(result),
        intermediate_values=intermediate,
    )


def export_study(client: Client, sweep_id: str, output: str, study_name: str | None = None) -> Exported:
    """Write the sweep's finished trials as a new study in `output` (a file or a storage URL)."""
    import optuna

    sweep = SweepRecord.model_validate(client.get(f"/api/sweeps/{sweep_id}"))
    space = SearchSpace.from_dict(sweep.space)
    metric = sweep.spec.metric
    name = study_name or sweep_id
    trials = _trials(client, sweep_id)
    results = [TrialResult.model_validate(t["result"]) for t in trials if t["result"]]
    frozen = [frozen_trial(space, r, metric, _intermediate(client, r, metric)) for r in results]
    storage = storage_for(output, must_exist=False)
    if name in optuna.study.get_all_study_names(storage):
        raise SpecError("--study", f"{output} already holds a study {name!r}; name another with --study")
    study = optuna.create_study(storage=storage, study_name=name, direction=sweep.spec.direction)
    study.set_user_attr("sweeprank_sweep", sweep_id)
    study.set_user_attr("metric", metric)
    study.set_user_attr("name", sweep.name)
    if sweep.spec.fixed:
        study.set_user_attr("held", sweep.spec.fixed)
    study.add_trials(frozen)
    states = Counter(t.state for t in frozen)
    complete, pruned = states[optuna.trial.TrialState.COMPLETE], states[optuna.trial.TrialState.PRUNED]
    return Exported(name, output, complete, len(frozen) - complete - pruned, len(trials) - len(results), pruned)
