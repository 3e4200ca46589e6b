"""Fixtures shared by every test package: a real redis-server on a free port."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from hypothesis import settings

from sweeprank.stack import Stack, free_port

# CI replays the same examples every run (a red CI must be reproducible); locally each
# run explores new ones.
settings.register_profile("ci", derandomize=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A private redis-server (AOF on, own data dir) for the whole run."""
    stack = Stack(log_dir=None)
    url = stack.start_redis(Path(tmp_path_factory.mktemp("redis")), free_port())
    yield url
    stack.stop()


def database_url(redis_url: str, db: int) -> str:
    """The same server, another database: tests that flush must not touch the live stack's (0)."""
    return f"{redis_url.rsplit('/', 1)[0]}/{db}"


@pytest.fixture
def scratch_redis(redis_url: str) -> redis.Redis:
    """Database 2, emptied: for tests that drive the store without workers."""
    client = redis.Redis.from_url(database_url(redis_url, 2), decode_responses=True)
    client.flushdb()
    return client


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """On failure, show the tails of the child processes' logs beside the assertion."""
    from tests.integration.conftest import LiveStack

    outcome = yield
    report = outcome.get_result()
    if report.failed:
        for value in getattr(item, "funcargs", {}).values():
            if isinstance(value, LiveStack):
                report.sections.append(("child process logs", value.logs()))
