"""A search space inferred from a table of trials, for users who have trials but no space file.

The rules (README, "Ranking a table without a space file"):

- A cell that is empty, NaN or None (the Python object) is "not applicable" (a conditional
  hyperparameter); a column with such cells is noted as conditional, and its bounds and choices
  come from the other cells.
- The words `none` and `null` (any case) are a value, a choice like any other, whenever the column
  holds other non-empty values: real spaces use them (a NAS cell's `none` op, `scheduler: none`,
  `max_depth: None`). A column of nothing but these words is empty.
- A column whose cells are all numbers is numeric: `int` when every value is integral, else `float`;
  bounds are the smallest and largest value seen. It is log-scaled when the values are positive,
  span `LOG_DECADES` decades or more, and look log-uniform: the log-uniform density on the same
  bounds fits them better (higher likelihood) than the uniform one (`looks_log_uniform`). Values
  drawn uniformly from [0, 1] span 3 decades yet fit the uniform density: they stay linear.
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
from dataclasses import dataclass, field

import yaml

from trials.errors import SpecError
from trials.space import ChoiceParam, NumericParam, Param, SearchSpace, Value

MAX_CHOICES = 10
LOG_DECADES = 2.0
MISSING_WORDS = frozenset({"", "nan", "<na>", "nat"})
NONE_WORDS = frozenset({"none", "null"})  # values in a column that has others (module docstring)
_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")


def text(raw: object) -> str:
    """A cell as the text a categorical choice is matched on (a CSV cell is already text)."""
    if hasattr(raw, "item") and not isinstance(raw, str):
        raw = raw.item()  # a numpy scalar from a DataFrame prints like the Python value
    return str(raw).strip()


def is_none_word(raw: object) -> bool:
    """Whether the cell is the text `none` or `null`: a value or "not applicable", as its column says."""
    return isinstance(raw, str) and raw.strip().lower() in NONE_WORDS


def cell_value(raw: object, none_is_value: bool = False) -> Value | None:
    """A cell as a number when it reads as one, else its text; None when it is empty (not applicable).

    `none`/`null` are their text with `none_is_value`, else empty (a metric or a status cell).
    """
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
    if word.lower() in MISSING_WORDS or (word.lower() in NONE_WORDS and not none_is_value):
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


def looks_log_uniform(numbers: Sequence[float]) -> bool:
    """Whether positive values fit the log-uniform density on [min, max] better than the uniform one.

    Both densities have the same two parameters (the bounds seen), so their log-likelihoods compare
    directly: uniform n·-ln(b-a), log-uniform -Σ ln x - n·ln ln(b/a). Values spread evenly in log
    space (a learning rate searched on a log scale) pile up near the low bound, where 1/x is large;
    values drawn evenly from [a, b] do not.
    """
    low, high = min(numbers), max(numbers)
    if low <= 0 or high <= low:
        return False
    n = len(numbers)
    uniform = -n * math.log(high - low)
    log_uniform = -sum(math.log(x) for x in numbers) - n * math.log(math.log(high / low))
    return log_uniform > uniform


def _present(cells: Sequence[object]) -> list[object]:
    """The cells that hold a value: not empty and, unless they are all the column has, not none words."""
    filled = [c for c in cells if cell_value(c, none_is_value=True) is not None]
    return filled if any(not is_none_word(c) for c in filled) else []


def infer_param(name: str, cells: Sequence[object]) -> Param | None:
    """One column's hyperparameter by the module's rules; None when it holds nothing or only unique text."""
    present = _present(cells)
    values = [v for v in (cell_value(c, none_is_value=True) for c in present) if v is not None]
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
        log = low > 0 and math.log10(high / low) >= LOG_DECADES and looks_log_uniform(numbers)
        try:
            if integral:
                return NumericParam(name, "int", int(low), int(high), log)
            return NumericParam(name, "float", low, high, log)
        except SpecError as err:
            raise SpecError(name, err.message) from None
    words = [text(c) for c in present]
    distinct_words = sorted(set(words))
    if len(distinct_words) == len(words) and len(words) > MAX_CHOICES:
        return None
    return ChoiceParam(name, "categorical", tuple(distinct_words))


@dataclass(frozen=True, repr=False)
class InferredSpace:
    """The space read off a table, with what a user should check: conditional and skipped columns.

    Its repr is the space file `sweeprank rank` prints (a notebook shows `result.inferred` so).
    """

    space: SearchSpace
    n_rows: int
    conditional: dict[str, int]  # name -> rows where it is empty (not applicable)
    skipped: list[str]  # columns that hold nothing or a different text in every row
    left_out: dict[str, str] = field(default_factory=dict)  # outcome columns (not hyperparameters) -> why

    def __repr__(self) -> str:
        return self.to_yaml()

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
        for name, why in self.left_out.items():
            lines.append(f"# left out, an outcome rather than a hyperparameter ({why}): {name}; --space keeps it")
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
        empty = len(cells) - len(_present(cells))
        if empty:
            conditional[name] = empty
    if not params:
        raise SpecError("space", f"no column can be read as a hyperparameter (looked at {list(columns)})")
    return InferredSpace(SearchSpace(tuple(params)), n_rows, conditional, skipped)


def parse_cell(param: Param, raw: object) -> Value | None:
    """A table cell as a value of `param`: None when empty (not applicable), else validated.

    `none`/`null` is a value only where it is one of the param's choices (the column had other
    values when the space was inferred, or the space file lists it); elsewhere not applicable.
    """
    value = cell_value(raw, none_is_value=True)
    choice = isinstance(param, ChoiceParam) and text(raw) in {str(c) for c in param.choices}
    if value is None or (is_none_word(raw) and not choice):
        return None
    if isinstance(param, ChoiceParam):
        return param.validate(text(raw))
    if not _is_number(value):
        raise SpecError(param.name, f"must be a number, got {text(raw)!r}")
    return param.validate(value)
