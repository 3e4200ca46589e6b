"""`sweeprank archive SWEEP... | --older-than AGE`: finished sweeps out of Redis into their archive files.

An archived sweep is served from its file by the pages, the API, exports, compare and tune as before
(docs/architecture.md, "Archived sweeps"); the analyst archives on its own after SWEEPRANK_ARCHIVE_AFTER_S.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from broker.settings import Settings
from sweeprank import stack_state
from trials.errors import SweeprankError

if TYPE_CHECKING:
    from broker.store.archive import Archived

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_age(text: str) -> float:
    """Seconds in an age such as 7d, 12h, 30m, 90s or 2w (a bare number is seconds)."""
    found = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*", text)
    if found is None:
        raise SweeprankError(f"--older-than must be a number with s, m, h, d or w (7d, 12h), not {text!r}")
    return float(found[1]) * _UNITS[found[2] or "s"]


def _line(done: Archived) -> str:
    if done.already:
        return f"{done.sweep_id} was archived already ({done.bytes / 1e6:.1f} MB); its Redis keys are gone"
    return (
        f"{done.sweep_id} archived: {done.rows['trials']:,} trials, {done.rows['arrival']:,} results, "
        f"{done.rows['metrics']:,} epochs, {done.bytes / 1e6:.1f} MB; its Redis keys deleted"
    )


def archive_command(args: argparse.Namespace, settings: Settings) -> int:
    from broker.store import Store

    if bool(args.sweep_ids) == (args.older_than is not None):
        raise SweeprankError("name the sweeps to archive, or give --older-than AGE (not both)")
    url = stack_state.redis_url(args.redis_url, settings, Path(args.data_dir))
    store = Store.from_url(url, ride_out_restarts=False, archive_dir=settings.archive_root)
    if args.older_than is not None:
        run = store.archive.archive_due(parse_age(args.older_than))
        for done in run.done:
            print(_line(done))
        for sweep_id, reason in run.left.items():
            print(f"{sweep_id} left in Redis: {reason}")
        print(f"{len(run.done)} sweeps archived to {settings.archive_root}")
        return 0
    for sweep_id in args.sweep_ids:
        print(_line(store.archive.archive(sweep_id)))
    return 0


def add_parser(subparsers: Any) -> None:
    archive = subparsers.add_parser(
        "archive",
        help="move finished sweeps out of Redis into archive files (still served as before)",
        description="Write each finished sweep to one SQLite file in the archive directory, verify it, then delete "
        "its data from Redis. Pages, API, exports, compare and tune read it from the file. A sweep that is still "
        "running, has trials in flight, or is not ranked to its last result is refused.",
    )
    archive.add_argument("sweep_ids", nargs="*", metavar="SWEEP", help="the sweeps to archive")
    archive.add_argument(
        "--older-than", metavar="AGE", help="every finished sweep that ended more than AGE ago (7d, 12h, 30m)"
    )
    stack_state.add_redis_options(archive)
    archive.set_defaults(func=archive_command)
