"""Flask app factory. Config comes from SWEEPRANK_* environment variables."""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app, jsonify
from werkzeug.exceptions import HTTPException

from broker.celery_app import make_celery
from broker.dispatcher import Dispatcher
from broker.settings import Settings
from broker.store import Store, UnknownSweep
from broker.sweeps import SweepStateError
from trials.errors import SweeprankError
from trials.specs import SpecInvalid


class Services:
    """What the request handlers need, built once per app."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.store = Store.from_url(settings.redis_url)
        self.dispatcher = Dispatcher(self.store, make_celery(settings), settings)


def services() -> Services:
    return current_app.extensions["sweeprank"]  # type: ignore[no-any-return]


def _error(status: int, message: str, errors: list[dict[str, str]] | None = None) -> Any:
    body: dict[str, Any] = {"error": message}
    if errors is not None:
        body["errors"] = errors
    return jsonify(body), status


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    app = Flask(__name__)
    app.config.from_mapping(REDIS_URL=Settings.from_env().redis_url, MAX_CONTENT_LENGTH=1_000_000)
    app.config.from_prefixed_env("SWEEPRANK")
    if test_config:
        app.config.update(test_config)
    settings = Settings(redis_url=app.config["REDIS_URL"])
    app.extensions["sweeprank"] = Services(settings)

    from webui.api import api

    app.register_blueprint(api, url_prefix="/api")

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

    @app.errorhandler(HTTPException)
    def _http(err: HTTPException) -> Any:
        return _error(err.code or 500, err.description or err.name)

    return app
