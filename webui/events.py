"""Server-Sent Events: small "something changed" notes fed from cheap Redis reads.

Per web process one poller (`ChangeFeed`, a daemon thread started by the first open stream)
reads a few counters every events_interval_s (a setting): per active sweep its status, final
results, epoch records and rankings; for the pool the live workers, queue depths, results
stream head and failures. It hands each new reading to every open stream, and each stream
sends one event per thing that changed since the reading it last compared. So Redis sees one
read per interval per web process, however many pages are open, and pages refetch what they
show through the JSON API, so events stay tiny and the API stays the one source of data.

A stream ends after events_max_s, or at once when its server stops (`end_streams`); the
browser's EventSource reconnects after `retry` ms, which also carries it over server restarts.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TypedDict

from flask import Blueprint, Flask, Response, current_app, request
from werkzeug.exceptions import TooManyRequests

from broker.connection import BrokerError
from broker.settings import Settings
from broker.store import Store
from broker.store.activity import PoolActivity
from trials.specs import SweepStatus
from webui.auth import check_read, current_user
from webui.services import services

events = Blueprint("events", __name__)
events.before_request(check_read)

log = logging.getLogger(__name__)

RETRY_MS = 1000
KEEPALIVE_S = 15.0
# A finished sweep stays in the readings this long, so a stream that was busy writing while
# its final status went by still sees it (it compares with the reading it last saw).
KEEP_FINISHED_S = 30.0
READINGS_KEPT = 32

SweepMarker = tuple[str, int, int, int]  # status, final results, epoch records, rankings stored


class PoolMarker(PoolActivity):
    workers: list[str]  # the live workers' names, sorted


class SweepChange(TypedDict):
    """The data of a sweep's change event (what the page compares with what it shows)."""

    topic: str
    sweep_id: str
    status: str
    n_final: int
    epochs: int
    rankings: int


@dataclass(frozen=True)
class Markers:
    """One reading of the change markers."""

    pool: PoolMarker
    sweeps: dict[str, SweepMarker]
    # monotonic time each watched sweep was first seen finished (not compared: not a change)
    finished_at: dict[str, float] = field(default_factory=dict, compare=False)


def _finished(status: str) -> bool:
    """A final status, or none at all (a sweep gone from Redis changes no more)."""
    try:
        return SweepStatus(status).final
    except ValueError:
        return True


def pool_marker(store: Store, settings: Settings) -> PoolMarker:
    pool = store.activity.pool(("cpu", "gpu"))
    return PoolMarker(workers=sorted(w.name for w in store.workers.live(settings.worker_ttl_s)), **pool)


def read_markers(store: Store, settings: Settings, previous: Markers | None, now: float) -> Markers:
    """The markers now: the active sweeps, plus those `previous` saw that are unfinished or finished lately."""
    watched = set(store.sweeps.active_ids())
    if previous is not None:
        watched |= {s for s, m in previous.sweeps.items() if not _finished(m[0])}
        watched |= {s for s, t in previous.finished_at.items() if now - t < KEEP_FINISHED_S}
    sweeps = store.activity.sweeps(sorted(watched))
    earlier = previous.finished_at if previous is not None else {}
    finished_at = {s: earlier.get(s, now) for s, m in sweeps.items() if _finished(m[0])}
    return Markers(pool_marker(store, settings), sweeps, finished_at)


class FeedClosed(Exception):
    """The feed was closed: its server is stopping."""


class ChangeFeed:
    """One reader of the markers for every stream of a process; streams wait on its condition.

    `read(previous)` returns the current markers. The poller thread starts with the first
    listener, reads every `interval_s` while any stream listens, and idles (reading nothing)
    while none does. Without `own_poller` nothing reads until someone calls `poll_once`.
    """

    def __init__(self, read: Callable[[Markers | None], Markers], interval_s: float, own_poller: bool = True) -> None:
        self.interval_s = interval_s
        self._read = read
        self._own_poller = own_poller
        self._changed = threading.Condition()
        self._markers: Markers | None = None  # the latest reading; None while idle
        self._version = 0
        # The latest readings by version: a stream steps through them, so one that was busy
        # writing still compares consecutive readings and misses no transient marker.
        self._readings: deque[tuple[int, Markers]] = deque(maxlen=READINGS_KEPT)
        self._listeners = 0
        self._closed = False
        self._poller: threading.Thread | None = None

    @contextmanager
    def listening(self) -> Iterator[tuple[int, Markers | None]]:
        """Within the block the poller reads; yields the version to wait after and its markers (None: none yet)."""
        with self._changed:
            if self._closed:
                raise FeedClosed
            self._listeners += 1
            if self._own_poller and self._poller is None:
                self._poller = threading.Thread(target=self._poll_forever, name="sse-change-feed", daemon=True)
                self._poller.start()
            self._changed.notify_all()  # wakes an idle poller
            baseline = (self._version, self._markers)
        try:
            yield baseline
        finally:
            with self._changed:
                self._listeners -= 1

    def next_after(self, version: int, timeout_s: float) -> tuple[int, Markers] | None:
        """The reading after `version` (the oldest kept, if it is gone), or None if none came within `timeout_s`."""
        with self._changed:
            self._changed.wait_for(lambda: self._closed or self._version > version, timeout_s)
            if self._closed:
                raise FeedClosed
            return next(((v, m) for v, m in self._readings if v > version), None)

    def poll_once(self) -> None:
        """Read the markers once and wake every stream if they changed."""
        with self._changed:
            previous = self._markers
        markers = self._read(previous)  # outside the lock: streams keep serving meanwhile
        with self._changed:
            self._markers = markers
            if markers != previous:
                self._version += 1
                self._readings.append((self._version, markers))
                self._changed.notify_all()

    def close(self) -> None:
        """End every stream now and stop the poller."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()

    @property
    def listeners(self) -> int:
        return self._listeners

    @property
    def version(self) -> int:
        return self._version

    def _poll_forever(self) -> None:
        while True:
            with self._changed:
                if not self._listeners:
                    # Idle: a stream that opens later must not compare with a stale reading.
                    self._markers = None
                    self._readings.clear()
                self._changed.wait_for(lambda: self._closed or self._listeners > 0)
                if self._closed:
                    return
            try:
                self.poll_once()
            except BrokerError as err:
                # Streams stay open (keep-alive comments) and resume when Redis is back.
                log.warning("live-update feed cannot read Redis: %s", err)
            with self._changed:
                if self._changed.wait_for(lambda: self._closed, self.interval_s):
                    return


def _sweep_event(sweep_id: str, marker: SweepMarker) -> SweepChange:
    status, n_final, n_epochs, n_rankings = marker
    return SweepChange(
        topic="sweep", sweep_id=sweep_id, status=status, n_final=n_final, epochs=n_epochs, rankings=n_rankings
    )


def _message(event: str, data: Mapping[str, object]) -> str:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


def changes(before: Markers, now: Markers) -> list[str]:
    """One event per difference: the pool, and each sweep whose marker moved."""
    out = []
    if now.pool != before.pool:
        out.append(_message("change", {"topic": "pool"}))
    for sweep_id, marker in now.sweeps.items():
        if before.sweeps.get(sweep_id) != marker:
            out.append(_message("change", _sweep_event(sweep_id, marker)))
    return out


def event_stream(feed: ChangeFeed, max_s: float, keepalive_s: float = KEEPALIVE_S) -> Iterator[str]:
    yield f"retry: {RETRY_MS}\n" + _message("hello", {"time": time.time()})
    started = last_sent = time.monotonic()
    try:
        with feed.listening() as (version, seen):
            while (left := max_s - (time.monotonic() - started)) > 0:
                news = feed.next_after(version, max(0.0, min(left, keepalive_s - (time.monotonic() - last_sent))))
                out = []
                if news is not None:
                    version, markers = news
                    # The first reading of a stream is its baseline: changes are what moves after it.
                    out = changes(seen, markers) if seen is not None else []
                    seen = markers
                if not out and time.monotonic() - last_sent >= keepalive_s:
                    out.append(": keep-alive\n\n")  # a comment line: proxies keep the connection, browsers ignore it
                if out:
                    last_sent = time.monotonic()
                    yield "".join(out)
    except FeedClosed:
        return  # the server is stopping; the browser reconnects to the next one


class StreamSlots:
    """Which live-update streams may open: at most `per_client` per client, and never every thread.

    Each stream holds one of the process's threads for minutes; without a bound, one client opening
    hundreds would leave none for anyone else, /api/health included. Streams may take all threads but
    `reserved_threads(threads)`, which stay for requests.
    """

    def __init__(self, threads: int, per_client: int) -> None:
        self.limit = max(1, threads - reserved_threads(threads))
        self.per_client = per_client
        self._lock = threading.Lock()
        self._open: dict[str, int] = {}

    def take(self, client: str) -> str | None:
        """Count one more stream of `client`; None when taken, else why it may not open."""
        with self._lock:
            if self._open.get(client, 0) >= self.per_client:
                return f"this client already has {self.per_client} live-update streams open"
            if sum(self._open.values()) >= self.limit:
                return f"this web process serves its maximum of {self.limit} live-update streams"
            self._open[client] = self._open.get(client, 0) + 1
            return None

    def give_back(self, client: str) -> None:
        with self._lock:
            self._open[client] -= 1
            if not self._open[client]:
                del self._open[client]


def reserved_threads(threads: int) -> int:
    """Threads of a web process that streams never take: requests (health, the API) always find one."""
    return min(threads - 1, max(2, threads // 8))


_FEED = "sweeprank.events"
_SLOTS = "sweeprank.stream-slots"
_feed_created = threading.Lock()


def change_feed(app: Flask) -> ChangeFeed:
    """The app's feed, made at its first stream (in the process that serves it, after any fork)."""
    with _feed_created:
        feed: ChangeFeed | None = app.extensions.get(_FEED)
        if feed is None:
            svc = app.extensions["sweeprank"]
            store, settings = svc.store, svc.settings
            feed = ChangeFeed(
                lambda previous: read_markers(store, settings, previous, time.monotonic()), settings.events_interval_s
            )
            app.extensions[_FEED] = feed
        return feed


def end_streams(app: Flask) -> None:
    """End every open stream of `app` now (the server is stopping); new ones end at once too."""
    change_feed(app).close()


def stream_slots(app: Flask) -> StreamSlots:
    with _feed_created:
        slots: StreamSlots | None = app.extensions.get(_SLOTS)
        if slots is None:
            settings = app.extensions["sweeprank"].settings
            slots = StreamSlots(settings.web_threads, settings.events_per_client)
            app.extensions[_SLOTS] = slots
        return slots


@events.get("/events")
def stream() -> Response:
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    user = current_user()
    client = f"member:{user.name}" if user is not None else f"address:{request.remote_addr}"
    slots = stream_slots(app)
    refused = slots.take(client)
    if refused is not None:
        raise TooManyRequests(description=f"{refused}; close some pages or try again later")
    body = event_stream(change_feed(app), services().settings.events_max_s)
    response = Response(
        body, mimetype="text/event-stream", headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    )
    response.call_on_close(lambda: slots.give_back(client))
    return response
