"""A stack of real processes for fault tests: its own Redis (so it can be killed), short claims.

Its trainers can hold trials (tests/holds.py): the tests kill, signal or outlive a trial while it
is held, never while hoping it is still running. Each test reports its figures through the
`figures` fixture; they are printed together at the end of the run (pytest's terminal summary).
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from broker import sweep_actions
from broker.celery_app import make_celery
from broker.dispatcher import Dispatcher
from broker.settings import Settings
from sweeprank.stack import free_port, redis_command, wait_for_redis
from tests.conftest import FIGURE
from tests.held_trainer import THREAD_IMPORTS_DIR
from tests.helpers import wait_until
from tests.integration.conftest import LiveStack, trainer_command
from trials.records import SweepRecord
from trials.specs import SweepSpec, parse_sweep_spec

Figures = Callable[[str], None]
"""What the `figures` fixture gives a test: call it with one line per figure."""
# Short claims and frequent reconciling make recovery take seconds, not minutes.
FAST_FAULTS = {"SWEEPRANK_CLAIM_TTL_S": "2", "SWEEPRANK_RECONCILE_EVERY_S": "0.5"}
# Small trials: the tests hold them after epoch 1 for as long as they need them running. More
# than one epoch, so that a released trial still checks whether to stop before it ends.
TRIAL_EPOCHS = 3
TRIAL_NARROW: dict[str, dict[str, Any]] = {
    "num_conv_layers": {"high": 1},
    "num_filters": {"high": 8},
    "fc_units": {"high": 32},
    "batch_size": {"choices": [32]},
    "epochs": {"low": TRIAL_EPOCHS, "high": TRIAL_EPOCHS},
}


class FaultStack(LiveStack):
    def __init__(self, log_dir: Path, data_dir: Path) -> None:
        self.redis_port = free_port()
        self.data_dir = data_dir
        super().__init__(f"redis://127.0.0.1:{self.redis_port}/0", log_dir, data_dir / "no-tfds")
        self.stack.env.update(FAST_FAULTS)
        self.thread_imports_dir = log_dir / "thread-imports"
        self.thread_imports_dir.mkdir()
        self.stack.env[THREAD_IMPORTS_DIR] = str(self.thread_imports_dir)
        self.settings = Settings(redis_url=self.redis_url, claim_ttl_s=2)
        self.start_redis()

    def thread_imports(self) -> list[str]:
        """Each first import made by a thread of a trainer parent of this stack (tests/held_trainer.py)."""
        return [line for path in sorted(self.thread_imports_dir.iterdir()) for line in path.read_text().splitlines()]

    def start_redis(self) -> None:
        self.redis = self.stack.spawn("redis", redis_command(self.data_dir, self.redis_port))
        # Stopped last (children stop in reverse order), or a restarted Redis would go first and
        # the trainers' warm shutdown would wait for it until killed (20 s).
        self.stack.children.insert(0, self.stack.children.pop())
        wait_for_redis(self.redis_url)

    def kill_redis(self) -> None:
        self.redis.kill()
        self.redis.wait()

    def dispatcher(self) -> Dispatcher:
        """A dispatcher with the pool's own settings (the long visibility timeout, unclipped limits)."""
        return Dispatcher(self.store, make_celery(self.settings), self.settings)

    def submit(self, n_trials: int, narrow: dict[str, dict[str, Any]] | None = None, **extra: Any) -> str:
        return sweep_actions.submit(self.store, self.dispatcher(), self.spec(n_trials, narrow, **extra))

    def spec(self, n_trials: int, narrow: dict[str, dict[str, Any]] | None = None, **extra: Any) -> SweepSpec:
        return parse_sweep_spec(
            {
                "owner": "ann",
                "name": "faults",
                "datasets": ["digits"],
                "n_trials": n_trials,
                "narrow": narrow or TRIAL_NARROW,
                "seed": 3,
                **extra,
            }
        )

    def restart_without_trainers(self) -> None:
        """Stop everything, then Redis (same AOF) and the analyst."""
        self.stack.stop()
        self.start_redis()
        self.start_analyst()

    def restart_with_trainer(self, name: str, **env: str) -> Any:
        """Stop everything, then Redis (same AOF), the analyst and one trainer with extra environment."""
        self.restart_without_trainers()
        return self.spawn_trainer(name, **env)

    def spawn_trainer(self, name: str, **env: str) -> Any:
        label = f"trainer-{name}"
        trainer = self.stack.spawn(label, trainer_command(name, 2), env)
        wait_until(lambda: any(w.name == name for w in self.store.workers.live(30)), 60, what=f"{name} registered")
        return trainer

    def kill(self, pid: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def running_stack(tmp_path_factory: pytest.TempPathFactory, trainer: str, **env: str) -> Iterator[FaultStack]:
    """A fault stack with one two-slot trainer called `trainer` and the analyst; `env` overrides FAST_FAULTS."""
    stack = FaultStack(tmp_path_factory.mktemp("fault-logs"), tmp_path_factory.mktemp("fault-redis"))
    stack.stack.env.update(env)
    stack.start_trainer(slots=2, name=trainer)
    stack.start_analyst()
    yield stack
    stack.stack.stop()


@pytest.fixture(scope="module")
def faults(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaultStack]:
    yield from running_stack(tmp_path_factory, "faulty@test")


@pytest.fixture
def figures(request: pytest.FixtureRequest) -> Figures:
    """Report one figure of the test: printed now (with -s) and in the run's terminal summary (tests/conftest.py)."""

    def report(line: str) -> None:
        # On the test's report, so that it reaches the summary from a pytest-xdist worker too.
        request.node.user_properties.append((FIGURE, line))
        print(f"\n{line}")

    return report


def duplicated_metric_rows(stack: FaultStack, sweep_id: str) -> int:
    rows = Counter((m.trial_id, m.attempt, m.epoch) for m in stack.store.results.epoch_metrics(sweep_id))
    return sum(n - 1 for n in rows.values())


def wait_done(stack: FaultStack, sweep_id: str, timeout_s: float = 180) -> SweepRecord:
    return wait_until(
        lambda: (s := stack.store.sweeps.get(sweep_id)).status == "completed" and s,
        timeout_s,
        what=f"sweep {sweep_id} to complete",
    )
