"""Rate-limit counters kept in Redis, so every web process shares them."""

from __future__ import annotations

import redis

from broker import keys


class RateStore:
    def __init__(self, client: redis.Redis) -> None:
        self._r = client

    def hit(self, bucket: str, window: int, ttl_s: int) -> int:
        """Count one event of `bucket` in time window number `window`; returns the window's count so far."""
        key = keys.rate(bucket, window)
        pipe = self._r.pipeline(transaction=True)
        pipe.incr(key)
        pipe.expire(key, ttl_s)
        return int(pipe.execute()[0])
