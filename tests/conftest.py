"""Fixtures shared by every test package: a real redis-server on a free port."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from sweeprank.stack import Stack, free_port


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A private redis-server (AOF on, own data dir) for the whole run."""
    stack = Stack(log_dir=None)
    url = stack.start_redis(Path(tmp_path_factory.mktemp("redis")), free_port())
    yield url
    stack.stop()


@pytest.fixture
def redis_client(redis_url: str) -> redis.Redis:
    return redis.Redis.from_url(redis_url, decode_responses=True)
