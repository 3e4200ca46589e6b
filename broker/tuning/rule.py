"""From a ranking to the next sweep: what to tune, what to hold, in which groups.

The rule (docs/architecture.md, "Tune what matters"):
- tune only the hyperparameters whose verdict is `matters` in the parent's pooled ranking, most
  important first, at most `top` of them;
- hold every other hyperparameter at its value in the parent's best trial: the completed trial
  with the best value of the parent's metric (ties: the earliest trial), over all its datasets;
- sequential grouping splits the tuned list, in that order, into groups of `group_size`: group 1
  is tuned with the rest held; then group 1 is held at the best values found, group 2 is tuned,
  and so on.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from trials.errors import SweeprankError
from trials.records import RankingGroup
from trials.space import Value

MATTERS = "matters"


class NothingToTune(SweeprankError):
    """The ranking names no hyperparameter to tune, or the sweep has no completed trial to start from."""


@dataclass(frozen=True)
class ScoredTrial:
    trial_id: int
    config: Mapping[str, Value]
    value: float


def tuned_order(group: RankingGroup) -> list[str]:
    """The hyperparameters whose verdict is `matters`, most important first."""
    if all(row.verdict is None for row in group.rows):
        raise NothingToTune(
            f"the ranking of {group.n_trials} trials has no verdicts yet; tune once the significance test has run"
        )
    mattering = group.with_verdict(MATTERS)
    if not mattering:
        raise NothingToTune(
            f"no hyperparameter was found to matter in {group.n_trials} trials "
            f"({group.verdict_note or 'see the verdicts'}); there is nothing to tune"
        )
    return mattering


def best_trial(trials: Iterable[ScoredTrial], direction: Literal["maximize", "minimize"]) -> ScoredTrial:
    """The best completed trial; ties go to the earliest."""
    sign = -1.0 if direction == "maximize" else 1.0
    ranked = sorted(trials, key=lambda t: (sign * t.value, t.trial_id))
    if not ranked:
        raise NothingToTune("the sweep has no completed trial with a metric value to start from")
    return ranked[0]


@dataclass(frozen=True)
class TunePlan:
    """What a follow-up sweep varies (in importance order) and what it holds, as groups to tune in turn."""

    groups: list[list[str]]
    held: dict[str, Value]
    best_trial_id: int

    @property
    def tuned(self) -> list[str]:
        return [name for group in self.groups for name in group]


def plan_tune(
    group: RankingGroup, best: ScoredTrial, top: int | None = None, group_size: int | None = None
) -> TunePlan:
    """Tune the top `top` (default: all) mattering hyperparameters, in groups of `group_size` (default: one group)."""
    if top is not None and top < 1:
        raise ValueError(f"top must be >= 1, got {top}")
    if group_size is not None and group_size < 1:
        raise ValueError(f"group_size must be >= 1, got {group_size}")
    tuned = tuned_order(group)[:top]
    size = group_size or len(tuned)
    groups = [tuned[i : i + size] for i in range(0, len(tuned), size)]
    held = {name: value for name, value in best.config.items() if name not in tuned}
    return TunePlan(groups, held, best.trial_id)
