"""Flatten a sweep's trials into rows for CSV / JSON / Parquet export."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Any

from broker.store import Store
from trials.records import RankingRecord
from trials.space import Value
from trials.specs import TrialResult

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


@dataclass(frozen=True)
class JoinedTrial:
    """A trial's live state, its planned config and its final result (None while it has none)."""

    trial_id: int
    state: dict[str, Any]
    config: dict[str, Value]
    result: TrialResult | None


def joined_trials(store: Store, sweep_id: str) -> list[JoinedTrial]:
    """Every trial of the sweep, by trial id: the one join behind the trials API and the exports."""
    states = store.trials.states(sweep_id)
    configs = store.sweeps.planned_configs(sweep_id)
    finals = {r.trial_id: r for r in store.results.in_arrival_order(sweep_id)}
    return [JoinedTrial(t, states[t], configs.get(t, {}), finals.get(t)) for t in sorted(states)]


def trial_rows(store: Store, sweep_id: str) -> tuple[list[str], list[Row]]:
    """One row per trial (final result where there is one, else its live state)."""
    record = store.sweeps.get(sweep_id)
    # The varied hyperparameters, then those the sweep holds (a tune sweep's): every trial trained all of them.
    names = [*record.space["parameters"], *record.spec.fixed]
    rows = []
    for trial in joined_trials(store, sweep_id):
        state, result = trial.state, trial.result
        row: Row = {
            "trial_id": trial.trial_id,
            "dataset": state.get("dataset", ""),
            "status": result.status.value if result else state.get("status", ""),
            "attempt": result.attempt if result else state.get("attempt"),
        }
        row.update(trial.config)
        for column in METRIC_COLUMNS:
            row[column] = getattr(result, column) if result else None
        rows.append(row)
    return ["trial_id", "dataset", "status", "attempt", *names, *METRIC_COLUMNS], rows


def _safe_cell(value: Cell) -> Cell:
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def to_csv(columns: list[str], rows: list[Row]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    # Column names come from the space a member declared: neutralised like the cells.
    csv.writer(out, lineterminator="\n").writerow([_safe_cell(c) for c in columns])
    for row in rows:
        writer.writerow({k: _safe_cell(v) for k, v in row.items()})
    return out.getvalue()


def to_parquet(columns: list[str], rows: list[Row]) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    cells = {c: [r.get(c) for r in rows] for c in columns}
    arrays = [
        pa.array(cells[c], type=pa.type_for_alias(_ARROW_TYPES[c])) if c in _ARROW_TYPES else pa.array(cells[c])
        for c in columns
    ]
    table = pa.Table.from_arrays(arrays, names=columns)
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


RANKING_COLUMNS = [
    "group",
    "name",
    "rank",
    "importance",
    "ci_low",
    "ci_high",
    "raw_weight",
    "p_value",
    "p_adjusted",
    "verdict",
    "detectable",
]
# Record field behind each per-hyperparameter column; fields an older record lacks leave the cell empty.
_RANKING_FIELDS = {
    "importance": "importances",
    "ci_low": "ci_low",
    "ci_high": "ci_high",
    "raw_weight": "raw_weights",
    "p_value": "p_values",
    "p_adjusted": "p_adjusted",
    "verdict": "verdicts",
    "detectable": "detectable",
}


def ranking_rows(record: RankingRecord | None) -> list[Row]:
    """One row per group and hyperparameter of a ranking record: pooled first, then the datasets; best rank first."""
    if record is None:
        return []
    groups = record.groups
    rows = []
    for group in sorted(groups, key=lambda g: (g != "pooled", g)):
        entry = groups[group]
        at = {name: i for i, name in enumerate(entry.names)}
        for rank, name in enumerate(entry.ranking, start=1):
            row: Row = {"group": group, "name": name, "rank": rank}
            for column, field in _RANKING_FIELDS.items():
                values: list[str] | list[float | None] | None = getattr(entry, field)
                row[column] = values[at[name]] if values else None
            rows.append(row)
    return rows
