"""The analyst's heartbeat, its lag as the store computes it, and the gap it records after a pause."""

from __future__ import annotations

import os
import socket

import numpy as np
import redis

from broker import sweep_actions
from broker.store import Store
from broker.store.service_beats import ANALYST
from tests.analyst.test_analyst import drain, feed, make_analyst
from tests.broker.conftest import make_spec


def test_the_analyst_beats_with_its_pid_and_reports_how_far_it_got(scratch_redis: redis.Redis) -> None:
    store = Store(scratch_redis)
    analyst = make_analyst(store)
    analyst.start()
    beat = store.services.last_beat(ANALYST)
    assert beat is not None and beat.pid == os.getpid() and beat.host == socket.gethostname()
    assert beat.processed == 0 and beat.started_at <= beat.beat

    sweep_id = sweep_actions.submit(store, analyst.dispatcher, make_spec(n_trials=12))
    feed(store, sweep_id, range(7), np.random.default_rng(0))
    assert store.services.results_lag() == 7, "stored, not yet delivered"
    events = analyst.read_new(None)
    assert store.services.results_lag() == 7, "delivered, not yet acknowledged: still not ranked"
    analyst.handle(events)
    assert store.services.results_lag() == 0
    analyst.beat()
    beat = store.services.last_beat(ANALYST)
    assert beat is not None and beat.processed == 7 and beat.last_event_id == events[-1].id


def test_a_restart_that_folds_in_waiting_results_marks_the_gap_in_the_trajectory(scratch_redis: redis.Redis) -> None:
    store = Store(scratch_redis)
    rng = np.random.default_rng(2)
    first = make_analyst(store)
    first.start()
    sweep_id = sweep_actions.submit(store, first.dispatcher, make_spec(n_trials=40))
    for start in (0, 10):
        feed(store, sweep_id, range(start, start + 10), rng)
        drain(first)
    first_seen = store.services.last_beat(ANALYST)
    assert first_seen is not None
    # The first analyst is gone (killed): results are stored with nobody ranking them.
    feed(store, sweep_id, range(20, 35), rng)
    assert store.services.results_lag() == 15

    second = make_analyst(store)
    second.start()
    drain(second)
    history = store.rankings.history(sweep_id)
    assert [h.n_trials for h in history] == [10, 20, 35]
    assert [h.resumed_after_pause_since for h in history] == [None, None, first_seen.beat]
    assert store.services.results_lag() == 0

    feed(store, sweep_id, range(35, 36), rng)
    drain(second)
    assert store.rankings.history(sweep_id)[-1].resumed_after_pause_since is None, "a live result is no gap"
