"""What the request handlers need, built once per app.

Blueprint modules import `services` from here, never from `webui.app` (which imports them).
"""

from __future__ import annotations

from flask import current_app

from broker.celery_app import make_celery
from broker.dispatcher import Dispatcher
from broker.settings import Settings
from broker.store import Store


class Services:
    """What the request handlers need, built once per app."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.store = Store.from_url(settings.redis_url)
        self.dispatcher = Dispatcher(self.store, make_celery(settings), settings)


def services() -> Services:
    found: Services = current_app.extensions["sweeprank"]
    return found
