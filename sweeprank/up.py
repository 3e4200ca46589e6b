"""`sweeprank up`: the whole local stack in one command, stopped cleanly by Ctrl-C."""

from __future__ import annotations

import argparse
import signal
import time
from pathlib import Path
from typing import Any

from sweeprank.client import Client
from sweeprank.report import follow, print_final
from sweeprank.stack import Stack, StackError, free_port, redact_url, visible_gpus
from trials.errors import SweeprankError

TOKEN_FILE = "admin-token"


def _wait_for_web(client: Client, stack: Stack, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            client.get("/api/queue")
            return
        except SweeprankError:
            if stack.dead() or time.monotonic() > deadline:
                raise StackError(f"the web server did not start (dead: {stack.dead()}); see the logs") from None
            time.sleep(0.2)


def _admin_token(redis_url: str, data_dir: Path) -> str:
    """A fresh admin token for this stack's operator, kept in a file only they can read."""
    from broker.store import Store

    token = Store.from_url(redis_url, ride_out_restarts=False).users.add("admin", admin=True)
    path = data_dir / TOKEN_FILE
    path.touch(mode=0o600)
    path.write_text(token + "\n")
    return token


def run_up(args: argparse.Namespace, demo_spec: dict[str, Any] | None) -> int:
    data_dir = Path(args.data_dir).resolve()
    log_dir = data_dir / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    stack = Stack(log_dir=log_dir)
    # SIGTERM (e.g. from a supervisor) stops the stack like Ctrl-C does.
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        url = args.redis_url or stack.start_redis(data_dir / "redis", free_port())
        stack.env["SWEEPRANK_REDIS_URL"] = url
        token = _admin_token(url, data_dir)
        gpus = visible_gpus()
        stack.start_trainers(
            cpu_workers=args.cpu_workers, threads=args.threads, gpus=gpus, trials_per_gpu=args.trials_per_gpu
        )
        stack.start_analyst()
        web_url = stack.start_web(args.host, args.port)
        client = Client(web_url, token=token)
        _wait_for_web(client, stack)
        trainers = f"{len(gpus)} GPU worker(s)" if gpus else f"{args.cpu_workers} CPU trainer process(es)"
        print(f"sweeprank is up: web UI and API at {web_url} ; Redis {redact_url(url)} ; {trainers}; logs in {log_dir}")
        print(
            f"log in as admin with the token in {data_dir / TOKEN_FILE} ; `sweeprank user add NAME` adds members",
            flush=True,
        )
        if demo_spec:
            created = client.post("/api/sweeps", demo_spec)
            print(f"demo sweep {created['id']} submitted: {web_url}/sweeps/{created['id']}")
            print_final(client, created["id"], follow(client, created["id"]))
            print(f"\nThe web UI stays up at {web_url} ; Ctrl-C stops everything.")
        while not stack.dead():
            time.sleep(1.0)
        print(f"stopping: {stack.dead()} exited; see {log_dir}")
        return 1
    except KeyboardInterrupt:
        print("\nstopping sweeprank ...")
        return 0
    finally:
        stack.stop()
