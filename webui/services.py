"""What the request handlers need, built once per app: settings, store, dispatcher.

Nothing derived from Redis is cached per process: what the pages show is kept in Redis as results arrive, so
every web process reads the same.

Blueprint modules import `services` from here, never from `webui.app` (which imports them).
"""

from __future__ import annotations

import os

from flask import current_app

from broker.celery_app import make_celery
from broker.dispatcher import Dispatcher
from broker.settings import Settings
from broker.store import Store


class Services:
    """What the request handlers need, built once per app."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        # The app is built before gunicorn forks its workers: this is the server's (master's) pid,
        # the one to signal, while os.getpid() in a request is the worker that answers.
        self.server_pid = os.getpid()
        self.store = Store.from_url(
            settings.redis_url, reply_timeout_s=settings.web_redis_timeout_s, archive_dir=settings.archive_root
        )
        self.dispatcher = Dispatcher(self.store, make_celery(settings), settings, asks=False)


def services() -> Services:
    found: Services = current_app.extensions["sweeprank"]
    return found
