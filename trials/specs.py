"""Sweep, trial and result records: validated on the way in, JSON on the wire."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from trials.datasets import check_dataset_name
from trials.errors import SpecError, SweeprankError
from trials.presets import preset
from trials.space import SearchSpace, Value


class TrialStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    DIVERGED = "diverged"
    FAILED = "failed"
    TIMEOUT = "timeout"
    CANCELLED = "cancelled"

    @property
    def final(self) -> bool:
        return self not in (TrialStatus.QUEUED, TrialStatus.RUNNING)


NAME_PATTERN = r"^[A-Za-z0-9_.-]{1,64}$"  # a member's (and so a sweep owner's) name


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


METRICS = ("test_accuracy", "best_val_accuracy", "final_train_loss")


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TrialLimits(_Record):
    """Per-trial limits; the soft limit ends a trial as `timeout`, keeping its curve."""

    soft_time_limit_s: float = Field(default=1800.0, gt=0, le=7 * 24 * 3600)
    hard_time_limit_s: float = Field(default=1860.0, gt=0, le=7 * 24 * 3600)
    max_attempts: int = Field(default=3, ge=1, le=10)

    @model_validator(mode="after")
    def _soft_below_hard(self) -> TrialLimits:
        if self.soft_time_limit_s >= self.hard_time_limit_s:
            raise ValueError(
                f"soft_time_limit_s ({self.soft_time_limit_s}) must be < hard_time_limit_s ({self.hard_time_limit_s})"
            )
        return self


class SweepSpec(_Record):
    """What a member asks for. `space` is a preset name or a space mapping; `narrow` shrinks it."""

    owner: str = Field(pattern=NAME_PATTERN)
    name: str = Field(min_length=1, max_length=100)
    datasets: list[str] = Field(min_length=1, max_length=10)
    space: str | dict[str, Any] = "cnn-paper"
    narrow: dict[str, dict[str, Any]] = Field(default_factory=dict)
    n_trials: int = Field(ge=1, le=100_000)
    sampler: Literal["random", "sobol", "lhs", "grid"] = "random"
    seed: int = Field(default=0, ge=0, le=2**32 - 1)
    metric: Literal["test_accuracy", "best_val_accuracy", "final_train_loss"] = "test_accuracy"
    direction: Literal["maximize", "minimize"] = "maximize"
    max_train_examples: int | None = Field(default=None, ge=10, le=10_000_000)
    max_test_examples: int | None = Field(default=None, ge=10, le=10_000_000)
    limits: TrialLimits = Field(default_factory=TrialLimits)
    priority: int = Field(default=5, ge=0, le=9, description="higher runs first")
    stop_when_stable: bool = False
    stability_window: int = Field(default=50, ge=5, le=100_000)
    importance_method: Literal["fixed-scale", "paper"] = Field(
        default="fixed-scale",
        description="fixed-scale: N-RReliefF whose answer does not drift with the trial count (default); "
        "paper: the paper-exact fixed-k N-RReliefF, whose discrete hyperparameters fade as trials grow",
    )
    device_class: Literal["cpu", "gpu"] = "cpu"

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
        self.search_space()
        return self

    def search_space(self) -> SearchSpace:
        base = preset(self.space) if isinstance(self.space, str) else SearchSpace.from_dict(self.space)
        return base.narrow(self.narrow)


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
    def key(self) -> str:
        return f"{self.sweep_id}:{self.trial_id}:{self.attempt}"


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
        super().__init__("; ".join(f"{f}: {m}" for f, m in errors))
        self.errors = errors


def parse_sweep_spec(raw: object) -> SweepSpec:
    """Validate a submitted mapping; every problem is reported with its field."""
    try:
        return SweepSpec.model_validate(raw)
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
