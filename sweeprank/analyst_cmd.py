"""`sweeprank analyst`: the analyst process, rankings from the result stream."""

from __future__ import annotations

import argparse
from typing import Any

from broker.settings import Settings
from sweeprank import stack_state
from sweeprank.ranking_flags import add_ranking_flags, config_from_args


def add_parser(subparsers: Any) -> None:
    analyst = subparsers.add_parser("analyst", help="the analyst: incremental rankings from the result stream")
    # A sweep's spec chooses its method, stability window and delta; these apply to every sweep.
    add_ranking_flags(analyst, ("k", "sigma", "bootstrap", "seed", "permutations", "block_size"))
    stack_state.add_redis_options(analyst)
    analyst.set_defaults(func=cmd_analyst)


def cmd_analyst(args: argparse.Namespace, settings: Settings) -> int:
    from analyst.service import Analyst
    from broker.celery_app import make_celery
    from broker.dispatcher import Dispatcher
    from broker.store import Store

    settings = stack_state.with_stack_redis(args, settings)
    store = Store.from_url(settings.redis_url)
    analyst = Analyst(
        store,
        Dispatcher(store, make_celery(settings), settings),
        config_from_args(args),
    )
    analyst.run_forever(settings.reconcile_every_s, beat_every_s=settings.analyst_beat_s)
    return 0
