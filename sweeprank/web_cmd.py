"""`sweeprank web`: the web server (JSON API and pages)."""

from __future__ import annotations

import argparse
from typing import Any

from broker.settings import Settings
from trials.errors import SweeprankError


def add_parser(subparsers: Any) -> None:
    web = subparsers.add_parser("web", help="the web server (JSON API and pages)")
    web.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    web.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000)")
    web.add_argument("--workers", type=int, help="processes (default: SWEEPRANK_WEB_WORKERS)")
    web.add_argument(
        "--threads", type=int, help="threads per process, one per open live page (default: SWEEPRANK_WEB_THREADS)"
    )
    web.set_defaults(func=cmd_web)


def cmd_web(args: argparse.Namespace, settings: Settings) -> int:
    from sweeprank.webserver import WebOptions, serve

    workers = args.workers if args.workers is not None else settings.web_workers
    threads = args.threads if args.threads is not None else settings.web_threads
    if workers < 1 or threads < 1:
        raise SweeprankError(f"--workers and --threads must be at least 1, not {workers} and {threads}")
    serve(WebOptions(args.host, args.port, workers, threads), settings)
    return 0
