"""CSV text of a table given column by column: what `csv.writer` writes (QUOTE_MINIMAL, lines ending in "\\n"), with
text cells that a spreadsheet would run as a formula neutralised.

`csv.writer` formats every cell in Python: at 100k rows the floats' `repr` alone takes most of an export's time.
Here a column of numbers is formatted by one `orjson.dumps` call (its numbers are Python's `repr` in the range
checked below, which tests/webui/test_csv_text.py pins), a column of plain text cells is taken as it is, and only
the cells a quick check of the whole column cannot clear (a quote, a delimiter, a line break, a formula start, a
number out of that range, another type) go through `csv.writer` one by one.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

import orjson

from trials.space import Value

Cell = Value | None

# Spreadsheets execute cells starting with these; a leading quote keeps them text.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

# Joins a text column's cells for a few substring searches (each much faster than one regular expression): a
# cell starts like a formula where the separator is followed by one of FORMULA_START.
_SEPARATOR = "\x1f"
# What in a text column makes csv.writer change a cell (quotes, delimiters, line breaks, NUL), or a formula start.
_NEEDS_CARE = (",", '"', "\r", "\n", "\x00", *(_SEPARATOR + start for start in FORMULA_START))
_NUMBERS = frozenset({int, float, type(None)})
_TEXTS = frozenset({str, type(None)})


def safe_cell(value: Cell) -> Cell:
    if isinstance(value, str) and value[:1] in FORMULA_START:
        return "'" + value
    return value


def csv_text(columns: Sequence[Sequence[Cell]]) -> str:
    """The rows whose cells `columns` holds (each column a cell per row), as `csv.writer` writes
    `[safe_cell(cell) for cell in row]` for each row."""
    if not columns or not columns[0]:
        return ""
    if len(columns) == 1:
        # A row of one empty cell is written `""`: a rule of single-cell rows that joining cells would miss.
        return _written([[safe_cell(cell)] for cell in columns[0]])
    return "\n".join(map(",".join, zip(*map(_column_texts, columns), strict=True))) + "\n"


def _written(rows: Iterable[Sequence[Cell]]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue()


def _column_texts(column: Sequence[Cell]) -> Sequence[str]:
    kinds = set(map(type, column))
    if kinds <= _NUMBERS:
        return _number_texts(column)
    if kinds <= _TEXTS:
        cells = [cell or "" for cell in column] if type(None) in kinds else column
        joined = _SEPARATOR + _SEPARATOR.join(cells)  # type: ignore[arg-type]
        if not any(care in joined for care in _NEEDS_CARE):
            return cells  # type: ignore[return-value]
    return _cell_texts(column)


def _number_texts(column: Sequence[Cell]) -> Sequence[str]:
    try:
        joined = orjson.dumps(column).decode()
    except TypeError:  # an int beyond 64 bits
        return _cell_texts(column)
    texts = joined[1:-1].split(",")
    # orjson writes None, NaN and infinities as null, and numbers below 1e-4 or from 1e16 on in other forms
    # than repr (0.00001 for 1e-05, 1e-7 for 1e-07): those columns are looked at cell by cell.
    if "null" in joined or "e" in joined or "0.0000" in joined:
        return list(map(_number_text, column, texts))
    return texts


def _number_text(number: Cell, text: str) -> str:
    """A number (int, float or None) as `csv.writer` writes it, given orjson's text of it."""
    if number is None:
        return ""
    if type(number) is float and not (number == 0 or 1e-4 <= abs(number) < 1e16):
        return repr(number)
    return text


def _cell_texts(cells: Sequence[Cell]) -> list[str]:
    """Each cell as `csv.writer` writes it in a row of several."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    texts = []
    for cell in cells:
        # A second, empty cell: a row of one empty cell would be written `""`.
        writer.writerow([safe_cell(cell), None])
        texts.append(out.getvalue()[:-2])
        out.seek(0)
        out.truncate()
    return texts
