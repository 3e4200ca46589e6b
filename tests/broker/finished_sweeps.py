"""Finished sweeps built through the store's own calls, in the trainer's and the analyst's shape, for archive tests."""

from __future__ import annotations

import math
import random
from typing import Any

from analyst.service import SweepAnalysis
from broker.store import Store
from broker.sweep_actions import plan_trials
from importance.config import RankingConfig
from trials.specs import EpochMetrics, SweepSpec, SweepStatus, TrialResult, TrialStatus

EPOCHS = 3


def finished_sweep(store: Store, n_trials: int = 40, cancel_after: int | None = None, **extra: Any) -> str:
    """A sweep whose trials ran (epochs, one final result each: completed, failed, diverged) and were ranked.

    With `cancel_after`, only that many trials ran and the sweep was cancelled: the rest never had a result.
    """
    spec = SweepSpec.model_validate(
        {
            "owner": "ann",
            "name": "archived",
            "datasets": ["digits", "fashion_mnist"],
            "n_trials": n_trials,
            "narrow": {"num_conv_layers": {"high": 2}, "epochs": {"high": EPOCHS}},
            "seed": 3,
            **extra,
        }
    )
    sweep_id = store.sweeps.create(spec, plan_trials(spec))
    rng = random.Random(n_trials)
    ran = n_trials if cancel_after is None else cancel_after
    for trial_id in range(ran):
        assert store.sweeps.pop_pending(sweep_id) == trial_id  # dispatched in order
        planned = store.sweeps.trial_spec(sweep_id, trial_id)
        store.trials.update(sweep_id, trial_id, status="running", worker="gpu0@host:1", started=1.0, epochs=EPOCHS)
        # The learning rate matters (the ranking says so, tune has something to tune); rounded: ties on purpose,
        # the pages order them by trial id.
        learning_rate = float(planned.config["learning_rate"])  # type: ignore[arg-type]
        accuracy = round(min(max(0.95 + 0.1 * math.log10(learning_rate) + rng.gauss(0, 0.02), 0.0), 1.0), 2)
        for epoch in range(1, EPOCHS + 1):
            store.results.record_epoch(
                EpochMetrics(
                    sweep_id=sweep_id,
                    trial_id=trial_id,
                    attempt=1,
                    epoch=epoch,
                    train_loss=1 / epoch,
                    val_accuracy=accuracy,
                    seconds=0.5,
                )
            )
        status = rng.choice([TrialStatus.COMPLETED] * 6 + [TrialStatus.FAILED, TrialStatus.DIVERGED])
        done = status is TrialStatus.COMPLETED
        store.results.save(
            TrialResult(
                sweep_id=sweep_id,
                trial_id=trial_id,
                attempt=1,
                dataset=planned.dataset,
                config=planned.config,
                status=status,
                test_accuracy=accuracy if done else None,
                best_val_accuracy=accuracy if done else None,
                final_train_loss=1 - accuracy,
                epochs_completed=EPOCHS if done else 1,
                wall_time_s=rng.choice([1.5, 2.5, 3.0]),
                worker=rng.choice(["gpu0@host:1", "gpu1@other:2"]),
                error="" if done else "boom",
            )
        )
        if trial_id % 7 == 6 or trial_id == ran - 1:  # a ranking now and then, as the analyst publishes them
            rank(store, sweep_id)
    if cancel_after is not None:
        store.sweeps.set_status(sweep_id, SweepStatus.CANCELLED, "cancelled by ann")
        store.trials.mark(sweep_id, store.sweeps.take_pending(sweep_id), TrialStatus.CANCELLED)
    return sweep_id


def rank(store: Store, sweep_id: str) -> None:
    """Store the ranking the analyst would publish from the results stored so far."""
    analysis = SweepAnalysis.of_stored(store, sweep_id, RankingConfig(bootstrap=20))
    analysis.add(store.results.in_arrival_order(sweep_id))
    full, compact = analysis.records()
    store.rankings.save(sweep_id, full, compact)
