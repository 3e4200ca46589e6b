"""The trainers' Celery consumer: it rides out a Redis restart, and is back on Redis within about a second.

Two things in Celery and kombu stand in the way, both fixed here:

- Celery's consumer retries a lost broker connection with kombu's default schedule (it passes no
  intervals): after 2, 4, 6 ... up to 30 s. After a Redis restart the trainer then sat idle until
  its next try, up to 30 s, however fast Redis came back; its slots count as live meanwhile, so
  nothing else ran the trials sent to them. A retry is one refused TCP connect: retrying every
  second costs nothing, and the trainer keeps retrying for as long as Redis is away.
- Closing the lost connection, kombu drops the transport's address before it is done with the
  connection's channels, and anything that then needs a Redis client on them dies with
  `AttributeError: 'NoneType' object has no attribute 'hostname'` (or `'client'`), which Celery takes
  for unrecoverable: the whole trainer stopped, its running trials with it. Two things need one:
  - the close puts the unacknowledged messages back on their queue (when the connection was lost
    while waiting for a message, a free slot). That restore is wrong anyway: those messages are the
    trials our children are still training. They stay in Redis' unacknowledged set (the append-only
    file keeps it through a restart) until their trials end; if this trainer dies first, the
    visibility timeout and the node's next start (workers/trial_request.py) hand them back, as after
    any crash;
  - the acknowledgement of a trial that ends after the reconnect goes through the channel that
    delivered it, on the lost connection. Each lost channel keeps a pool of its own to the same Redis,
    which connects when the acknowledgement is sent; if Redis is still away then, Celery logs it and
    the visibility timeout hands the message back, which the runner skips (its result is final).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from celery.worker.consumer import Consumer
from kombu import Connection

RECONNECT_INTERVALS_S = {"interval_start": 0.5, "interval_step": 0.5, "interval_max": 1.0}
CONSUMER = f"{__name__}:RideOutConsumer"


def ride_out(lost: Connection, close: Callable[[], None]) -> None:
    """Run `close` (which closes `lost`) so that the messages delivered on `lost` can still be acknowledged."""
    channels = list(getattr(lost.transport, "channels", ()))
    # Built before the close, while the transport still knows Redis' address; connected only when used.
    pools = {channel: channel._get_pool() for channel in channels}
    for channel in channels:
        channel.do_restore = False
    close()
    for channel, pool in pools.items():
        channel._pool = pool


class RideOutConsumer(Consumer):
    def ensure_connected(self, conn: Connection) -> Connection:
        ensure_connection = conn.ensure_connection

        def ensure_promptly(*args: Any, **kwargs: Any) -> Connection:
            return ensure_connection(*args, **(RECONNECT_INTERVALS_S | kwargs))

        conn.ensure_connection = ensure_promptly  # type: ignore[method-assign]
        return super().ensure_connected(conn)

    def on_connection_error_after_connected(self, exc: Exception) -> None:
        if self.connection is None:
            super().on_connection_error_after_connected(exc)
        else:
            ride_out(self.connection, lambda: super(RideOutConsumer, self).on_connection_error_after_connected(exc))
