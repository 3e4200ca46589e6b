"""Sorted indexes of a sweep's final trials, so the trials table reads only its page.

One sorted set per (sweep, column), built the first time someone sorts by that column and then kept by the
script that stores each final result (a final result never changes, so an entry is written once). Order of a
page sorted by a column (docs/architecture.md, "Redis keys"):

1. final trials with a value, by value (numbers, then text; ties by trial id), reversed for `desc`;
2. final trials without a value (a failed trial has no accuracy), by trial id;
3. trials without a final result yet (pending, running), by trial id: their values still change.

Scores: a number is its value (clamped to ±2^50), text shares one score above every number and sorts by member
("s" + text + NUL + id), no value is 2^52 + id. Every member ends in the trial id, zero-padded to 10 digits.
The `trial_id` index (score = id) holds the final trials; it finds the k-th trial without a final result.
"""

from __future__ import annotations

import json
import math
from enum import Enum
from typing import cast

import redis

from broker import keys
from broker.store.archive_file import SweepArchive
from trials.specs import TrialResult

_CLAMP = float(2**50)
_TEXT_SCORE = 2**51
NO_VALUE = 2**52
_ID_DIGITS = 10
FINAL_IDS = "trial_id"
# Columns read from the final result whatever the sweep's hyperparameters; then its config; then result fields.
_FIXED = ("trial_id", "dataset", "status", "worker", "duration")
_RESULT_FIELDS = tuple(f for f in TrialResult.model_fields if f not in ("config", "sweep_id"))
_BUILD_BATCH = 1000

# KEYS: the column's index, the final-ids index. ARGV: trials in the sweep, offset, limit, '1' for descending,
# the no-value score. Returns the page's trial ids in order.
_PAGE = """
local idx, fin = KEYS[1], KEYS[2]
local n, off, lim, desc = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4] == '1'
local present = redis.call('ZCOUNT', idx, '-inf', '(' .. ARGV[5])
local final = redis.call('ZCARD', idx)
local members, pos = {}, off
if pos < present then
  local last = math.min(present, off + lim) - 1
  if desc then
    local m = redis.call('ZRANGE', idx, present - 1 - last, present - 1 - pos)
    for i = #m, 1, -1 do members[#members + 1] = m[i] end
  else
    for _, m in ipairs(redis.call('ZRANGE', idx, pos, last)) do members[#members + 1] = m end
  end
  pos = last + 1
end
if pos < final and #members < lim then
  local last = math.min(final, off + lim) - 1
  for _, m in ipairs(redis.call('ZRANGE', idx, pos, last)) do members[#members + 1] = m end
  pos = last + 1
end
local ids = {}
for i, m in ipairs(members) do ids[i] = tonumber(string.sub(m, -10)) end
if #ids < lim and pos >= final and pos < n then
  local k = pos - final
  local lo, hi = 0, n - 1
  while lo < hi do
    local mid = math.floor((lo + hi) / 2)
    if mid + 1 - redis.call('ZCOUNT', fin, 0, mid) > k then hi = mid else lo = mid + 1 end
  end
  local t = lo
  while #ids < lim and t < n do
    if not redis.call('ZSCORE', fin, string.format('%010d', t)) then ids[#ids + 1] = t end
    t = t + 1
  end
end
return ids
"""


def member(trial_id: int) -> str:
    return f"{trial_id:0{_ID_DIGITS}d}"


def no_value_score(trial_id: int) -> str:
    return str(NO_VALUE + trial_id)


def column_value(result: TrialResult, column: str) -> object:
    """The value a final trial shows in a column of the trials table."""
    if column == "duration":
        return result.wall_time_s or None
    if column in _FIXED:
        value = getattr(result, column)
    elif column in result.config:
        value = result.config[column]
    elif column in _RESULT_FIELDS:
        value = getattr(result, column)
    else:
        value = None
    return value.value if isinstance(value, Enum) else value


def sort_key(value: object) -> tuple[float, str]:
    """(score, text) of a value: numbers by value, then text by itself, then no value; ties go by trial id."""
    if value is None or (isinstance(value, float) and value != value):
        return float(NO_VALUE), ""
    if isinstance(value, bool | int | float):
        return max(-_CLAMP, min(_CLAMP, float(value))), ""
    return float(_TEXT_SCORE), str(value)


def entry(trial_id: int, value: object) -> tuple[str, str]:
    """(score, member) of one trial in one column's index: `sort_key`, with the trial id in the score (no value)
    or at the end of the member, so that one sorted set holds the order."""
    score, text = sort_key(value)
    if score == NO_VALUE:
        return no_value_score(trial_id), member(trial_id)
    if score == _TEXT_SCORE:
        return str(_TEXT_SCORE), f"s{text}\x00{member(trial_id)}"
    return repr(score), member(trial_id)


def columns_of(result: TrialResult) -> list[str]:
    return list(dict.fromkeys([*_FIXED, *result.config, *_RESULT_FIELDS]))


def entries_args(result: TrialResult) -> list[str]:
    """Flat (column, score, member) triples of a final result, for the script that stores it."""
    args: list[str] = []
    for column in columns_of(result):
        args.extend((column, *entry(result.trial_id, column_value(result, column))))
    return args


def sortable(column: str, names: list[str]) -> bool:
    """Whether the trials table can be sorted by `column` for a sweep whose config names are `names`."""
    return column in table_columns(names)


def table_columns(names: list[str]) -> dict[str, None]:
    """Every column the trials table can be sorted by, for a sweep whose config names are `names` (ordered)."""
    return dict.fromkeys([*_FIXED, *names, *_RESULT_FIELDS])


class TrialIndex:
    """An archived sweep's pages are read from its archive, which holds the same order (broker/store/archive.py)."""

    def __init__(self, client: redis.Redis, archive: SweepArchive) -> None:
        self._r = client
        self._archive = archive
        self._page = client.register_script(_PAGE)

    def ensure(self, sweep_id: str, column: str) -> None:
        """Build the column's index once: first ask every later result to join it, then add those stored before.

        A result stored meanwhile is added twice with the same score and member, which changes nothing.
        """
        ready = keys.trial_index_ready(sweep_id)
        if self._r.smismember(ready, [column, FINAL_IDS]) == [1, 1]:
            return
        self._r.sadd(keys.trial_index_columns(sweep_id), column, FINAL_IDS)
        cursor = 0
        while True:
            cursor, batch = cast(
                tuple[int, dict[str, str]], self._r.hscan(keys.results(sweep_id), cursor, count=_BUILD_BATCH)
            )
            results = [TrialResult.model_validate_json(raw) for raw in batch.values()]
            pipe = self._r.pipeline(transaction=False)
            for name in (column, FINAL_IDS):
                entries = (entry(r.trial_id, column_value(r, name)) for r in results)
                members: dict[str | bytes, float] = {mem: float(score) for score, mem in entries}
                if members:
                    pipe.zadd(keys.trial_index(sweep_id, name), members)
            pipe.execute()
            if cursor == 0:
                break
        self._r.sadd(ready, column, FINAL_IDS)

    def page(self, sweep_id: str, column: str, n_trials: int, offset: int, limit: int, descending: bool) -> list[int]:
        """Trial ids of one page of the trials table sorted by `column` (see the module's order)."""
        if column == FINAL_IDS:
            ids = range(n_trials - 1 - offset, max(n_trials - 1 - offset - limit, -1), -1) if descending else None
            return list(ids) if ids is not None else list(range(offset, min(offset + limit, n_trials)))
        if (archived := self._archive.find(sweep_id)) is not None:
            return archived.page(column, n_trials, offset, limit, descending)
        self.ensure(sweep_id, column)
        args = [n_trials, offset, limit, "1" if descending else "0", NO_VALUE]
        return [
            int(t)
            for t in self._page(
                keys=[keys.trial_index(sweep_id, column), keys.trial_index(sweep_id, FINAL_IDS)], args=args
            )
        ]


def metric_values(result: TrialResult) -> str:
    """The result's numbers as exact decimal strings, by field: the stored best so far compares these."""
    return json.dumps(
        {
            f: repr(float(v))
            for f in _RESULT_FIELDS
            if isinstance(v := getattr(result, f), int | float) and math.isfinite(v)
        }
    )
