"""Packed columns of a sweep's final trials, so the trials table sorts by any column for the cost of one read.

Each sortable column of the table is one Redis string holding 8 bytes per trial id: the trial's sort key as a
little-endian float64, written by the script that stores the trial's final result (a final result never changes, so
a key is written once). The `trial_id` column's string holds 1 byte per trial instead: 1 once the trial is final.
A sweep registers every sortable column when it is created; a sweep stored before packed columns builds a column
from its stored results the first time someone sorts by it (`TrialIndex.ensure`).

Sort keys: a number is its value (clamped to ±2^50); a text is 2^51 + its code (codes are given in arrival order by
the column's texts hash and turned into text order when a page is read); no value is 2^52. A page sorted by a
column reads its string, the finals string and the texts, sorts in numpy and cuts the page. The order
(docs/architecture.md, "Redis keys"):

1. final trials with a value, by value (numbers, then text; ties by trial id), all of it reversed for `desc`;
2. final trials without a value (a failed trial has no accuracy), by trial id;
3. trials without a final result yet (pending, running), by trial id: their values still change.
"""

from __future__ import annotations

import json
import math
from enum import Enum
from typing import cast

import numpy as np
import redis
from redis.client import NEVER_DECODE

from broker import keys
from broker.store.archive_file import SweepArchive
from trials.records import SweepRecord
from trials.specs import TrialResult

_CLAMP = float(2**50)
TEXT_SCORE = float(2**51)
NO_VALUE = float(2**52)
FINAL_IDS = "trial_id"
# Columns read from the final result whatever the sweep's hyperparameters; then its config; then result fields.
_FIXED = ("trial_id", "dataset", "status", "worker", "duration")
_RESULT_FIELDS = tuple(f for f in TrialResult.model_fields if f not in ("config", "sweep_id"))
_BUILD_BATCH = 1000

# Writes one trial's cell of one column: `put(index prefix, texts prefix, column, trial id, cell)`, where the cell
# is '' (no value), 't' + text, or a number's decimal string (`cell` below). Shared by the script that stores a
# result (broker/store/results.py) and the one that builds a column of an older sweep.
PUT_CELL_LUA = """
local function put(prefix, texts_prefix, column, trial, cell)
  if column == 'trial_id' then
    redis.call('SETRANGE', prefix .. column, trial, '\\1')
    return
  end
  local x
  if cell == '' then
    x = 4503599627370496
  elseif string.byte(cell, 1) == 116 then
    local texts, text = texts_prefix .. column, string.sub(cell, 2)
    local code = redis.call('HGET', texts, text)
    if not code then
      code = redis.call('HLEN', texts)
      redis.call('HSET', texts, text, code)
    end
    x = 2251799813685248 + tonumber(code)
  else
    x = tonumber(cell)
  end
  redis.call('SETRANGE', prefix .. column, trial * 8, struct.pack('<d', x))
end
"""

# KEYS: the columns to build. ARGV: index prefix, texts prefix, then (trial id, column, cell) triples.
_BUILD = (
    PUT_CELL_LUA
    + """
for i = 3, #ARGV, 3 do put(ARGV[1], ARGV[2], ARGV[i + 1], tonumber(ARGV[i]), ARGV[i + 2]) end
return 1
"""
)


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
        return NO_VALUE, ""
    if isinstance(value, bool | int | float):
        return max(-_CLAMP, min(_CLAMP, float(value))), ""
    return TEXT_SCORE, str(value)


def cell(value: object) -> str:
    """A value as the cell the scripts write: '' for no value, 't' + text, or the number's sort key."""
    score, text = sort_key(value)
    if score == NO_VALUE:
        return ""
    return "t" + text if score == TEXT_SCORE else repr(score)


def columns_of(result: TrialResult) -> list[str]:
    return list(dict.fromkeys([*_FIXED, *result.config, *_RESULT_FIELDS]))


def cells_args(result: TrialResult) -> list[str]:
    """Flat (column, cell) pairs of a final result, for the script that stores it (a registered column the result
    lacks gets no value)."""
    args: list[str] = []
    for column in columns_of(result):
        args.extend((column, cell(column_value(result, column))))
    return args


def sortable(column: str, names: list[str]) -> bool:
    """Whether the trials table can be sorted by `column` for a sweep whose config names are `names`."""
    return column in table_columns(names)


def table_columns(names: list[str]) -> dict[str, None]:
    """Every column the trials table can be sorted by, for a sweep whose config names are `names` (ordered)."""
    return dict.fromkeys([*_FIXED, *names, *_RESULT_FIELDS])


def register_columns(pipe: redis.client.Pipeline, sweep_id: str, names: list[str], n_trials: int) -> None:
    """Queue, with a new sweep's creation, every sortable column: each final result then writes all of them. Each
    column's string is made at its full size now (Redis sizes a new string exactly, while one grown write by
    write is given up to twice its length)."""
    columns = list(table_columns(names))
    pipe.sadd(keys.trial_index_columns(sweep_id), *columns)
    pipe.sadd(keys.trial_index_ready(sweep_id), *columns)
    for column in columns:
        size = n_trials if column == FINAL_IDS else 8 * n_trials
        pipe.setrange(keys.trial_index(sweep_id, column), size - 1, "\0")


def page_order(values: bytes, finals: bytes, texts: dict[str, str], n_trials: int, descending: bool) -> np.ndarray:
    """Every trial id in the order of a page sorted by the column whose packed string is `values` (module docstring)."""
    final = np.zeros(n_trials, dtype=bool)
    flags = np.frombuffer(finals[:n_trials], dtype=np.uint8)
    final[: len(flags)] = flags != 0
    score = np.full(n_trials, NO_VALUE)
    packed = np.frombuffer(values[: 8 * n_trials], dtype="<f8")
    score[: len(packed)] = packed
    if texts:
        # Codes were given in arrival order; the page wants text order (by UTF-8 bytes, as Redis orders members).
        by_code = sorted(texts, key=lambda t: int(texts[t]))
        rank_of_code = np.empty(len(by_code))
        rank_of_code[np.argsort([t.encode() for t in by_code], kind="stable")] = np.arange(len(by_code))
        is_text = (score >= TEXT_SCORE) & (score < NO_VALUE)
        score[is_text] = TEXT_SCORE + rank_of_code[(score[is_text] - TEXT_SCORE).astype(np.int64)]
    valued = np.flatnonzero(final & (score < NO_VALUE))
    ranked = valued[np.argsort(score[valued], kind="stable")]
    return np.concatenate(
        [ranked[::-1] if descending else ranked, np.flatnonzero(final & (score >= NO_VALUE)), np.flatnonzero(~final)]
    )


class TrialIndex:
    """An archived sweep's pages are read from its archive, which holds the same order (broker/store/archive.py)."""

    def __init__(self, client: redis.Redis, archive: SweepArchive) -> None:
        self._r = client
        self._archive = archive
        self._build = client.register_script(_BUILD)

    def ensure(self, record: SweepRecord, column: str) -> None:
        """Build the packed columns of a sweep stored before them, every sortable column at once (one pass over its
        results): first ask every later result to write them, then write them for those stored before. A result
        stored meanwhile writes the same bytes twice, which changes nothing."""
        sweep_id = record.id
        ready = keys.trial_index_ready(sweep_id)
        pipe = self._r.pipeline(transaction=False)
        pipe.smismember(ready, [column, FINAL_IDS])
        pipe.type(keys.trial_index(sweep_id, FINAL_IDS))
        built, kind = pipe.execute()
        if kind == "zset":
            self._drop_sorted_sets(sweep_id)
        elif built == [1, 1]:
            return
        columns = list(dict.fromkeys([*table_columns(record.config_names), column]))
        self._r.sadd(keys.trial_index_columns(sweep_id), *columns)
        cursor = 0
        while True:
            cursor, batch = cast(
                tuple[int, dict[str, str]], self._r.hscan(keys.results(sweep_id), cursor, count=_BUILD_BATCH)
            )
            args: list[str | int] = [keys.trial_index(sweep_id, ""), keys.trial_index_texts(sweep_id, "")]
            for raw in batch.values():
                result = TrialResult.model_validate_json(raw)
                for name in columns:
                    args.extend((result.trial_id, name, cell(column_value(result, name))))
            if len(args) > 2:
                self._build(args=args)
            if cursor == 0:
                break
        self._r.sadd(ready, *columns)

    def _drop_sorted_sets(self, sweep_id: str) -> None:
        """Forget the sorted sets an earlier version kept per column (same keys, another type): rebuilt packed."""
        stale = cast(set[str], self._r.smembers(keys.trial_index_columns(sweep_id)))
        self._r.delete(
            keys.trial_index_ready(sweep_id),
            keys.trial_index_columns(sweep_id),
            *(keys.trial_index(sweep_id, c) for c in {*stale, FINAL_IDS}),
        )

    def _bytes(self, key: str) -> bytes:
        return cast(bytes | None, self._r.execute_command("GET", key, **{NEVER_DECODE: True})) or b""

    def page(self, record: SweepRecord, column: str, offset: int, limit: int, descending: bool) -> list[int]:
        """Trial ids of one page of the trials table sorted by `column` (see the module's order)."""
        sweep_id, n_trials = record.id, record.n_trials
        if column == FINAL_IDS:
            ids = range(n_trials - 1 - offset, max(n_trials - 1 - offset - limit, -1), -1) if descending else None
            return list(ids) if ids is not None else list(range(offset, min(offset + limit, n_trials)))
        if (archived := self._archive.find(sweep_id)) is not None:
            return archived.page(column, n_trials, offset, limit, descending)
        self.ensure(record, column)
        # Finals first: a trial final there has its cells written already (one script writes both), and the texts
        # last, so every code read has its text.
        finals = self._bytes(keys.trial_index(sweep_id, FINAL_IDS))
        values = self._bytes(keys.trial_index(sweep_id, column))
        texts = cast(dict[str, str], self._r.hgetall(keys.trial_index_texts(sweep_id, column)))
        order = page_order(values, finals, texts, n_trials, descending)
        return [int(t) for t in order[offset : offset + limit]]


def metric_values(result: TrialResult) -> str:
    """The result's numbers as exact decimal strings, by field: the stored best so far compares these."""
    return json.dumps(
        {
            f: repr(float(v))
            for f in _RESULT_FIELDS
            if isinstance(v := getattr(result, f), int | float) and math.isfinite(v)
        }
    )
