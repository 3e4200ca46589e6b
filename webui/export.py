"""Flatten a sweep's trials into rows for CSV / JSON / Parquet export, streamed a chunk of trials at a time."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

from broker.store import Store
from trials.records import HyperparameterRank, RankingRecord, SweepRecord
from trials.space import Value
from trials.trial_state import TrialState

# One cell of an exported table; a row maps column names to cells.
Cell = Value | None
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
# Spreadsheets execute cells starting with these; a leading quote keeps them text.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


# Trials read and written per step of a streamed export (and Parquet's row group): memory stays flat whatever the
# sweep's size, and each step is one Redis call (broker/store/export_reads.py).
EXPORT_CHUNK = 2000
# A text cell of the stored JSON that may start like a formula: `"` then a formula character, or an escape (a tab,
# a carriage return, any \u escape). Keys match too (harmless: their chunk is then checked cell by cell).
_MAYBE_FORMULA = re.compile(r'"(?:[=+\-@]|\\[tru])')


@dataclass(frozen=True)
class Chunk:
    """Consecutive trials' rows, each its cells in column order."""

    rows: list[list[Cell]]
    # False when no text cell of the chunk can start like a formula: CSV then writes it as it is.
    maybe_formulas: bool = True


def trial_columns(record: SweepRecord) -> list[str]:
    # The varied hyperparameters, then those the sweep holds (a tune sweep's): every trial trained all of them.
    return ["trial_id", "dataset", "status", "attempt", *_config_columns(record), *METRIC_COLUMNS]


def _config_columns(record: SweepRecord) -> list[str]:
    return [*record.space["parameters"], *record.spec.fixed]


def export_rows(store: Store, record: SweepRecord) -> Iterator[Chunk]:
    """One row per trial, by trial id, a chunk at a time (final result where there is one, else its live state),
    cells in the order of `trial_columns`."""
    names = _config_columns(record)
    config_of, metrics_of = _values_of(names), _values_of(list(METRIC_COLUMNS))
    no_metrics: list[Cell] = [None] * len(METRIC_COLUMNS)
    for start in range(0, record.n_trials, EXPORT_CHUNK):
        ids = range(start, min(start + EXPORT_CHUNK, record.n_trials))
        text = store.export.chunk_json(record.id, ids)
        rows: list[list[Cell]] = []
        for trial_id, item in zip(ids, json.loads(text), strict=True):
            if "live" in item:
                # No final result yet: its live state (read as the model reads it: unset fields take its
                # defaults) and its planned config.
                state = TrialState.model_validate(item["live"]) if item["live"] is not None else None
                config = (item["plan"] or {}).get("config") or {}
                head = [trial_id, *((state.dataset, state.status.value, state.attempt) if state else ("", "", None))]
                rows.append(head + [config.get(n) for n in names] + no_metrics)
                continue
            # A final result as `ResultStore.save` stored it (validated then): read as plain JSON, its cells taken
            # in one C call each; a record without some of them (older, or a hyperparameter not applicable) cell
            # by cell.
            config = item["config"]
            try:
                rows.append(
                    [trial_id, item["dataset"], item["status"], item["attempt"], *config_of(config), *metrics_of(item)]
                )
            except KeyError:
                head = [trial_id, item.get("dataset", ""), item.get("status", ""), item.get("attempt")]
                rows.append(head + [config.get(n) for n in names] + [item.get(m) for m in METRIC_COLUMNS])
        yield Chunk(rows, _MAYBE_FORMULA.search(text) is not None)


def _values_of(keys: list[str]) -> Callable[[Mapping[str, Cell]], tuple[Cell, ...]]:
    """A function of a mapping to its values at `keys`, a tuple whatever their number (KeyError if one is missing)."""
    if not keys:
        return lambda _: ()
    if len(keys) == 1:
        return lambda mapping: (mapping[keys[0]],)
    return itemgetter(*keys)


def _safe_cell(value: Cell) -> Cell:
    if isinstance(value, str) and value[:1] in _FORMULA_START:
        return "'" + value
    return value


def to_csv(columns: list[str], rows: list[Row]) -> str:
    return "".join(csv_chunks(columns, [Chunk([[row.get(c) for c in columns] for row in rows])]))


def csv_chunks(columns: list[str], chunks: Iterable[Chunk]) -> Iterator[str]:
    """The CSV text, the header first, then one piece per chunk of rows."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    # Column names come from the space a member declared: neutralised like the cells.
    writer.writerow([_safe_cell(c) for c in columns])
    for chunk in chunks:
        if chunk.maybe_formulas:
            writer.writerows([[_safe_cell(cell) for cell in row] for row in chunk.rows])
        else:
            writer.writerows(chunk.rows)
        yield out.getvalue()
        out.seek(0)
        out.truncate()
    yield out.getvalue()


def json_chunks(columns: list[str], chunks: Iterable[Chunk]) -> Iterator[str]:
    """{"columns": [...], "rows": [...]} as pieces, one per chunk of rows."""
    yield json.dumps({"columns": columns})[:-1] + ', "rows": ['
    first = True
    for chunk in chunks:
        if chunk.rows:
            # One encoder call per chunk: the rows as objects, the list's brackets cut off.
            yield ("" if first else ", ") + json.dumps([dict(zip(columns, row, strict=True)) for row in chunk.rows])[
                1:-1
            ]
            first = False
    yield "]}"


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
                if chunk.rows:
                    cells = [
                        _as_text(column) if is_text else column
                        for column, is_text in zip(zip(*chunk.rows, strict=True), text, strict=True)
                    ]
                    arrays = [pa.array(column, type=field.type) for column, field in zip(cells, schema, strict=True)]
                    writer.write_table(pa.Table.from_arrays(arrays, schema=schema))
                    yield sink.take()
        yield sink.take()

    return pieces()


def _as_text(column: tuple[Cell, ...]) -> list[Cell]:
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
