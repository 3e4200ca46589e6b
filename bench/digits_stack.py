"""What the stack benchmarks share: a sweep of tiny, fast digits trials, and waiting for the stack."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

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


def wait(probe: Callable[[], T], timeout_s: float = 120.0, interval_s: float = 0.1) -> T:
    """probe()'s first truthy value; stop the benchmark after timeout_s."""
    deadline = time.monotonic() + timeout_s
    while not (value := probe()):
        if time.monotonic() > deadline:
            raise SystemExit("timed out; see the logs")
        time.sleep(interval_s)
    return value
