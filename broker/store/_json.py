"""JSON values as the stores keep them in Redis."""

from __future__ import annotations

import json
from typing import Any


def loads_or_none(raw: str | bytes | None) -> Any:
    """The decoded value, or None for a missing key or field."""
    return None if raw is None else json.loads(raw)
