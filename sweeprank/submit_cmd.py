"""`sweeprank submit`: submit a sweep (a spec file, or one built from the options) and follow it."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from broker.settings import Settings
from sweeprank import stack_state
from sweeprank.report import follow, print_final
from trials.errors import SweeprankError
from trials.untrusted import load_yaml


def add_parser(subparsers: Any) -> None:
    submit = subparsers.add_parser("submit", help="submit a sweep and follow it")
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
    stack_state.add_client_options(submit)


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
