"""Input limits, rate limits, upload size, CSV formula injection, secrets kept out of output."""

from __future__ import annotations

import csv
import io

import pytest
from flask import Flask
from flask.testing import FlaskClient

from broker.settings import Settings
from broker.store import Store
from sweeprank.stack import redact_url
from tests.integration.conftest import tiny_spec
from tests.webui.conftest import Members, bearer
from trials.presets import preset
from webui import create_app, ratelimit

LIMITS = {
    "login_attempts_per_minute": 3,
    "bad_tokens_per_minute": 3,
    "submits_per_minute": 2,
    "max_queued_trials_per_member": 50,
}


@pytest.fixture
def strict(web_redis_url: str, monkeypatch: pytest.MonkeyPatch) -> Flask:
    # Fixed windows of 60 s: with a real clock, requests crossing a minute boundary start a new
    # window and the limit is not reached (seen in CI). The clock is pinned mid-window instead.
    monkeypatch.setattr(ratelimit, "clock", lambda: 1_000_000 * 60 + 30.0)
    return create_app(Settings(redis_url=web_redis_url, **LIMITS), {"TESTING": True})


def submit(client: FlaskClient, token: str, **extra: object) -> tuple[int, dict[str, object]]:
    spec = {k: v for k, v in tiny_spec(n_trials=10).items() if k != "owner"}
    response = client.post("/api/sweeps", json={**spec, **extra}, headers=bearer(token))
    return response.status_code, response.get_json()


def test_login_attempts_are_rate_limited(strict: Flask, members: Members) -> None:
    client = strict.test_client()
    client.get("/login")
    with client.session_transaction() as session:
        csrf = session["csrf_token"]
    wrong = {"name": "ann", "password": "not it", "csrf_token": csrf}
    assert [client.post("/login", data=wrong).status_code for _ in range(3)] == [401] * 3
    blocked = client.post("/login", data=wrong)
    assert blocked.status_code == 429 and 0 < int(blocked.headers["Retry-After"]) <= 61


def test_guessing_tokens_is_rate_limited(strict: Flask, members: Members) -> None:
    client = strict.test_client()
    codes = [client.post("/api/sweeps", json=tiny_spec(), headers=bearer(f"guess-{i}")).status_code for i in range(4)]
    assert codes == [401, 401, 401, 429]
    assert "unknown tokens" in client.post("/api/sweeps", json={}, headers=bearer("x")).get_json()["error"]
    assert submit(client, members.ann)[0] == 201, "a valid token from the same address still works"


def test_submissions_are_rate_limited_per_member(strict: Flask, members: Members) -> None:
    client = strict.test_client()
    assert [submit(client, members.ann)[0] for _ in range(2)] == [201, 201]
    status, body = submit(client, members.ann)
    assert status == 429 and "sweep submissions" in str(body["error"])
    assert submit(client, members.bob)[0] == 201, "another member has their own budget"


def test_queued_trials_per_member_are_bounded(strict: Flask, members: Members) -> None:
    client = strict.test_client()
    assert submit(client, members.bob, n_trials=45)[0] == 201
    status, body = submit(client, members.bob, n_trials=6)
    assert status == 400
    assert body["errors"] == [
        {"field": "n_trials", "message": "bob would have 51 trials queued; the limit per member is 50 (45 queued now)"}
    ]


def test_oversized_uploads_are_refused(client: FlaskClient, members: Members) -> None:
    response = client.post(
        "/api/sweeps", data=b"{" + b" " * 2_000_000 + b"}", content_type="application/json", headers=bearer(members.ann)
    )
    assert response.status_code == 413 and "error" in response.get_json()


def test_csv_export_cannot_smuggle_formulas(client: FlaskClient, members: Members, store: Store) -> None:
    # The CNN template's hyperparameters are required (trials/template.py): held, so only lr and note vary.
    template = preset("cnn-paper")
    held = {p.name: p.from_unit(0.0) for p in template.params}
    space = {
        "parameters": {
            **template.to_dict()["parameters"],
            "lr": {"type": "float", "low": 0.001, "high": 0.1, "log": True},
            "note": {"type": "categorical", "choices": ['=HYPERLINK("http://x")', "@SUM(A1)", "ok"]},
        }
    }
    status, body = submit(client, members.ann, space=space, narrow={}, n_trials=6, sampler="grid", fixed=held)
    assert status == 201, body
    exported = client.get(f"/api/sweeps/{body['id']}/export?format=csv").get_data(as_text=True)
    notes = {row["note"] for row in csv.DictReader(io.StringIO(exported))}
    assert notes == {'\'=HYPERLINK("http://x")', "'@SUM(A1)", "ok"}


def test_pages_carry_security_headers(client: FlaskClient) -> None:
    headers = client.get("/sweeps").headers
    assert "default-src 'self'" in headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://:s3cret@db:6379/0", "redis://:***@db:6379/0"),
        ("rediss://user:pw@db/1", "rediss://user:***@db/1"),
        ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
    ],
)
def test_redis_passwords_are_redacted_in_output(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def _failed_logins(client: FlaskClient, forwarded_for: str, times: int) -> list[int]:
    client.get("/login")
    with client.session_transaction() as session:
        csrf = session["csrf_token"]
    wrong = {"name": "ann", "password": "not it", "csrf_token": csrf}
    return [
        client.post("/login", data=wrong, headers={"X-Forwarded-For": forwarded_for}).status_code for _ in range(times)
    ]


@pytest.mark.parametrize("proxies", [0, 1])
def test_login_limits_count_the_real_client_behind_a_trusted_proxy_only(
    web_redis_url: str, members: Members, monkeypatch: pytest.MonkeyPatch, proxies: int
) -> None:
    monkeypatch.setattr(ratelimit, "clock", lambda: 1_000_000 * 60 + 30.0)
    app = create_app(Settings(redis_url=web_redis_url, trusted_proxies=proxies, **LIMITS), {"TESTING": True})
    client = app.test_client()
    assert _failed_logins(client, "198.51.100.7", 3) == [401] * 3
    # Another address in the header: its own bucket behind a trusted proxy; a forged header changes nothing without.
    assert _failed_logins(client, "203.0.113.9", 1) == ([401] if proxies else [429])


def test_the_login_cookie_is_secure_when_the_setting_says_so(web_redis_url: str, members: Members) -> None:
    for secure in (False, True):
        client = create_app(Settings(redis_url=web_redis_url, cookie_secure=secure), {"TESTING": True}).test_client()
        cookie = client.get("/login").headers["Set-Cookie"]
        assert ("; Secure" in cookie) is secure, cookie
