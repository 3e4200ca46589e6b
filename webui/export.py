"""Flatten a sweep's trials into rows for CSV / JSON / Parquet export, streamed a chunk of trials at a time."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from typing import Any

from broker.store import Store
from trials.records import HyperparameterRank, RankingRecord, SweepRecord
from trials.space import Value

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


# Trials read and written per step of a streamed export: memory stays flat whatever the sweep's size.
EXPORT_CHUNK = 1000


def trial_columns(record: SweepRecord) -> list[str]:
    # The varied hyperparameters, then those the sweep holds (a tune sweep's): every trial trained all of them.
    names = [*record.space["parameters"], *record.spec.fixed]
    return ["trial_id", "dataset", "status", "attempt", *names, *METRIC_COLUMNS]


def export_rows(store: Store, record: SweepRecord) -> Iterator[list[Row]]:
    """One row per trial, by trial id, a chunk at a time (final result where there is one, else its live state)."""
    for start in range(0, record.n_trials, EXPORT_CHUNK):
        ids = list(range(start, min(start + EXPORT_CHUNK, record.n_trials)))
        results = store.results.get_many(record.id, ids)
        # A final result holds its trial's config and status: only the others' states and plans are read.
        live = [t for t in ids if t not in results]
        states = store.trials.states_of(record.id, live)
        configs = store.sweeps.planned_configs_of(record.id, live)
        rows = []
        for trial_id in ids:
            result = results.get(trial_id)
            if result is None:
                state = states.get(trial_id)
                row: Row = {
                    "trial_id": trial_id,
                    "dataset": state.dataset if state else "",
                    "status": state.status.value if state else "",
                    "attempt": state.attempt if state else None,
                    **configs.get(trial_id, {}),
                    **dict.fromkeys(METRIC_COLUMNS),
                }
            else:
                row = {
                    "trial_id": trial_id,
                    "dataset": result.dataset,
                    "status": result.status.value,
                    "attempt": result.attempt,
                    **result.config,
                }
                row.update({column: getattr(result, column) for column in METRIC_COLUMNS})
            rows.append(row)
        yield rows


def _safe_cell(value: Cell) -> Cell:
    if isinstance(value, str) and value[:1] in _FORMULA_START:
        return "'" + value
    return value


def to_csv(columns: list[str], rows: list[Row]) -> str:
    return "".join(csv_chunks(columns, [rows]))


def csv_chunks(columns: list[str], chunks: Iterable[list[Row]]) -> Iterator[str]:
    """The CSV text, the header first, then one piece per chunk of rows."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    # Column names come from the space a member declared: neutralised like the cells.
    writer.writerow([_safe_cell(c) for c in columns])
    for rows in chunks:
        writer.writerows([[_safe_cell(row.get(c)) for c in columns] for row in rows])
        yield out.getvalue()
        out.seek(0)
        out.truncate()
    yield out.getvalue()


def json_chunks(columns: list[str], chunks: Iterable[list[Row]]) -> Iterator[str]:
    """{"columns": [...], "rows": [...]} as pieces, one per chunk of rows."""
    yield json.dumps({"columns": columns})[:-1] + ', "rows": ['
    first = True
    for rows in chunks:
        if rows:
            yield ("" if first else ", ") + ", ".join(json.dumps(r) for r in rows)
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


def parquet_chunks(record: SweepRecord, columns: list[str], chunks: Iterable[list[Row]]) -> Iterator[bytes]:
    """The Parquet file, one row group per chunk of rows (ImportError at once without pyarrow)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema([(c, _arrow_type(record, c)) for c in columns])

    def pieces() -> Iterator[bytes]:
        sink = _Pieces()
        with pq.ParquetWriter(sink, schema) as writer:
            for rows in chunks:
                if rows:
                    cells = {
                        c: [_arrow_cell(r.get(c), schema.field(c).type == pa.string()) for r in rows] for c in columns
                    }
                    writer.write_table(pa.Table.from_pydict(cells, schema=schema))
                    yield sink.take()
        yield sink.take()

    return pieces()


def _arrow_cell(value: Cell, text: bool) -> Cell:
    # A choice list of mixed kinds is a text column: its numbers are written as text.
    return str(value) if text and value is not None and not isinstance(value, str) else value


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
