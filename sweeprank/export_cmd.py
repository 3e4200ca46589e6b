"""`sweeprank export`: a sweep's trials as CSV/JSON/Parquet or an Optuna study; or its best trial's config."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import yaml

from broker.settings import Settings
from sweeprank import stack_state
from sweeprank.client import Client
from sweeprank.report import summary_of, sweep_of
from trials.errors import SweeprankError


def add_parser(subparsers: Any) -> None:
    export = subparsers.add_parser("export", help="a sweep's trials as CSV/JSON/Parquet, or as an Optuna study")
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
    stack_state.add_client_options(export)


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
