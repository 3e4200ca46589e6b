"""A hung Redis (alive, not answering) gives web requests a bounded 503, never a request that waits for ever."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path
from typing import Any

from broker.settings import Settings
from broker.store import Store
from sweeprank.stack import Stack, free_port
from webui import create_app


def test_a_hung_redis_is_a_503_within_the_reply_timeout(tmp_path: Path) -> None:
    stack = Stack(log_dir=None)
    url = stack.start_redis(tmp_path, free_port())
    pid = stack.pids()["redis"]
    try:
        client = create_app(Settings(redis_url=url, web_redis_timeout_s=0.5), {"TESTING": True}).test_client()
        headers = {"Authorization": f"Bearer {Store.from_url(url).users.add('ann')}"}
        assert client.get("/api/sweeps", headers=headers).status_code == 200
        os.kill(pid, signal.SIGSTOP)
        answers: dict[str, Any] = {}

        def ask() -> None:
            answers["sweeps"] = client.get("/api/sweeps", headers=headers)
            answers["health"] = client.get("/api/health", headers=headers)

        asking = threading.Thread(target=ask, daemon=True)
        asking.start()
        asking.join(120)  # far beyond the 0.5 s reply timeout; without one, a request waits for ever
        assert not asking.is_alive(), "a request still waits on the hung Redis"
        assert answers["sweeps"].status_code == 503
        assert answers["sweeps"].get_json()["error"].startswith("Redis does not answer: TimeoutError")
        assert answers["health"].status_code == 503
    finally:
        os.kill(pid, signal.SIGCONT)
        stack.stop()
