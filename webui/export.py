"""Flatten a sweep's trials into rows for CSV / JSON / Parquet export, streamed a chunk of trials at a time."""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Generator, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import orjson

from broker.store import Store
from trials.records import HyperparameterRank, RankingRecord, SweepRecord
from trials.trial_state import TrialState
from webui.csv_text import Cell, csv_text

# A row of an exported table maps column names to cells.
Row = dict[str, Cell]

METRIC_COLUMNS = (
    "test_accuracy",
    "best_val_accuracy",
    "final_train_loss",
    "epochs_completed",
    "n_params",
    "wall_time_s",
    "device",
    "worker",
    "error",
)
# Arrow types of the fixed columns: a running sweep leaves them empty (null) for trials without a result, so
# they cannot be inferred from the first rows. Hyperparameter columns are always filled (the planned configs).
_ARROW_TYPES = {
    "trial_id": "int64",
    "dataset": "string",
    "status": "string",
    "attempt": "int64",
    "test_accuracy": "float64",
    "best_val_accuracy": "float64",
    "final_train_loss": "float64",
    "epochs_completed": "int64",
    "n_params": "int64",
    "wall_time_s": "float64",
    "device": "string",
    "worker": "string",
    "error": "string",
}

# Trials read and written per step of a streamed export (and Parquet's row group): memory stays flat whatever the
# sweep's size, and each step is one Redis call (broker/store/export_reads.py), made while the step before is written.
# 1,000 as fast as 2,000 (at 100k), with half the memory (parsing a megabyte of JSON peaks at ~16 MB) and half the time
# Redis serves no one else; Parquet's row groups of 1,000 make the file ~5% larger.
EXPORT_CHUNK = 1000
# orjson reads an integer literal beyond 64 bits as a float: it has 19 digits or more after a character other than a
# digit or a decimal point (a float's fraction may have as many after its point, leading zeros included). Mapping
# digits to "0", the point to itself and all else to " " finds such a run with one substring search.
_DIGIT_SHAPES = bytes.maketrans(bytes(range(256)), b" " * 46 + b"." + b" " + b"0" * 10 + b" " * 198)
_LONG_INTEGER = b" " + b"0" * 19

_Read = TypeVar("_Read")


@dataclass(frozen=True)
class Chunk:
    """Consecutive trials' cells column by column: a cell per trial in each column. Columns, not rows: CSV and
    Parquet format a column at a time, and a chunk of finished trials is read into columns in C loops."""

    columns: list[Sequence[Cell]]

    def rows(self) -> Iterator[tuple[Cell, ...]]:
        return zip(*self.columns, strict=True)

    def __len__(self) -> int:
        return len(self.columns[0]) if self.columns else 0


def trial_columns(record: SweepRecord) -> list[str]:
    return ["trial_id", "dataset", "status", "attempt", *record.config_names, *METRIC_COLUMNS]


def export_rows(store: Store, record: SweepRecord) -> Generator[Chunk, None, None]:
    """Every trial by trial id, a chunk at a time (its final result where there is one, else its live state),
    columns in the order of `trial_columns`."""
    names = record.config_names
    chunks = [
        range(start, min(start + EXPORT_CHUNK, record.n_trials)) for start in range(0, record.n_trials, EXPORT_CHUNK)
    ]
    # Closed with the export (a client that goes away): its thread ends with the read under way.
    with contextlib.closing(_read_ahead(store.export.chunk_json(record.id, ids) for ids in chunks)) as texts:
        for ids, text in zip(chunks, texts, strict=True):
            yield _chunk(ids, text, names)


def _chunk(ids: range, text: bytes, names: list[str]) -> Chunk:
    # A function of its own: the parsed texts are let go of before the chunk is written.
    items = _parsed(text)
    try:
        return Chunk(_result_columns(ids, items, names))
    except KeyError:  # a trial without a result, or a result without some field
        rows = [_row(trial_id, item, names) for trial_id, item in zip(ids, items, strict=True)]
        return Chunk(list(zip(*rows, strict=True)))


def _result_columns(ids: range, results: list[Any], names: list[str]) -> list[Sequence[Cell]]:
    """The columns of finished trials, each result as `ResultStore.save` stored it (validated then): read as plain
    JSON (KeyError if one lacks a field)."""
    configs = [result["config"] for result in results]
    return [
        list(ids),
        *([result[field] for result in results] for field in ("dataset", "status", "attempt")),
        *([config[name] for config in configs] for name in names),
        *([result[field] for result in results] for field in METRIC_COLUMNS),
    ]


def _row(trial_id: int, item: Any, names: list[str]) -> list[Cell]:
    """One trial's cells: its final result's, or without one its live state's and planned config's."""
    if "live" not in item:
        # A result stored before some of its fields existed, or whose config lacks a hyperparameter.
        config = item["config"]
        head = [trial_id, item.get("dataset", ""), item.get("status", ""), item.get("attempt")]
        return head + [config.get(n) for n in names] + [item.get(m) for m in METRIC_COLUMNS]
    # The live state read as the model reads it (unset fields take its defaults).
    state = TrialState.model_validate(item["live"]) if item["live"] is not None else None
    config = (item["plan"] or {}).get("config") or {}
    head = [trial_id, *((state.dataset, state.status.value, state.attempt) if state else ("", "", None))]
    return head + [config.get(n) for n in names] + [None] * len(METRIC_COLUMNS)


def _read_ahead(reads: Iterator[_Read]) -> Generator[_Read, None, None]:
    """The items of `reads`, the next one read in a thread while the caller works on this one: Redis packs a chunk
    while the web process writes the one before. Two chunks at most are held."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="export-read") as pool:
        pending = pool.submit(next, reads, None)
        while (item := pending.result()) is not None:
            pending = pool.submit(next, reads, None)
            yield item


def _parsed(text: bytes) -> Any:
    """`json.loads(text)`, by orjson where it reads the same (several times faster): not where it would read an
    integer beyond 64 bits as a float, nor where it refuses what `json` reads (NaN, a lone surrogate)."""
    if _LONG_INTEGER not in text.translate(_DIGIT_SHAPES):
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            pass
    return json.loads(text)


def to_csv(columns: list[str], rows: list[Row]) -> str:
    return "".join(csv_chunks(columns, [Chunk([[row.get(c) for row in rows] for c in columns])]))


def csv_chunks(columns: list[str], chunks: Iterable[Chunk]) -> Iterator[str]:
    """The CSV text, the header first (column names come from the space a member declared: neutralised like the
    cells), then one piece per chunk of rows."""
    yield csv_text([[name] for name in columns])
    for chunk in chunks:
        yield csv_text(chunk.columns)


def json_chunks(columns: list[str], chunks: Iterable[Chunk]) -> Iterator[bytes]:
    """{"columns": [...], "rows": [...]} as pieces, one per chunk of rows."""
    yield _dumps({"columns": columns})[:-1] + b',"rows":['
    first = True
    for chunk in chunks:
        if len(chunk):
            # One encoder call per chunk: the rows as objects, the list's brackets cut off.
            objects = _dumps([dict(zip(columns, row, strict=True)) for row in chunk.rows()])[1:-1]
            yield (b"" if first else b",") + objects
            first = False
    yield b"]}"


def _dumps(value: object) -> bytes:
    """Compact JSON in UTF-8; by the `json` module where orjson cannot (an integer beyond 64 bits, a lone
    surrogate)."""
    try:
        return orjson.dumps(value)
    except TypeError:
        return json.dumps(value, separators=(",", ":")).encode()


class _Pieces(io.RawIOBase):
    """A write-only file that hands over what was written so far: Parquet streamed a row group at a time."""

    def __init__(self) -> None:
        self._pieces: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self._pieces.append(bytes(data))
        return len(data)

    def take(self) -> bytes:
        taken, self._pieces = b"".join(self._pieces), []
        return taken


def _arrow_type(record: SweepRecord, column: str) -> Any:
    """A column's Arrow type from the sweep's space (not from the first rows, which a running sweep leaves empty)."""
    import pyarrow as pa

    if column in _ARROW_TYPES:
        return pa.type_for_alias(_ARROW_TYPES[column])
    param = record.space["parameters"].get(column)
    if param is None:
        return pa.array([record.spec.fixed[column]]).type
    if param["type"] in ("int", "float"):
        return pa.int64() if param["type"] == "int" else pa.float64()
    kinds = {type(c) for c in param["choices"]}
    return pa.array(param["choices"]).type if len(kinds) == 1 else pa.string()


def parquet_chunks(record: SweepRecord, columns: list[str], chunks: Iterable[Chunk]) -> Iterator[bytes]:
    """The Parquet file, one row group per chunk of rows (ImportError at once without pyarrow)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema([(c, _arrow_type(record, c)) for c in columns])
    text = [schema.field(c).type == pa.string() for c in columns]

    def pieces() -> Iterator[bytes]:
        sink = _Pieces()
        with pq.ParquetWriter(sink, schema) as writer:
            for chunk in chunks:
                if len(chunk):
                    cells = [
                        _as_text(column) if is_text else column
                        for column, is_text in zip(chunk.columns, text, strict=True)
                    ]
                    arrays = [pa.array(column, type=field.type) for column, field in zip(cells, schema, strict=True)]
                    writer.write_table(pa.Table.from_arrays(arrays, schema=schema))
                    yield sink.take()
        yield sink.take()

    return pieces()


def _as_text(column: Sequence[Cell]) -> list[Cell]:
    # A choice list of mixed kinds is a text column: its numbers are written as text.
    return [str(v) if v is not None and not isinstance(v, str) else v for v in column]


# Every scalar field of a ranking row is a column: a field added to the row is exported without a change here.
_ROW_FIELDS = [name for name in HyperparameterRank.model_fields if name != "effect"]
RANKING_COLUMNS = ["group", *_ROW_FIELDS]


EFFECT_COLUMNS = [
    "group",
    "name",
    "level",
    "n",
    "mean",
    "ci_low",
    "ci_high",
    "main_share",
    "total_share",
    "verdict",
    "delta",
    "equivalence_bound",
    "largest_from",
    "largest_to",
    "largest_difference",
    "largest_ci_low",
    "largest_ci_high",
]


def effect_rows(record: RankingRecord | None) -> list[Row]:
    """One row per dataset, hyperparameter (ranking order) and level, in the metric's units (anova method)."""
    rows: list[Row] = []
    for group, entry in sorted((record.groups if record else {}).items()):
        for ranked in entry.rows:
            effect = ranked.effect
            if effect is None:
                continue
            largest = effect.largest
            shared: Row = {
                "group": group,
                "name": ranked.name,
                "main_share": effect.main_share,
                "total_share": effect.total_share,
                "verdict": ranked.verdict,
                "delta": entry.delta,
                "equivalence_bound": effect.equivalence_bound,
                "largest_from": largest.from_label if largest else None,
                "largest_to": largest.to_label if largest else None,
                "largest_difference": largest.difference if largest else None,
                "largest_ci_low": largest.ci_low if largest else None,
                "largest_ci_high": largest.ci_high if largest else None,
            }
            for level in effect.levels:
                level_cells: Row = {"level": level.label, "n": level.n, "mean": level.mean}
                level_cells |= {"ci_low": level.ci_low, "ci_high": level.ci_high}
                rows.append(shared | level_cells)
    return rows


def ranking_rows(record: RankingRecord | None) -> list[Row]:
    """One row per group and hyperparameter of a ranking record: pooled first, then the datasets; best rank first."""
    if record is None:
        return []
    groups = record.groups
    rows = []
    for group in sorted(groups, key=lambda g: (g != "pooled", g)):
        rows += [{"group": group, **ranked.model_dump(include=set(_ROW_FIELDS))} for ranked in groups[group].rows]
    return rows
