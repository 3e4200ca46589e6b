"""`sweeprank user add NAME [--admin] [--password]`: create a lab member, print their API token."""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path
from typing import Any

from broker.settings import Settings
from sweeprank import stack_state


def add_user_command(args: argparse.Namespace, settings: Settings) -> int:
    from broker.store import Store

    url = stack_state.redis_url(args.redis_url, settings, Path(args.data_dir))
    users = Store.from_url(url, ride_out_restarts=False).users
    password = None
    if args.password:
        # stdin when piped, so scripts can set one; a prompt otherwise (never on the command line).
        password = sys.stdin.readline().rstrip("\n") if not sys.stdin.isatty() else getpass.getpass("password: ")
    token = users.add(args.name, admin=args.admin, password=password)
    role = "admin" if args.admin else "member"
    print(f"{role} {args.name} created; API token (shown once, use as 'Authorization: Bearer TOKEN'):", file=sys.stderr)
    print(token)
    return 0


def add_parser(subparsers: Any) -> None:
    user = subparsers.add_parser("user", help="lab members: add one and print their API token")
    actions = user.add_subparsers(dest="user_command", required=True)
    add = actions.add_parser("add", help="create (or reset) a member; prints a new token")
    add.add_argument("name", help="the member's name")
    add.add_argument("--admin", action="store_true", help="may act on every member's sweeps")
    add.add_argument("--password", action="store_true", help="also set a password (read from stdin or a prompt)")
    stack_state.add_redis_options(add)
    add.set_defaults(func=add_user_command)
