"""A real analyst process in the real stack: seen with its pid in /api/health, killed with -9, restarted.

The analyst beats every 0.2 s here and the web app calls it down after 2 s without a beat, so each
step waits for the event it expects (a beat, its absence, the catch-up) however fast the machine is.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from flask.testing import FlaskClient

from broker.settings import Settings
from broker.store import Store
from tests.conftest import database_url
from tests.helpers import wait_until
from tests.integration.conftest import LiveStack, tiny_spec
from webui import create_app

BEAT_TTL_S = 2.0
DATABASE = 4  # the integration stack uses 0, the web tests 1-3, security 5


@pytest.fixture(scope="module")
def live(redis_url: str, tfds_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveStack]:
    # Its own database: the session's shared stack (tests/conftest.py) may be running its analyst on 0.
    url = database_url(redis_url, DATABASE)
    redis.Redis.from_url(url).flushdb()
    stack = LiveStack(url, tmp_path_factory.mktemp("logs"), tfds_dir)
    stack.stack.env["SWEEPRANK_ANALYST_BEAT_S"] = "0.2"
    stack.start_trainer()
    yield stack
    stack.stack.stop()


@pytest.fixture
def api(live: LiveStack) -> FlaskClient:
    client = create_app(Settings(redis_url=live.redis_url, analyst_beat_ttl_s=BEAT_TTL_S), {"TESTING": True})
    token = Store.from_url(live.redis_url).users.add("ann")
    test_client = client.test_client()
    test_client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    return test_client


def analyst_health(api: FlaskClient) -> dict[str, Any]:
    return dict(api.get("/api/health").get_json()["services"]["analyst"])


def test_a_killed_analyst_is_reported_down_its_sweep_paused_and_a_restart_catches_up(
    live: LiveStack, api: FlaskClient
) -> None:
    first = live.start_analyst()
    up = wait_until(lambda: (a := analyst_health(api))["ok"] and a["pid"] == first.pid and a, 60, what="its beat")
    wait_until(lambda: analyst_health(api)["last_beat"] > up["last_beat"], 60, what="another beat while idle")
    assert api.get("/api/health").status_code == 200, "Redis, the analyst and a trainer are up"

    with live.holding() as holds:
        sweep_id = api.post("/api/sweeps", json=tiny_spec(n_trials=4)).get_json()["id"]
        trial_id, attempt, _ = holds.wait_new(sweep_id, set())
        holds.release(sweep_id, trial_id, attempt)
        wait_until(lambda: (r := live.store.rankings.latest(sweep_id)) and r.n_results >= 1, 60, what="a ranking")

        first.send_signal(signal.SIGKILL)
        first.wait()
        down = wait_until(lambda: not (a := analyst_health(api))["ok"] and a, 60, what="the analyst reported down")
        assert down["pid"] == first.pid and down["last_beat_s"] >= BEAT_TTL_S
        assert api.get("/api/health").status_code == 503
    # Holding is off: the other trials finish while no analyst ranks them.
    wait_until(lambda: live.store.sweeps.get(sweep_id).n_final == 4, 120, what="every result stored")
    summary = api.get(f"/api/sweeps/{sweep_id}/summary").get_json()
    ranked = live.store.rankings.latest(sweep_id)
    assert ranked is not None and ranked.n_results < 4
    paused = summary["ranking_paused"]
    assert paused is not None and paused["waiting"] == 4 - ranked.n_results
    assert paused["sentence"].startswith("ranking paused since ") and "analyst not seen for" in paused["sentence"]
    assert analyst_health(api)["lag"] >= paused["waiting"]

    second = live.start_analyst()
    wait_until(lambda: (a := analyst_health(api))["ok"] and a["pid"] == second.pid, 60, what="the new analyst's beat")
    wait_until(lambda: analyst_health(api)["lag"] == 0, 60, what="the lag to reach 0")
    wait_until(lambda: (r := live.store.rankings.latest(sweep_id)) and r.n_results == 4, 60, what="the catch-up")
    assert api.get(f"/api/sweeps/{sweep_id}/summary").get_json()["ranking_paused"] is None
    history = live.store.rankings.history(sweep_id)
    assert history[-1].resumed_after_pause_since == pytest.approx(down["last_beat"]), "the gap is recorded"
    assert all(entry.resumed_after_pause_since is None for entry in history[:-1])
