"""`sweeprank` command line: every command is registered in `build_parser`, with its help.

`main` reads the settings once (broker/settings.py) and hands them to the command.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

import yaml
from threadpoolctl import threadpool_limits

from broker.connection import BrokerError
from broker.settings import Settings, process_settings
from sweeprank import stack_state
from sweeprank.client import Client
from sweeprank.rank import add_parser as add_rank_parser
from sweeprank.rank import run as run_rank
from sweeprank.report import (
    best_lines,
    follow,
    health_lines,
    health_of,
    print_final,
    progress_line,
    ranking_of,
    summary_of,
    sweep_of,
)
from trials.errors import SweeprankError
from trials.records import QueueStatus, SweepRecord
from trials.untrusted import load_yaml, short

DESCRIPTION = (
    "sweeprank runs hyperparameter sweeps on a pool of GPUs or CPUs and ranks which hyperparameters "
    "matter (N-RReliefF, with confidence intervals and verdicts). Run `sweeprank COMMAND --help` for "
    "a command's options."
)
EPILOG = (
    "Settings come from SWEEPRANK_* environment variables (README, Configuration). "
    "Commands that need the stack find it through --url/--redis-url, the environment, or a running `sweeprank up`."
)

DEMO_SPEC: dict[str, Any] = {
    "owner": "demo",
    "name": "cnn-paper on Fashion-MNIST (CPU demo)",
    "datasets": ["fashion_mnist"],
    "space": "cnn-paper",
    # Narrowed so that a trial takes seconds on a laptop CPU; the ranking is of this sub-space.
    "narrow": {
        "epochs": {"high": 3},
        "num_filters": {"high": 32},
        "fc_units": {"high": 256},
        "batch_size": {"choices": [64, 128, 256, 512]},
    },
    # Measured: 120 trials in 3 minutes on 2 idle cores, so 300 take about 8 minutes.
    "n_trials": 300,
    "sampler": "sobol",
    "seed": 7,
    "max_train_examples": 2000,
    "max_test_examples": 1000,
}


def _with_stack_redis(args: argparse.Namespace, settings: Settings) -> Settings:
    return settings.model_copy(
        update={"redis_url": stack_state.redis_url(args.redis_url, settings, Path(args.data_dir))}
    )


# --- commands ---------------------------------------------------------------------


def cmd_submit(args: argparse.Namespace, settings: Settings) -> int:
    if args.spec:
        spec = load_yaml(Path(args.spec).read_text())
        if not isinstance(spec, dict):
            raise SweeprankError(f"{args.spec}: a spec file must hold a mapping")
    else:
        spec = {
            "name": args.name or f"{args.preset} sweep",
            "space": args.preset,
            "datasets": args.datasets,
            "n_trials": args.trials,
            "seed": args.seed,
            "priority": args.priority,
            "stop_when_stable": args.stop_when_stable,
        }
        if args.max_epochs:
            spec["narrow"] = {"epochs": {"high": args.max_epochs}}
        if args.max_train:
            spec["max_train_examples"] = args.max_train
    if args.owner:
        spec["owner"] = args.owner
    client = stack_state.client_for(args, settings)
    created = client.post("/api/sweeps", spec)
    print(f"submitted sweep {created['id']}")
    if args.no_follow:
        return 0
    sweep = follow(client, created["id"])
    print_final(client, created["id"], sweep)
    return 0


def cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    """Exit status 0 whenever the server answered; with --check, 1 when the pool's health is not ok."""
    client = stack_state.client_for(args, settings)
    if args.sweep_id:
        sweep = sweep_of(client, args.sweep_id)
        print(progress_line(sweep, ranking_of(client, args.sweep_id), time.time()))
        summary = summary_of(client, args.sweep_id)
        print("\n".join(best_lines(summary)))
        paused = summary.ranking_paused
        if paused is not None:
            print(paused.sentence)
        return 1 if args.check and paused is not None else 0
    health = health_of(client)
    print("\n".join(health_lines(health)))
    ok = health if isinstance(health, bool) else health.ok
    if not isinstance(health, bool) and not health.services.redis.ok:
        return 1 if args.check else 0
    queue = QueueStatus.model_validate(client.get("/api/queue"))
    print(f"workers: {len(queue.workers)}  queued: {queue.queues}  in flight: {queue.inflight}")
    for raw in client.get("/api/sweeps")["sweeps"]:
        sweep = SweepRecord.model_validate(raw)
        print(f"  {sweep.id:<8} {sweep.owner:<12} {sweep.status:<15} {sweep.n_final}/{sweep.n_trials}  {sweep.name}")
    return 1 if args.check and not ok else 0


def cmd_export(args: argparse.Namespace, settings: Settings) -> int:
    if args.best:
        text = best_yaml(stack_state.client_for(args, settings), args.sweep_id)
        if args.output:
            Path(args.output).write_text(text)
            print(f"wrote {args.output}")
        else:
            print(text, end="")
        return 0
    if args.format == "optuna":
        from sweeprank.optuna_export import export_study

        if not args.output:
            raise SweeprankError("--format optuna writes a study: give -o study.db, -o study.journal or a storage URL")
        print(export_study(stack_state.client_for(args, settings), args.sweep_id, args.output, args.study).sentence())
        return 0
    data = stack_state.client_for(args, settings).raw(f"/api/sweeps/{args.sweep_id}/export?format={args.format}")
    if args.output:
        Path(args.output).write_bytes(data)
        print(f"wrote {args.output}")
    else:
        sys.stdout.buffer.write(data)
    return 0


def best_yaml(client: Client, sweep_id: str) -> str:
    """The best completed trial of a sweep: its full config (held values included) and where it comes from."""
    summary = summary_of(client, sweep_id)
    best = summary.best
    if best is None:
        raise SweeprankError(f"sweep {sweep_id} has no completed trial yet")
    record = sweep_of(client, sweep_id)
    header = (
        f"# best {best.metric} ({record.spec.direction}) of sweep {sweep_id} ({record.name}): {best.value:.6g}, "
        f"trial {best.trial_id} on {best.dataset}, of {summary.n_final} finished trials\n"
    )
    body = {
        "sweep": sweep_id,
        "trial": best.trial_id,
        "dataset": best.dataset,
        best.metric: best.value,
        "config": best.config,
    }
    return header + yaml.safe_dump(body, sort_keys=False)


def cmd_cancel(args: argparse.Namespace, settings: Settings) -> int:
    done = stack_state.client_for(args, settings).post(f"/api/sweeps/{args.sweep_id}/cancel")
    print(f"sweep {done['id']} is {done['status']}")
    return 0


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    from sweeprank.stack import worker_command

    # The Celery worker reads its settings from the environment it is given (set here, not read).
    env = {**os.environ, "SWEEPRANK_REDIS_URL": _with_stack_redis(args, settings).redis_url}
    if args.gpu is not None:
        env.update(CUDA_VISIBLE_DEVICES=args.gpu, SWEEPRANK_DEVICE="cuda")
        command = worker_command(name=f"gpu{args.gpu}@%h", device="cuda", concurrency=args.trials_per_gpu)
    else:
        env.update(SWEEPRANK_DEVICE="cpu", SWEEPRANK_TORCH_THREADS=str(args.threads))
        command = worker_command(name=args.name or "cpu@%h", device="cpu", concurrency=args.concurrency)
    os.execvpe(command[0], command, env)


def cmd_analyst(args: argparse.Namespace, settings: Settings) -> int:
    from broker.celery_app import make_celery
    from broker.dispatcher import Dispatcher
    from broker.store import Store
    from workers.analyst import Analyst, RankingParams

    settings = _with_stack_redis(args, settings)
    store = Store.from_url(settings.redis_url, archive_dir=settings.archive_root)
    analyst = Analyst(
        store,
        Dispatcher(store, make_celery(settings), settings),
        RankingParams(args.k, args.sigma, args.bootstrap, args.seed),
    )
    analyst.run_forever(
        settings.reconcile_every_s, beat_every_s=settings.analyst_beat_s, archive_after_s=settings.archive_after_s
    )
    return 0


def cmd_web(args: argparse.Namespace, settings: Settings) -> int:
    from sweeprank.webserver import WebOptions, serve

    workers = args.workers if args.workers is not None else settings.web_workers
    threads = args.threads if args.threads is not None else settings.web_threads
    if workers < 1 or threads < 1:
        raise SweeprankError(f"--workers and --threads must be at least 1, not {workers} and {threads}")
    serve(WebOptions(args.host, args.port, workers, threads), settings)
    return 0


def cmd_up(args: argparse.Namespace, settings: Settings) -> int:
    from sweeprank.up import run_up

    return run_up(args, settings, DEMO_SPEC if args.demo else None)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sweeprank", description=DESCRIPTION, epilog=EPILOG)
    sub = parser.add_subparsers(dest="command", required=True)

    up = sub.add_parser("up", help="run the whole stack locally (Redis, trainers, analyst, web)")
    up.add_argument("--redis-url", help="use this Redis instead of starting one")
    up.add_argument(
        "--data-dir", default=stack_state.DEFAULT_DATA_DIR, help="Redis data (AOF), logs and the stack's state file"
    )
    up.add_argument("--host", default="127.0.0.1", help="address the web server listens on (default 127.0.0.1)")
    up.add_argument("--port", type=int, default=8000, help="port of the web server (default 8000)")
    up.add_argument(
        "--cpu-workers", type=int, default=os.cpu_count() or 1, help="trainer processes when there is no GPU"
    )
    up.add_argument("--threads", type=int, default=1, help="torch threads per CPU trainer process")
    up.add_argument("--trials-per-gpu", type=int, default=1, help="trials run at once on each GPU (default 1)")
    up.add_argument("--demo", action="store_true", help="submit the demo sweep and follow it")
    up.set_defaults(func=cmd_up)

    worker = sub.add_parser("worker", help="a trainer worker (one per GPU, or CPU)")
    worker.add_argument("--gpu", help="GPU index to bind (sets CUDA_VISIBLE_DEVICES)")
    worker.add_argument("--trials-per-gpu", type=int, default=1, help="trials run at once on the GPU (default 1)")
    worker.add_argument("--concurrency", type=int, default=1, help="CPU trainer processes")
    worker.add_argument("--threads", type=int, default=1, help="torch threads per CPU process")
    worker.add_argument("--name", help="worker name (default cpu@HOST)")
    stack_state.add_redis_options(worker)
    worker.set_defaults(func=cmd_worker)

    analyst = sub.add_parser("analyst", help="the analyst: incremental rankings from the result stream")
    analyst.add_argument("--k", type=int, default=10, help="neighbours per reference trial (default 10)")
    analyst.add_argument("--sigma", type=float, default=20.0, help="rank-weight width (default 20)")
    analyst.add_argument("--bootstrap", type=int, default=200, help="Poisson bootstrap replicates (default 200)")
    analyst.add_argument("--seed", type=int, default=0, help="random seed of the bootstrap and tests (default 0)")
    stack_state.add_redis_options(analyst)
    analyst.set_defaults(func=cmd_analyst)

    web = sub.add_parser("web", help="the web server (JSON API and pages)")
    web.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    web.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000)")
    web.add_argument("--workers", type=int, help="processes (default: SWEEPRANK_WEB_WORKERS)")
    web.add_argument(
        "--threads", type=int, help="threads per process, one per open live page (default: SWEEPRANK_WEB_THREADS)"
    )
    web.set_defaults(func=cmd_web)

    submit = sub.add_parser("submit", help="submit a sweep and follow it")
    submit.add_argument("spec", nargs="?", help="SPEC.yaml or .json (else build one from the options)")
    submit.add_argument("--preset", default="cnn-paper", help="search space preset (default cnn-paper)")
    submit.add_argument(
        "--datasets", nargs="+", default=["fashion_mnist"], help="datasets to train on (default fashion_mnist)"
    )
    submit.add_argument("--trials", type=int, default=50, help="trials of the sweep (default 50)")
    submit.add_argument("--owner", help="submit on behalf of this member (admins only); default: the token's member")
    submit.add_argument("--name", help="the sweep's name (default: PRESET sweep)")
    submit.add_argument("--seed", type=int, default=0, help="seed of the sampler (default 0)")
    submit.add_argument("--priority", type=int, default=5, help="0..9, higher runs first (default 5)")
    submit.add_argument("--max-epochs", type=int, help="narrow the epochs hyperparameter to at most this")
    submit.add_argument("--max-train", type=int, help="subsample the training set to this many examples")
    submit.add_argument("--stop-when-stable", action="store_true", help="end the sweep when its ranking has settled")
    submit.add_argument("--no-follow", action="store_true", help="print the new sweep's id and return")
    submit.set_defaults(func=cmd_submit)

    status = sub.add_parser("status", help="health of the pool's services, the pool and sweeps; or one sweep")
    status.add_argument("sweep_id", nargs="?", help="one sweep's progress and best trial (default: the pool)")
    status.add_argument(
        "--check", action="store_true", help="exit 1 when the pool is not ok (or the sweep's ranking is paused)"
    )
    status.set_defaults(func=cmd_status)

    export = sub.add_parser("export", help="a sweep's trials as CSV/JSON/Parquet, or as an Optuna study")
    export.add_argument("sweep_id", help="the sweep to export")
    export.add_argument(
        "--format", choices=["csv", "json", "parquet", "optuna"], default="csv", help="file format (default csv)"
    )
    export.add_argument(
        "-o", "--output", help="file; optuna: study.db (SQLite), study.journal (journal file) or a storage URL"
    )
    export.add_argument("--study", help="optuna: the study's name (default: the sweep id)")
    export.add_argument("--best", action="store_true", help="the best trial's full config as YAML, to train it again")
    export.set_defaults(func=cmd_export)

    cancel = sub.add_parser("cancel", help="cancel a sweep (running trials stop at their next epoch)")
    cancel.add_argument("sweep_id", help="the sweep to cancel")
    cancel.set_defaults(func=cmd_cancel)

    for command in (submit, status, export, cancel):
        stack_state.add_client_options(command)

    add_rank_parser(sub)
    sub.choices["rank"].set_defaults(func=lambda args, _settings: run_rank(args))  # a file in, a table out
    from sweeprank import archive_cmd, data_cmd, tune_cmd, users_cmd

    archive_cmd.add_parser(sub)
    users_cmd.add_parser(sub)
    data_cmd.add_parser(sub)
    tune_cmd.add_parser(sub)
    return parser


def one_line(err: BaseException) -> str:
    """An error as the one line the command line prints: its kind where the message alone is unclear, bounded."""
    if isinstance(err, SweeprankError):
        text = str(err)
    elif isinstance(err, BrokerError):
        # Redis down past the ride-out, a wrong password, an ACL denial.
        text = f"Redis: {type(err).__name__}: {err}"
    elif isinstance(err, OSError) and err.filename is not None:
        text = f"{err.filename}: {err.strerror or err}"
    elif isinstance(err, ImportError):
        text = f"{err} (a module this command needs is not installed)"
    else:
        text = f"{type(err).__name__}: {err}"
    return short(" ".join(text.split()))


# What a command may meet in a member's files, paths and URLs: each is the user's to fix, so one line, exit 2.
USER_ERRORS = (SweeprankError, BrokerError, OSError, ValueError, ImportError, yaml.YAMLError)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # The ranking's linear algebra is on matrices of a few dozen rows, where BLAS threads only contend: a 60 x 60
    # solve took 6 ms with OpenBLAS's threads on a busy 2-core host and 0.05 ms with one (the analyst ranks per result).
    threadpool_limits(limits=1, user_api="blas")
    try:
        return int(args.func(args, process_settings()))
    except USER_ERRORS as err:
        print(f"sweeprank: {one_line(err)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
