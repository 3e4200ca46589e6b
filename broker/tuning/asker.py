"""Optuna's samplers and pruners on the pool: ask when a slot frees, tell when a result is stored.

- Ask (the dispatcher, under its lock): first tell the dataset's study every result stored since,
  then ask it for a trial. The config (the asked values plus the sweep's held ones) is recorded
  once, with the study trial's number, in the sweep's planned configs: every attempt of the
  trial trains that config, so a re-run attempt is never a new Optuna trial.
- Trials in flight: TPE runs with `constant_liar`, so it does not ask twice for the same region;
  CMA-ES asks a generation at a time by design; GP models completed trials only.
- Tell (the analyst, for every result event; the dispatcher too, before each ask): `completed` is
  COMPLETE with the sweep's metric, `pruned` is PRUNED, and every other final status FAIL:
  failed, diverged, timed out, cancelled, and a trial lost more often than its attempts allow.
  Telling is idempotent (`skip_if_finished`), so a redelivered event changes nothing.
- A study trial asked by a dispatcher killed before it recorded the config belongs to no sweeprank
  trial: the next ask finds it and tells it FAIL, so no phantom stays "running" for the liar.
- Pruning (the trainer, after each epoch but the last): report the epoch's validation accuracy
  (the training loss for a sweep ranked by `final_train_loss`) and ask the sweep's pruner.

The study state lives in Redis (broker/store/studies.py), so any dispatching process can ask and a
restarted one carries on. Each ask builds its sampler seeded by the trial's seed: asks are
reproducible and two processes never share a random stream.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING

from broker.store import PlannedTrial, Store
from trials.optuna_space import space_distributions
from trials.samplers import SAMPLERS
from trials.space import Value
from trials.specs import EpochMetrics, SweepSpec, TrialResult, TrialStatus

if TYPE_CHECKING:
    import optuna

log = logging.getLogger(__name__)
TRIAL_ATTR = "sweeprank_trial"


def _quiet_optuna() -> None:
    import optuna

    # Optuna logs every told trial at INFO: a dispatcher would write a line per result.
    optuna.logging.set_verbosity(optuna.logging.WARNING)


def make_sampler(spec: SweepSpec, seed: int) -> optuna.samplers.BaseSampler:
    build = SAMPLERS[spec.sampler].optuna
    if build is None:
        raise ValueError(f"{spec.sampler!r} is not a model-based sampler")
    return build(seed)


def make_pruner(spec: SweepSpec) -> optuna.pruners.BasePruner:
    from optuna.pruners import MedianPruner, NopPruner, SuccessiveHalvingPruner

    if spec.pruner == "median":
        return MedianPruner(n_startup_trials=5)
    if spec.pruner == "successive_halving":
        return SuccessiveHalvingPruner()
    return NopPruner()


def study_name(sweep_id: str, dataset: str) -> str:
    return f"{sweep_id}:{dataset}"


def intermediate_value(spec: SweepSpec, metrics: EpochMetrics) -> float:
    """What an epoch reports to the pruner: the per-epoch metric that tracks the sweep's own metric."""
    return metrics.train_loss if spec.metric == "final_train_loss" else metrics.val_accuracy


class Tuner:
    def __init__(self, store: Store) -> None:
        self.store = store

    def study(self, sweep_id: str, spec: SweepSpec, dataset: str, seed: int = 0) -> optuna.Study:
        import optuna

        _quiet_optuna()
        storage = self.store.studies.storage(sweep_id, dataset)
        name, sampler, pruner = study_name(sweep_id, dataset), make_sampler(spec, seed), make_pruner(spec)
        try:
            storage.get_study_id_from_name(name)
        except KeyError:
            # Only the first time: the journal's create_new_study appends a log entry even when the study exists.
            return optuna.create_study(
                storage=storage,
                study_name=name,
                direction=spec.direction,
                sampler=sampler,
                pruner=pruner,
                load_if_exists=True,
            )
        return optuna.load_study(study_name=name, storage=storage, sampler=sampler, pruner=pruner)

    # --- ask ----------------------------------------------------------------------

    def ask(self, sweep_id: str, trial_id: int, spec: SweepSpec) -> None:
        """Give a pending trial of a model-based sweep its config (call under the dispatch lock)."""
        from optuna.trial import TrialState

        if self.store.sweeps.has_config(sweep_id, trial_id):
            return  # asked before (a trial re-sent, or a dispatcher that died after recording it)
        dataset = self.store.trials.state(sweep_id, trial_id).dataset
        seed = spec.trial_seed(trial_id)
        study = self.study(sweep_id, spec, dataset, seed)
        self._sync_study(sweep_id, spec, study)
        trial = study.ask(space_distributions(spec.search_space()))
        trial.set_user_attr(TRIAL_ATTR, trial_id)
        config = spec.with_held(_plain(trial.params))
        if not self.store.sweeps.set_asked_config(
            sweep_id, trial_id, PlannedTrial(dataset, config, seed), trial.number
        ):
            study.tell(trial.number, state=TrialState.FAIL, skip_if_finished=True)

    # --- tell ---------------------------------------------------------------------

    def tell(self, result: TrialResult, spec: SweepSpec) -> None:
        """Tell the sweep's study a trial's final result (a no-op for planned samplers and repeats)."""
        number = self.store.sweeps.study_trial(result.sweep_id, result.trial_id)
        if not spec.model_based or number is None:
            return
        study = self.study(result.sweep_id, spec, result.dataset)
        self._tell(study, number, result, spec)

    def _sync_study(self, sweep_id: str, spec: SweepSpec, study: optuna.Study) -> None:
        """Tell the study every result stored since, and FAIL its orphans (call under the dispatch lock)."""
        from optuna.trial import TrialState

        for frozen in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            trial_id = frozen.user_attrs.get(TRIAL_ATTR)
            if trial_id is None or self.store.sweeps.study_trial(sweep_id, int(trial_id)) != frozen.number:
                log.warning("study %s: trial %d was never dispatched; told FAIL", study.study_name, frozen.number)
                study.tell(frozen.number, state=TrialState.FAIL, skip_if_finished=True)
                continue
            result = self.store.results.get(sweep_id, int(trial_id))
            if result is not None:
                self._tell(study, frozen.number, result, spec)

    def _tell(self, study: optuna.Study, number: int, result: TrialResult, spec: SweepSpec) -> None:
        from optuna.exceptions import UpdateFinishedTrialError
        from optuna.trial import TrialState

        value = result.metric(spec.metric)
        try:
            if result.status is TrialStatus.COMPLETED and value is not None:
                study.tell(number, value, skip_if_finished=True)
            elif result.status is TrialStatus.PRUNED:
                study.tell(number, state=TrialState.PRUNED, skip_if_finished=True)
            else:
                study.tell(number, state=TrialState.FAIL, skip_if_finished=True)
        except UpdateFinishedTrialError:
            pass  # another process told the same result a moment before us: its log entry came first

    # --- prune --------------------------------------------------------------------

    def should_prune(self, spec: SweepSpec, metrics: EpochMetrics, dataset: str) -> bool:
        """Report an epoch to the trial's study trial and ask the sweep's pruner whether to stop it."""
        import optuna

        number = self.store.sweeps.study_trial(metrics.sweep_id, metrics.trial_id)
        if spec.pruner == "none" or number is None:
            return False
        study = self.study(metrics.sweep_id, spec, dataset)
        storage = self.store.studies.storage(metrics.sweep_id, dataset)
        study_id = storage.get_study_id_from_name(study.study_name)
        trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, number)
        trial = optuna.trial.Trial(study, trial_id)
        try:
            trial.report(intermediate_value(spec, metrics), metrics.epoch)
        except optuna.exceptions.UpdateFinishedTrialError:
            return False  # the study already has this trial's end (a superseded attempt still running): no say
        return trial.should_prune()


def _plain(params: Mapping[str, object]) -> dict[str, Value]:
    """Optuna's values as JSON-able plain numbers and strings (numpy scalars from some samplers)."""
    return {name: _plain_value(name, value) for name, value in params.items()}


def _plain_value(name: str, value: object) -> Value:
    plain = value.item() if hasattr(value, "item") else value
    if not isinstance(plain, int | float | str):
        raise TypeError(f"the sampler proposed {name}={plain!r}, not a number or a string")
    return plain
