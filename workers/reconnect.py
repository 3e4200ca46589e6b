"""The trainers' Celery consumer: back on Redis within about a second of its return.

Celery's consumer retries a lost broker connection with kombu's default schedule (it passes no
intervals): after 2, 4, 6 ... up to 30 s. After a Redis restart the trainer then sat idle until
its next try, up to 30 s, however fast Redis came back; its slots count as live meanwhile, so
nothing else ran the trials sent to them. A retry is one refused TCP connect: retrying every
second costs nothing, and the trainer keeps retrying for as long as Redis is away.
"""

from __future__ import annotations

from typing import Any

from celery.worker.consumer import Consumer
from kombu import Connection

RECONNECT_INTERVALS_S = {"interval_start": 0.5, "interval_step": 0.5, "interval_max": 1.0}
CONSUMER = f"{__name__}:PromptReconnectConsumer"


class PromptReconnectConsumer(Consumer):
    def ensure_connected(self, conn: Connection) -> Connection:
        ensure_connection = conn.ensure_connection

        def ensure_promptly(*args: Any, **kwargs: Any) -> Connection:
            return ensure_connection(*args, **(RECONNECT_INTERVALS_S | kwargs))

        conn.ensure_connection = ensure_promptly  # type: ignore[method-assign]
        return super().ensure_connected(conn)
