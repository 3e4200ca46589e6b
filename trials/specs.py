"""Sweep, trial and result records: validated on the way in, JSON on the wire."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal, TypeVar, cast

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    ValidationError,
    field_validator,
    model_validator,
)

from importance.config import DEFAULT_METHOD, Method, RankingConfig, default_of, description_of
from trials.datasets import check_dataset_name
from trials.errors import SpecError, SweeprankError
from trials.presets import preset
from trials.samplers import MODEL_SAMPLERS, SAMPLERS, ModelSamplerName, SamplerName, sampler_summary
from trials.space import SearchSpace, Value
from trials.untrusted import check_plain, short


class TrialStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    DIVERGED = "diverged"
    FAILED = "failed"
    TIMEOUT = "timeout"
    CANCELLED = "cancelled"
    PRUNED = "pruned"  # stopped early by the sweep's pruner: its curve is kept, it is not ranked

    @property
    def final(self) -> bool:
        return self not in (TrialStatus.QUEUED, TrialStatus.RUNNING)


NAME_PATTERN = r"^[A-Za-z0-9_.-]{1,64}$"  # a member's (and so a sweep owner's) name
SWEEP_ID_PATTERN = r"^sw[0-9]{1,18}$"  # what the store hands out: anything else names no sweep


def is_sweep_id(text: str) -> bool:
    """Whether `text` could name a sweep; checked before it becomes part of any Redis key."""
    return re.fullmatch(SWEEP_ID_PATTERN, text) is not None


@dataclass(frozen=True)
class TrialKey:
    """Names one attempt of one trial, as `sweep:trial:attempt` in the in-flight sets."""

    sweep_id: str
    trial_id: int
    attempt: int

    @classmethod
    def parse(cls, text: str) -> TrialKey:
        """The key written as `text`; ValueError for anything `str(key)` could not have written."""
        parts = text.split(":")
        if len(parts) != 3 or not is_sweep_id(parts[0]) or not all(p.isascii() and p.isdigit() for p in parts[1:]):
            raise ValueError(f"not a trial key (sweep:trial:attempt): {short(text, 80)!r}")
        key = cls(parts[0], int(parts[1]), int(parts[2]))
        if key.attempt < 1:
            raise ValueError(f"not a trial key (attempts count from 1): {short(text, 80)!r}")
        return key

    def __str__(self) -> str:
        return f"{self.sweep_id}:{self.trial_id}:{self.attempt}"


class SweepStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    PAUSED = "paused"
    CANCELLED = "cancelled"
    COMPLETED = "completed"
    STOPPED_STABLE = "stopped_stable"
    FAILED = "failed"  # every trial ended and none completed (failed, diverged or timed out)

    @property
    def final(self) -> bool:
        return self in (SweepStatus.CANCELLED, SweepStatus.COMPLETED, SweepStatus.STOPPED_STABLE, SweepStatus.FAILED)

    @property
    def stopping(self) -> bool:
        """Ended early: trials still running must stop at their next epoch."""
        return self in (SweepStatus.CANCELLED, SweepStatus.STOPPED_STABLE)


#: A sequential-tuning chain goes on from a sweep that ended one of these ways; cancelled or failed, it stops there.
CONTINUES_CHAIN = (SweepStatus.COMPLETED, SweepStatus.STOPPED_STABLE)

METRICS = ("test_accuracy", "best_val_accuracy", "final_train_loss")


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid")


R = TypeVar("R", bound=_Record)


class TrialLimits(_Record):
    """Per-trial limits; the soft limit ends a trial as `timeout`, keeping its curve."""

    soft_time_limit_s: float = Field(default=1800.0, gt=0, le=7 * 24 * 3600)
    hard_time_limit_s: float = Field(default=1860.0, gt=0, le=7 * 24 * 3600)
    max_attempts: StrictInt = Field(default=3, ge=1, le=10)

    @model_validator(mode="after")
    def _soft_below_hard(self) -> TrialLimits:
        if self.soft_time_limit_s >= self.hard_time_limit_s:
            raise ValueError(
                f"soft_time_limit_s ({self.soft_time_limit_s}) must be < hard_time_limit_s ({self.hard_time_limit_s})"
            )
        return self


class TuneRequest(_Record):
    """`sweeprank tune` / POST /api/sweeps/ID/tune: a follow-up sweep of what matters (broker/tuning/rule.py)."""

    top: StrictInt | None = Field(
        default=None, ge=1, le=100, description="tune at most this many (default: all that matter)"
    )
    trials: StrictInt | None = Field(default=None, ge=1, le=100_000, description="trials of the tune sweep")
    sampler: ModelSamplerName = "tpe"
    pruner: Literal["none", "median", "successive_halving"] = "none"
    sequential: StrictBool = Field(
        default=False, description="tune groups in turn, each group's best held for the next"
    )
    group_size: StrictInt | None = Field(default=None, ge=1, le=100)
    trials_per_group: StrictInt | None = Field(default=None, ge=1, le=100_000)
    seed: StrictInt | None = Field(default=None, ge=0, le=2**32 - 1, description="default: the parent's")

    @model_validator(mode="after")
    def _sizes_given(self) -> TuneRequest:
        if self.sequential:
            if self.group_size is None or self.trials_per_group is None:
                raise SpecError("sequential", "needs group_size and trials_per_group")
            if self.trials is not None:
                raise SpecError("trials", "a sequential chain takes trials_per_group instead")
        else:
            if self.trials is None:
                raise SpecError("trials", "is required (how many trials the tune sweep runs)")
            if self.group_size is not None or self.trials_per_group is not None:
                raise SpecError("group_size", "group_size and trials_per_group need sequential")
        return self

    @property
    def n_trials(self) -> int:
        n = self.trials_per_group if self.sequential else self.trials
        assert n is not None  # _sizes_given
        return n


class TuneOrigin(_Record):
    """Where a tune sweep comes from (`sweeprank tune`, broker/tuning/): what it tunes and holds, and its chain."""

    parent: str = Field(pattern=SWEEP_ID_PATTERN)  # the sweep whose ranking (or, in a chain, whose best) it starts from
    tuned: list[str] = Field(min_length=1)  # what this sweep varies, most important first
    held_from_trial: int  # the parent's best trial, whose values the held hyperparameters take
    request: TuneRequest  # what was asked: a chain's later groups are made with it
    # Sequential grouping: every group of the chain in order, and this sweep's index.
    groups: list[list[str]] = Field(default_factory=list)
    group: int = 0
    chain_root: str | None = None  # the chain's first sweep; None for the first and for a single tune sweep

    @property
    def next_group(self) -> list[str] | None:
        return self.groups[self.group + 1] if self.group + 1 < len(self.groups) else None


class SweepSpec(_Record):
    """What a member asks for. `space` is a preset name or a space mapping; `narrow` shrinks it."""

    owner: str = Field(pattern=NAME_PATTERN)
    name: str = Field(min_length=1, max_length=100)
    datasets: list[str] = Field(min_length=1, max_length=10)
    space: str | dict[str, Any] = "cnn-paper"
    narrow: dict[str, dict[str, Any]] = Field(default_factory=dict)
    n_trials: StrictInt = Field(ge=1, le=100_000)
    sampler: SamplerName = Field(default="random", description=sampler_summary())
    fixed: dict[str, Value] = Field(
        default_factory=dict, description="hyperparameters held at one value: every trial gets it, none varies it"
    )
    pruner: Literal["none", "median", "successive_halving"] = Field(
        default="none",
        description=f"stop hopeless trials early ({', '.join(MODEL_SAMPLERS)} only); a pruned trial is not ranked",
    )
    tune: TuneOrigin | None = None
    seed: StrictInt = Field(default=0, ge=0, le=2**32 - 1)
    metric: Literal["test_accuracy", "best_val_accuracy", "final_train_loss"] = "test_accuracy"
    direction: Literal["maximize", "minimize"] = "maximize"
    max_train_examples: StrictInt | None = Field(default=None, ge=10, le=10_000_000)
    max_test_examples: StrictInt | None = Field(default=None, ge=10, le=10_000_000)
    limits: TrialLimits = Field(default_factory=TrialLimits)
    priority: StrictInt = Field(default=5, ge=0, le=9, description="higher runs first")
    stop_when_stable: StrictBool = False
    stability_window: StrictInt = Field(
        default=cast(int, default_of("window")), ge=5, le=100_000, description=description_of("window")
    )
    importance_method: Method = Field(default=DEFAULT_METHOD, description=description_of("method"))
    effect_delta: float | None = Field(default=None, gt=0, allow_inf_nan=False, description=description_of("delta"))
    device_class: Literal["cpu", "gpu"] = "cpu"

    def ranking_config(self, base: RankingConfig | None = None) -> RankingConfig:
        """The analyst's ranking parameters with what this sweep chose (method, window, delta)."""
        chosen = {"method": self.importance_method, "window": self.stability_window, "delta": self.effect_delta}
        return (base or RankingConfig()).model_copy(update=chosen)

    @field_validator("datasets")
    @classmethod
    def _known_datasets(cls, names: list[str]) -> list[str]:
        for name in names:
            check_dataset_name(name)
        if len(set(names)) != len(names):
            raise ValueError(f"datasets must be distinct, got {names}")
        return names

    @model_validator(mode="after")
    def _space_resolves(self) -> SweepSpec:
        space = self.search_space()
        if (check := SAMPLERS[self.sampler].check) is not None:
            check(space, self.n_trials)
        if self.pruner != "none" and not self.model_based:
            raise SpecError("pruner", f"needs a model-based sampler {list(MODEL_SAMPLERS)}, got {self.sampler!r}")
        return self

    @property
    def model_based(self) -> bool:
        return SAMPLERS[self.sampler].model_based

    def full_space(self) -> SearchSpace:
        """The declared space with `narrow` applied, held hyperparameters included."""
        base = preset(self.space) if isinstance(self.space, str) else SearchSpace.from_dict(self.space)
        return base.narrow(self.narrow)

    def search_space(self) -> SearchSpace:
        """What the sweep varies (and ranks): the full space without the held hyperparameters."""
        full = self.full_space()
        if not self.fixed:
            return full
        held = full.validate_subset(self.fixed, "fixed")
        varied = tuple(p for p in full.params if p.name not in held)
        if not varied:
            raise SpecError("fixed", "holds every hyperparameter: at least one must vary")
        return SearchSpace(varied)

    def trial_seed(self, trial_id: int) -> int:
        """The training seed of one trial (and of the sampler that asks its config)."""
        return self.seed * 1_000_003 + trial_id

    def with_held(self, config: dict[str, Value]) -> dict[str, Value]:
        """A sampled config completed with the held values: what a trainer trains."""
        return {**config, **self.full_space().validate_subset(self.fixed, "fixed")}


class TrialSpec(_Record):
    """One unit of work, keyed (sweep_id, trial_id, attempt)."""

    sweep_id: str
    trial_id: int
    attempt: int = 1
    dataset: str
    config: dict[str, Value]
    seed: int
    max_train_examples: int | None = None
    max_test_examples: int | None = None
    limits: TrialLimits = Field(default_factory=TrialLimits)

    @property
    def key(self) -> TrialKey:
        return TrialKey(self.sweep_id, self.trial_id, self.attempt)


class EpochMetrics(_Record):
    sweep_id: str
    trial_id: int
    attempt: int
    epoch: int
    train_loss: float
    val_accuracy: float
    seconds: float


class TrialResult(_Record):
    """The final word on one attempt of a trial."""

    sweep_id: str
    trial_id: int
    attempt: int
    dataset: str
    config: dict[str, Value]
    status: TrialStatus
    test_accuracy: float | None = None
    best_val_accuracy: float | None = None
    final_train_loss: float | None = None
    epochs_completed: int = 0
    n_params: int | None = None
    wall_time_s: float = 0.0
    device: str = ""
    worker: str = ""
    error: str = ""

    @classmethod
    def of(cls, spec: TrialSpec, status: TrialStatus, **fields: Any) -> TrialResult:
        """The result of this attempt of `spec`, with the given status and fields."""
        return cls(
            sweep_id=spec.sweep_id,
            trial_id=spec.trial_id,
            attempt=spec.attempt,
            dataset=spec.dataset,
            config=spec.config,
            status=status,
            **fields,
        )

    def metric(self, name: str) -> float | None:
        value = getattr(self, name)
        return None if value is None else float(value)


class SpecInvalid(SweeprankError):
    """A spec with one or more field errors, each (field, message)."""

    def __init__(self, errors: list[tuple[str, str]]) -> None:
        # A message may quote what a member sent: echo a bounded part of it, never all.
        errors = [(short(f, 100), short(m)) for f, m in errors[:20]]
        super().__init__("; ".join(f"{f}: {m}" for f, m in errors))
        self.errors = errors


#: Set only by the server (POST /api/sweeps/ID/tune, `sweeprank tune`, a chain's next group): a member's
#: spec naming them could graft itself onto someone else's lineage or chain (issue 18, findings 1 and 2).
SERVER_FIELDS = ("tune",)
SERVER_FIELD_MESSAGE = "is set by the server when it creates a tune sweep (sweeprank tune), never by a submitted spec"


def member_field_problems(raw: object) -> list[tuple[str, str]]:
    """The fields of a submitted mapping that only the server may set, each as a (field, message) problem."""
    if not isinstance(raw, dict):
        return []
    return [(name, SERVER_FIELD_MESSAGE) for name in SERVER_FIELDS if name in raw]


def parse_sweep_spec(raw: object) -> SweepSpec:
    """Validate a member's submitted mapping; every problem is reported with its field.

    Refused rather than stripped: a spec copied from a tune sweep would otherwise be accepted as a plain
    sweep without a word, and the member would not know that its lineage was dropped.
    """
    if problems := member_field_problems(raw):
        raise SpecInvalid(problems)
    return parse_fields(SweepSpec, raw)


def parse_tune_request(raw: object) -> TuneRequest:
    return parse_fields(TuneRequest, raw)


def parse_fields(model: type[R], raw: object) -> R:
    """Validate a mapping into `model`; SpecInvalid names each problem's field."""
    try:
        check_plain(raw)
    except SpecError as err:
        raise SpecInvalid([(err.field or "spec", err.message)]) from None
    try:
        return model.model_validate(raw)
    except ValidationError as err:
        problems = []
        for item in err.errors():
            cause = item.get("ctx", {}).get("error")
            if isinstance(cause, SpecError):
                problems.append((cause.field or "spec", cause.message))
            else:
                where = ".".join(str(part) for part in item["loc"]) or "spec"
                problems.append((where, item["msg"].removeprefix("Value error, ")))
        raise SpecInvalid(problems) from None
