"""`sweeprank analyst`: the analyst process, rankings from the result stream."""

from __future__ import annotations

import argparse
from typing import Any

from broker.settings import Settings
from sweeprank import stack_state


def add_parser(subparsers: Any) -> None:
    analyst = subparsers.add_parser("analyst", help="the analyst: incremental rankings from the result stream")
    analyst.add_argument("--k", type=int, default=10, help="neighbours per reference trial (default 10)")
    analyst.add_argument("--sigma", type=float, default=20.0, help="rank-weight width (default 20)")
    analyst.add_argument("--bootstrap", type=int, default=200, help="Poisson bootstrap replicates (default 200)")
    analyst.add_argument("--seed", type=int, default=0, help="random seed of the bootstrap and tests (default 0)")
    stack_state.add_redis_options(analyst)
    analyst.set_defaults(func=cmd_analyst)


def cmd_analyst(args: argparse.Namespace, settings: Settings) -> int:
    from analyst.service import Analyst, RankingParams
    from broker.celery_app import make_celery
    from broker.dispatcher import Dispatcher
    from broker.store import Store

    settings = stack_state.with_stack_redis(args, settings)
    store = Store.from_url(settings.redis_url)
    analyst = Analyst(
        store,
        Dispatcher(store, make_celery(settings), settings),
        RankingParams(args.k, args.sigma, args.bootstrap, args.seed),
    )
    analyst.run_forever(settings.reconcile_every_s, beat_every_s=settings.analyst_beat_s)
    return 0
