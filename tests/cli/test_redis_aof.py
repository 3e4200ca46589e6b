"""The Redis that `sweeprank up` starts rewrites its append-only file on its own (issue 19)."""

from __future__ import annotations

from pathlib import Path

import redis

from sweeprank.stack import Stack, free_port


def test_up_s_redis_rewrites_its_aof_once_it_grew_by_half_past_16_mb(tmp_path: Path) -> None:
    stack = Stack(log_dir=None)
    url = stack.start_redis(tmp_path / "redis", free_port())
    try:
        config = redis.Redis.from_url(url, decode_responses=True).config_get("*aof*")
    finally:
        stack.stop()
    assert config["auto-aof-rewrite-percentage"] == "50"
    assert config["auto-aof-rewrite-min-size"] == str(16 * 1024 * 1024)
