"""Command-line flags of the ranking parameters, derived from `importance.config.RankingConfig`.

Each flag's type, default and help come from the field, so `sweeprank rank`, `sweeprank analyst` and a
sweep's spec cannot drift apart (`tests/cli/test_ranking_flags.py`).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import get_args

from importance.config import METHODS, RankingConfig

# The flag of a field where it is not --field (kept as the command line has always spelled them).
_FLAG = {"window": "--stable-window", "block_size": "--block-size"}


def flag_of(field: str) -> str:
    return _FLAG.get(field, f"--{field.replace('_', '-')}")


def add_ranking_flags(parser: argparse.ArgumentParser, fields: Sequence[str]) -> None:
    """--k, --sigma, ... for the given fields of RankingConfig; the parsed values land under the field names."""
    for field in fields:
        info = RankingConfig.model_fields[field]
        shown = "the default rule" if info.default is None else info.default
        help_text = f"{info.description} (default {shown})"
        if field == "method":
            parser.add_argument(flag_of(field), dest=field, default=info.default, choices=METHODS, help=help_text)
            continue
        kind = next(t for t in (int, float) if t in (info.annotation, *get_args(info.annotation)))
        parser.add_argument(flag_of(field), dest=field, default=info.default, type=kind, help=help_text)


def config_from_args(args: argparse.Namespace) -> RankingConfig:
    """The RankingConfig of the flags that were registered; the others keep their defaults."""
    given = {field: getattr(args, field) for field in RankingConfig.model_fields if hasattr(args, field)}
    return RankingConfig.model_validate(given)
