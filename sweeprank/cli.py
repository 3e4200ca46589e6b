"""`sweeprank` command line: one module per command (`sweeprank/*_cmd.py`), registered in `COMMANDS`.

`main` reads the settings once (broker/settings.py) and hands them to the command.
"""

from __future__ import annotations

import argparse
import sys

import yaml
from threadpoolctl import threadpool_limits

from broker.connection import BrokerError
from broker.settings import process_settings
from sweeprank import (
    analyst_cmd,
    cancel_cmd,
    data_cmd,
    export_cmd,
    rank_cmd,
    status_cmd,
    submit_cmd,
    tune_cmd,
    up_cmd,
    users_cmd,
    web_cmd,
    worker_cmd,
)
from trials.errors import SweeprankError
from trials.untrusted import short

DESCRIPTION = (
    "sweeprank runs hyperparameter sweeps on a pool of GPUs or CPUs and ranks which hyperparameters "
    "matter (shares of the metric's variance, with confidence intervals and verdicts). "
    "Run `sweeprank COMMAND --help` for a command's options."
)
EPILOG = (
    "Settings come from SWEEPRANK_* environment variables (README, Configuration). "
    "Commands that need the stack find it through --url/--redis-url, the environment, or a running `sweeprank up`."
)

# Every command, in the order `sweeprank --help` lists them: each module registers its parser and handler.
COMMANDS = (
    up_cmd,
    worker_cmd,
    analyst_cmd,
    web_cmd,
    submit_cmd,
    status_cmd,
    export_cmd,
    cancel_cmd,
    rank_cmd,
    users_cmd,
    data_cmd,
    tune_cmd,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sweeprank", description=DESCRIPTION, epilog=EPILOG)
    sub = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.add_parser(sub)
    return parser


def one_line(err: BaseException) -> str:
    """An error as the one line the command line prints: its kind where the message alone is unclear, bounded."""
    if isinstance(err, SweeprankError):
        text = str(err)
    elif isinstance(err, BrokerError):
        # Redis down past the ride-out, a wrong password, an ACL denial.
        text = f"Redis: {type(err).__name__}: {err}"
    elif isinstance(err, OSError) and err.filename is not None:
        text = f"{err.filename}: {err.strerror or err}"
    elif isinstance(err, ImportError):
        text = f"{err} (a module this command needs is not installed)"
    else:
        text = f"{type(err).__name__}: {err}"
    return short(" ".join(text.split()))


# What a command may meet in a member's files, paths and URLs: each is the user's to fix, so one line, exit 2.
USER_ERRORS = (SweeprankError, BrokerError, OSError, ValueError, ImportError, yaml.YAMLError)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # The ranking's linear algebra is on matrices of a few dozen rows, where BLAS threads only contend: a 60 x 60
    # solve took 6 ms with OpenBLAS's threads on a busy 2-core host and 0.05 ms with one (the analyst ranks per result).
    threadpool_limits(limits=1, user_api="blas")
    try:
        return int(args.func(args, process_settings()))
    except USER_ERRORS as err:
        print(f"sweeprank: {one_line(err)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
