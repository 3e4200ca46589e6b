"""Connecting to Redis, and the Redis errors that code outside broker/ may catch.

Only broker/ imports redis (tests/test_layers.py checks it): other packages catch
`BrokerError` and `BrokerUnavailable` instead. They are redis' own classes under
broker names, not wrappers, so every store method raises them without translation.
"""

from __future__ import annotations

import time

import redis
from redis.backoff import ExponentialBackoff
from redis.exceptions import OutOfMemoryError  # type: ignore[attr-defined]  # the stubs predate it
from redis.retry import Retry

BrokerError = redis.RedisError
"""Anything that went wrong talking to Redis."""

BrokerUnavailable = redis.ConnectionError
"""Redis could not be reached (down, restarting, wrong address)."""


def writes_refused(err: BaseException) -> str | None:
    """Why Redis refuses writes for now, or None for any other error.

    Redis answers MISCONF while it cannot write its append-only file (a full or failing disk) and OOM
    while it is at its memory limit; reads still work, and writes are taken again once that clears.
    """
    # A pipeline's error names the command first: "Command # 1 (INCRBY ...) of pipeline caused error: MISCONF ...".
    said = str(err).rpartition("caused error: ")[2]
    if isinstance(err, OutOfMemoryError):
        return f"out of memory: {said}"
    if isinstance(err, redis.ResponseError) and said.startswith("MISCONF"):
        return f"it cannot write to its disk: {said.removeprefix('MISCONF ')}"
    return None


def read_only_sentence(reason: str) -> str:
    return f"the pool is read-only: Redis refuses writes ({reason}); it takes them again by itself once that clears"


def connect(url: str, ride_out_restarts: bool = True, reply_timeout_s: float | None = None) -> redis.Redis:
    """A client for `url`; with `ride_out_restarts`, its commands ride out a Redis restart of up to about 30 s.

    With `reply_timeout_s`, a command gives up (redis.TimeoutError) on a Redis that accepts connections but does
    not answer (stopped, swapping), instead of waiting for ever; a Redis that refuses connections is still
    ridden out. For request handlers, which must answer within a bounded time.
    """
    if not ride_out_restarts:  # redis-py's own few retries: bounded either way
        return redis.Redis.from_url(url, decode_responses=True, socket_timeout=reply_timeout_s)
    # A timeout is retried only without a reply timeout: with one, retrying a hung Redis would multiply the wait.
    retried: tuple[type[redis.RedisError], ...] = (
        (redis.ConnectionError, redis.TimeoutError) if reply_timeout_s is None else (redis.ConnectionError,)
    )
    return redis.Redis.from_url(
        url,
        decode_responses=True,
        health_check_interval=30,
        retry=Retry(ExponentialBackoff(cap=2.0, base=0.05), retries=20, supported_errors=retried),
        retry_on_error=list(retried),
        socket_timeout=reply_timeout_s,
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
