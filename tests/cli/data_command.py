"""`sweeprank data ...` run in-process as the CLI parses it, with given settings instead of the environment's."""

from __future__ import annotations

from broker.settings import Settings
from sweeprank.cli import build_parser


def run_data_command(settings: Settings, *argv: str) -> int:
    args = build_parser().parse_args(["data", *argv])
    return int(args.func(args, settings))
