"""A small client of the JSON API (standard library only)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from trials.errors import SweeprankError

DEFAULT_URL = "http://127.0.0.1:8000"


class ApiError(SweeprankError):
    def __init__(self, status: int, body: dict[str, Any]) -> None:
        details = "; ".join(f"{e['field']}: {e['message']}" for e in body.get("errors") or [])
        super().__init__(f"HTTP {status}: {body.get('error', '')}" + (f" ({details})" if details else ""))
        self.status = status
        self.body = body


class Client:
    def __init__(self, base_url: str = DEFAULT_URL, token: str | None = None, timeout_s: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout_s = timeout_s

    def _request(self, method: str, path: str, body: object | None = None) -> bytes:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base_url + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                return bytes(response.read())
        except urllib.error.HTTPError as err:
            try:
                payload = json.loads(err.read() or b"{}")
            except json.JSONDecodeError:
                payload = {"error": err.reason}
            raise ApiError(err.code, payload) from None
        except urllib.error.URLError as err:
            raise SweeprankError(f"cannot reach the sweeprank server at {self.base_url}: {err.reason}") from None

    def get(self, path: str) -> Any:
        return json.loads(self._request("GET", path))

    def post(self, path: str, body: object | None = None) -> Any:
        return json.loads(self._request("POST", path, body if body is not None else {}))

    def raw(self, path: str) -> bytes:
        return self._request("GET", path)
