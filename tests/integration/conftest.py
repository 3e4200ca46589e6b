"""The real stack for integration tests: Redis, Celery trainer processes, the analyst, Flask.

The trainers and the analyst are real child processes, started once per session by the `live`
fixture (tests/conftest.py) and shared by every module that uses it (this package's, the browser's);
each `api` test starts and ends with no sweep open. The web app is the real
Flask app from the factory, driven through its test client. Trials are tiny
(sklearn digits, 1 epoch, small nets) so a dozen finish in seconds. The trainers
run `tests.held_trainer`, the real task with a hook that lets a test hold trials
(tests/holds.py); it does nothing unless a test switches holding on.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from broker.connection import connect
from broker.settings import Settings
from broker.store import Store
from sweeprank.stack import Stack, worker_command
from tests.helpers import wait_until
from tests.holds import Holds, holding
from webui import create_app

TINY_NARROW: dict[str, dict[str, Any]] = {
    "num_conv_layers": {"high": 2},
    "num_filters": {"high": 16},
    "fc_units": {"high": 64},
    "batch_size": {"choices": [64, 128]},
    "epochs": {"high": 1},
}

TRAINER_SLOTS = 2
TRAINER_APP = "tests.held_trainer"


def trainer_command(name: str, slots: int) -> list[str]:
    """The real trainer command, with the app that can hold trials (tests/holds.py)."""
    command = worker_command(name=name, device="cpu", concurrency=slots, loglevel="info")
    command[command.index("workers.tasks")] = TRAINER_APP
    return command


def tiny_spec(owner: str = "ann", name: str = "tiny", n_trials: int = 12, **extra: Any) -> dict[str, Any]:
    return {
        "owner": owner,
        "name": name,
        "datasets": ["digits"],
        "n_trials": n_trials,
        "narrow": TINY_NARROW,
        "seed": 1,
        **extra,
    }


class LiveStack:
    """Child processes of one test module, with helpers to restart pieces."""

    def __init__(self, redis_url: str, log_dir: Path, tfds_dir: Path) -> None:
        self.redis_url = redis_url
        self.stack = Stack(log_dir=log_dir)
        self.stack.env.update(
            SWEEPRANK_REDIS_URL=redis_url,
            SWEEPRANK_DEVICE="cpu",
            SWEEPRANK_TORCH_THREADS="1",
            SWEEPRANK_TFDS_DIR=str(tfds_dir),
        )
        self.store = Store.from_url(redis_url)
        self.redis_client = connect(redis_url)
        self.log_dir = log_dir

    def holding(self) -> contextlib.AbstractContextManager[Holds]:
        """Within the block, trials wait after their first epoch until released (tests/holds.py)."""
        return holding(self.redis_client)

    def start_trainer(self, slots: int = TRAINER_SLOTS, name: str = "cpu@test") -> None:
        self.stack.spawn(f"trainer-{name}", trainer_command(name, slots))
        wait_until(lambda: any(w.name == name for w in self.store.workers.live(30)), 60, what="trainer registered")

    def start_analyst(self) -> Any:
        return self.stack.spawn("analyst", [sys.executable, "-m", "sweeprank", "analyst", "--bootstrap", "50"])

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text()[-3000:]}" for p in sorted(self.log_dir.glob("*.log")))


def authed_client(redis_url: str, name: str, admin: bool = False) -> FlaskClient:
    """The real app's test client, sending a fresh token of member `name` on every request."""
    client = create_app(Settings(redis_url=redis_url), {"TESTING": True}).test_client()
    token = Store.from_url(redis_url).users.add(name, admin=admin)
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    return client


def settle(client: FlaskClient, live: LiveStack) -> None:
    """Cancel every sweep still open and wait until the trainers are idle: the stack's tests share them."""
    for sweep in client.get("/api/sweeps").get_json()["sweeps"]:
        if sweep["status"] in ("queued", "running", "paused"):
            client.post(f"/api/sweeps/{sweep['id']}/cancel")
    wait_until(lambda: not any(live.store.trials.inflight(dc) for dc in ("cpu", "gpu")), 120, what="trainers idle")


@pytest.fixture
def api(live: LiveStack) -> Iterator[FlaskClient]:
    # An admin: these tests submit sweeps for several owners (bob, cat, dan) to exercise the queue.
    client = authed_client(live.redis_url, "lab-admin", admin=True)
    # Before as well as after: the stack lives for the whole session, and a test of another module (the
    # browser's) may have left a sweep open.
    settle(client, live)
    yield client
    settle(client, live)


def wait_for_status(
    api: FlaskClient, sweep_id: str, statuses: tuple[str, ...], timeout_s: float = 120
) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        sweep = api.get(f"/api/sweeps/{sweep_id}").get_json()
        return sweep if sweep["status"] in statuses else None

    return wait_until(probe, timeout_s, what=f"sweep {sweep_id} to reach {statuses}")


@pytest.fixture
def redis_api(redis_url: str) -> FlaskClient:
    """The API over real Redis, no workers, as member ann: for validation and read paths."""
    return authed_client(redis_url, "ann")
