"""Members, tokens, passwords, the `sweeprank user add` command, login and CSRF on forms."""

from __future__ import annotations

import contextlib
import hashlib
import io

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient

from broker.members import UserError
from broker.settings import Settings
from broker.store import Store
from sweeprank.cli import build_parser
from sweeprank.users_cmd import add_user_command
from tests.webui.conftest import PASSWORD, Members
from webui import create_app


def test_token_identifies_its_member_and_a_new_token_revokes_the_old(store: Store, web_redis: redis.Redis) -> None:
    users = store.users
    first = users.add("eve")
    assert users.by_token(first) == users.get("eve")
    second = users.add("eve", admin=True)
    assert users.by_token(first) is None
    found = users.by_token(second)
    assert found is not None and found.admin
    assert first not in str(web_redis.hgetall("sr:user:eve")), "the token itself is never stored"


def test_no_token_reads_as_a_command_line_option(store: Store) -> None:
    """Regression: a token starting with "-" made `sweeprank status --token TOKEN` fail (about 1 token in 64)."""
    tokens = [store.users.add("eve") for _ in range(200)]
    assert not [t for t in tokens if t.startswith("-")]
    assert store.users.by_token(tokens[-1]) is not None


def test_password_is_checked_with_scrypt(store: Store, web_redis: redis.Redis) -> None:
    users = store.users
    users.add("eve", password="long enough pw")
    assert users.by_password("eve", "long enough pw") is not None
    assert users.by_password("eve", "wrong password") is None
    assert users.by_password("nobody", "long enough pw") is None
    stored = web_redis.hgetall("sr:user:eve")
    assert "long enough" not in str(stored)
    # One self-describing string: method, cost and salt travel with the hash.
    assert stored["password"].startswith("scrypt:") and stored["password"].count("$") == 2
    assert "salt" not in stored


def _store_legacy_password(web_redis: redis.Redis, name: str, password: str) -> str:
    """The format of earlier versions: bare scrypt hex, the salt in its own field, the cost in the code."""
    salt = bytes(range(16))
    legacy = hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1, dklen=32, maxmem=64 * 2**20).hex()
    web_redis.hset(f"sr:user:{name}", mapping={"salt": salt.hex(), "password": legacy})
    return legacy


def test_a_legacy_password_logs_in_and_is_upgraded(
    client: FlaskClient, store: Store, members: Members, web_redis: redis.Redis
) -> None:
    legacy = _store_legacy_password(web_redis, "ann", PASSWORD)
    users = store.users
    assert users.by_password("ann", "wrong password") is None
    assert web_redis.hget("sr:user:ann", "password") == legacy, "a failed login changes nothing"

    client.get("/login")
    with client.session_transaction() as session:
        csrf = session["csrf_token"]
    response = client.post("/login", data={"name": "ann", "password": PASSWORD, "csrf_token": csrf})
    assert response.status_code == 302

    stored = web_redis.hgetall("sr:user:ann")
    assert stored["password"].startswith("scrypt:") and "salt" not in stored
    assert users.by_password("ann", PASSWORD) is not None
    assert users.by_password("ann", "wrong password") is None


def test_a_password_changed_meanwhile_is_not_overwritten_by_the_upgrade(
    store: Store, web_redis: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    users = store.users
    users.add("eve")
    _store_legacy_password(web_redis, "eve", "old password")
    upgrade = users._upgrade_password

    def changed_meanwhile(name: str, legacy: str, password: str) -> None:
        store.users.set_password("eve", "new password")  # between the check and the upgrade
        upgrade(name, legacy, password)

    monkeypatch.setattr(users, "_upgrade_password", changed_meanwhile)
    assert users.by_password("eve", "old password") is not None  # checked before the change
    assert store.users.by_password("eve", "new password") is not None
    assert store.users.by_password("eve", "old password") is None


@pytest.mark.parametrize(
    ("name", "password", "fragment"), [("a b", None, "must match"), ("eve", "short", "8 characters")]
)
def test_bad_member_is_refused(store: Store, name: str, password: str | None, fragment: str) -> None:
    with pytest.raises(UserError, match=fragment):
        store.users.add(name, password=password)


def test_web_secret_is_shared_by_every_process(web_redis_url: str) -> None:
    first, second = (create_app(Settings(redis_url=web_redis_url)) for _ in range(2))
    assert first.config["SECRET_KEY"] == second.config["SECRET_KEY"]
    assert len(first.config["SECRET_KEY"]) == 64


def test_user_add_command_prints_a_working_token(
    web_redis_url: str, store: Store, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SWEEPRANK_REDIS_URL", web_redis_url)
    args = build_parser().parse_args(["user", "add", "zoe", "--admin"])
    assert args.func is add_user_command
    assert add_user_command(args, Settings()) == 0
    token = capsys.readouterr().out.strip()
    user = store.users.by_token(token)
    assert user is not None and user.name == "zoe" and user.admin


def test_login_with_password_then_logout(client: FlaskClient, members: Members) -> None:
    client.get("/login")
    with client.session_transaction() as session:
        csrf = session["csrf_token"]
    response = client.post("/login", data={"name": "ann", "password": PASSWORD, "csrf_token": csrf, "next": "/sweeps"})
    assert response.status_code == 302 and response.headers["Location"] == "/sweeps"
    assert b"Log out" in client.get("/").data
    with client.session_transaction() as session:
        csrf = session["csrf_token"]
    assert client.post("/logout", data={"csrf_token": csrf}).status_code == 302
    assert b"Log out" not in client.get("/").data


def test_login_with_token_and_no_open_redirect(client: FlaskClient, members: Members) -> None:
    client.get("/login")
    with client.session_transaction() as session:
        csrf = session["csrf_token"]
    response = client.post("/login", data={"token": members.bob, "csrf_token": csrf, "next": "//evil.example/x"})
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert b"bob" in client.get("/").data


def test_wrong_password_is_a_401_with_a_message(client: FlaskClient, members: Members) -> None:
    client.get("/login")
    with client.session_transaction() as session:
        csrf = session["csrf_token"]
    response = client.post("/login", data={"name": "ann", "password": "nope nope", "csrf_token": csrf})
    assert response.status_code == 401 and b"Unknown name and password" in response.data


def test_form_post_without_csrf_token_is_rejected(client: FlaskClient, members: Members) -> None:
    client.get("/login")
    response = client.post("/login", data={"name": "ann", "password": PASSWORD})
    assert response.status_code == 400 and b"CSRF" in response.data
    with client.session_transaction() as session:
        assert "user" not in session
    wrong = client.post("/login", data={"name": "ann", "password": PASSWORD, "csrf_token": "forged"})
    assert wrong.status_code == 400


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/api/sweeps"), ("GET", "/sweeps"), ("GET", "/events"), ("POST", "/api/sweeps"), ("POST", "/logout")],
)
def test_an_unknown_token_is_a_401_saying_so_on_every_route(
    client: FlaskClient, members: Members, method: str, path: str
) -> None:
    """A presented token that names no member is refused, never read as anonymous (reads are public)."""
    response = client.open(path, method=method, headers={"Authorization": "Bearer not-a-token"}, json={})
    assert response.status_code == 401
    assert "unknown token" in response.get_data(as_text=True)


def test_no_token_is_still_anonymous(client: FlaskClient, members: Members) -> None:
    assert client.get("/api/sweeps").status_code == 200
    assert "needs a member" in client.post("/api/sweeps", json={}).get_json()["error"]


def _logged_in(app: Flask, name: str = "ann") -> FlaskClient:
    client = app.test_client()
    client.get("/login")
    with client.session_transaction() as session:
        csrf = session["csrf_token"]
    assert client.post("/login", data={"name": name, "password": PASSWORD, "csrf_token": csrf}).status_code == 302
    assert b"Log out" in client.get("/").data
    return client


def _cookie(client: FlaskClient) -> str:
    cookie = client.get_cookie("session")
    assert cookie is not None
    return cookie.value


def _with_cookie(app: Flask, value: str) -> FlaskClient:
    copy = app.test_client()
    copy.set_cookie("session", value)
    return copy


def test_logout_ends_the_login_on_the_server_so_a_copied_cookie_is_worthless(app: Flask, members: Members) -> None:
    client = _logged_in(app)
    stolen = _cookie(client)
    assert b"Log out" in _with_cookie(app, stolen).get("/").data, "the copy works while the login lasts"
    with client.session_transaction() as session:
        csrf = session["csrf_token"]
    assert client.post("/logout", data={"csrf_token": csrf}).status_code == 302
    assert b"Log out" not in _with_cookie(app, stolen).get("/").data


def test_reset_gives_a_new_token_removes_the_password_and_ends_every_login(
    app: Flask, store: Store, members: Members
) -> None:
    browser = _logged_in(app)
    token = store.users.reset("ann")
    assert b"Log out" not in browser.get("/").data, "the login made before the reset ended"
    assert store.users.by_token(members.ann) is None and store.users.by_token(token) == store.users.get("ann")
    assert store.users.by_password("ann", PASSWORD) is None, "a reset does not keep the old password"
    store.users.reset("ann", password="a new long password")
    assert store.users.by_password("ann", "a new long password") is not None


def test_revoke_stops_the_token_the_password_and_every_login(app: Flask, store: Store, members: Members) -> None:
    browser = _logged_in(app)
    assert store.users.revoke("ann") and not store.users.revoke("ann")
    assert b"Log out" not in browser.get("/").data
    assert app.test_client().get("/api/sweeps", headers={"Authorization": f"Bearer {members.ann}"}).status_code == 401
    assert store.users.by_password("ann", PASSWORD) is None and "ann" not in store.users.names()
    store.users.add("ann", password=PASSWORD)
    assert b"Log out" not in browser.get("/").data, "a member added again under the name is not the old login"


def test_user_list_reset_and_revoke_commands(
    web_redis_url: str, store: Store, members: Members, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SWEEPRANK_REDIS_URL", web_redis_url)
    listing = _run_cli("user", "list")
    assert listing.splitlines() == ["ann                      member  password", "bob                      member  -",
                                    "root                     admin   -"]  # fmt: skip
    token = _run_cli("user", "reset", "bob").strip()
    assert store.users.by_token(token) == store.users.get("bob") and store.users.by_token(members.bob) is None
    assert "bob revoked" in _run_cli("user", "revoke", "bob")
    assert store.users.names() == ["ann", "root"]
    with pytest.raises(UserError, match="no member named 'bob'"):
        _run_cli("user", "revoke", "bob")


def _run_cli(*argv: str) -> str:
    args = build_parser().parse_args(list(argv))
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert args.func(args, Settings()) == 0
    return out.getvalue()
