"""Real Optuna studies with a known answer: the objective depends on `x` only."""

from __future__ import annotations

import optuna
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState, create_trial

optuna.logging.set_verbosity(optuna.logging.WARNING)

N_COMPLETE = 80


def objective(trial: optuna.Trial) -> float:
    x = trial.suggest_float("x", 1e-4, 1.0, log=True)
    trial.suggest_float("y", 0.0, 1.0)
    trial.suggest_categorical("optimizer", ["sgd", "adam", "rmsprop"])
    trial.suggest_categorical("batch_size", [256, 32, 64])
    trial.suggest_int("layers", 1, 9, step=2)
    return 10.0 * x


def x_study(storage: str | optuna.storages.BaseStorage | None = None, name: str = "x-matters") -> optuna.Study:
    """N_COMPLETE random trials whose value is 10·x; minimised, as losses are."""
    study = optuna.create_study(
        storage=storage, study_name=name, direction="minimize", sampler=optuna.samplers.RandomSampler(seed=3)
    )
    study.optimize(objective, n_trials=N_COMPLETE)
    return study


def add_unranked(study: optuna.Study) -> None:
    """2 pruned and 1 failed trial with extreme values, and 1 left running: none may be ranked."""
    x = FloatDistribution(1e-4, 1.0, log=True)
    for _ in range(2):
        study.add_trial(
            create_trial(
                state=TrialState.PRUNED, params={"x": 1e-4}, distributions={"x": x}, intermediate_values={1: 1e9}
            )
        )
    study.add_trial(create_trial(state=TrialState.FAIL, params={"x": 1.0}, distributions={"x": x}))
    running = study.ask()
    running.suggest_float("x", 1e-4, 1.0, log=True)
