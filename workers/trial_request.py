"""The trial task's Celery request: a trainer's parent re-queues the trial of a child that died.

When a prefork child is killed (OOM, kill -9) the Celery parent learns it at once, as a
WorkerLostError on the request the child was running, and acknowledges the message (our
settings: acks on failure, no reject on worker lost, so the broker never redelivers it as
well). Without help the trial would then sit "running" until its claim expired. Here the
parent hands the attempt to the reconciler's fast path, which frees the dead child's claim
and queues the next attempt with the same attempt counting and exactly-once guards as a
claim that expired. The claim's TTL stays the fallback when a whole host is lost. And a trainer that starts re-queues
at once the trials that its previous life (same node name) held when it died.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from functools import cache

from billiard.einfo import ExceptionInfo
from celery import Celery
from celery.exceptions import WorkerLostError
from celery.worker.request import Request

from broker.celery_app import device_class_of
from broker.connection import BrokerError
from broker.dispatcher import Dispatcher
from broker.processes import pid_alive
from broker.reconciler import Reconciler
from broker.settings import process_settings
from broker.store import Store
from trials.json_types import JSONObject
from trials.specs import TrialSpec

log = logging.getLogger(__name__)


def holder_name(hostname: str | None, pid: int) -> str:
    """Who holds a trial's claim: the worker's node name and the pid of the child running it."""
    return f"{hostname or socket.gethostname()}:{pid}"


@cache
def _reconciler(app: Celery, pid: int) -> Reconciler:
    """One per process (keyed by pid: a forked child must not reuse its parent's sockets)."""
    settings = process_settings()
    store = Store.from_url(settings.redis_url)
    return Reconciler(store, Dispatcher(store, app, settings, asks=False))


def recover(app: Celery, raw_spec: JSONObject, device_class: str, holder: str | None, why: str) -> str:
    """Queue the next attempt of the trial whose child died; the TTL fallback remains if Redis is away."""
    spec = TrialSpec.model_validate(raw_spec)
    try:
        outcome = _reconciler(app, os.getpid()).recover_dead_delivery(spec, device_class, holder, why)
    except BrokerError:
        log.exception("could not re-queue %s after its worker died; its claim's TTL will", spec.key)
        return "left to the claim's TTL"
    log.warning("trial %s: %s; %s", spec.key, why, outcome or "nothing to do")
    return outcome


def recover_orphans(app: Celery, node: str) -> None:
    """At a trainer's start: next attempts for the trials that a previous life of this node still holds.

    A Celery node name is unique in the pool and names one host, so a claim held under it by a
    process that is no longer alive was left by this trainer before it was stopped or killed
    (e.g. together with Redis), and would otherwise keep its trial for the claim's TTL.
    """

    def dead(holder: str) -> bool:
        name, _, pid = holder.rpartition(":")
        return name == node and pid.isdigit() and not pid_alive(int(pid))

    try:
        outcomes = _reconciler(app, os.getpid()).recover_orphans(dead)
    except BrokerError:
        log.exception("could not look for trials left by a previous life of %s; their claims' TTL will", node)
        return
    if outcomes:
        log.warning("trials left by a previous life of %s: %s", node, dict(outcomes))


def _unwrapped(exc_info: ExceptionInfo) -> BaseException:
    exc = exc_info.exception
    return getattr(exc, "exc", exc)  # celery wraps child exceptions in ExceptionWithTraceback


class TrialRequest(Request):
    """Runs in the Celery parent; only a child's death adds anything to Celery's own handling."""

    def on_failure(self, exc_info: ExceptionInfo, send_failed_event: bool = True, return_ok: bool = False) -> None:
        super().on_failure(exc_info, send_failed_event=send_failed_event, return_ok=return_ok)
        exc = _unwrapped(exc_info)
        if not isinstance(exc, WorkerLostError) or not self.args:
            return
        holder = holder_name(self.hostname, self.worker_pid) if self.worker_pid else None
        device_class = device_class_of(process_settings().device)
        # Off the parent's event loop: the store rides out a Redis restart by waiting, and the
        # parent must keep consuming meanwhile.
        threading.Thread(
            target=recover,
            args=(self.app, self.args[0], device_class, holder, f"worker {holder or self.hostname} died: {exc}"),
            name="sweeprank-recover",
            daemon=True,
        ).start()
