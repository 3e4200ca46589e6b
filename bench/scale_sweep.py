"""What the scale benchmarks share: a large sweep written through the store calls, kept as a Redis snapshot.

A sweep of `n` trials in the trainer's shape (the trial marked running, 5 epochs of metrics, one final result),
ranked by the real analyst as it keeps up (a batch of pending results at a time, as `sweeprank analyst` reads
them), all but its `spare` last trials, which stay planned, `running` of them marked running: the sweep is active
(health and the monitor look at it) and the live benchmarks have trials left to finish.

Building 100k results takes tens of minutes on a small host, so the Redis data (an RDB snapshot) is kept in a
directory and reused: `snapshot_redis` starts a Redis on a copy of it.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import redis
from threadpoolctl import threadpool_limits

from broker.celery_app import make_celery
from broker.dispatcher import Dispatcher
from broker.settings import Settings
from broker.store import Store
from broker.sweep_actions import plan_trials
from sweeprank.stack import Stack, free_port, redis_command, wait_for_redis
from trials.space import Value
from trials.specs import EpochMetrics, SweepSpec, TrialResult, TrialStatus

EPOCHS = 5
NARROW = {"num_conv_layers": {"high": 2}, "epochs": {"high": EPOCHS}}
RUNNING = 10  # unfinished trials marked running: the sweep is active
BOOTSTRAP = 50  # the build's analyst (bench_analyst.py runs the analyst at its defaults)
WRITERS = 3  # trainers write concurrently; one writer would spend its time waiting on round trips
RDB = "dump.rdb"
MANIFEST = "sweep.json"


@dataclass(frozen=True)
class BuiltSweep:
    sweep_id: str
    n_results: int
    n_trials: int
    build_s: float


def accuracy_of(config: dict[str, Value], rng: np.random.Generator) -> float:
    """A metric the learning rate explains (so the ranking has something to find), with noise."""
    return float(np.clip(0.5 + 0.1 * np.log10(float(config["learning_rate"])) + rng.normal(0, 0.05), 0, 1))


def result_of(sweep_id: str, trial_id: int, config: dict[str, Value], accuracy: float) -> TrialResult:
    return TrialResult(
        sweep_id=sweep_id,
        trial_id=trial_id,
        attempt=1,
        dataset="digits",
        config=config,
        status=TrialStatus.COMPLETED,
        test_accuracy=accuracy,
        best_val_accuracy=accuracy,
        final_train_loss=1 - accuracy,
        epochs_completed=EPOCHS,
        wall_time_s=5.0,
        worker="bench@host:1",
    )


def train(store: Store, sweep_id: str, trial_id: int, config: dict[str, Value], accuracy: float) -> None:
    """What a trainer writes for one trial: running, its epochs, its final result."""
    store.trials.update(sweep_id, trial_id, status="running", worker="bench@host:1", started=time.time(), epochs=EPOCHS)
    for epoch in range(1, EPOCHS + 1):
        store.results.record_epoch(
            EpochMetrics(
                sweep_id=sweep_id,
                trial_id=trial_id,
                attempt=1,
                epoch=epoch,
                train_loss=1 / epoch,
                val_accuracy=accuracy,
                seconds=1.0,
            )
        )
    store.results.save(result_of(sweep_id, trial_id, config, accuracy))


def _writer(url: str, sweep_id: str, trial_ids: range, seed: int) -> None:
    store = Store.from_url(url)
    configs = store.sweeps.planned_configs_of(sweep_id, list(trial_ids))
    rng = np.random.default_rng(seed)
    for trial_id in trial_ids:
        train(store, sweep_id, trial_id, configs[trial_id], accuracy_of(configs[trial_id], rng))


def build(url: str, n: int, spare: int, running: int, bootstrap: int) -> BuiltSweep:
    """Write the sweep (WRITERS processes, a stride of trials each, as concurrent trainers) while the analyst
    ranks what arrives; returns once every result is ranked."""
    from analyst.service import Analyst
    from importance.config import RankingConfig

    # As `sweeprank analyst` runs (sweeprank/cli.py): BLAS threads only contend on the ranking's small matrices.
    threadpool_limits(limits=1, user_api="blas")
    store = Store.from_url(url)
    spec = SweepSpec.model_validate(
        {
            "owner": "bench",
            "name": f"scale-{n}",
            "datasets": ["digits"],
            "n_trials": n,
            "narrow": NARROW,
            "seed": 1,
        }
    )
    start = time.perf_counter()
    sweep_id = store.sweeps.create(spec, plan_trials(spec))
    analyst = Analyst(store, no_dispatch(url), RankingConfig(bootstrap=bootstrap), consumer="build")
    analyst.start()
    context = multiprocessing.get_context("spawn")
    blocks = np.array_split(np.arange(n - spare), WRITERS * 20)
    with context.Pool(WRITERS) as pool:
        pending = pool.starmap_async(
            _writer, [(url, sweep_id, range(int(b[0]), int(b[-1]) + 1), i) for i, b in enumerate(blocks) if len(b)]
        )
        while True:
            written = pending.ready()
            if events := analyst.read_new(1000):
                analyst.handle(events)
            elif written:
                break
        pending.get()
    for trial_id in range(n - spare, n - spare + running):
        store.trials.update(sweep_id, trial_id, status="running", worker="bench@host:1", started=time.time())
    return BuiltSweep(sweep_id, n - spare, n, time.perf_counter() - start)


def no_dispatch(url: str) -> Dispatcher:
    """A dispatcher that never asks (the bench has no trainers): the analyst's control tick needs one."""
    settings = Settings(redis_url=url)
    return Dispatcher(Store.from_url(url), make_celery(settings), settings, asks=False)


def start_redis(stack: Stack, data_dir: Path) -> str:
    """Redis with AOF as under `sweeprank up` (fsync once a second: the build writes ~8 times per trial), loading
    the RDB snapshot in `data_dir` if there is one."""
    data_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    command = redis_command(data_dir, port, fsync="everysec")
    if (data_dir / RDB).exists():
        # Redis loads the AOF, not the RDB, when AOF is on: load the snapshot first, then turn AOF on.
        command[command.index("--appendonly") + 1] = "no"
    stack.spawn("redis", command)
    url = f"redis://127.0.0.1:{port}/0"
    wait_for_redis(url, timeout_s=600)
    return url


def spare_of(n: int) -> int:
    """Trials of a kept sweep of `n` left unfinished, for the live benchmarks to finish."""
    return min(5000, n // 4)


def snapshot_redis(stack: Stack, snapshot: Path, n: int, work: Path) -> tuple[str, BuiltSweep]:
    """A Redis holding the sweep of `n` trials: a copy of the snapshot in `snapshot/<n>` if one is kept, else
    built now and kept there."""
    kept = snapshot / str(n)
    data_dir = work / "redis"
    if (kept / RDB).exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        shutil.copy(kept / RDB, data_dir / RDB)
        url = start_redis(stack, data_dir)
        _loaded(url)
        return url, BuiltSweep(**json.loads((kept / MANIFEST).read_text()))
    url = start_redis(stack, data_dir)
    built = build(url, n, spare_of(n), RUNNING, BOOTSTRAP)
    client = redis.Redis.from_url(url)
    # In the background, polled: a blocking SAVE of a large sweep on a busy host outlasts a reply timeout.
    client.bgsave()  # forks before it answers: in progress from here on
    while client.info("persistence")["rdb_bgsave_in_progress"]:
        time.sleep(0.5)
    if client.info("persistence")["rdb_last_bgsave_status"] != "ok":
        raise SystemExit(f"Redis could not write its snapshot in {data_dir}")
    kept.mkdir(parents=True, exist_ok=True)
    shutil.copy(data_dir / RDB, kept / RDB)
    (kept / MANIFEST).write_text(json.dumps(built.__dict__))
    return url, built


def _loaded(url: str) -> None:
    client = redis.Redis.from_url(url)
    while client.info("persistence").get("loading"):
        time.sleep(0.2)
    # The stack runs with AOF: turn it on now the snapshot is in memory (writes the AOF from it).
    client.config_set("appendonly", "yes")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--snapshot", type=Path, required=True, help="directory the snapshots are kept in")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        stack = Stack(log_dir=Path(tmp))
        try:
            _, built = snapshot_redis(stack, args.snapshot, args.n, Path(tmp))
        finally:
            stack.stop()
    kept = args.snapshot / str(args.n)
    print(f"{built.n_results:,} results of {built.n_trials:,} trials in {built.build_s:.0f} s: {kept}")


if __name__ == "__main__":
    main()
