"""GET /api/health and a sweep's "ranking paused", from stored heartbeats (no processes: the tests write the beats)."""

from __future__ import annotations

import contextlib
import os
import re
import socket
import time
from collections.abc import Iterator
from unittest.mock import ANY

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient

from broker import keys
from broker.settings import Settings
from broker.store import Store
from broker.store.service_beats import ANALYST
from sweeprank.stack import free_port
from tests.webui.conftest import Members, seed_ranking, seed_sweep
from trials.records import FailureRecord, ServiceBeat, WorkerInfo
from trials.specs import TrialStatus
from webui import create_app
from webui.health import health_report

TTL_S: float = Settings.model_fields["analyst_beat_ttl_s"].default  # the app fixture keeps the default


@pytest.fixture
def client(app: Flask, members: Members) -> FlaskClient:
    """A member: the health report's details are theirs (anonymous callers are told ok or not ok)."""
    test_client = app.test_client()
    test_client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {members.ann}"
    return test_client


def beat_aged(store: Store, age_s: float, pid: int = 4242) -> float:
    """Store an analyst beat `age_s` old; returns its time."""
    when = time.time() - age_s
    store.services.beat(ANALYST, ServiceBeat(pid=pid, host="head", started_at=when - 100, beat=when, processed=3))
    return when


def add_trainer(store: Store, name: str = "cpu@gpu-host", pid: int = 777) -> None:
    store.workers.register(name, WorkerInfo(host="gpu-host", device="cpu", slots=2, pid=pid), ttl_s=30)


def test_a_healthy_pool_reports_each_service_with_its_pid(
    client: FlaskClient, store: Store, web_redis: redis.Redis
) -> None:
    beat_aged(store, 1.0)
    add_trainer(store)
    sweep_id = seed_sweep(store, n_results=0)
    store.trials.update(sweep_id, 0, status="running", worker="cpu@gpu-host:9001", started=1.0, epoch=0, epochs=1)
    response = client.get("/api/health")
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["ok"] is True
    services = body["services"]
    redis_info = web_redis.info("server")
    assert services["redis"]["ok"] and services["redis"]["pid"] == redis_info["process_id"]
    assert services["redis"]["version"] == redis_info["redis_version"] and services["redis"]["aof"] is True
    analyst = services["analyst"]
    assert (analyst["ok"], analyst["pid"], analyst["host"], analyst["lag"]) == (True, 4242, "head", 0)
    assert 1.0 <= analyst["last_beat_s"] < TTL_S
    assert services["web"] == {"ok": True, "pid": os.getpid(), "worker_pid": os.getpid(), "host": socket.gethostname()}
    [trainer] = services["trainers"]
    assert {k: trainer[k] for k in ("name", "ok", "pid", "host", "device", "slots", "busy")} == {
        "name": "cpu@gpu-host",
        "ok": True,
        "pid": 777,
        "host": "gpu-host",
        "device": "cpu",
        "slots": 2,
        "busy": 1,
    }


def test_a_stale_analyst_beat_makes_the_pool_not_ok(client: FlaskClient, store: Store) -> None:
    beat_aged(store, TTL_S + 5)
    add_trainer(store)
    response = client.get("/api/health")
    assert response.status_code == 503
    body = response.get_json()
    assert body["ok"] is False and body["services"]["redis"]["ok"] is True
    analyst = body["services"]["analyst"]
    assert analyst["ok"] is False and analyst["pid"] == 4242 and analyst["last_beat_s"] >= TTL_S + 5


def test_no_trainer_or_no_analyst_ever_seen_is_not_ok(client: FlaskClient, store: Store) -> None:
    beat_aged(store, 0.0)
    assert client.get("/api/health").get_json()["ok"] is False, "no trainer"
    add_trainer(store)
    assert client.get("/api/health").get_json()["ok"] is True
    store.services.beat(ANALYST, ServiceBeat(pid=1, host="h", started_at=0, beat=0))  # last seen in 1970
    assert client.get("/api/health").status_code == 503


def test_the_lag_counts_results_stored_and_not_yet_ranked(client: FlaskClient, store: Store) -> None:
    beat_aged(store, 0.0)
    seed_sweep(store, n_results=4)
    assert client.get("/api/health").get_json()["services"]["analyst"]["lag"] == 4


def test_health_answers_503_json_when_redis_is_down() -> None:
    dead = f"redis://127.0.0.1:{free_port()}/0"
    app = create_app(Settings(redis_url=dead, secret_key="no redis to share it through"), {"TESTING": True})
    response = app.test_client().get("/api/health")
    assert response.status_code == 503 and response.is_json
    # Who asks cannot be checked without Redis: the answer is the anonymous one.
    assert set(response.get_json()) == {"ok", "time"} and response.get_json()["ok"] is False
    report = health_report(app.extensions["sweeprank"].settings, os.getpid())
    assert report.services is not None and report.services.redis.ok is False
    assert "Connection" in (report.services.redis.error or "")
    assert report.services.web.pid == os.getpid() and report.services.trainers == []


def test_anonymous_health_says_only_ok_or_not_ok(app: Flask, store: Store) -> None:
    beat_aged(store, 1.0)
    add_trainer(store)
    response = app.test_client().get("/api/health")
    assert response.status_code == 200
    assert set(response.get_json()) == {"ok", "time"} and response.get_json()["ok"] is True
    assert "777" not in response.get_data(as_text=True) and "gpu-host" not in response.get_data(as_text=True)


def test_the_openapi_document_declares_bearer_auth(client: FlaskClient) -> None:
    document = client.get("/api/openapi.json").get_json()
    assert document["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "a member's token (sweeprank user add)",
    }
    assert document["security"] == [{"bearerAuth": []}]
    assert document["paths"]["/api/sweeps"]["get"]["security"] == [{"bearerAuth": []}, {}]


def test_health_follows_the_read_rule(web_redis_url: str) -> None:
    closed = create_app(Settings(redis_url=web_redis_url, public_read=False), {"TESTING": True}).test_client()
    assert closed.get("/api/health").status_code == 401
    token = Store.from_url(web_redis_url).users.add("ann")
    assert closed.get("/api/health", headers={"Authorization": f"Bearer {token}"}).status_code in (200, 503)


def test_health_is_in_the_openapi_document(client: FlaskClient) -> None:
    document = client.get("/api/openapi.json").get_json()
    assert document["paths"]["/api/health"]["get"]["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Health"
    }


def test_a_sweep_whose_analyst_is_down_says_its_ranking_is_paused(client: FlaskClient, store: Store) -> None:
    sweep_id = seed_sweep(store, n_results=5)
    seed_ranking(store, sweep_id)
    unranked = seed_sweep(store, n_results=3)  # never ranked
    last_seen = beat_aged(store, 42.0)

    paused = client.get(f"/api/sweeps/{unranked}/summary").get_json()["ranking_paused"]
    since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(last_seen))
    assert paused["since"] == last_seen and paused["waiting"] == 3
    seen = re.match(rf"ranking paused since {since} \(analyst not seen for (\d+) s; ", paused["sentence"])
    assert seen is not None and int(seen.group(1)) >= 42, paused["sentence"]
    assert paused["sentence"].endswith(" s; 3 results waiting)")
    assert client.get(f"/api/sweeps/{sweep_id}/summary").get_json()["ranking_paused"] is None, "all ranked"
    listed = {s["id"]: s["ranking_paused"] for s in client.get("/api/summaries").get_json()["sweeps"]}
    assert listed[sweep_id] is None and listed[unranked]["waiting"] == 3

    beat_aged(store, 0.0)
    assert client.get(f"/api/sweeps/{unranked}/summary").get_json()["ranking_paused"] is None, "analyst up"


def test_a_pool_that_never_saw_an_analyst_says_so(client: FlaskClient, store: Store) -> None:
    sweep_id = seed_sweep(store, n_results=1)
    paused = client.get(f"/api/sweeps/{sweep_id}/summary").get_json()["ranking_paused"]
    assert paused["since"] is None
    assert paused["sentence"] == "ranking paused (no analyst has been seen; 1 result waiting)"


def test_a_trainer_that_stopped_beating_without_unregistering_is_listed_down(
    client: FlaskClient, store: Store, web_redis: redis.Redis
) -> None:
    beat_aged(store, 0.0)
    add_trainer(store, "cpu@alive-host")
    add_trainer(store, "gpu0@dead-host", pid=555)
    # Its last beat 10 minutes ago: its info hash has expired, its entry in the pool's index has not.
    web_redis.zadd("sr:workers", {"gpu0@dead-host": time.time() - 600})
    web_redis.delete("sr:worker:gpu0@dead-host")
    trainers = {t["name"]: t for t in client.get("/api/health").get_json()["services"]["trainers"]}
    assert trainers["cpu@alive-host"]["ok"] is True
    dead = trainers["gpu0@dead-host"]
    assert (dead["ok"], dead["pid"], dead["host"]) == (False, None, "dead-host") and dead["last_beat_s"] >= 600
    store.workers.unregister("gpu0@dead-host")  # a clean stop: no longer listed at all
    names = [t["name"] for t in client.get("/api/health").get_json()["services"]["trainers"]]
    assert names == ["cpu@alive-host"]


def test_anonymous_queue_shows_no_host_names_nor_pids_and_members_see_them(
    app: Flask, client: FlaskClient, store: Store
) -> None:
    add_trainer(store)
    sweep_id = seed_sweep(store, n_results=0)
    store.trials.update(sweep_id, 0, status="running", worker="cpu@gpu-host:9001", started=1.0, epoch=0, epochs=1)
    store.health.add_failure(FailureRecord(sweep_id=sweep_id, trial_id=1, status=TrialStatus.FAILED,
                                           error="worker cpu@gpu-host:9002 died", worker="cpu@gpu-host:9002",
                                           time=1.0))  # fmt: skip
    anonymous = app.test_client().get("/api/queue")
    assert anonymous.status_code == 200
    text = anonymous.get_data(as_text=True)
    assert "gpu-host" not in text and "777" not in text and "9001" not in text and "9002" not in text, text
    body = anonymous.get_json()
    assert [w["name"] for w in body["workers"]] == ["trainer-1"]
    assert body["workers"][0]["current"][0]["worker"] == "trainer-1" and body["running"][0]["worker"] == "trainer-1"
    member = client.get("/api/queue").get_data(as_text=True)
    assert "cpu@gpu-host" in member and "777" in member


def test_a_trainer_child_silent_mid_trial_makes_the_trainer_not_ok(
    client: FlaskClient, store: Store, web_redis: redis.Redis
) -> None:
    beat_aged(store, 1.0)
    add_trainer(store)
    claim_ttl_s = Settings.model_fields["claim_ttl_s"].default
    store.workers.child_beat("cpu@gpu-host", 9001, keep_s=3600)
    assert client.get("/api/health").status_code == 200
    # The same child, silent for more than half a claim TTL (two missed beats).
    web_redis.hset(keys.worker_children("cpu@gpu-host"), "9001", time.time() - claim_ttl_s)
    response = client.get("/api/health")
    assert response.status_code == 503
    trainer = response.get_json()["services"]["trainers"][0]
    assert trainer["ok"] is False and list(trainer["hung"]) == ["9001"] and trainer["hung"]["9001"] >= claim_ttl_s - 1


@contextlib.contextmanager
def refusing_writes(r: redis.Redis) -> Iterator[None]:
    """Redis answers every write with an error and every read as usual, as on a full disk (OOM, like MISCONF)."""
    r.config_set("maxmemory-policy", "noeviction")
    r.config_set("maxmemory", "1")
    try:
        yield
    finally:
        r.config_set("maxmemory", "0")


def test_a_redis_that_refuses_writes_is_a_read_only_pool_with_one_clear_sentence(
    client: FlaskClient, store: Store, web_redis: redis.Redis
) -> None:
    beat_aged(store, 1.0)
    add_trainer(store)
    sweep_id = seed_sweep(store, n_results=0)
    with refusing_writes(web_redis):
        health = client.get("/api/health")
        assert health.status_code == 503
        redis_health = health.get_json()["services"]["redis"]
        assert redis_health["read_only"] is True and redis_health["pid"] is not None
        assert redis_health["error"].startswith("the pool is read-only: Redis refuses writes (out of memory"), (
            redis_health
        )
        cancelled = client.post(f"/api/sweeps/{sweep_id}/cancel")
        assert cancelled.status_code == 503, cancelled.get_json()
        assert cancelled.get_json()["error"].startswith("the pool is read-only"), cancelled.get_json()
        assert client.get(f"/api/sweeps/{sweep_id}").status_code == 200, "reads still work"
    # Once Redis takes writes again, so does the pool, with nothing to do by hand.
    assert client.get("/api/health").get_json()["services"]["redis"] == {**redis_health, "ok": True,
                                                                           "read_only": False, "error": None,
                                                                           "uptime_s": ANY}  # fmt: skip
