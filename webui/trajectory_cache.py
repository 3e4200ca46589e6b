"""The ranking trajectory as served, kept per web process entry by entry.

What the API serves for a trajectory entry is a function of the entry's stored JSON alone (validated: an older
entry gets the fields added since), and a stored entry never changes (thinning only removes entries). So each web
process validates and writes an entry once, keyed by its stored text, and serves the bytes it wrote: validating
~750 entries with a validator per number cost the trajectory route most of its 100 ms at 100k trials. Bounded: the
entries cached longest ago are dropped first.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from pydantic import TypeAdapter

from trials.records import RankingHistoryEntry

ENTRIES_KEPT = 10_000  # ~2 KB each with its key: 20 MB per web process, the trajectories of ~13 large sweeps
_ENTRIES = TypeAdapter(list[RankingHistoryEntry])
_ENTRY = TypeAdapter(RankingHistoryEntry)


class ServedEntries:
    def __init__(self, kept: int = ENTRIES_KEPT) -> None:
        self._kept = kept
        self._served: OrderedDict[str, bytes] = OrderedDict()
        self._lock = threading.Lock()
        self.validated = 0  # entries validated so far: what the cache saves shows here

    def json_of(self, stored: list[str]) -> bytes:
        """The stored entries as the JSON array the API serves, validating only those not served before."""
        with self._lock:
            served = {raw: self._served.get(raw) for raw in stored}
        missing = [raw for raw, body in served.items() if body is None]
        if missing:
            # One validation for all of them, not entry by entry through dicts.
            fresh = _ENTRIES.validate_json("[" + ",".join(missing) + "]")
            written = {raw: _ENTRY.dump_json(entry) for raw, entry in zip(missing, fresh, strict=True)}
            served.update(written)
            with self._lock:
                self.validated += len(written)
                self._served.update(written)
                while len(self._served) > self._kept:
                    self._served.popitem(last=False)
        return b"[" + b",".join(served[raw] or b"" for raw in stored) + b"]"
