"""What the stack benchmarks share: a sweep of tiny, fast digits trials, and waiting for the stack."""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from broker.celery_app import make_celery
from broker.dispatcher import Dispatcher
from broker.settings import read_settings
from broker.store import Store
from sweeprank.stack import Stack, free_port, worker_command

T = TypeVar("T")

# Trials of well under a second on a CPU: the benchmarks measure the queue and the web, not training.
NARROW = {
    "num_conv_layers": {"high": 2},
    "num_filters": {"high": 16},
    "fc_units": {"high": 64},
    "batch_size": {"choices": [128]},
    "epochs": {"high": 1},
}


def digits_spec(name: str, n_trials: int) -> dict[str, object]:
    return {"owner": "bench", "name": name, "datasets": ["digits"], "n_trials": n_trials, "narrow": NARROW}


@contextmanager
def cpu_stack(slots: int, bootstrap: int) -> Iterator[tuple[Stack, Store, str]]:
    """Redis on a free port, a CPU trainer with `slots` one-thread slots and the analyst; stopped on exit."""
    with tempfile.TemporaryDirectory() as tmp:
        stack = Stack(log_dir=Path(tmp))
        url = stack.start_redis(Path(tmp) / "redis", free_port())
        stack.env.update(SWEEPRANK_REDIS_URL=url, SWEEPRANK_DEVICE="cpu", SWEEPRANK_TORCH_THREADS="1")
        try:
            stack.spawn("trainer", worker_command(name="bench@%h", device="cpu", concurrency=slots))
            stack.spawn("analyst", [sys.executable, "-m", "sweeprank", "analyst", "--bootstrap", str(bootstrap)])
            yield stack, Store.from_url(url), url
        finally:
            stack.stop()


def wait(probe: Callable[[], T], timeout_s: float = 120.0, interval_s: float = 0.1) -> T:
    """probe()'s first truthy value; stop the benchmark after timeout_s."""
    deadline = time.monotonic() + timeout_s
    while not (value := probe()):
        if time.monotonic() > deadline:
            raise SystemExit("timed out; see the logs")
        time.sleep(interval_s)
    return value


def ready_dispatcher(store: Store, url: str) -> Dispatcher:
    """Once a trainer beats: a dispatcher on the stack's Redis, as `sweeprank submit` would make it."""
    wait(lambda: list(store.workers.live(30)))
    os.environ["SWEEPRANK_REDIS_URL"] = url
    settings = read_settings()
    return Dispatcher(store, make_celery(settings), settings)
