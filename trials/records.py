"""Records that cross process and package boundaries, and the API bodies made of them.

- The ranking record (`RankingRecord`, one `RankingGroup` per dataset and "pooled") and its compact
  history entry (`RankingHistoryEntry`): written by the analyst, stored as JSON, served by the API,
  read by the pages, the exports and the CLI.
- The sweep record (`SweepRecord`): what the store knows of a sweep.
- The worker heartbeat (`WorkerInfo`, `WorkerRecord`) and the queue monitor's view of the pool
  (`QueueStatus`), which the CLI reads too.
- The sweep summary and the comparison with fANOVA / PED-ANOVA, as the API serves them.
- The heartbeats of the pool's services (`ServiceBeat`) and the health report (`Health`) built from them.

A group's ranking (`RankingGroup`, its rows, effects and interactions) is the schema the importance
engine returns (importance/ranking_record.py), re-exported here with the records that hold it.

Values that can be NaN (unknown) are null (`Number`). Fields added after records were first stored
(the history's `verdicts`; newer parameters) have defaults, so older stored records still load.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from importance.config import RankingConfig
from importance.ranking_record import (
    POOLED,
    Agreement,
    Effect,
    EffectLevel,
    HyperparameterRank,
    Interaction,
    LargestDifference,
    Number,
    RankingGroup,
    Record,
    Stability,
    Verdict,
)
from trials.space import Value
from trials.specs import SweepSpec, SweepStatus, TrialStatus

# --- the ranking record -------------------------------------------------------------


class RankingParameters(Record):
    """What a ranking was computed with: every parameter (importance.config), and the metric it ranked."""

    config: RankingConfig
    metric: str
    direction: Literal["maximize", "minimize"]

    @model_validator(mode="before")
    @classmethod
    def _from_flat(cls, data: Any) -> Any:
        """Records stored before `RankingConfig` named each parameter at the top level."""
        if not isinstance(data, dict) or "config" in data or "n_neighbors" not in data:
            return data
        # Before the method was recorded, N-RReliefF ran in one block of every trial: the paper method.
        method = data.get("importance_method") or ("paper" if data.get("block_size") is None else "fixed-scale")
        config = {
            "method": method,
            "k": data["n_neighbors"],
            "sigma": data["sigma"],
            "bootstrap": data["n_bootstrap"],
            "seed": data["random_state"],
            "delta": data.get("effect_delta"),
        }
        config |= {"block_size": data["block_size"]} if data.get("block_size") else {}
        config |= {"permutations": data["n_permutations"]} if data.get("n_permutations") is not None else {}
        return {"config": config, "metric": data["metric"], "direction": data["direction"]}


class RankedTrials(Record):
    """The trials a ranking saw: the first `first` entries of the Redis list `arrival_list`."""

    arrival_list: str
    first: int


class RankingRecord(Record):
    """The latest ranking of a sweep: every dataset's group, then "pooled"."""

    method: str
    parameters: RankingParameters
    n_results: int
    n_trials: int
    trials: RankedTrials
    excluded: dict[str, int]
    time: float
    groups: dict[str, RankingGroup]

    @property
    def pooled(self) -> RankingGroup:
        return self.groups[POOLED]


class RankingHistoryEntry(Record):
    """One point of a sweep's ranking trajectory: the pooled group, compact."""

    n_trials: int
    time: float
    names: list[str]
    importances: list[Number]
    ci_low: list[Number]
    ci_high: list[Number]
    verdicts: list[Verdict] | None = None
    stable_since: int | None
    # Set on the first entry an analyst stores after a (re)start that folded in results stored while no analyst
    # ranked: the time the last analyst was last seen (or, never seen, the previous entry's time). The trajectory
    # breaks its lines before such an entry instead of drawing a straight line across the gap.
    resumed_after_pause_since: float | None = None


# --- sweeps -------------------------------------------------------------------------


class SweepRecord(Record):
    """A sweep as the store holds it; `space` is the resolved search space's mapping (SearchSpace.to_dict)."""

    id: str
    owner: str
    name: str
    status: SweepStatus
    priority: int
    device_class: Literal["cpu", "gpu"]
    n_trials: int
    n_final: int
    pending: int
    counts: dict[str, int]  # final trial status -> trials
    spec: SweepSpec
    space: dict[str, Any]
    stop_reason: str
    created: float
    ended: float | None = None
    sampler: str = "random"  # spec.sampler, at the top for lists and scripts
    parent: str | None = None  # a tune sweep's parent (spec.tune.parent)

    @property
    def config_names(self) -> list[str]:
        """Every hyperparameter its trials trained: the varied ones (the space's order), then those the sweep holds
        (a tune sweep's). The trials table's and the exports' config columns."""
        return [*self.space["parameters"], *self.spec.fixed]

    @model_validator(mode="before")
    @classmethod
    def _from_spec(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(spec := data.get("spec"), SweepSpec):
            return {"sampler": spec.sampler, "parent": spec.tune.parent if spec.tune else None, **data}
        return data


class BestResult(Record):
    metric: str
    value: float
    trial_id: int
    config: dict[str, Value]
    sweep_id: str | None = None  # set where bests of several sweeps meet (a chain's best)
    dataset: str | None = None


class BestPoint(Record):
    """The best-so-far curve where it improved: after `n` final results, which took `trainer_s` to train."""

    n: int
    trainer_s: float
    value: float
    trial_id: int
    sweep_id: str


class BestProgress(Record):
    """A sweep's (or a chain's) best so far against trials and against compute.

    Compute is trainer-seconds: the wall time of every final result (completed, pruned, failed, timed
    out), not of attempts lost to a dead worker, whose time is not reported.
    """

    best: BestResult | None
    points: list[BestPoint]  # one per improvement, in order
    n: int  # final results counted
    trainer_s: float


class Lineage(Record):
    """Where a sweep sits among tune sweeps: its parent, the tune sweeps started from it, and its chain."""

    parent: str | None
    children: list[str]
    chain: list[str]  # the sequential-tuning chain this sweep belongs to, in order; [] when none
    chain_progress: BestProgress | None = None  # best so far across the chain's sweeps, compute summed


class RankingPause(Record):
    """A sweep whose stored results wait for an analyst that is not running (webui/health.py)."""

    since: float | None  # the analyst's last beat; None when no analyst was ever seen
    analyst_age_s: float | None
    waiting: int  # final results stored but not in the latest ranking
    sentence: str


class SweepSummary(Record):
    """What the sweep list and the sweep page show: progress, ETA, best so far, top 3, stability, a reading."""

    id: str
    owner: str
    name: str
    status: SweepStatus
    final: bool
    n_trials: int
    n_final: int
    counts: dict[str, int]
    created: float
    stop_reason: str
    eta_s: float | None
    best: BestResult | None
    top: list[str]
    stability: Stability | None
    reading: str
    ranking_paused: RankingPause | None = None
    progress: BestProgress | None = None  # best so far against trials and trainer-seconds
    lineage: Lineage | None = None
    sampler: str = "random"
    tuned: list[str] | None = None  # a tune sweep's varied hyperparameters, most important first
    tunable: bool = False  # the ranking has settled and names something that matters: a tune button


# --- comparison with other importance methods ---------------------------------------


class MethodComparison(Record):
    importances: dict[str, float]
    kendall_tau: float | None  # against N-RReliefF; None when undefined


class ComparisonGroup(Record):
    """Either `methods` or, below the minimum number of trials, a `message`."""

    n_trials: int
    names: list[str]
    nrrelieff: dict[str, Number]
    message: str | None = None
    methods: dict[str, MethodComparison] | None = None


class Comparison(Record):
    sweep_id: str
    n_results: int
    ranking_time: float | None = None  # the time of the ranking record compared; names it with n_results
    groups: dict[str, ComparisonGroup]


class ComparisonState(Record):
    """The answer to a compare request: the comparison of the current ranking, or `computing` until it is stored."""

    status: Literal["done", "computing"]
    n_results: int
    comparison: Comparison | None = None


# --- workers and the queue ----------------------------------------------------------


class WorkerInfo(BaseModel):
    """What a trainer's heartbeat says about it."""

    # Heartbeats come from trainers on other hosts, maybe of another version: a field this
    # process does not know is ignored, so it never stops the dispatcher or the monitor.
    model_config = ConfigDict(extra="ignore", frozen=True)

    host: str = ""
    device: str = ""
    gpu: str = ""
    queues: list[str] = []
    slots: int = 1
    pid: int | None = None
    gpu_name: str | None = None
    gpu_memory_used_mib: int | None = None
    gpu_memory_total_mib: int | None = None
    # What the trainer can load from its own data roots (trials.datasets.prepared_datasets); None from
    # trainers older than the field, whose datasets are unknown.
    datasets: list[str] | None = None


class WorkerRecord(WorkerInfo):
    """A live worker: its heartbeat info, its name and the time of its last beat (unix s)."""

    name: str
    heartbeat: float


class RunningTrial(Record):
    sweep_id: str
    trial_id: int
    worker: str
    dataset: str
    epoch: int
    epochs: int | None
    started: float | None
    eta_s: float | None
    val_accuracy: float | None


class WorkerStatus(WorkerRecord):
    """A live worker as the queue monitor shows it."""

    age_s: float
    current: list[RunningTrial]
    done_last_hour: int


class FailureRecord(Record):
    sweep_id: str
    trial_id: int
    status: TrialStatus
    error: str
    worker: str
    time: float


class QueueStatus(Record):
    workers: list[WorkerStatus]
    queues: dict[str, int]
    inflight: dict[str, int]
    pending_by_owner: dict[str, int]
    running: list[RunningTrial]
    throughput_per_hour: int
    recent_failures: list[FailureRecord]
    counters: dict[str, int]
    time: float


# --- services and health ------------------------------------------------------------


class ServiceBeat(Record):
    """A long-running service's heartbeat (the analyst's): where it runs and how far it got."""

    pid: int
    host: str
    started_at: float
    beat: float  # unix time of this beat
    processed: int = 0  # result events this process has folded in and acknowledged
    last_event_id: str = ""  # the last result-stream id it acknowledged


class RedisHealth(Record):
    ok: bool
    pid: int | None = None
    host: str | None = None
    version: str | None = None
    uptime_s: int | None = None
    aof: bool | None = None
    read_only: bool = False  # Redis answers reads but refuses writes (full disk, memory limit)
    error: str | None = None


class AnalystHealth(Record):
    ok: bool
    pid: int | None = None
    host: str | None = None
    started_at: float | None = None
    last_beat: float | None = None
    last_beat_s: float | None = None  # age of the last beat; None: never seen
    processed: int | None = None
    lag: int | None = None  # results stored but not yet folded into a ranking (pending + undelivered events)
    ttl_s: float


class WebHealth(Record):
    ok: bool
    pid: int  # the server's (gunicorn master's) pid
    worker_pid: int | None = None  # the worker process that answered
    host: str


class TrainerHealth(Record):
    name: str
    ok: bool
    pid: int | None
    host: str
    device: str
    last_beat_s: float
    slots: int
    busy: int  # trials this worker is running now
    # pid -> seconds of silence of its pool children that stopped beating mid-trial (killed when the claim expires)
    hung: dict[int, float] = Field(default_factory=dict)


class ServicesHealth(Record):
    redis: RedisHealth
    analyst: AnalystHealth
    web: WebHealth
    trainers: list[TrainerHealth]


class Health(Record):
    """GET /api/health: ok when Redis answers, the analyst beats, and at least one trainer beats."""

    ok: bool
    services: ServicesHealth
    time: float


# The records of this module and the importance schema it re-exports (the ranking's groups and rows).
__all__ = [
    "POOLED",
    "Agreement",
    "AnalystHealth",
    "BestPoint",
    "BestProgress",
    "BestResult",
    "Comparison",
    "ComparisonGroup",
    "ComparisonState",
    "Effect",
    "EffectLevel",
    "FailureRecord",
    "Health",
    "HyperparameterRank",
    "Interaction",
    "LargestDifference",
    "Lineage",
    "MethodComparison",
    "Number",
    "QueueStatus",
    "RankedTrials",
    "RankingGroup",
    "RankingHistoryEntry",
    "RankingParameters",
    "RankingPause",
    "RankingRecord",
    "RedisHealth",
    "RunningTrial",
    "ServiceBeat",
    "ServicesHealth",
    "Stability",
    "SweepRecord",
    "SweepSummary",
    "TrainerHealth",
    "Verdict",
    "WebHealth",
    "WorkerInfo",
    "WorkerRecord",
    "WorkerStatus",
]
