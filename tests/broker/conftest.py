"""Broker tests: the real Store on a real Redis, a recording stand-in for Celery's send_task."""

from __future__ import annotations

from typing import Any

import pytest
import redis

from broker.dispatcher import Dispatcher
from broker.settings import Settings
from broker.store import Store
from trials.records import WorkerInfo
from trials.specs import SweepSpec, parse_sweep_spec

NARROW = {"epochs": {"high": 1}}


class RecordingCelery:
    """Records the trials the dispatcher sends instead of queueing them."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def send_task(self, name: str, args: list[Any], queue: str, **options: Any) -> None:
        self.sent.append({"name": name, "spec": args[0], "queue": queue, **options})


@pytest.fixture
def store(scratch_redis: redis.Redis) -> Store:
    return Store(scratch_redis)


@pytest.fixture
def celery() -> RecordingCelery:
    return RecordingCelery()


@pytest.fixture
def dispatcher(store: Store, celery: RecordingCelery) -> Dispatcher:
    return Dispatcher(store, celery, Settings(redis_url="unused"))  # type: ignore[arg-type]


def make_spec(owner: str = "ann", n_trials: int = 5, **extra: Any) -> SweepSpec:
    return parse_sweep_spec(
        {
            "owner": owner,
            "name": f"{owner}-sweep",
            "datasets": ["digits"],
            "n_trials": n_trials,
            "narrow": NARROW,
            **extra,
        }
    )


def add_worker(store: Store, slots: int, name: str = "w1", queue: str = "trials.cpu") -> None:
    store.workers.register(name, WorkerInfo(queues=[queue], slots=slots, device="cpu"), ttl_s=30)
