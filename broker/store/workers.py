"""Trainer workers: their heartbeats (what the dispatcher counts as live slots) and their drain flags.

A Celery parent that is asked to shut down raises a drain flag (per host and pid);
its children see it and hand their running trials back at the next epoch.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import cast

import redis

from broker import keys
from trials.records import WorkerInfo, WorkerRecord

DRAIN_FLAG_TTL_S = 3600


def silent_children(beats: dict[int, float], now: float, after_s: float) -> dict[int, float]:
    """pid -> seconds of silence of the children (from `child_beats`) that have not beaten for `after_s`."""
    return {pid: round(now - beat, 1) for pid, beat in beats.items() if now - beat > after_s}


def hung_after_s(claim_ttl_s: float) -> float:
    """A child silent this long mid-trial is hung, and killed by its parent (workers/tasks.py).

    The silence that has the reconciler re-queue its trial (broker/reconciler.py): the child is stopped,
    deadlocked or swapped out, and its slot would otherwise count as busy for ever.
    """
    return claim_ttl_s


def stalled_after_s(claim_ttl_s: float) -> float:
    """Health shows a child silent this long (two missed beats) as hung, before its parent kills it."""
    return claim_ttl_s / 2


class WorkerStore:
    def __init__(self, client: redis.Redis) -> None:
        self._r = client

    def register(self, name: str, info: WorkerInfo, ttl_s: int) -> None:
        """A heartbeat: the worker's info (host, device, queues, slots...), kept for `ttl_s`."""
        pipe = self._r.pipeline(transaction=True)
        fields = info.model_dump(exclude_none=True)
        pipe.hset(keys.worker(name), mapping={k: json.dumps(v) for k, v in fields.items()})
        pipe.expire(keys.worker(name), ttl_s)
        pipe.zadd(keys.WORKERS, {name: time.time()})
        pipe.execute()

    def unregister(self, name: str) -> None:
        self._r.delete(keys.worker(name))
        self._r.zrem(keys.WORKERS, name)

    def live(self, ttl_s: int) -> Iterator[WorkerRecord]:
        """Workers that sent a heartbeat within `ttl_s`, with their info."""
        cutoff = time.time() - ttl_s
        for name, beat in cast(list[tuple[str, float]], self._r.zrange(keys.WORKERS, 0, -1, withscores=True)):
            raw = cast(dict[str, str], self._r.hgetall(keys.worker(name)))
            if beat >= cutoff and raw:
                info = {k: json.loads(v) for k, v in raw.items()}
                yield WorkerRecord.model_validate({**info, "name": name, "heartbeat": beat})

    def silent(self, ttl_s: int, within_s: float) -> list[tuple[str, float]]:
        """(name, last beat) of workers that stopped beating more than `ttl_s` ago but less than `within_s` ago
        without unregistering (a clean stop unregisters): the ones to report as down."""
        now = time.time()
        found = self._r.zrangebyscore(keys.WORKERS, now - within_s, now - ttl_s, withscores=True)
        return [(name, float(beat)) for name, beat in cast(list[tuple[str, float]], found)]

    def child_beat(self, name: str, pid: int, keep_s: int) -> None:
        """A beat of worker `name`'s pool child `pid` while it runs a trial; the entry outlives silence by `keep_s`."""
        pipe = self._r.pipeline(transaction=True)
        pipe.hset(keys.worker_children(name), str(pid), time.time())
        pipe.expire(keys.worker_children(name), keep_s)
        pipe.execute()

    def child_idle(self, name: str, pid: int) -> None:
        """The child ran its trial to an end (or is gone): it is not expected to beat."""
        self._r.hdel(keys.worker_children(name), str(pid))

    def child_beats(self, name: str) -> dict[int, float]:
        """pid -> last beat of every child of worker `name` that runs a trial."""
        raw = cast(dict[str, str], self._r.hgetall(keys.worker_children(name)))
        return {int(pid): float(beat) for pid, beat in raw.items()}

    def raise_drain_flag(self, host: str, pid: int) -> None:
        self._r.set(keys.draining(host, pid), "1", ex=DRAIN_FLAG_TTL_S)

    def is_draining(self, host: str, pid: int) -> bool:
        """Whether the worker process (host, pid) is shutting down."""
        return bool(self._r.exists(keys.draining(host, pid)))
