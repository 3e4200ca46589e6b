"""Flask app factory. Settings come from the one settings object (broker/settings.py)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask, jsonify, render_template, request
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.wrappers import Response

from broker.connection import BrokerError, read_only_sentence, writes_refused
from broker.settings import Settings, process_settings
from broker.store import UnknownSweep
from broker.sweep_actions import SweepStateError
from trials.errors import SweeprankError
from trials.specs import SpecInvalid, is_sweep_id
from webui.api import api
from webui.auth import check_csrf, csrf_token, current_user
from webui.compression import compress_json
from webui.events import events
from webui.pages import pages
from webui.services import Services

# Everything is served by this app (no CDN): the policy says so, and blocks injected scripts too.
_SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def _error(status: int, message: str, errors: list[dict[str, str]] | None = None) -> Any:
    if request.blueprint == "pages":
        return render_template("error.html", status=status, message=message), status
    body: dict[str, str | list[dict[str, str]]] = {"error": message}
    if errors is not None:
        body["errors"] = errors
    response = jsonify(body)
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="sweeprank"'
    return response, status


def _secure(response: Response) -> Response:
    for name, value in _SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def create_app(settings: Settings | None = None, flask_config: Mapping[str, Any] | None = None) -> Flask:
    """The web app over `settings` (default: this process's, read from the environment).

    `flask_config` is for Flask's own keys (TESTING, ...); sweeprank's settings come only from `settings`.
    """
    settings = settings if settings is not None else process_settings()
    misplaced = sorted(k for k in flask_config or {} if k.lower() in Settings.model_fields)
    if misplaced:
        raise ValueError(f"{', '.join(misplaced)}: sweeprank settings, pass them in Settings, not in flask_config")
    app = Flask(__name__)
    app.config.from_mapping(
        MAX_CONTENT_LENGTH=1_000_000,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_HTTPONLY=True,
    )
    app.config["SESSION_COOKIE_SECURE"] = settings.cookie_secure
    app.config.update(flask_config or {})
    if settings.trusted_proxies > 0:
        # Only as many hops as the operator says are theirs: the client's own X-Forwarded-For is not believed.
        n = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)  # type: ignore[method-assign]
    svc = Services(settings)
    app.extensions["sweeprank"] = svc
    if settings.secret_key is not None:
        app.config["SECRET_KEY"] = settings.secret_key.get_secret_value()
    else:
        # Shared through Redis so that every web process signs and accepts the same sessions.
        app.config["SECRET_KEY"] = svc.store.users.web_secret()

    app.before_request(check_csrf)
    app.after_request(_secure)
    app.after_request(lambda response: compress_json(request, response))
    app.context_processor(lambda: {"current_user": current_user(), "csrf_token": csrf_token})
    app.register_blueprint(api, url_prefix="/api")
    app.register_blueprint(events)
    app.register_blueprint(pages)
    # Browsers ask for /favicon.ico whatever the page links; the same icon spares a 404 per page.
    app.add_url_rule("/favicon.ico", "favicon", lambda: app.send_static_file("favicon.svg"))

    @app.url_value_preprocessor
    def _sweep_id_syntax(endpoint: str | None, values: Mapping[str, object] | None) -> None:
        # Before any view runs: an id like "sw1:trials" would otherwise be read as another Redis key.
        sweep_id = (values or {}).get("sweep_id")
        if isinstance(sweep_id, str) and not is_sweep_id(sweep_id):
            raise UnknownSweep(sweep_id)

    @app.errorhandler(SpecInvalid)
    def _spec_invalid(err: SpecInvalid) -> Any:
        return _error(400, "invalid sweep spec", [{"field": f, "message": m} for f, m in err.errors])

    @app.errorhandler(UnknownSweep)
    def _unknown(err: UnknownSweep) -> Any:
        return _error(404, str(err))

    @app.errorhandler(SweepStateError)
    def _state(err: SweepStateError) -> Any:
        return _error(409, str(err))

    @app.errorhandler(SweeprankError)
    def _rule(err: SweeprankError) -> Any:
        return _error(400, str(err))

    @app.errorhandler(BrokerError)
    def _redis(err: BrokerError) -> Any:
        if (refused := writes_refused(err)) is not None:
            return _error(503, read_only_sentence(refused))
        # Redis down past the ride-out, or not answering (a hung Redis): the request gives up, bounded.
        return _error(503, f"Redis does not answer: {type(err).__name__}: {err}")

    @app.errorhandler(HTTPException)
    def _http(err: HTTPException) -> Any:
        response, status = _error(err.code or 500, err.description or err.name)
        retry_after = getattr(err, "retry_after_s", None)
        if retry_after is not None:
            response = app.make_response((response, status))
            response.headers["Retry-After"] = str(retry_after)
        return response, status

    return app
