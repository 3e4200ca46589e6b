"""Who is asking: a Bearer token (API clients) or a login session (browsers), and CSRF for sessions.

Only requests that ride on the session cookie need a CSRF token: a browser
adds the cookie to cross-site posts by itself, but never an Authorization
header. The CSRF token is bound to the session and compared in constant time.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

from flask import abort, current_app, g, redirect, request, session, url_for

from broker.members import User
from broker.store.users import UserStore
from webui.ratelimit import enforce
from webui.services import services

F = TypeVar("F", bound=Callable[..., Any])

CSRF_FIELD = "csrf_token"
SESSION_ID = "login"
CSRF_HEADER = "X-CSRF-Token"
NEEDS_MEMBER = "this action needs a member: log in, or send 'Authorization: Bearer TOKEN'"
UNKNOWN_TOKEN = "unknown token: it names no member (revoked or mistyped); send a current one, or none"
_UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def users() -> UserStore:
    return services().store.users


def _bearer() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def current_user() -> User | None:
    """The caller, looked up once per request; a deleted member's session stops working.

    A presented token that names no member is a 401 on every route: read as anonymous, a client with a
    revoked token would see public pages and learn of it only at its first action.
    """
    if "user" not in g:
        token = _bearer()
        if token is not None:
            g.user = users().by_token(token)
            if g.user is None:
                # Guessing tokens costs a request each; cap the guesses per client address.
                enforce(
                    f"bad-token:{request.remote_addr}",
                    "requests with unknown tokens",
                    services().settings.bad_tokens_per_minute,
                )
                abort(401, description=UNKNOWN_TOKEN)
        else:
            # The cookie only names a login kept in Redis: logout, reset and revoke end it there.
            session_id = session.get(SESSION_ID)
            g.user = users().session_user(session_id) if isinstance(session_id, str) else None
    return cast(User | None, g.user)


def login(user: User) -> None:
    session.clear()  # a fresh session (and CSRF token) on login: no session fixation
    session["user"] = user.name
    session[SESSION_ID] = users().open_session(user.name, int(current_app.permanent_session_lifetime.total_seconds()))
    session.permanent = True


def logout() -> None:
    """End this browser's login on the server too: a copy of the cookie is worth nothing afterwards."""
    session_id = session.get(SESSION_ID)
    if isinstance(session_id, str):
        users().end_session(session_id)
    session.clear()


def csrf_token() -> str:
    if CSRF_FIELD not in session:
        session[CSRF_FIELD] = secrets.token_urlsafe(32)
    return cast(str, session[CSRF_FIELD])


def check_csrf() -> Any:
    """before_request: reject unsafe session-borne requests whose token is missing or wrong."""
    if request.method not in _UNSAFE or _bearer() is not None:
        return None
    if "user" not in session and request.blueprint != "pages":
        return None  # anonymous API call: nothing of anyone's is at stake; the view decides (401 or public)
    sent = request.form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER) or ""
    expected = session.get(CSRF_FIELD, "")
    if not expected or not hmac.compare_digest(sent, expected):
        abort(400, description="CSRF token missing or wrong: reload the page and try again")
    return None


def public_read() -> bool:
    return services().settings.public_read


def check_read() -> Any:
    """before_request of read blueprints: anonymous reads only if the operator allows them."""
    if current_user() is not None or public_read() or request.endpoint in ("pages.login", "static"):
        return None
    if request.blueprint == "pages":
        return redirect(url_for("pages.login", next=request.full_path.rstrip("?")))
    abort(401, description="log in or send 'Authorization: Bearer TOKEN'")


def login_required(view: F) -> F:
    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if current_user() is None:
            abort(401, description=NEEDS_MEMBER)
        return view(*args, **kwargs)

    return cast(F, wrapped)


def require_owner(owner: str) -> User:
    """The caller, if they may act on a sweep of `owner`; 401/403 otherwise."""
    user = current_user()
    if user is None:
        abort(401, description=NEEDS_MEMBER)
    if not user.may_act_on(owner):
        abort(403, description=f"{user.name} may not act on sweeps of {owner}; only their owner or an admin")
    return user


def safe_next(target: str | None) -> str:
    """A relative path on this host to go to after login; anything else (another host) goes home.

    Browsers drop tabs and newlines from a Location and read a backslash as a slash, so "/\t/evil.example"
    would be "//evil.example": any control character, space or backslash sends the member home instead.
    """
    if (
        target
        and target.startswith("/")
        and not target.startswith("//")
        and not any(ch <= " " or ch in "\\\x7f" for ch in target)
    ):
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc:
            return target
    return url_for("pages.monitor")
