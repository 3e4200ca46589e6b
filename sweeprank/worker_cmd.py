"""`sweeprank worker`: a trainer (a Celery worker), one per GPU or a pool of CPU processes."""

from __future__ import annotations

import argparse
import os
from typing import Any

from broker.settings import Settings
from sweeprank import stack_state


def add_parser(subparsers: Any) -> None:
    worker = subparsers.add_parser("worker", help="a trainer worker (one per GPU, or CPU)")
    worker.add_argument("--gpu", help="GPU index to bind (sets CUDA_VISIBLE_DEVICES)")
    worker.add_argument("--trials-per-gpu", type=int, default=1, help="trials run at once on the GPU (default 1)")
    worker.add_argument("--concurrency", type=int, default=1, help="CPU trainer processes")
    worker.add_argument("--threads", type=int, default=1, help="torch threads per CPU process")
    worker.add_argument("--name", help="worker name (default cpu@HOST)")
    stack_state.add_redis_options(worker)
    worker.set_defaults(func=cmd_worker)


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    from sweeprank.stack import worker_command

    # The Celery worker reads its settings from the environment it is given (set here, not read).
    env = {**os.environ, "SWEEPRANK_REDIS_URL": stack_state.with_stack_redis(args, settings).redis_url}
    if args.gpu is not None:
        env.update(CUDA_VISIBLE_DEVICES=args.gpu, SWEEPRANK_DEVICE="cuda")
        command = worker_command(name=f"gpu{args.gpu}@%h", device="cuda", concurrency=args.trials_per_gpu)
    else:
        env.update(SWEEPRANK_DEVICE="cpu", SWEEPRANK_TORCH_THREADS=str(args.threads))
        command = worker_command(name=args.name or "cpu@%h", device="cpu", concurrency=args.concurrency)
    os.execvpe(command[0], command, env)
