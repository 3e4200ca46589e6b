"""The real objective: train a config on digits in this process with the trainer's own code.

workers.trainer.loop.run_trial is what a Celery trainer runs for each trial (workers/trial_runner.py
calls it); its wall_time_s is the trainer-seconds a replayed trial costs. One torch thread, as
the benchmark's sweep trained with. A trial that ends without a test accuracy (diverged) counts
as chance accuracy, as it does in the surrogate.
"""

from __future__ import annotations

import itertools

from tune_strategies import Objective
from tune_surrogate import CHANCE_ACCURACY

from broker.settings import read_settings
from trials.space import Value
from trials.specs import TrialSpec
from workers.trainer.data import DataRoots
from workers.trainer.loop import configure_threads, run_trial


def real_objective(seed: int, dataset: str = "digits") -> Objective:
    configure_threads(1)
    roots = DataRoots.of(read_settings())
    trial_ids = itertools.count()

    def train(config: dict[str, Value]) -> tuple[float, float]:
        trial_id = next(trial_ids)
        spec = TrialSpec(
            sweep_id="bench-tune", trial_id=trial_id, dataset=dataset, config=config, seed=seed * 1_000_003 + trial_id
        )
        result = run_trial(spec, roots=roots)
        accuracy = CHANCE_ACCURACY if result.test_accuracy is None else result.test_accuracy
        return accuracy, result.wall_time_s

    return train
