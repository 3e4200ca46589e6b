"""The stack finds itself: `sweeprank up` writes where its Redis and web server are into its data dir.

Commands that need Redis or the web server take, in order: their flag, the setting
(SWEEPRANK_REDIS_URL / SWEEPRANK_URL), the state file of a running `up` in --data-dir; with
none of them they stop with one line saying how to point them at a pool.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from pydantic import BaseModel

from broker.processes import pid_alive
from broker.settings import Settings
from sweeprank.client import Client
from trials.errors import SweeprankError

DEFAULT_DATA_DIR = "var"
STATE_FILE = "stack.json"


class NoStack(SweeprankError):
    pass


class StackState(BaseModel):
    up_pid: int
    redis_url: str
    web_url: str
    log_dir: str
    started_at: float
    pids: dict[str, int]


def write_state(data_dir: Path, state: StackState) -> None:
    """Atomically, readable by the operator only: the Redis URL may hold a password."""
    path = data_dir / STATE_FILE
    partial = path.with_suffix(".partial")
    try:
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(state.model_dump_json(indent=2) + "\n")
        os.replace(partial, path)
    except OSError:
        partial.unlink(missing_ok=True)  # a full disk leaves the previous state, and no half-written file
        raise


def remove_state(data_dir: Path) -> None:
    (data_dir / STATE_FILE).unlink(missing_ok=True)


def running_stack(data_dir: Path) -> StackState | None:
    """The state of the `up` running in data_dir; None when there is none (a file left by a killed `up` included)."""
    try:
        state = StackState.model_validate_json((data_dir / STATE_FILE).read_text())
    except (OSError, ValueError):
        return None
    return state if pid_alive(state.up_pid) else None


def _found(data_dir: Path) -> StackState:
    state = running_stack(data_dir)
    if state is None:
        raise NoStack(
            f"no sweeprank stack found in {data_dir}: start one with `sweeprank up`, "
            "or pass --url/--redis-url (SWEEPRANK_URL/SWEEPRANK_REDIS_URL)"
        )
    return state


def web_url(flag: str | None, settings: Settings, data_dir: Path) -> str:
    if flag:
        return flag
    if "url" in settings.model_fields_set:
        return settings.url
    return _found(data_dir).web_url


def redis_url(flag: str | None, settings: Settings, data_dir: Path) -> str:
    if flag:
        return flag
    if "redis_url" in settings.model_fields_set:
        return settings.redis_url
    return _found(data_dir).redis_url


def add_data_dir_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", default=DEFAULT_DATA_DIR, help="where `sweeprank up` runs (finds its URLs)")


def add_client_options(parser: argparse.ArgumentParser) -> None:
    """--url, --token, --data-dir: how a command finds the web server (flag > SWEEPRANK_* > the `up` running)."""
    parser.add_argument("--url", help="web server URL (default: SWEEPRANK_URL, else the `up` running in --data-dir)")
    parser.add_argument("--token", help="API token (default: the token setting, SWEEPRANK_TOKEN)")
    add_data_dir_option(parser)


def client_for(args: argparse.Namespace, settings: Settings) -> Client:
    token = args.token or (settings.token.get_secret_value() if settings.token is not None else None)
    return Client(web_url(args.url, settings, Path(args.data_dir)), token=token)


def add_redis_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--redis-url", help="Redis (default: SWEEPRANK_REDIS_URL, else the `up` running in --data-dir)")
    add_data_dir_option(parser)


def with_stack_redis(args: argparse.Namespace, settings: Settings) -> Settings:
    """The settings with the Redis URL that --redis-url, the environment or a running `sweeprank up` gives."""
    return settings.model_copy(update={"redis_url": redis_url(args.redis_url, settings, Path(args.data_dir))})
