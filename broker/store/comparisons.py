"""Comparisons with fANOVA / PED-ANOVA: members' requests, and the latest result per sweep.

Fitting fANOVA's forests takes seconds of CPU, so the web server never does it: it records a
request (a set, so repeated clicks before the analyst gets to it ask once) and the analyst, which
owns the rankings, computes the comparison and stores it next to the sweep's ranking. A stored
comparison names the ranking it compared (results count and time), which makes it the cache.
"""

from __future__ import annotations

from typing import cast

import redis

from broker import keys
from broker.store.archive_file import SweepArchive
from trials.records import Comparison


class ComparisonStore:
    """An archived sweep's comparison is read from its archive (broker/store/archive.py), or, computed after it
    was archived, from Redis."""

    def __init__(self, client: redis.Redis, archive: SweepArchive) -> None:
        self._r = client
        self._archive = archive

    def request(self, sweep_id: str) -> None:
        self._r.sadd(keys.COMPARE_REQUESTS, sweep_id)

    def requested(self) -> list[str]:
        return sorted(cast(set[str], self._r.smembers(keys.COMPARE_REQUESTS)))

    def take_request(self) -> str | None:
        """One requested sweep, removed from the requests; None when there is none."""
        return cast(str | None, self._r.spop(keys.COMPARE_REQUESTS))

    def save(self, comparison: Comparison) -> None:
        self._r.set(keys.comparison(comparison.sweep_id), comparison.model_dump_json())

    def latest(self, sweep_id: str) -> Comparison | None:
        archived = self._archive.find(sweep_id)
        raw = self._r.get(keys.comparison(sweep_id)) or (archived.comparison() if archived is not None else None)
        return None if raw is None else Comparison.model_validate_json(cast(str, raw))
