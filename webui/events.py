"""Server-Sent Events: small "something changed" notes fed from cheap Redis reads.

Every events_interval_s (a setting) the stream reads a few counters (per active sweep: status,
final results, epoch records, rankings; for the pool: live workers, queue depths,
results stream head, failures) and sends one event per thing that changed. Pages
then refetch what they show through the JSON API, so events stay tiny and the API
stays the one source of data. A stream ends after events_max_s; the browser's
EventSource reconnects after `retry` ms, which also carries it over server restarts.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

from flask import Blueprint, Response

from broker.settings import Settings
from broker.store import Store
from trials.specs import SweepStatus
from webui.auth import check_read
from webui.services import services

events = Blueprint("events", __name__)
events.before_request(check_read)

RETRY_MS = 1000
KEEPALIVE_S = 15.0


def pool_marker(store: Store, settings: Settings) -> dict[str, Any]:
    pool = store.activity.pool(("cpu", "gpu"))
    return {"workers": sorted(w.name for w in store.workers.live(settings.worker_ttl_s)), **pool}


def _sweep_event(sweep_id: str, marker: tuple[str, int, int, int]) -> dict[str, Any]:
    status, n_final, n_epochs, n_rankings = marker
    return {
        "topic": "sweep",
        "sweep_id": sweep_id,
        "status": status,
        "n_final": n_final,
        "epochs": n_epochs,
        "rankings": n_rankings,
    }


def _message(event: str, data: dict[str, Any]) -> str:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


def event_stream(store: Store, settings: Settings, interval_s: float, max_s: float) -> Iterator[str]:
    yield f"retry: {RETRY_MS}\n" + _message("hello", {"time": time.time()})
    started = last_sent = time.monotonic()
    pool: dict[str, Any] | None = None
    sweeps: dict[str, tuple[str, int, int, int]] = {}
    while time.monotonic() - started < max_s:
        # Keep watching a sweep that just ended until its final status has been sent.
        watched = sorted(set(store.sweeps.active_ids()) | {s for s, m in sweeps.items() if not SweepStatus(m[0]).final})
        now_sweeps = store.activity.sweeps(watched)
        now_pool = pool_marker(store, settings)
        out = []
        if pool is not None and now_pool != pool:
            out.append(_message("change", {"topic": "pool"}))
        for sweep_id, marker in now_sweeps.items():
            if pool is not None and sweeps.get(sweep_id) != marker:
                out.append(_message("change", _sweep_event(sweep_id, marker)))
        pool, sweeps = now_pool, now_sweeps
        if not out and time.monotonic() - last_sent > KEEPALIVE_S:
            out.append(": keep-alive\n\n")  # a comment line: proxies keep the connection, browsers ignore it
        if out:
            last_sent = time.monotonic()
            yield "".join(out)
        time.sleep(interval_s)


@events.get("/events")
def stream() -> Response:
    svc = services()
    body = event_stream(svc.store, svc.settings, svc.settings.events_interval_s, svc.settings.events_max_s)
    return Response(
        body, mimetype="text/event-stream", headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    )
