"""`sweeprank user add|reset|revoke|list`: lab members, their API tokens, passwords and logins."""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from broker.members import UserError
from broker.settings import Settings
from sweeprank import stack_state

if TYPE_CHECKING:
    from broker.store.users import UserStore


def _users(args: argparse.Namespace, settings: Settings) -> UserStore:
    from broker.store import Store

    url = stack_state.redis_url(args.redis_url, settings, Path(args.data_dir))
    return Store.from_url(url, ride_out_restarts=False).users


def _password(args: argparse.Namespace) -> str | None:
    if not args.password:
        return None
    # stdin when piped, so scripts can set one; a prompt otherwise (never on the command line).
    return sys.stdin.readline().rstrip("\n") if not sys.stdin.isatty() else getpass.getpass("password: ")


def add_user_command(args: argparse.Namespace, settings: Settings) -> int:
    token = _users(args, settings).add(args.name, admin=args.admin, password=_password(args))
    role = "admin" if args.admin else "member"
    print(f"{role} {args.name} created; API token (shown once, use as 'Authorization: Bearer TOKEN'):", file=sys.stderr)
    print(token)
    return 0


def reset_user_command(args: argparse.Namespace, settings: Settings) -> int:
    token = _users(args, settings).reset(args.name, password=_password(args))
    kept = "a new password set" if args.password else "no password (log in with the token, or reset with --password)"
    print(f"{args.name}: old token and every login ended; {kept}; new API token (shown once):", file=sys.stderr)
    print(token)
    return 0


def revoke_user_command(args: argparse.Namespace, settings: Settings) -> int:
    if not _users(args, settings).revoke(args.name):
        raise UserError(f"no member named {args.name!r}")
    print(f"{args.name} revoked: their token, password and every login stopped working")
    return 0


def list_users_command(args: argparse.Namespace, settings: Settings) -> int:
    for user, has_password in _users(args, settings).listing():
        print(f"{user.name:<24} {'admin' if user.admin else 'member':<7} {'password' if has_password else '-'}")
    return 0


def add_parser(subparsers: Any) -> None:
    user = subparsers.add_parser("user", help="lab members: add, reset, revoke, list")
    actions = user.add_subparsers(dest="user_command", required=True)
    add = actions.add_parser("add", help="create (or reset) a member; prints a new token")
    add.add_argument("name", help="the member's name")
    add.add_argument("--admin", action="store_true", help="may act on every member's sweeps")
    add.add_argument("--password", action="store_true", help="also set a password (read from stdin or a prompt)")
    stack_state.add_redis_options(add)
    add.set_defaults(func=add_user_command)
    reset = actions.add_parser("reset", help="new token for a member; the old one and every login end")
    reset.add_argument("name", help="the member whose token (and browser logins) to replace")
    reset.add_argument("--password", action="store_true", help="set a new password (else the old one is removed)")
    reset.set_defaults(func=reset_user_command)
    revoke = actions.add_parser("revoke", help="remove a member: token, password and logins stop working")
    revoke.add_argument("name", help="the member to remove: their token, password and browser logins stop working")
    revoke.set_defaults(func=revoke_user_command)
    listing = actions.add_parser("list", help="every member, admin or not, with or without a password")
    listing.set_defaults(func=list_users_command)
    for command in (reset, revoke, listing):
        stack_state.add_redis_options(command)
