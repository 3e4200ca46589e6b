"""The one error hierarchy of sweeprank: every message states the rule and the value."""

from __future__ import annotations


class SweeprankError(Exception):
    """Base of every error sweeprank raises on purpose."""


class SpecError(SweeprankError, ValueError):
    """A search space, sweep spec or trial record breaks a rule.

    `field` names where (a dotted path, a CSV row/column...), so that APIs can
    report field-level messages and the CLI a one-line error.
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field
        self.message = message
