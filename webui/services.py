"""What the request handlers need, built once per app: settings, store, dispatcher, and the app's caches.

Blueprint modules import `services` from here, never from `webui.app` (which imports them).
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from flask import current_app

from broker.celery_app import make_celery
from broker.dispatcher import Dispatcher
from broker.settings import Settings
from broker.store import Store
from trials.records import BestProgress

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

# Bound of the cache below (entries): a few hundred sweeps' summaries.
BEST_RESULTS_CACHED = 256


class LruCache(Generic[K, V]):
    """At most `size` entries, least recently used out first; safe to share between request threads.

    Keys must name the version of what they cache (a sweep id alone restarts at sw1 after a Redis flush).
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._entries: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()

    def get_or_compute(self, key: K, compute: Callable[[], V]) -> V:
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                return self._entries[key]
        value = compute()  # outside the lock: two threads may compute the same entry, never block each other
        with self._lock:
            self._entries[key] = value
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
        return value

    def __len__(self) -> int:
        return len(self._entries)


class Services:
    """What the request handlers need, built once per app."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        # The app is built before gunicorn forks its workers: this is the server's (master's) pid,
        # the one to signal, while os.getpid() in a request is the worker that answers.
        self.server_pid = os.getpid()
        self.store = Store.from_url(settings.redis_url, reply_timeout_s=settings.web_redis_timeout_s)
        self.dispatcher = Dispatcher(self.store, make_celery(settings), settings, asks=False)
        # (sweep id, sweep creation time, results so far) -> best so far (webui/progress.py)
        self.best_results: LruCache[tuple[str, float, int], BestProgress] = LruCache(BEST_RESULTS_CACHED)


def services() -> Services:
    found: Services = current_app.extensions["sweeprank"]
    return found
