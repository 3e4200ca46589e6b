"""`sweeprank cancel`: cancel a sweep."""

from __future__ import annotations

import argparse
from typing import Any

from broker.settings import Settings
from sweeprank import stack_state


def add_parser(subparsers: Any) -> None:
    cancel = subparsers.add_parser("cancel", help="cancel a sweep (running trials stop at their next epoch)")
    cancel.add_argument("sweep_id", help="the sweep to cancel")
    cancel.set_defaults(func=cmd_cancel)
    stack_state.add_client_options(cancel)


def cmd_cancel(args: argparse.Namespace, settings: Settings) -> int:
    done = stack_state.client_for(args, settings).post(f"/api/sweeps/{args.sweep_id}/cancel")
    print(f"sweep {done['id']} is {done['status']}")
    return 0
