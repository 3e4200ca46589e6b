"""Fixed-window rate limits kept in Redis, so every web process shares them."""

from __future__ import annotations

import time

from werkzeug.exceptions import TooManyRequests

from webui.services import services


class RateLimited(TooManyRequests):
    def __init__(self, what: str, limit: int, window_s: int, retry_after_s: int) -> None:
        super().__init__(f"too many {what}: at most {limit} per {window_s} s; retry in {retry_after_s} s")
        self.retry_after_s = retry_after_s


def enforce(bucket: str, what: str, limit: int, window_s: int = 60) -> None:
    """Count one event in `bucket`; past `limit` (a setting) for this window, 429."""
    now = time.time()
    window = int(now // window_s)
    count = services().store.rates.hit(bucket, window, ttl_s=window_s * 2)
    if count > limit:
        raise RateLimited(what, limit, window_s, int((window + 1) * window_s - now) + 1)
