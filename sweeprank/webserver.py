"""`sweeprank web`: the Flask app served by gunicorn, embedded so that it stays one command.

Workers are gunicorn's gthread workers: every request, and every open page's live-update
stream (webui/events.py), holds a thread for as long as it lasts, so a worker has many
threads (`web_threads`) and stops accepting soon after they are all taken (`keepalive_room`);
then the other workers accept. gevent would need monkey-patching under redis-py and kombu;
threads need nothing.

Stopping: on SIGTERM (graceful) or SIGINT/SIGQUIT (Ctrl-C), a worker first ends its open
streams, which would otherwise hold it for up to events_max_s; requests in progress then get
web_graceful_timeout_s before the master kills the worker.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import FrameType
from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication
from gunicorn.workers.gthread import ThreadWorker

from broker.settings import Settings
from webui import create_app
from webui.events import end_streams


class StreamingThreadWorker(ThreadWorker):
    """gunicorn's gthread worker that ends the app's live-update streams when told to stop."""

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        # After the worker is marked stopping, so the ended streams' connections close rather than linger.
        self._end_streams()

    def handle_quit(self, sig: int, frame: FrameType | None) -> None:
        self.alive = False
        self._end_streams()
        super().handle_quit(sig, frame)  # exits, after the pool's threads (the ended streams) are done

    def is_parent_alive(self) -> bool:
        alive: bool = super().is_parent_alive()
        if not alive:
            # The master was killed (kill -9, its supervisor gone): end the streams, or this orphan would keep
            # the port and its pages for up to events_max_s while a restarted server cannot bind.
            self._end_streams()
        return alive

    def _end_streams(self) -> None:
        app = getattr(self, "wsgi", None)  # unset while the worker is still booting
        if isinstance(app, Flask):
            end_streams(app)


@dataclass(frozen=True)
class WebOptions:
    host: str
    port: int
    workers: int
    threads: int


def bind_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def keepalive_room(threads: int) -> int:
    """Idle kept-alive connections a worker holds beyond its threads.

    A worker accepts while it holds fewer than threads + this many connections. Idle kept-alive
    ones hold no thread, but a connection accepted while every thread serves a stream waits for
    one, so the room is a small share: past it, responses close their connection and the other
    workers accept.
    """
    return max(1, threads // 4)


def gunicorn_config(options: WebOptions, settings: Settings) -> dict[str, Any]:
    """gunicorn's settings for `sweeprank web`."""
    return {
        "bind": [bind_address(options.host, options.port)],
        "workers": options.workers,
        "worker_class": StreamingThreadWorker,
        "threads": options.threads,
        "worker_connections": options.threads + keepalive_room(options.threads),
        "keepalive": settings.web_keepalive_s,
        "graceful_timeout": settings.web_graceful_timeout_s,
        # Built once before forking: a bad setting or an unreachable Redis fails the command, not each worker.
        "preload_app": True,
        "accesslog": "-" if settings.web_access_log else None,
        "errorlog": "-",
        "proc_name": "sweeprank-web",
        # gunicorn's control socket has one default path per user: two servers (a test, a benchmark) would share it.
        "control_socket_disable": True,
    }


class WebServer(BaseApplication):
    def __init__(self, options: WebOptions, settings: Settings) -> None:
        self.options = options
        self.settings = settings
        super().__init__()

    def load_config(self) -> None:
        for name, value in gunicorn_config(self.options, self.settings).items():
            self.cfg.set(name, value)

    def load(self) -> Flask:
        return create_app(self.settings)


def serve(options: WebOptions, settings: Settings) -> None:
    """Serve until SIGTERM or Ctrl-C."""
    WebServer(options, settings).run()
