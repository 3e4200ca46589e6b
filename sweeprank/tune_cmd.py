"""`sweeprank tune SWEEP`: a follow-up sweep of what matters, followed to its end (a chain, group after group)."""

from __future__ import annotations

import argparse
import time
from typing import Any

from broker.settings import Settings
from sweeprank import stack_state
from sweeprank.client import Client
from sweeprank.report import best_lines, follow, print_final, summary_of, sweep_of
from trials.errors import SweeprankError
from trials.records import SweepRecord
from trials.samplers import MODEL_SAMPLERS
from trials.specs import CONTINUES_CHAIN

# How long a followed chain waits for the analyst to create the next group once a group completed.
NEXT_GROUP_WAIT_S = 60.0


def add_parser(subparsers: Any) -> None:
    tune = subparsers.add_parser(
        "tune",
        help="tune what matters: a follow-up sweep of the hyperparameters the ranking found to matter",
        description="Vary only the hyperparameters whose verdict is `matters` (most important first, at most "
        "--top), hold the rest at the parent's best trial, on the parent's datasets and metric. With --sequential, "
        "tune them in groups of --group-size, each group's best held for the next.",
    )
    tune.add_argument("sweep_id", help="the ranked sweep to start from")
    tune.add_argument("--top", type=int, help="tune at most this many (default: all that matter)")
    tune.add_argument("--trials", type=int, help="trials of the tune sweep (not with --sequential)")
    tune.add_argument("--sampler", choices=MODEL_SAMPLERS, default="tpe", help="Optuna sampler (default tpe)")
    tune.add_argument(
        "--pruner",
        choices=["none", "median", "successive_halving"],
        default="none",
        help="stop trials that fall behind (default none)",
    )
    tune.add_argument("--sequential", action="store_true", help="tune groups in turn")
    tune.add_argument("--group-size", type=int, help="hyperparameters per group (--sequential)")
    tune.add_argument("--trials-per-group", type=int, help="trials per group's sweep (--sequential)")
    tune.add_argument("--seed", type=int, help="default: the parent's")
    tune.add_argument("--no-follow", action="store_true", help="print the new sweep's id and return")
    stack_state.add_client_options(tune)
    tune.set_defaults(func=run)


def request_of(args: argparse.Namespace) -> dict[str, Any]:
    fields = {
        "top": args.top,
        "trials": args.trials,
        "sampler": args.sampler,
        "pruner": args.pruner,
        "sequential": args.sequential,
        "group_size": args.group_size,
        "trials_per_group": args.trials_per_group,
        "seed": args.seed,
    }
    return {k: v for k, v in fields.items() if v is not None}


def describe(sweep: SweepRecord) -> str:
    origin = sweep.spec.tune
    if origin is None:
        return f"sweep {sweep.id}"
    held = ", ".join(f"{k}={v}" for k, v in sweep.spec.fixed.items())
    group = f" (group {origin.group + 1} of {len(origin.groups)})" if origin.groups else ""
    return (
        f"sweep {sweep.id}{group}: {sweep.sampler} over {', '.join(origin.tuned)}, {sweep.n_trials} trials; "
        f"held at trial {origin.held_from_trial} of {origin.parent}: {held}"
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    client = stack_state.client_for(args, settings)
    created = client.post(f"/api/sweeps/{args.sweep_id}/tune", request_of(args))
    sweep_id = created["id"]
    print(f"tuning {args.sweep_id} in {describe(sweep_of(client, sweep_id))}")
    if args.no_follow:
        print(sweep_id)
        return 0
    while True:
        sweep = follow(client, sweep_id)
        print_final(client, sweep_id, sweep)
        print("\n".join(best_lines(summary_of(client, sweep_id))))
        origin = sweep.spec.tune
        if origin is None or origin.next_group is None or sweep.status not in CONTINUES_CHAIN:
            return 0
        sweep_id = wait_for_next_group(client, sweep_id)
        print(f"\nnext group: {describe(sweep_of(client, sweep_id))}")


def wait_for_next_group(client: Client, sweep_id: str) -> str:
    deadline = time.monotonic() + NEXT_GROUP_WAIT_S
    while time.monotonic() < deadline:
        lineage = summary_of(client, sweep_id).lineage
        chain = lineage.chain if lineage else []
        if sweep_id in chain and chain.index(sweep_id) + 1 < len(chain):
            return chain[chain.index(sweep_id) + 1]
        time.sleep(0.5)
    raise SweeprankError(
        f"the chain's next group after {sweep_id} did not start within {NEXT_GROUP_WAIT_S:.0f} s: is the analyst "
        "running? (`sweeprank status`)"
    )
