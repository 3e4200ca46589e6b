"""Reading a ranking group as served in JSON (`rows`, most important first) in tests."""

from __future__ import annotations

from typing import Any


def order(group: dict[str, Any]) -> list[str]:
    """The names, most important first."""
    return [row["name"] for row in group["rows"]]


def by_name(group: dict[str, Any], field: str) -> dict[str, Any]:
    """One field of every row, by hyperparameter name."""
    return {row["name"]: row[field] for row in group["rows"]}
