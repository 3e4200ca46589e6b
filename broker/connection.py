"""Connecting to Redis, and the Redis errors that code outside broker/ may catch.

Only broker/ imports redis (tests/test_layers.py checks it): other packages catch
`BrokerError` and `BrokerUnavailable` instead. They are redis' own classes under
broker names, not wrappers, so every store method raises them without translation.
"""

from __future__ import annotations

import time

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

BrokerError = redis.RedisError
"""Anything that went wrong talking to Redis."""

BrokerUnavailable = redis.ConnectionError
"""Redis could not be reached (down, restarting, wrong address)."""


def connect(url: str, ride_out_restarts: bool = True) -> redis.Redis:
    """A client for `url`; with `ride_out_restarts`, its commands ride out a Redis restart of up to about 30 s."""
    if not ride_out_restarts:
        return redis.Redis.from_url(url, decode_responses=True)
    return redis.Redis.from_url(
        url,
        decode_responses=True,
        health_check_interval=30,
        retry=Retry(ExponentialBackoff(cap=2.0, base=0.05), retries=20),
        retry_on_error=[redis.ConnectionError, redis.TimeoutError],
    )


def wait_until_up(url: str, timeout_s: float) -> bool:
    """Ping Redis at `url` until it answers; False if it did not within `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    client = redis.Redis.from_url(url)
    while True:
        try:
            client.ping()
            return True
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
