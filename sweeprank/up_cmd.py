"""`sweeprank up`: the whole stack on this machine (Redis, trainers, analyst, web), supervised."""

from __future__ import annotations

import argparse
import os
from typing import Any

from broker.settings import Settings
from sweeprank import stack_state
from trials.json_types import JSONObject

DEMO_SPEC: JSONObject = {
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


def add_parser(subparsers: Any) -> None:
    up = subparsers.add_parser("up", help="run the whole stack locally (Redis, trainers, analyst, web)")
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


def cmd_up(args: argparse.Namespace, settings: Settings) -> int:
    from sweeprank.up import run_up

    return run_up(args, settings, DEMO_SPEC if args.demo else None)
