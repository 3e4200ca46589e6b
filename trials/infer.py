"""A search space inferred from a table of trials, for users who have trials but no space file.

The rules (README, "Ranking a table without a space file"):

- A cell that is empty, NaN or None is "not applicable" (a conditional hyperparameter); a column
  with such cells is noted as conditional, and its bounds and choices come from the other cells.
- A column whose cells are all numbers is numeric: `int` when every value is integral, else `float`;
  bounds are the smallest and largest value seen; log-scaled when the values are positive and
  span `LOG_DECADES` decades or more.
- A numeric column with few distinct values (at most `MAX_CHOICES`, each seen twice on average)
  is ordinal: its sorted values are its choices, which is how batch sizes and layer counts are searched.
- Any other column (text, booleans, numbers mixed with text) is categorical over the text it holds.
  A text column with a different value in every row (a run name, a note) is not a hyperparameter.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import yaml

from trials.errors import SpecError
from trials.space import ChoiceParam, NumericParam, Param, SearchSpace, Value

MAX_CHOICES = 10
LOG_DECADES = 2.0
MISSING_WORDS = frozenset({"", "nan", "none", "null", "<na>", "nat"})
_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")


def text(raw: object) -> str:
    """A cell as the text a categorical choice is matched on (a CSV cell is already text)."""
    if hasattr(raw, "item") and not isinstance(raw, str):
        raw = raw.item()  # a numpy scalar from a DataFrame prints like the Python value
    return str(raw).strip()


def cell_value(raw: object) -> Value | None:
    """A cell as a number when it reads as one, else its text; None when it is empty (not applicable)."""
    if raw is None:
        return None
    if hasattr(raw, "item") and not isinstance(raw, str):
        raw = raw.item()
    if isinstance(raw, bool):
        return str(raw)
    if isinstance(raw, int):
        return raw
    if isinstance(raw, float):
        return None if math.isnan(raw) else raw
    word = text(raw)
    if word.lower() in MISSING_WORDS:
        return None
    try:
        return int(word)
    except ValueError:
        pass
    try:
        number = float(word)
    except ValueError:
        return word
    return None if math.isnan(number) else number


def _is_number(value: Value) -> bool:
    return isinstance(value, (int, float))


def _integral(numbers: Sequence[float]) -> bool:
    return all(math.isfinite(n) and float(n).is_integer() for n in numbers)


def infer_param(name: str, cells: Sequence[object]) -> Param | None:
    """One column's hyperparameter by the module's rules; None when it holds nothing or only unique text."""
    values = [v for v in (cell_value(c) for c in cells) if v is not None]
    if not values:
        return None
    if all(_is_number(v) for v in values):
        numbers = [float(v) for v in values]
        integral = _integral(numbers)
        distinct = sorted(set(numbers))
        if len(distinct) <= MAX_CHOICES and 2 * len(distinct) <= len(numbers):
            choices: tuple[Value, ...] = tuple(int(n) for n in distinct) if integral else tuple(distinct)
            return ChoiceParam(name, "ordinal", choices)
        low, high = distinct[0], distinct[-1]
        log = low > 0 and math.log10(high / low) >= LOG_DECADES
        try:
            if integral:
                return NumericParam(name, "int", int(low), int(high), log)
            return NumericParam(name, "float", low, high, log)
        except SpecError as err:
            raise SpecError(name, err.message) from None
    words = [text(c) for c in cells if cell_value(c) is not None]
    distinct_words = sorted(set(words))
    if len(distinct_words) == len(words) and len(words) > MAX_CHOICES:
        return None
    return ChoiceParam(name, "categorical", tuple(distinct_words))


@dataclass(frozen=True)
class InferredSpace:
    """The space read off a table, with what a user should check: conditional and skipped columns."""

    space: SearchSpace
    n_rows: int
    conditional: dict[str, int]  # name -> rows where it is empty (not applicable)
    skipped: list[str]  # columns that hold nothing or a different text in every row

    def to_yaml(self) -> str:
        """The space-file form (loadable with --space), one line per hyperparameter, conditionals noted."""
        lines = [
            f"# inferred by sweeprank from {self.n_rows} trials: check the types, bounds and log scales",
            "parameters:",
        ]
        for param in self.space.params:
            spec = yaml.safe_dump(param.to_dict(), default_flow_style=True, sort_keys=False, width=2**31).strip()
            key = param.name if _PLAIN_KEY.match(param.name) else json.dumps(param.name)
            empty = self.conditional.get(param.name)
            note = f"  # conditional: not applicable (empty) in {empty} of {self.n_rows} trials" if empty else ""
            lines.append(f"  {key}: {spec}{note}")
        if self.skipped:
            lines.append(f"# not hyperparameters (empty, or a different text in every row): {', '.join(self.skipped)}")
        return "\n".join(lines) + "\n"


def infer_space(columns: Mapping[str, Sequence[object]]) -> InferredSpace:
    """Infer every column's hyperparameter; columns keep their order."""
    params: list[Param] = []
    skipped: list[str] = []
    conditional: dict[str, int] = {}
    n_rows = max((len(cells) for cells in columns.values()), default=0)
    for name, cells in columns.items():
        param = infer_param(name, cells)
        if param is None:
            skipped.append(name)
            continue
        params.append(param)
        empty = sum(cell_value(c) is None for c in cells)
        if empty:
            conditional[name] = empty
    if not params:
        raise SpecError("space", f"no column can be read as a hyperparameter (looked at {list(columns)})")
    return InferredSpace(SearchSpace(tuple(params)), n_rows, conditional, skipped)


def parse_cell(param: Param, raw: object) -> Value | None:
    """A table cell as a value of `param`: None when empty (not applicable), else validated."""
    value = cell_value(raw)
    if value is None:
        return None
    if isinstance(param, ChoiceParam):
        return param.validate(text(raw))
    if not _is_number(value):
        raise SpecError(param.name, f"must be a number, got {text(raw)!r}")
    return param.validate(value)
