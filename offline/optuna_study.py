"""Optuna studies as sweeprank sees them, and the storages that hold them.

Reading (`study_table`): COMPLETE trials become trial rows in trial-number order
(their arrival order); every other state is counted, never ranked. The search
space comes from the trials' distributions:

- FloatDistribution -> float, IntDistribution -> int (log kept; a step only
  narrows which values occur, the distance is still their unit position);
- CategoricalDistribution whose choices are all numbers -> ordinal, choices
  sorted (Optuna has no ordinal type: `suggest_categorical("batch_size", [32,
  64])` is ordered, and N-RReliefF's 0/1 categorical diff would undervalue it);
  any other -> categorical (choices that are not numbers or strings, such as
  None or booleans, are compared by their text).

A multi-objective study ranked without a chosen objective (no `--objective`, no `target=`)
ranks each COMPLETE trial's Pareto front (its non-domination rank: 0 for the non-dominated
trials, 1 for those dominated only by them...; lower is better), the way Optuna's own
multi-objective-capable evaluator (PED-ANOVA) picks the good trials of such a study, the same in
the evaluator, `rank(study)` and the CLI.

A parameter whose distribution differs between trials (Optuna's dynamic
spaces) gets the union: the widest bounds or all choices. A parameter absent
from a trial is left out of that trial's config: "not applicable" (conditional).

Writing, the inverse (a space as distributions): trials/optuna_space.py.

Storages (`storage_for`): an RDB URL (sqlite:///path, postgresql://..., mysql://...)
as Optuna takes it; a journal file as `journal:///abs/path`, `journal:rel/path`, or a
bare path ending in .log/.journal; a bare path ending in .db/.sqlite/.sqlite3 is SQLite.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from trials.encoding import COMPLETED, TrialRow
from trials.errors import SpecError
from trials.space import ChoiceParam, NumericParam, Param, SearchSpace, Value

if TYPE_CHECKING:
    from optuna.distributions import BaseDistribution
    from optuna.storages import BaseStorage
    from optuna.study import Study
    from optuna.trial import FrozenTrial


JOURNAL_SCHEME = "journal:"
JOURNAL_SUFFIXES = (".log", ".journal")
SQLITE_SUFFIXES = (".db", ".sqlite", ".sqlite3")
# Optuna's trial states other than COMPLETE, as sweeprank counts them (the status of an excluded row).
STATE_WORDS = {"PRUNED": "pruned", "FAIL": "failed", "RUNNING": "running", "WAITING": "waiting"}
STUDY_STATES = tuple(STATE_WORDS.values())
PARETO_METRIC = "pareto_front"  # the metric of a multi-objective study ranked as a whole


# ---------------------------------------------------------------- storages


def _journal_path(ref: str) -> Path | None:
    if ref.startswith(JOURNAL_SCHEME):
        rest = ref[len(JOURNAL_SCHEME) :]
        return Path(rest[2:] if rest.startswith("//") else rest)
    if "://" not in ref and ref.endswith(JOURNAL_SUFFIXES):
        return Path(ref)
    return None


def _starts_as_a_journal(path: Path) -> bool:
    """Whether the file is empty or its first line is a JSON object, as every journal record is.

    Optuna skips a last line it cannot read (a record being written), so a one-line file of anything
    else would pass for an empty journal.
    """
    try:
        with path.open("rb") as journal:
            first = journal.readline(1 << 20)
    except OSError:
        return True  # not there yet (a journal to write): Optuna creates it
    if not first.strip():
        return True
    try:
        return isinstance(json.loads(first), dict)
    except ValueError:
        return False


def storage_for(ref: str, *, must_exist: bool) -> str | BaseStorage:
    """The Optuna storage `ref` names (see the module docstring); `must_exist` refuses a missing file.

    Without `must_exist`, Optuna would create an empty database or journal where a
    reader only mistyped a path.
    """
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    journal = _journal_path(ref)
    if journal is not None:
        if must_exist and not journal.is_file():
            raise SpecError(ref, f"no journal file at {journal}")
        not_a_journal = SpecError(ref, f"{journal} is not an Optuna journal (a line is not a journal record)")
        if not _starts_as_a_journal(journal):
            raise not_a_journal
        try:  # the storage replays the journal as it opens it
            return JournalStorage(JournalFileBackend(str(journal)))
        except ValueError:  # a later line that is not JSON (json.JSONDecodeError)
            raise not_a_journal from None
    if "://" not in ref:
        if not ref.endswith(SQLITE_SUFFIXES):
            raise SpecError(
                ref,
                "is neither a storage URL (sqlite:///path, postgresql://..., journal:///path) "
                f"nor a file ending in {[*SQLITE_SUFFIXES, *JOURNAL_SUFFIXES]}",
            )
        ref = f"sqlite:///{Path(ref).resolve()}"
    if must_exist and ref.startswith("sqlite:///"):
        path = Path(ref[len("sqlite:///") :])
        if not path.is_file():
            raise SpecError(ref, f"no SQLite file at {path}")
    return ref


def load_study(ref: str, study_name: str | None) -> Study:
    """An existing study; without a name, the storage's only study. Errors list the names it holds."""
    import optuna

    storage = storage_for(ref, must_exist=True)
    names = optuna.study.get_all_study_names(storage)
    if study_name is None:
        if len(names) != 1:
            raise SpecError("--study", f"{ref} holds {len(names)} studies {names}: name one")
        study_name = names[0]
    if study_name not in names:
        raise SpecError("--study", f"{ref} has no study {study_name!r}; it holds {names}")
    return optuna.load_study(study_name=study_name, storage=storage)


# ---------------------------------------------------------------- distributions -> space


def _plain_choice(choice: object) -> Value:
    if isinstance(choice, (int, float, str)) and not isinstance(choice, bool):
        return choice
    return str(choice)


def param_from_distributions(name: str, distributions: Iterable[BaseDistribution]) -> Param:
    """One hyperparameter from every distribution a study used for it (their union)."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    found = list(distributions)
    kinds = {type(d).__name__ for d in found}
    if len(kinds) != 1:
        raise SpecError(name, f"has distributions of different kinds across trials: {sorted(kinds)}")
    categorical = [d for d in found if isinstance(d, CategoricalDistribution)]
    if categorical:
        raw = list(dict.fromkeys(c for d in categorical for c in d.choices))
        numbers = [c for c in raw if isinstance(c, (int, float)) and not isinstance(c, bool)]
        if len(numbers) == len(raw):
            return ChoiceParam(name, "ordinal", tuple(sorted(numbers)))
        return ChoiceParam(name, "categorical", tuple(dict.fromkeys(map(_plain_choice, raw))))
    floats = [d for d in found if isinstance(d, FloatDistribution)]
    ints = [d for d in found if isinstance(d, IntDistribution)]
    numeric: list[FloatDistribution] | list[IntDistribution] = floats or ints
    if not numeric:
        raise SpecError(name, f"has a distribution sweeprank cannot rank: {kinds.pop()}")
    logs = {d.log for d in numeric}
    if len(logs) != 1:
        raise SpecError(name, "is log-scaled in some trials and linear in others")
    low, high = min(d.low for d in numeric), max(d.high for d in numeric)
    return NumericParam(name, "float" if floats else "int", low, high, log=logs.pop())


def space_of(trials: Iterable[FrozenTrial], params: list[str] | None = None) -> SearchSpace:
    """The space of the given trials: every parameter any of them has (or `params`), sorted by name."""
    seen: dict[str, list[BaseDistribution]] = {}
    for trial in trials:
        for name, dist in trial.distributions.items():
            seen.setdefault(name, []).append(dist)
    if params is not None:
        missing = [p for p in params if p not in seen]
        if missing:
            raise SpecError("params", f"{missing} appear in no completed trial; the study has {sorted(seen)}")
        names = list(params)
    else:
        names = sorted(seen)
    if not names:
        raise SpecError("params", "no completed trial has any parameter")
    return SearchSpace(tuple(param_from_distributions(n, seen[n]) for n in names))


# ---------------------------------------------------------------- study -> rows


@dataclass
class StudyTable:
    """A study's trials as sweeprank ranks them."""

    study_name: str
    space: SearchSpace
    rows: list[TrialRow]  # every trial by number; only COMPLETE ones carry a config and a value
    maximize: bool
    metric: str
    states: Counter[str] = field(default_factory=Counter)  # STATE_WORDS of the trials not ranked -> count
    # The COMPLETE trials' own params and distributions by trial id, for Optuna's evaluators (--compare).
    native: dict[str, tuple[dict[str, object], dict[str, BaseDistribution]]] = field(default_factory=dict)


def _config(space: SearchSpace, trial: FrozenTrial) -> dict[str, object]:
    """The trial's values in sweeprank's terms; a parameter it lacks stays absent (not applicable)."""
    config: dict[str, object] = {}
    for param in space.params:
        if param.name in trial.params:
            value = trial.params[param.name]
            config[param.name] = _plain_choice(value) if isinstance(param, ChoiceParam) else value
    return config


def _pareto_front(study: Study, complete: list[FrozenTrial]) -> Callable[[FrozenTrial], float]:
    """Each COMPLETE trial's non-domination rank, by the study's directions (0 = on the Pareto front)."""
    import numpy as np
    from optuna.study import StudyDirection
    from optuna.study._multi_objective import _fast_non_domination_rank

    signs = np.array([-1.0 if d == StudyDirection.MAXIMIZE else 1.0 for d in study.directions])
    losses = np.array([t.values for t in complete], dtype=float).reshape(len(complete), len(signs)) * signs
    finite = np.isfinite(losses).all(axis=1)
    ranks = np.full(len(complete), math.nan)
    if finite.any():
        ranks[finite] = _fast_non_domination_rank(losses[finite])
    front = {t.number: float(r) for t, r in zip(complete, ranks, strict=True)}

    def value(trial: FrozenTrial) -> float:
        return front[trial.number]

    return value


def _objective(
    study: Study, objective: int | None, complete: list[FrozenTrial]
) -> tuple[Callable[[FrozenTrial], float], bool, str]:
    """The value to rank, whether higher is better, and its name, for objective `objective`.

    None: the only objective, or the Pareto front of a multi-objective study (module docstring).
    """
    from optuna.study import StudyDirection

    directions = study.directions
    if objective is None:
        if len(directions) > 1:
            return _pareto_front(study, complete), False, PARETO_METRIC
        objective = 0
    if not 0 <= objective < len(directions):
        raise SpecError(
            "--objective",
            f"must be 0..{len(directions) - 1}: the study has {len(directions)} objective(s), got {objective}",
        )
    maximize = directions[objective] == StudyDirection.MAXIMIZE
    name = "value" if len(directions) == 1 else f"values_{objective}"

    def value(trial: FrozenTrial) -> float:
        return float(trial.values[objective])

    return value, maximize, name


def _user_attr(metric: str) -> Callable[[FrozenTrial], float]:
    def value(trial: FrozenTrial) -> float:
        raw = trial.user_attrs.get(metric)
        return float(raw) if isinstance(raw, (int, float)) and not isinstance(raw, bool) else math.nan

    return value


def study_table(
    study: Study,
    *,
    params: list[str] | None = None,
    target: Callable[[FrozenTrial], float] | None = None,
    objective: int | None = None,
    metric: str | None = None,
    maximize: bool = True,
    group: str = "",
    by: str | None = None,
) -> StudyTable:
    """Every trial as a row, only COMPLETE ones with a config and value; the others only count by state.

    The value is `target(trial)`, else user attribute `metric`, else objective number `objective`
    (None: the only one, or the Pareto front of a multi-objective study).
    The study's direction applies to its objectives; `maximize` to a target or a user attribute.
    Rows are in group `group`, or in the group their user attribute `by` names.
    """
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    if target is not None:
        value, name = target, "target"
    elif metric is not None:
        value, name = _user_attr(metric), metric
    else:
        value, maximize, name = _objective(study, objective, complete)
    space = space_of(complete, params)
    rows = []
    for trial in trials:
        where = str(trial.user_attrs.get(by, "")) if by else group
        if trial.state == TrialState.COMPLETE:
            rows.append(TrialRow(str(trial.number), _config(space, trial), value(trial), COMPLETED, where))
        else:
            rows.append(TrialRow(str(trial.number), {}, None, STATE_WORDS[trial.state.name], where))
    states = Counter(row.status for row in rows if row.status != COMPLETED)
    native = {str(t.number): (dict(t.params), dict(t.distributions)) for t in complete}
    return StudyTable(study.study_name, space, rows, maximize, name, states, native)
