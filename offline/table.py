"""A table of trials (CSV rows, DataFrame records, dicts): which column is what, and its trial rows.

Conventions recognised, so that exports rank as they are:

- Optuna's `study.trials_dataframe()`: hyperparameters are the `params_` columns; the metric is
  `value` unless --metric names one of `values_N`; `state` says which trials are COMPLETE;
  `number` is the trial id.
- W&B run exports: hyperparameters are the `config.`/`config/` columns (or the keys of a `config`
  column holding the run's config as a dict), metrics may be named without their `summary.`
  prefix, and `State` says which runs are `finished`. An export of the runs table without
  prefixes is read like any table, minus W&B's run columns (Name, Runtime, Created...).
- Cells holding dicts (W&B's API DataFrame `{"summary": ..., "config": ..., "name": ...}`, its CSV
  with pandas' repr of the dicts, numpy-2 scalars `np.float64(0.5)` included) are flattened with
  dots, nested ones too: a config `model: {depth: 4}` is the column `config.model.depth`.
- Any other table: every column is a hyperparameter except the metric, the --by column,
  ids, statuses and times (`NOT_PARAMS`), and, when the space is inferred, the columns that are
  outcomes (a loss, a second score, a runtime: offline/outcomes.py), which are printed as left out.

Only rows whose status is completed (complete, finished) and whose metric is finite are
ranked; the others are counted by their status.
"""

from __future__ import annotations

import ast
import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

from offline.infer import InferredSpace, cell_value, infer_space, parse_cell, text
from offline.outcomes import outcome_columns
from trials.encoding import COMPLETED, TrialRow
from trials.errors import SpecError
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
# numpy 2 prints a scalar as `np.float64(0.5)`: pandas' repr of a dict column holds these.
_NUMPY_SCALAR = re.compile(r"\b(?:np|numpy)\.(?:float|int|uint|bool|str|complex)\w*\(([^()]*)\)")


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


def _nested(cell: object, column: str) -> Mapping[str, object]:
    """A dict cell, or its text (JSON, or Python's repr as pandas writes it); {} when the cell is empty."""
    if isinstance(cell, Mapping):
        return cell
    raw = text(cell) if cell is not None else ""
    if cell_value(raw) is None:
        return {}
    try:
        parsed = json.loads(raw)
    except ValueError:
        try:
            parsed = ast.literal_eval(_NUMPY_SCALAR.sub(r"\1", raw))
        except (ValueError, SyntaxError):
            parsed = None
    if not isinstance(parsed, Mapping):
        # Silently dropping it would rank without the run's whole config.
        raise SpecError(f"column {column}", f"holds {raw[:60]!r}, which is not a dict")
    return parsed


def _dotted(prefix: str, values: Mapping[str, object], into: dict[str, object]) -> None:
    for key, value in values.items():
        if str(key).startswith("_"):  # W&B's own bookkeeping (_wandb, _step, _runtime)
            continue
        if isinstance(value, Mapping):
            _dotted(f"{prefix}{key}.", value, into)
        else:
            into[f"{prefix}{key}"] = value


def flatten(records: Sequence[Mapping[str, object]]) -> list[Mapping[str, object]]:
    """Dict cells as dotted columns: W&B's `config` and `summary` columns, any nested dict (module docstring)."""
    nested = [c for c in NESTED_COLUMNS if records and c in records[0]]
    if not records or not (nested or any(isinstance(v, Mapping) for r in records for v in r.values())):
        return list(records)
    flat: list[Mapping[str, object]] = []
    for record in records:
        row: dict[str, object] = {}
        for key, value in record.items():
            if key in nested:
                _dotted(f"{key}.", _nested(value, key), row)
            elif isinstance(value, Mapping):
                _dotted(f"{key}.", value, row)
            else:
                row[key] = value
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
        columns = {n: [records[i].get(c) for i in ranked] for n, c in table.params.items()}
        left_out = _outcomes(columns, [rows[i].value or 0.0 for i in ranked], table)
        inferred = infer_space({n: cells for n, cells in columns.items() if n not in left_out})
        inferred = replace(inferred, left_out=left_out)
        space = inferred.space
    for i in ranked:
        row = rows[i]
        rows[i] = TrialRow(row.trial_id, _config(records[i], space, table, where(i)), row.value, COMPLETED, row.group)
    return TableTrials(rows, space, inferred, table)


def _outcomes(columns: dict[str, list[object]], metric: list[float], table: Layout) -> dict[str, str]:
    """Outcome columns (offline/outcomes.py) of a table whose hyperparameters are not named by a prefix."""
    if any(column != name for name, column in table.params.items()):
        return {}  # `params_`/`config.` columns: the tool that wrote them said what the hyperparameters are
    return outcome_columns(columns, metric, table.metric)


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
