"""Columns of a table that are outcomes of a trial, not hyperparameters: left out of an inferred space.

A table without a space file (a W&B runs table, a results CSV) often holds, next to the metric,
other things the trial measured: a second score, a loss, a rank, a runtime, the last epoch.
Ranked as hyperparameters they "matter" (they track the metric), take most of the weight and
hide the real hyperparameters. Two rules find them; both are printed with the reason, and a
column a space file names (`--space`, `space=`) is always kept:

- **by name**: `epoch`, `step`, `global_step`; a name whose first word is an outcome prefix
  (`val`, `valid`, `validation`, `train`, `test`, `eval`, `best`, `final`) and which has a metric
  word in it (`loss`, `acc`, `accuracy`, `error`, `f1`, `auc`, `score`...): `val_loss`,
  `best_val_acc` and `train_loss` are outcomes, `train_batch_size` is not; a measured time
  (`elapsed`, `duration`, or `time` with `wall`, `run`, `train`, `total`, `s`, `sec`,
  `seconds`: `wall_time_s`, not `time_limit`); a count of what was done (`epochs_completed`);
  the model's size (`n_params`, `num_params`, `param_count`, `flops`).
- **by value**: a numeric column that holds a different value in (nearly) every row (at least
  `TRACK_MIN_DISTINCT` values, and in `TRACK_MIN_UNIQUE_SHARE` of the rows or more) and whose
  Spearman correlation with the metric, over the rows holding both, is `TRACK_MIN_SPEARMAN` or
  more in absolute value. That is near-deterministic, monotone tracking by a measurement: a
  second score, a rank or a runtime. A genuine hyperparameter with a strong effect stays below
  the threshold whenever anything else (another hyperparameter, seed noise) moves the metric
  too, and an int or choice hyperparameter repeats its values, so it is never tested. What the
  rule cannot tell apart: a continuous hyperparameter that alone decides the metric almost
  exactly (a noiseless one-parameter function); the warning names it and `--space` keeps it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import TypeGuard

import numpy as np

from offline.infer import cell_value

TRACK_MIN_SPEARMAN = 0.98
TRACK_MIN_DISTINCT = 20
TRACK_MIN_UNIQUE_SHARE = 0.9
OUTCOME_NAMES = frozenset({"epoch", "step", "global_step"})
OUTCOME_PREFIXES = frozenset({"val", "valid", "validation", "train", "test", "eval", "best", "final"})
METRIC_WORDS = frozenset(
    {"loss", "acc", "accuracy", "error", "err", "f1", "auc", "score", "mse", "mae", "rmse", "perplexity", "ppl"}
    | {"precision", "recall", "top1", "top5", "bleu", "iou", "map", "r2", "nll", "metric", "reward"}
)
TIME_WORDS = frozenset({"elapsed", "duration"})
TIME_COMPANIONS = frozenset({"wall", "run", "train", "training", "total", "s", "sec", "secs", "seconds"})
SIZE_NAMES = frozenset({"n_params", "num_params", "param_count", "n_parameters", "num_parameters", "flops"})
_WORD = re.compile(r"[^A-Za-z0-9]+")


def named_like_outcome(column: str) -> bool:
    """Whether the column's name says it is a measured outcome (the module's "by name" rule)."""
    words = [w.lower() for w in _WORD.split(column) if w]
    if not words:
        return False
    joined = "_".join(words)
    if joined in OUTCOME_NAMES or joined in SIZE_NAMES or "completed" in words:
        return True
    if TIME_WORDS & set(words) or ("time" in words and TIME_COMPANIONS & set(words)):
        return True
    return words[0] in OUTCOME_PREFIXES and any(w in METRIC_WORDS for w in words)


def tracking(cells: Sequence[object], metric: Sequence[float]) -> float | None:
    """The column's Spearman correlation with the metric when it tracks it (the "by value" rule), else None."""
    pairs = [(float(v), m) for v, m in zip((cell_value(c) for c in cells), metric, strict=True) if _number(v)]
    distinct = len({v for v, _ in pairs})
    if distinct < max(TRACK_MIN_DISTINCT, TRACK_MIN_UNIQUE_SHARE * len(pairs)):
        return None
    # Imported here: printing a served ranking loads this module, and scipy.stats takes a second to import.
    from scipy.stats import spearmanr

    rho = float(spearmanr(np.array([v for v, _ in pairs]), np.array([m for _, m in pairs])).statistic)
    return rho if math.isfinite(rho) and abs(rho) >= TRACK_MIN_SPEARMAN else None


def _number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def outcome_columns(
    columns: Mapping[str, Sequence[object]], metric: Sequence[float], metric_name: str
) -> dict[str, str]:
    """name -> why it is left out, for the columns that are outcomes by either rule."""
    found: dict[str, str] = {}
    for name, cells in columns.items():
        if named_like_outcome(name):
            found[name] = "named like an outcome"
            continue
        rho = tracking(cells, metric)
        if rho is not None:
            found[name] = f"tracks {metric_name} (Spearman {rho:+.3f})"
    return found
