"""`sweeprank status`: the pool's health and sweeps, or one sweep's progress."""

from __future__ import annotations

import argparse
import time
from typing import Any

from broker.settings import Settings
from sweeprank import stack_state
from sweeprank.report import best_lines, health_lines, health_of, progress_line, ranking_of, summary_of, sweep_of
from trials.records import QueueStatus, SweepRecord


def add_parser(subparsers: Any) -> None:
    status = subparsers.add_parser("status", help="health of the pool's services, the pool and sweeps; or one sweep")
    status.add_argument("sweep_id", nargs="?", help="one sweep's progress and best trial (default: the pool)")
    status.add_argument(
        "--check", action="store_true", help="exit 1 when the pool is not ok (or the sweep's ranking is paused)"
    )
    status.set_defaults(func=cmd_status)
    stack_state.add_client_options(status)


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
