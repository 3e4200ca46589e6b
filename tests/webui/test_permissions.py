"""Who may do what: anonymous / member / other member / admin on every write endpoint; public reads."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from broker.settings import Settings
from broker.store import Store
from tests.integration.conftest import tiny_spec
from tests.webui.conftest import Members, bearer, csrf_of, seed_sweep
from trials.records import WorkerInfo
from trials.specs import SweepStatus
from webui import create_app

WHO = ("anonymous", "owner", "other", "admin")
EXPECTED = {"anonymous": 401, "owner": 200, "other": 403, "admin": 200}


def headers(members: Members, who: str) -> dict[str, str]:
    token = {"owner": members.ann, "other": members.bob, "admin": members.root}.get(who)
    return bearer(token) if token else {}


@pytest.mark.parametrize("who", WHO)
@pytest.mark.parametrize("action", ["pause", "resume", "cancel"])
def test_sweep_actions(client: FlaskClient, store: Store, members: Members, who: str, action: str) -> None:
    sweep_id = seed_sweep(store, owner="ann")
    if action == "resume":
        store.sweeps.set_status(sweep_id, SweepStatus.PAUSED)
    before = store.sweeps.status(sweep_id)
    response = client.post(f"/api/sweeps/{sweep_id}/{action}", headers=headers(members, who))
    assert response.status_code == EXPECTED[who], response.get_json()
    if EXPECTED[who] == 200:
        assert response.get_json()["status"] == {"pause": "paused", "resume": "running", "cancel": "cancelled"}[action]
    else:
        assert store.sweeps.status(sweep_id) == before, "a refused action changes nothing"
    if who == "anonymous":
        assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_cancel_records_who_cancelled(client: FlaskClient, store: Store, members: Members) -> None:
    sweep_id = seed_sweep(store, owner="ann")
    client.post(f"/api/sweeps/{sweep_id}/cancel", headers=bearer(members.root))
    assert store.sweeps.get(sweep_id).stop_reason == "cancelled by root"


@pytest.mark.parametrize(
    ("who", "owner", "status"),
    [
        ("anonymous", "ann", 401),
        ("owner", "ann", 201),
        ("owner", None, 201),
        ("owner", "bob", 403),
        ("other", "ann", 403),
        ("admin", "ann", 201),
    ],
)
def test_submit(client: FlaskClient, store: Store, members: Members, who: str, owner: str | None, status: int) -> None:
    spec = tiny_spec(owner=owner or "x", n_trials=2)
    if owner is None:
        del spec["owner"]
    response = client.post("/api/sweeps", json=spec, headers=headers(members, who))
    assert response.status_code == status, response.get_json()
    if status == 201:
        created = store.sweeps.get(response.get_json()["id"])
        assert created.owner == (owner or "ann"), "the owner defaults to the caller"
    else:
        assert store.sweeps.ids() == []


def test_session_api_post_needs_the_csrf_header(client: FlaskClient, store: Store, logged_in: FlaskClient) -> None:
    sweep_id = seed_sweep(store, owner="ann")
    refused = logged_in.post(f"/api/sweeps/{sweep_id}/pause")
    assert refused.status_code == 400 and "CSRF" in refused.get_json()["error"]
    assert store.sweeps.status(sweep_id) == SweepStatus.QUEUED
    done = logged_in.post(f"/api/sweeps/{sweep_id}/pause", headers={"X-CSRF-Token": csrf_of(logged_in)})
    assert done.status_code == 200 and store.sweeps.status(sweep_id) == SweepStatus.PAUSED


@pytest.fixture
def private_app(web_redis_url: str) -> Flask:
    return create_app(Settings(redis_url=web_redis_url, public_read=False), {"TESTING": True})


def test_private_mode_needs_login_to_read(private_app: Flask, store: Store, members: Members) -> None:
    sweep_id = seed_sweep(store)
    client = private_app.test_client()
    for path in ("/api/sweeps", f"/api/sweeps/{sweep_id}", "/api/queue", "/events"):
        assert client.get(path).status_code == 401, path
        assert client.get(path, headers=bearer(members.bob)).status_code == 200, path
    for path in ("/", "/sweeps", f"/sweeps/{sweep_id}"):
        response = client.get(path)
        assert response.status_code == 302 and "/login" in response.headers["Location"], path
    assert client.get("/login").status_code == 200
    assert client.get("/static/js/charts.js").status_code == 200


def test_public_read_is_the_default(client: FlaskClient, store: Store) -> None:
    sweep_id = seed_sweep(store)
    for path in ("/", "/sweeps", f"/sweeps/{sweep_id}", "/api/sweeps", f"/api/sweeps/{sweep_id}/trials"):
        assert client.get(path).status_code == 200, path


def test_public_read_from_the_environment(web_redis_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWEEPRANK_PUBLIC_READ", "false")
    monkeypatch.setenv("SWEEPRANK_REDIS_URL", web_redis_url)
    app = create_app(Settings())
    assert app.test_client().get("/api/sweeps").status_code == 401


def _live_trainer(store: Store, datasets: list[str] | None) -> None:
    store.workers.register("cpu@elsewhere", WorkerInfo(queues=["trials.cpu"], slots=1, datasets=datasets), ttl_s=60)


def test_a_dataset_no_live_trainer_has_is_refused_at_submission_with_a_field_error(
    client: FlaskClient, store: Store, members: Members
) -> None:
    _live_trainer(store, ["digits", "tfds:tiny_shapes"])
    spec = {**tiny_spec(), "datasets": ["digits", "cifar10"]}
    response = client.post("/api/sweeps", json=spec, headers=bearer(members.ann))
    assert response.status_code == 400
    [error] = response.get_json()["errors"]
    assert error["field"] == "datasets"
    assert error["message"].startswith("cifar10 is not prepared on any live trainer: on a machine with network run")
    assert store.sweeps.ids() == []
    accepted = {**tiny_spec(), "datasets": ["digits", "tfds:tiny_shapes"]}
    assert client.post("/api/sweeps", json=accepted, headers=bearer(members.ann)).status_code == 201


def test_with_no_trainer_live_the_web_hosts_own_data_roots_decide(
    web_redis_url: str, store: Store, members: Members, tmp_path: Path
) -> None:
    settings = Settings(redis_url=web_redis_url, data_dir=tmp_path, fashion_mnist_dir=tmp_path / "none")
    client = create_app(settings, {"TESTING": True}).test_client()
    refused = client.post(
        "/api/sweeps", json={**tiny_spec(), "datasets": ["fashion_mnist"]}, headers=bearer(members.ann)
    )
    assert refused.status_code == 400 and "is not prepared on this host" in refused.get_json()["errors"][0]["message"]
    assert client.post("/api/sweeps", json=tiny_spec(), headers=bearer(members.ann)).status_code == 201


def test_the_form_offers_only_prepared_datasets(logged_in: FlaskClient, store: Store) -> None:
    _live_trainer(store, ["digits", "mnist"])
    html = logged_in.get("/submit").get_data(as_text=True)
    assert re.findall(r'name="datasets" value="([^"]+)"', html) == ["digits", "mnist"]


def test_a_trainer_that_does_not_report_its_datasets_leaves_the_check_to_run_time(
    client: FlaskClient, store: Store, members: Members
) -> None:
    _live_trainer(store, None)  # a trainer older than the heartbeat field
    spec = {**tiny_spec(), "datasets": ["cifar10"]}
    assert client.post("/api/sweeps", json=spec, headers=bearer(members.ann)).status_code == 201
