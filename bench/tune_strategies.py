"""Search strategies under a budget of trainer-seconds, on any objective (a surrogate or real training).

- random search over every hyperparameter;
- TPE over every hyperparameter (Optuna's TPESampler, ask-and-tell, one trial at a time);
- importance-guided tuning: E random trials, ranked by sweeprank's own importance engine, then the
  product's rule (broker/tuning/rule.py `plan_tune`) decides what to tune and what to hold at the best
  explore trial's values; TPE then tunes the planned groups in turn, each on an equal share of the
  budget left, each starting from the best config found so far.

Every trial's trainer-seconds count against the budget, the explore trials' too; a strategy starts
trials until the budget is spent, and only trials that ended within it count (see `Trace`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution

from broker.tuning.rule import NothingToTune, ScoredTrial, best_trial, plan_tune
from offline.notebook import rank
from trials.records import RankingGroup
from trials.samplers import sample_configs
from trials.space import ChoiceParam, NumericParam, SearchSpace, Value

Objective = Callable[[dict[str, Value]], tuple[float, float]]  # config -> (accuracy, trainer-seconds)
RANDOM_CHUNK = 256
DATASET = "digits"

optuna.logging.set_verbosity(optuna.logging.WARNING)


@dataclass
class Trace:
    """The trials of one strategy run, in order: when each ended (cumulative trainer-seconds) and its accuracy."""

    budget_s: float
    ended_at: list[float] = field(default_factory=list)
    accuracy: list[float] = field(default_factory=list)
    configs: list[dict[str, Value]] = field(default_factory=list)
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def spent(self) -> float:
        return self.ended_at[-1] if self.ended_at else 0.0

    def left(self, until: float | None = None) -> bool:
        return self.spent < (self.budget_s if until is None else min(until, self.budget_s))

    def run(self, objective: Objective, config: dict[str, Value]) -> float:
        accuracy, seconds = objective(config)
        self.ended_at.append(self.spent + seconds)
        self.accuracy.append(accuracy)
        self.configs.append(config)
        return accuracy

    def best_config(self) -> dict[str, Value]:
        return self.configs[max(range(len(self.accuracy)), key=lambda i: (self.accuracy[i], -i))]

    def best_so_far(self) -> list[tuple[float, float]]:
        """(trainer-seconds, best accuracy so far) after each trial that ended within the budget."""
        points, best = [], 0.0
        for at, accuracy in zip(self.ended_at, self.accuracy, strict=True):
            if at > self.budget_s:
                break
            best = max(best, accuracy)
            points.append((at, best))
        return points

    def seconds_to(self, target: float) -> float | None:
        return next((at for at, best in self.best_so_far() if best >= target), None)

    def final_best(self) -> float:
        points = self.best_so_far()
        return points[-1][1] if points else 0.0

    def incumbent_quality(self, quality: list[float]) -> list[tuple[float, float]]:
        """(trainer-seconds, noise-free quality of the incumbent) after each trial within the budget.

        The incumbent is the trial with the best *observed* accuracy so far (what a user would pick);
        its quality is what that config is worth without the luck of its one draw.
        """
        points, best = [], 0
        for i, (at, _) in enumerate(self.best_so_far()):
            if self.accuracy[i] > self.accuracy[best]:
                best = i
            points.append((at, quality[best]))
        return points


def random_search(space: SearchSpace, objective: Objective, budget_s: float, seed: int) -> Trace:
    trace = Trace(budget_s)
    chunk = 0
    while trace.left():
        for config in sample_configs(space, RANDOM_CHUNK, "random", seed * 1_000 + chunk):
            if not trace.left():
                break
            trace.run(objective, config)
        chunk += 1
    return trace


def _param(space: SearchSpace, name: str) -> NumericParam | ChoiceParam:
    return next(p for p in space.params if p.name == name)


def _distribution(space: SearchSpace, name: str) -> BaseDistribution:
    param = _param(space, name)
    if isinstance(param, ChoiceParam):
        # Optuna has no ordinal type: an ordinal is tuned as its position, which keeps its order.
        if param.kind == "categorical":
            return CategoricalDistribution(list(param.choices))
        return IntDistribution(0, len(param.choices) - 1)
    if param.kind == "int":
        return IntDistribution(int(param.low), int(param.high), log=param.log)
    return FloatDistribution(param.low, param.high, log=param.log)


def _value(space: SearchSpace, name: str, raw: Any) -> Value:
    param = _param(space, name)
    if isinstance(param, ChoiceParam) and param.kind == "ordinal":
        return param.choices[int(raw)]
    return param.validate(raw)


def tpe(
    space: SearchSpace,
    objective: Objective,
    trace: Trace,
    seed: int,
    tuned: list[str],
    held: Mapping[str, Value] | None = None,
    until_s: float | None = None,
) -> None:
    """TPE over `tuned` with the other hyperparameters at `held`, until `until_s` (default: the budget)."""
    distributions = {name: _distribution(space, name) for name in tuned}
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
    while trace.left(until_s):
        trial = study.ask(distributions)
        config = {**(held or {}), **{name: _value(space, name, trial.params[name]) for name in tuned}}
        study.tell(trial, trace.run(objective, {name: config[name] for name in space.names}))


def tpe_all(space: SearchSpace, objective: Objective, budget_s: float, seed: int) -> Trace:
    trace = Trace(budget_s)
    tpe(space, objective, trace, seed, list(space.names))
    return trace


def pooled_ranking(space: SearchSpace, trace: Trace) -> RankingGroup:
    """The product's ranking of these trials (its defaults), pooled over datasets as the analyst stores it."""
    records = [
        {"dataset": DATASET, "status": "completed", "test_accuracy": accuracy, **config}
        for config, accuracy in zip(trace.configs, trace.accuracy, strict=True)
    ]
    return rank(records, metric="test_accuracy", space=space, by="dataset").rankings["pooled"]


@dataclass(frozen=True)
class Guided:
    """Importance-guided tuning: `explore` random trials, then the top `top` (None: all mattering), in groups."""

    explore: int
    top: int | None = None
    group_size: int | None = None

    @property
    def label(self) -> str:
        how = f"top {self.top}" if self.top else f"groups of {self.group_size}"
        return f"tune {how}, E={self.explore}"

    def __call__(self, space: SearchSpace, objective: Objective, budget_s: float, seed: int) -> Trace:
        trace = Trace(budget_s)
        for config in sample_configs(space, self.explore, "random", seed * 1_000 + 999):
            trace.run(objective, config)
        scored = [ScoredTrial(i, c, a) for i, (c, a) in enumerate(zip(trace.configs, trace.accuracy, strict=True))]
        try:
            plan = plan_tune(pooled_ranking(space, trace), best_trial(scored, "maximize"), self.top, self.group_size)
        except NothingToTune as err:
            # The product would refuse to plan; the benchmark spends the rest on TPE over everything.
            trace.notes.update(tuned=[], fallback=str(err))
            tpe(space, objective, trace, seed, list(space.names))
            return trace
        trace.notes.update(tuned=plan.tuned, groups=plan.groups)
        for done, group in enumerate(plan.groups):
            share = (budget_s - trace.spent) / (len(plan.groups) - done)
            # The untuned stay at the plan's held values; earlier groups at the best config found so far.
            incumbent = {**trace.best_config(), **plan.held}
            held = {name: value for name, value in incumbent.items() if name not in group}
            tpe(space, objective, trace, seed + done, group, held, until_s=trace.spent + share)
        return trace
