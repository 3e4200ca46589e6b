"""`sweeprank web` as a child process, for tests that need a real server (browsers, the command line)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sweeprank.stack import free_port
from tests.helpers import wait_until

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

BROWSER_TIMEOUT_MS = 30_000


def desktop_page(browser: Browser) -> Page:
    """A new desktop-sized browser page, with the browser tests' timeout."""
    page = browser.new_page(viewport={"width": 1440, "height": 1000})
    page.set_default_timeout(BROWSER_TIMEOUT_MS)
    return page


def sweep_page(browser: Browser, server_url: str, sweep_id: str) -> Page:
    """A desktop-sized browser page open at one sweep's page."""
    page = desktop_page(browser)
    page.goto(f"{server_url}/sweeps/{sweep_id}")
    return page


class WebServer:
    """`sweeprank web` as a child process, so that a restart is a real one."""

    def __init__(self, redis_url: str, log: Path, extra_env: dict[str, str] | None = None) -> None:
        self.extra_env = extra_env or {}
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.redis_url = redis_url
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {**os.environ, "SWEEPRANK_REDIS_URL": self.redis_url, **self.extra_env}
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "sweeprank", "web", "--port", str(self.port)],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        wait_until(self._answers, 30, interval_s=0.1, what=f"web server on {self.url} (log {self.log})")

    def _answers(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/api/queue", timeout=1) as response:
                return response.status == 200
        except OSError:
            return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)

    def post(self, path: str, body: dict[str, Any], token: str) -> dict[str, Any]:
        request = urllib.request.Request(
            self.url + path,
            data=json.dumps(body).encode(),
            method="POST",
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return dict(json.loads(response.read()))
