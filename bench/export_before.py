"""The export as it was before orjson, the column-wise CSV encoder, the read-ahead and the packed Redis reply: kept
here only, so that bench_export.py measures the product against it in the same run, on the same Redis (and checks
that both write the same CSV bytes, the same Parquet table and the same JSON values)."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Iterator
from operator import itemgetter

import redis

from broker import keys
from broker.store import export_reads
from trials.records import SweepRecord
from trials.trial_state import TrialState
from webui.csv_text import Cell, safe_cell
from webui.export import METRIC_COLUMNS, Chunk, parquet_chunks, trial_columns

EXPORT_CHUNK = 2000  # trials per step (and Parquet row group) then
_MAYBE_FORMULA = re.compile(r'"(?:[=+\-@]|\\[tru])')
Rows = tuple[list[list[Cell]], bool]  # a chunk's rows, and whether a text cell of it may start like a formula

# Redis joined the chunk's texts into one JSON array with table.concat (the reads were the same).
_NOW_RETURNS = "return cmsgpack.pack(out)"
assert _NOW_RETURNS in export_reads.CHUNK_SCRIPT, "the product's chunk script changed: update the one kept here"
_CHUNK = export_reads.CHUNK_SCRIPT.replace(_NOW_RETURNS, "return '[' .. table.concat(out, ',') .. ']'")


def export_rows(client: redis.Redis, record: SweepRecord) -> Iterator[Rows]:
    """`client` decodes replies (as the store's does)."""
    chunk_json = client.register_script(_CHUNK)
    sweep_keys = [keys.results(record.id), keys.trials(record.id), keys.configs(record.id)]
    names = trial_columns(record)[4 : -len(METRIC_COLUMNS)]
    config_of, metrics_of = itemgetter(*names), itemgetter(*METRIC_COLUMNS)
    no_metrics: list[Cell] = [None] * len(METRIC_COLUMNS)
    for start in range(0, record.n_trials, EXPORT_CHUNK):
        ids = range(start, min(start + EXPORT_CHUNK, record.n_trials))
        text = chunk_json(keys=sweep_keys, args=[ids.start, len(ids)])
        rows: list[list[Cell]] = []
        for trial_id, item in zip(ids, json.loads(text), strict=True):
            if "live" in item:
                state = TrialState.model_validate(item["live"]) if item["live"] is not None else None
                config = (item["plan"] or {}).get("config") or {}
                head = [trial_id, *((state.dataset, state.status.value, state.attempt) if state else ("", "", None))]
                rows.append(head + [config.get(n) for n in names] + no_metrics)
                continue
            config = item["config"]
            try:
                rows.append(
                    [trial_id, item["dataset"], item["status"], item["attempt"], *config_of(config), *metrics_of(item)]
                )
            except KeyError:
                head = [trial_id, item.get("dataset", ""), item.get("status", ""), item.get("attempt")]
                rows.append(head + [config.get(n) for n in names] + [item.get(m) for m in METRIC_COLUMNS])
        yield rows, _MAYBE_FORMULA.search(text) is not None


def csv_chunks(columns: list[str], chunks: Iterable[Rows]) -> Iterator[str]:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([safe_cell(c) for c in columns])
    for rows, maybe_formulas in chunks:
        writer.writerows([[safe_cell(cell) for cell in row] for row in rows] if maybe_formulas else rows)
        yield out.getvalue()
        out.seek(0)
        out.truncate()
    yield out.getvalue()


def json_chunks(columns: list[str], chunks: Iterable[Rows]) -> Iterator[str]:
    yield json.dumps({"columns": columns})[:-1] + ', "rows": ['
    first = True
    for rows, _ in chunks:
        if rows:
            yield ("" if first else ", ") + json.dumps([dict(zip(columns, row, strict=True)) for row in rows])[1:-1]
            first = False
    yield "]}"


def parquet_pieces(record: SweepRecord, columns: list[str], chunks: Iterable[Rows]) -> Iterator[bytes]:
    # The Parquet writer itself is unchanged: it took the rows' columns as `zip(*rows)`.
    return parquet_chunks(record, columns, (Chunk(list(zip(*rows, strict=True))) for rows, _ in chunks))
