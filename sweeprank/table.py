"""A table of trials (CSV rows, DataFrame records, dicts): which column is what, and its trial rows.

Conventions recognised, so that exports rank as they are:

- Optuna's `study.trials_dataframe()`: hyperparameters are the `params_` columns; the metric is
  `value` unless --metric names one of `values_N`; `state` says which trials are COMPLETE;
  `number` is the trial id.
- W&B run exports: hyperparameters are the `config.`/`config/` columns (or the keys of a `config`
  column holding the run's config as a dict), metrics may be named without their `summary.`
  prefix, and `State` says which runs are `finished`. An export of the runs table without
  prefixes is read like any table, minus W&B's run columns (Name, Runtime, Created...).
- Any other table: every column is a hyperparameter except the metric, the --by column,
  ids, statuses and times (`NOT_PARAMS`).

Only rows whose status is completed (complete, finished) and whose metric is finite are
ranked; the others are counted by their status.
"""

from __future__ import annotations

import ast
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from trials.encoding import COMPLETED, TrialRow
from trials.errors import SpecError
from trials.infer import InferredSpace, cell_value, infer_space, parse_cell, text
from trials.space import SearchSpace, Value

ALL = "all"
OPTUNA_PREFIX = "params_"  # Optuna's trials_dataframe() names hyperparameter columns this way
CONFIG_PREFIXES = ("config.", "config/")  # W&B's run config, flattened
SUMMARY_PREFIXES = ("summary.", "summary/")  # W&B's run summary (the metrics), flattened
NESTED_COLUMNS = ("config", "summary")  # W&B's API export: one column holding a dict each
DONE = frozenset({COMPLETED, "complete", "finished"})
STATUS_COLUMNS = ("status", "state", "State")
ID_COLUMNS = ("trial_id", "id", "number", "ID", "Name", "name")
NOT_PARAMS = frozenset(
    {"trial_id", "id", "number", "name", "status", "state", "value", "duration", "runtime", "created", "updated"}
    | {"datetime_start", "datetime_complete", "start_time", "end_time", "timestamp", "heartbeat"}
    | {"notes", "user", "tags", "sweep", "hostname", "group", "job type", "commit", "github"}
)
NOT_PARAM_PREFIXES = ("user_attrs_", "system_attrs_", "values_", "intermediate_", "_", *SUMMARY_PREFIXES)


@dataclass(frozen=True)
class Layout:
    """Which column holds what; `params` maps a hyperparameter's name to its column."""

    convention: str
    params: dict[str, str]
    metric: str
    status: str | None
    trial_id: str | None
    group: str | None


def _convention(header: Sequence[str]) -> str:
    if any(c.startswith(OPTUNA_PREFIX) for c in header):
        return "optuna"
    if any(c.startswith(CONFIG_PREFIXES) for c in header) or "State" in header:
        return "wandb"
    return "plain"


def _metric_column(header: Sequence[str], metric: str | None, convention: str, where: str) -> str:
    if metric is None:
        if convention != "optuna":
            raise SpecError("--metric", f"is required: name the column holding the metric (columns: {list(header)})")
        objectives = [c for c in header if c.startswith("values_")]
        if "value" not in header and objectives:
            raise SpecError("--metric", f"the study has several objectives: pick one of {objectives}")
        metric = "value"
    for column in (metric, *(prefix + metric for prefix in SUMMARY_PREFIXES)):
        if column in header:
            return column
    raise SpecError(where, f"missing column(s) [{metric!r}]; the header has {list(header)}")


def _is_param_column(column: str, taken: set[str]) -> bool:
    return column not in taken and column.lower() not in NOT_PARAMS and not column.startswith(NOT_PARAM_PREFIXES)


def _param_columns(header: Sequence[str], convention: str, taken: set[str]) -> dict[str, str]:
    prefixes = (OPTUNA_PREFIX,) if convention == "optuna" else CONFIG_PREFIXES
    prefixed = {c[len(p) :]: c for c in header for p in prefixes if c.startswith(p)}
    if prefixed or convention == "optuna":
        return prefixed
    return {c: c for c in header if _is_param_column(c, taken)}


def _space_columns(header: Sequence[str], space: SearchSpace, where: str) -> dict[str, str]:
    """A given space's hyperparameter -> column: its plain name or a convention's prefixed one."""
    unknown = [c for c in header if c.startswith(OPTUNA_PREFIX) and c[len(OPTUNA_PREFIX) :] not in space.names]
    if unknown:
        raise SpecError(where, f"columns {unknown} name hyperparameters the space does not have ({space.names})")
    columns = {}
    for name in space.names:
        found = [c for c in (name, OPTUNA_PREFIX + name, *(p + name for p in CONFIG_PREFIXES)) if c in header]
        columns[name] = found[0] if found else name
    return columns


def layout(
    header: Sequence[str],
    metric: str | None,
    by: str | None = None,
    status: str | None = None,
    space: SearchSpace | None = None,
    where: str = "table",
) -> Layout:
    """Read a header by the conventions above; a given space decides the hyperparameters."""
    convention = _convention(header)
    metric_column = _metric_column(header, metric, convention, where)
    status_column = status if status in header else next((c for c in STATUS_COLUMNS if c in header), None)
    id_column = next((c for c in ID_COLUMNS if c in header), None)
    taken = {c for c in (metric_column, by, status_column, id_column) if c}
    params = _space_columns(header, space, where) if space else _param_columns(header, convention, taken)
    missing = [c for c in (*params.values(), by) if c and c not in header]
    if missing:
        raise SpecError(where, f"missing column(s) {missing}; the header has {list(header)}")
    return Layout(convention, params, metric_column, status_column, id_column, by)


def _nested(cell: object) -> Mapping[str, object]:
    if isinstance(cell, Mapping):
        return cell
    raw = text(cell)
    if not raw:
        return {}
    try:
        parsed = json.loads(raw)
    except ValueError:
        try:
            parsed = ast.literal_eval(raw)  # pandas writes a dict column as Python's repr
        except (ValueError, SyntaxError):
            return {}
    return parsed if isinstance(parsed, Mapping) else {}


def flatten(records: Sequence[Mapping[str, object]]) -> list[Mapping[str, object]]:
    """W&B's API export (a `config` and a `summary` column of dicts) as `config.NAME` columns."""
    if not records or not any(c in records[0] for c in NESTED_COLUMNS):
        return list(records)
    flat: list[Mapping[str, object]] = []
    for record in records:
        row = {k: v for k, v in record.items() if k not in NESTED_COLUMNS}
        for column in NESTED_COLUMNS:
            for key, value in _nested(record.get(column)).items():
                if not str(key).startswith("_"):  # W&B's own bookkeeping (_wandb, _step, _runtime)
                    row[f"{column}.{key}"] = value
        flat.append(row)
    return flat


def header_of(records: Sequence[Mapping[str, object]]) -> list[str]:
    """Every column any record has, in first-seen order (dicts may lack a conditional key)."""
    return list(dict.fromkeys(key for record in records for key in record))


@dataclass(frozen=True)
class TableTrials:
    """The rows as the ranking sees them, and the space they were read with (inferred when none was given)."""

    rows: list[TrialRow]
    space: SearchSpace
    inferred: InferredSpace | None
    layout: Layout


def _metric(raw: object, where: str) -> float:
    value = cell_value(raw)
    if value is None:
        return math.nan  # a trial without a metric is excluded and counted, not an error
    if isinstance(value, str):
        raise SpecError(where, f"metric must be a number, got {text(raw)!r}")
    return float(value)


def table_trials(
    records: Sequence[Mapping[str, object]],
    where: Callable[[int], str],
    table: Layout,
    space: SearchSpace | None = None,
) -> TableTrials:
    """Trial rows in table order; the space is inferred from the ranked rows when none is given.

    `where(i)` names record i in error messages (a CSV line, a row number).
    """
    rows: list[TrialRow] = []
    ranked: list[int] = []
    for i, record in enumerate(records):
        trial_id = text(record.get(table.trial_id)) if table.trial_id else str(i)
        group = text(record.get(table.group)) if table.group else ALL
        status = text(record.get(table.status) if table.status else None).lower()
        status = COMPLETED if status in DONE or cell_value(status) is None else status
        if status != COMPLETED:
            rows.append(TrialRow(trial_id, {}, None, status, group))
            continue
        value = _metric(record.get(table.metric), f"{where(i)}, column {table.metric}")
        rows.append(TrialRow(trial_id, {}, value, status, group))
        if math.isfinite(value):
            ranked.append(i)
    inferred = None
    if space is None:
        inferred = infer_space({n: [records[i].get(c) for i in ranked] for n, c in table.params.items()})
        space = inferred.space
    for i in ranked:
        row = rows[i]
        rows[i] = TrialRow(row.trial_id, _config(records[i], space, table, where(i)), row.value, COMPLETED, row.group)
    return TableTrials(rows, space, inferred, table)


def _config(record: Mapping[str, object], space: SearchSpace, table: Layout, where: str) -> dict[str, Value | None]:
    """One ranked row's values; None where a cell is empty: the hyperparameter does not apply there."""
    config: dict[str, Value | None] = {}
    for param in space.params:
        column = table.params[param.name]
        try:
            config[param.name] = parse_cell(param, record.get(column))
        except SpecError as err:
            raise SpecError(f"{where}, column {column}", err.message) from None
    return config
