"""Every Redis key sweeprank uses, in one place.

A sweep's records live under `sr:sweep:{id}:*`; pool-wide records under `sr:*`.
"""

from __future__ import annotations

PREFIX = "sr"

SWEEP_SEQ = f"{PREFIX}:sweep-seq"  # counter: the number in the last sweep id
SWEEPS = f"{PREFIX}:sweeps"  # zset: sweep id -> creation time
ACTIVE_SWEEPS = f"{PREFIX}:sweeps:active"  # set: sweeps that may still dispatch
OPEN_CHAIN_LINKS = f"{PREFIX}:sweeps:chain-open"  # set: chain sweeps whose next group is not created yet
RESULTS_STREAM = f"{PREFIX}:results"  # stream: one event per stored final result
ANALYST_GROUP = "analysts"
WORKERS = f"{PREFIX}:workers"  # zset: worker name -> last heartbeat (unix time)
DISPATCH_LOCK = f"{PREFIX}:lock:dispatch"
FAILURES = f"{PREFIX}:failures"  # list: recent failed trials, newest first
WRITE_PROBE = f"{PREFIX}:health:write-probe"  # string with TTL: written by health checks to see Redis takes writes
COUNTERS = f"{PREFIX}:counters"  # hash: pool-wide counters (duplicates discarded...)
SERVICES = f"{PREFIX}:services"  # hash: service role (analyst) -> its last heartbeat (JSON)
COMPARE_REQUESTS = f"{PREFIX}:compare:requests"  # set: sweeps whose comparison the analyst should compute


def sweep(sweep_id: str) -> str:
    """Hash: spec, status, owner, counts, timestamps, stop reason."""
    return f"{PREFIX}:sweep:{sweep_id}"


def configs(sweep_id: str) -> str:
    """Hash: trial id -> {dataset, config, seed} as sampled at submission."""
    return f"{PREFIX}:sweep:{sweep_id}:configs"


def study_journal(sweep_id: str, dataset: str) -> str:
    """List: the Optuna journal (one JSON log entry per item) of a model-based sweep's study on one dataset."""
    return f"{PREFIX}:sweep:{sweep_id}:study:{dataset}"


def children(sweep_id: str) -> str:
    """Set: the tune sweeps started from this sweep (`sweeprank tune`, or the next group of a chain)."""
    return f"{PREFIX}:sweep:{sweep_id}:children"


def chain_next(sweep_id: str) -> str:
    """String: the sweep created as the next group of a sequential-tuning chain after this one (set once)."""
    return f"{PREFIX}:sweep:{sweep_id}:next"


def pending(sweep_id: str) -> str:
    """List: trial ids not yet dispatched, in order."""
    return f"{PREFIX}:sweep:{sweep_id}:pending"


def trials(sweep_id: str) -> str:
    """Hash: trial id -> live state (status, attempt, worker, epoch, times)."""
    return f"{PREFIX}:sweep:{sweep_id}:trials"


def results(sweep_id: str) -> str:
    """Hash: trial id -> its one final TrialResult (written with HSETNX)."""
    return f"{PREFIX}:sweep:{sweep_id}:results"


def arrival(sweep_id: str) -> str:
    """List: trial ids in the order their results were stored (the analyst's order)."""
    return f"{PREFIX}:sweep:{sweep_id}:arrival"


def metrics(sweep_id: str) -> str:
    """Stream: per-epoch metric records of every trial of the sweep."""
    return f"{PREFIX}:sweep:{sweep_id}:metrics"


def trial_index(sweep_id: str, column: str) -> str:
    """String: one column of the trials table packed by trial id, 8 bytes of sort key each; for `trial_id`, 1 byte
    each, set once the trial is final (broker/store/trial_index.py)."""
    return f"{PREFIX}:sweep:{sweep_id}:index:{column}"


def trial_index_texts(sweep_id: str, column: str) -> str:
    """Hash: each text of one column of the trials table -> its code in the packed column (store/trial_index.py)."""
    return f"{PREFIX}:sweep:{sweep_id}:index-texts:{column}"


def trial_index_columns(sweep_id: str) -> str:
    """Set: the packed columns each new final result writes (every sortable column, registered with the sweep)."""
    return f"{PREFIX}:sweep:{sweep_id}:index-columns"


def trial_index_ready(sweep_id: str) -> str:
    """Set: the packed columns that hold every final result (a sweep stored before packed columns builds them)."""
    return f"{PREFIX}:sweep:{sweep_id}:index-ready"


def metrics_index(sweep_id: str) -> str:
    """Hash: trial id -> the ids of its entries in the metrics stream, space-separated, oldest first."""
    return f"{PREFIX}:sweep:{sweep_id}:metrics-index"


def running(sweep_id: str) -> str:
    """Set: ids of the trials whose live state is `running` (kept by the scripts that write the states)."""
    return f"{PREFIX}:sweep:{sweep_id}:running"


def progress(sweep_id: str) -> str:
    """Hash: final results counted, trainer-seconds, the best trial so far; updated with each result."""
    return f"{PREFIX}:sweep:{sweep_id}:progress"


def progress_points(sweep_id: str) -> str:
    """List: "n|trainer_s|trial id" where the best so far improved, in order."""
    return f"{PREFIX}:sweep:{sweep_id}:progress-points"


def ranking(sweep_id: str) -> str:
    """String: the latest full ranking record."""
    return f"{PREFIX}:sweep:{sweep_id}:ranking"


def ranking_history(sweep_id: str) -> str:
    """List (before bounded histories): compact ranking records, oldest first; moved to `ranking_trajectory`."""
    return f"{PREFIX}:sweep:{sweep_id}:rankings"


def ranking_trajectory(sweep_id: str) -> str:
    """Sorted set: compact ranking records by publication number, thinned as they age (broker/store/rankings.py)."""
    return f"{PREFIX}:sweep:{sweep_id}:trajectory"


def ranking_trajectory_meta(sweep_id: str) -> str:
    """Hash: the last publication number and the last entry's stable-since (to pin where it changes)."""
    return f"{PREFIX}:sweep:{sweep_id}:trajectory-meta"


def comparison(sweep_id: str) -> str:
    """String: the latest comparison with fANOVA / PED-ANOVA (JSON), computed by the analyst."""
    return f"{PREFIX}:sweep:{sweep_id}:comparison"


def archive_lock(sweep_id: str) -> str:
    """Lock with TTL: a process is archiving the sweep (broker/store/archive.py)."""
    return f"{PREFIX}:lock:archive:{sweep_id}"


def inflight(device_class: str) -> str:
    """Set: trial keys sent to the queue of a device class and not yet final."""
    return f"{PREFIX}:inflight:{device_class}"


def claim(sweep_id: str, trial_id: int) -> str:
    """String with TTL: which attempt holds the trial now (refreshed each epoch)."""
    return f"{PREFIX}:claim:{sweep_id}:{trial_id}"


def worker(name: str) -> str:
    """Hash: a worker's host, device, queues, slots, current trials."""
    return f"{PREFIX}:worker:{name}"


def worker_children(name: str) -> str:
    """Hash with TTL: pid of a worker's pool child running a trial -> its last beat (unix time)."""
    return f"{PREFIX}:worker:{name}:children"


def draining(host: str, pid: int) -> str:
    """String with TTL: the trainer parent (host, pid) is shutting down; its children hand trials back."""
    return f"{PREFIX}:draining:{host}:{pid}"


def rate(bucket: str, window: int) -> str:
    """Counter with TTL: events of one rate-limit bucket in one time window."""
    return f"{PREFIX}:rate:{bucket}:{window}"


def queue_name(device_class: str) -> str:
    """The Celery queue that trainers of a device class consume."""
    return f"trials.{device_class}"


USERS = f"{PREFIX}:users"  # set: user names
TOKENS = f"{PREFIX}:tokens"  # hash: sha256(token) -> user name
WEB_SECRET = f"{PREFIX}:web:secret"  # string: the session-signing key every web process shares


def done_in_minute(minute: int) -> str:
    """Hash with TTL: worker (as trials record it) -> final results stored in that minute (unix time // 60)."""
    return f"{PREFIX}:done:{minute}"


def user(name: str) -> str:
    """Hash: a member's admin flag, password hash (scrypt), token hash and credential generation."""
    return f"{PREFIX}:user:{name}"


def web_session(session_id: str) -> str:
    """String with TTL: "name generation" of one browser login; deleted at logout."""
    return f"{PREFIX}:web:session:{session_id}"
