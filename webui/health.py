"""The pool's health (GET /api/health, the queue monitor, `sweeprank status`) and a sweep's "ranking paused".

Every part is read from Redis in the request: INFO for Redis itself, the analyst's heartbeat
(broker/store/service_beats.py), the trainers' heartbeats. The report is read through a client that
does not ride out Redis restarts, so a down Redis is reported at once instead of after the
retries every other request makes.
"""

from __future__ import annotations

import os
import socket
import time
from functools import cache
from urllib.parse import urlsplit

from broker.connection import BrokerError, connect, read_only_sentence, writes_refused
from broker.settings import Settings
from broker.store import Store
from broker.store.service_beats import ANALYST
from broker.store.workers import silent_children, stalled_after_s
from trials.records import (
    AnalystHealth,
    Health,
    RankingPause,
    RankingRecord,
    RedisHealth,
    ServicesHealth,
    SweepRecord,
    TrainerHealth,
    WebHealth,
)
from webui.monitor import running_trials, worker_name

# A trainer that died without unregistering is listed as down this long, then forgotten.
TRAINER_DOWN_SHOWN_S = 24 * 3600.0


@cache
def _probe(redis_url: str, reply_timeout_s: float) -> Store:
    return Store(connect(redis_url, ride_out_restarts=False, reply_timeout_s=reply_timeout_s))


def _web(server_pid: int) -> WebHealth:
    return WebHealth(ok=True, pid=server_pid, worker_pid=os.getpid(), host=socket.gethostname())


def analyst_health(store: Store, settings: Settings, now: float) -> AnalystHealth:
    """Ok while its last beat is younger than analyst_beat_ttl_s; lag counts every result it has not acknowledged."""
    beat = store.services.last_beat(ANALYST)
    lag = store.services.results_lag()
    ttl = settings.analyst_beat_ttl_s
    if beat is None:
        return AnalystHealth(ok=False, lag=lag, ttl_s=ttl)
    age = max(0.0, now - beat.beat)
    return AnalystHealth(
        ok=age <= ttl,
        pid=beat.pid,
        host=beat.host,
        started_at=beat.started_at,
        last_beat=beat.beat,
        last_beat_s=round(age, 1),
        processed=beat.processed,
        lag=lag,
        ttl_s=ttl,
    )


def _hung(store: Store, settings: Settings, name: str, now: float) -> dict[int, float]:
    """The trainer's pool children that stopped beating mid-trial (stopped, deadlocked): its parent beats on."""
    return silent_children(store.workers.child_beats(name), now, stalled_after_s(settings.claim_ttl_s))


def _trainers(store: Store, settings: Settings, now: float) -> list[TrainerHealth]:
    busy: dict[str, int] = {}
    for trial in running_trials(store):
        busy[worker_name(trial.worker)] = busy.get(worker_name(trial.worker), 0) + 1
    return [
        TrainerHealth(
            name=w.name,
            ok=not hung,  # live() holds only trainers that beat within worker_ttl_s
            pid=w.pid,
            host=w.host,
            device=w.device,
            last_beat_s=round(max(0.0, now - w.heartbeat), 1),
            slots=w.slots,
            busy=busy.get(w.name, 0),
            hung=hung,
        )
        for w in store.workers.live(settings.worker_ttl_s)
        for hung in [_hung(store, settings, w.name, now)]
    ] + [
        TrainerHealth(
            name=name,
            ok=False,
            pid=None,  # its info expired with its heartbeat
            host=name.rpartition("@")[2],
            device="",
            last_beat_s=round(max(0.0, now - beat), 1),
            slots=0,
            busy=busy.get(name, 0),
        )
        for name, beat in store.workers.silent(settings.worker_ttl_s, TRAINER_DOWN_SHOWN_S)
    ]


def _writes_refused(store: Store) -> str | None:
    try:
        store.health.probe_write()
    except BrokerError as err:
        if (reason := writes_refused(err)) is None:
            raise
        return reason
    return None


def health_report(settings: Settings, server_pid: int, now: float | None = None) -> Health:
    """Overall ok: Redis answers, the analyst beats, and at least one trainer beats."""
    now = time.time() if now is None else now
    store = _probe(settings.redis_url, settings.web_redis_timeout_s)
    redis_host = urlsplit(settings.redis_url).hostname
    try:
        server = store.services.redis_server()
        redis = RedisHealth(ok=True, host=redis_host, **server)
        if (refused := _writes_refused(store)) is not None:
            redis = RedisHealth(ok=False, host=redis_host, read_only=True, error=read_only_sentence(refused), **server)
        analyst = analyst_health(store, settings, now)
        trainers = _trainers(store, settings, now)
    except BrokerError as err:
        redis = RedisHealth(ok=False, host=redis_host, error=f"{type(err).__name__}: {err}")
        analyst = AnalystHealth(ok=False, ttl_s=settings.analyst_beat_ttl_s)
        trainers = []
    ok = redis.ok and analyst.ok and any(t.ok for t in trainers)
    return Health(
        ok=ok, services=ServicesHealth(redis=redis, analyst=analyst, web=_web(server_pid), trainers=trainers), time=now
    )


def ranking_pause(
    record: SweepRecord, ranking: RankingRecord | None, analyst: AnalystHealth, now: float
) -> RankingPause | None:
    """A sweep has a paused ranking when its analyst is down and results it stored are not in the latest ranking."""
    waiting = record.n_final - (ranking.n_results if ranking is not None else 0)
    if analyst.ok or waiting <= 0:
        return None
    results = f"{waiting} result{'' if waiting == 1 else 's'} waiting"
    if analyst.last_beat is None:
        sentence = f"ranking paused (no analyst has been seen; {results})"
    else:
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(analyst.last_beat))
        sentence = f"ranking paused since {since} (analyst not seen for {now - analyst.last_beat:.0f} s; {results})"
    return RankingPause(since=analyst.last_beat, analyst_age_s=analyst.last_beat_s, waiting=waiting, sentence=sentence)
