"""The CSV encoder of exports writes what `csv.writer` writes, cell for cell, formulas neutralised."""

from __future__ import annotations

import csv
import io
import math
import random

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from webui.csv_text import FORMULA_START, Cell, csv_text, safe_cell

FAST = settings(max_examples=300, deadline=None, derandomize=True)


def written(columns: list[list[Cell]]) -> str:
    """The reference: csv.writer on each row, its cells neutralised."""
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows([[safe_cell(c) for c in row] for row in zip(*columns, strict=True)])
    return out.getvalue()


# Cells of every kind a column may hold: text with quotes, delimiters, line breaks and formula starts, numbers
# in and out of the range orjson writes as repr, NaN and infinities, ints beyond 64 bits, and cells that are
# neither (a bool), mixed in one column or not.
TEXT = st.text(alphabet=st.sampled_from([*"ab1 ,\"'\r\n\t\x00é€", *FORMULA_START]), max_size=6)
FLOAT = st.floats() | st.sampled_from([1e-4, 1e-5, 1.5e-7, 9999999999999998.0, 1e16, 1e22, -0.0, 5e-324])
INT = st.integers() | st.integers(min_value=-(2**70), max_value=2**70)
CELL = st.none() | TEXT | FLOAT | INT | st.booleans()


def _column_of(kind: st.SearchStrategy[Cell], n: int) -> st.SearchStrategy[list[Cell]]:
    return st.lists(kind | st.none(), min_size=n, max_size=n)


@st.composite
def tables(draw: st.DrawFn) -> list[list[Cell]]:
    n_rows = draw(st.integers(min_value=0, max_value=8))
    kinds: list[st.SearchStrategy[Cell]] = [TEXT, FLOAT, INT, FLOAT | INT, CELL]
    return [
        draw(_column_of(draw(st.sampled_from(kinds)), n_rows))
        for _ in range(draw(st.integers(min_value=1, max_value=5)))
    ]


@FAST
@given(tables())
def test_a_table_is_written_as_csv_writer_writes_it(columns: list[list[Cell]]) -> None:
    assert csv_text(columns) == written(columns)


@pytest.mark.parametrize("start", FORMULA_START)
def test_every_text_a_spreadsheet_would_run_is_neutralised_in_a_column_of_plain_text(start: str) -> None:
    column: list[Cell] = [*["gpu0@a:1"] * 5, f"{start}cmd", start, None]
    numbers: list[Cell] = list(range(8))
    text = csv_text([column, numbers])
    assert text == written([column, numbers])
    plain = "".join(f"gpu0@a:1,{i}\n" for i in range(5))
    assert text == plain + written([[f"'{start}cmd", f"'{start}", None], [5, 6, 7]])


def test_orjson_writes_a_float_as_repr_does_in_the_range_the_encoder_takes_it_from_orjson() -> None:
    # The encoder takes a float's text from orjson for 1e-4 <= |x| < 1e16 (and 0): pinned here at the range's
    # edges and on random floats of every magnitude in it, so that an orjson that writes them otherwise fails here.
    rng = random.Random(7)
    edges = [1e-4, math.nextafter(1e-4, 1), math.nextafter(1e16, 0), 0.0, -0.0, 5.0, 0.1, 1 / 3, 2**53 + 0.0]
    floats = edges + [rng.choice((1, -1)) * 10 ** rng.uniform(-4, 16) for _ in range(100_000)]
    floats = [f for f in floats if f == 0 or 1e-4 <= abs(f) < 1e16]
    assert orjson.dumps(floats).decode()[1:-1].split(",") == [repr(f) for f in floats]
    # Outside it orjson writes other forms: the reason those cells are written by repr.
    assert orjson.dumps([1e-5, 1e16]) != b"[1e-05,1e+16]"


def test_numbers_out_of_orjsons_range_and_missing_cells_are_written_as_csv_writer_writes_them() -> None:
    columns: list[list[Cell]] = [
        [0.5, 1e-05, -2.5e-300, 1e16, float("nan"), float("-inf"), None, 3, 2**64, -(2**63) - 1],
        [True, False, None, "", "a", 1, 2.0, "=x", "b,c", 'q"'],
    ]
    assert csv_text(columns) == written(columns)
    assert csv_text(columns).splitlines()[1] == "1e-05,False"


def test_a_single_column_and_an_empty_table() -> None:
    assert csv_text([["", None, "x", "-1"]]) == written([["", None, "x", "-1"]]) == '""\n""\nx\n\'-1\n'
    assert csv_text([[], []]) == "" and csv_text([]) == ""
