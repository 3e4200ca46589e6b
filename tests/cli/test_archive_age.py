"""`sweeprank archive --older-than AGE`: ages as an operator writes them."""

from __future__ import annotations

import pytest

from sweeprank.archive_cmd import parse_age
from trials.errors import SweeprankError


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("7d", 7 * 86400), ("12h", 12 * 3600), ("30m", 1800), ("90s", 90), ("90", 90), ("2w", 14 * 86400), ("0", 0)],
)
def test_ages_in_seconds_minutes_hours_days_and_weeks(text: str, seconds: float) -> None:
    assert parse_age(text) == seconds


@pytest.mark.parametrize("text", ["", "7 days", "-1d", "1y", "d"])
def test_anything_else_is_refused_with_the_units(text: str) -> None:
    with pytest.raises(SweeprankError, match="--older-than must be a number with s, m, h, d or w"):
        parse_age(text)
