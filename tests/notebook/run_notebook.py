"""Execute a notebook's code cells in order, in this fresh process, and say what Jupyter would show.

No kernel is started (nbclient and ipykernel are not dependencies): each cell runs in one shared
namespace, and a cell ending in an expression is shown as Jupyter's display does it, by the
richest representation the value offers. Prints one JSON line per cell:
{"cell": i, "shown": "text/html" | "image/png" | "text/plain" | null, "text": ..., "stdout": ...}.
"""

from __future__ import annotations

import ast
import contextlib
import io
import json
import sys
from pathlib import Path
from typing import Any


def shown(value: Any) -> tuple[str | None, str]:
    """What Jupyter displays for a cell's last value: HTML, a matplotlib figure as PNG, else its repr."""
    if value is None:
        return None, ""
    if hasattr(value, "_repr_html_") and (page := value._repr_html_()) is not None:
        return "text/html", page
    if type(value).__name__ == "Figure" and hasattr(value, "savefig"):
        buffer = io.BytesIO()
        value.savefig(buffer, format="png")
        return "image/png", f"{len(buffer.getvalue())} bytes"
    return "text/plain", repr(value)


def run(path: Path) -> None:
    namespace: dict[str, Any] = {"__name__": "__main__"}
    cells = [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]
    for i, cell in enumerate(cells):
        tree = ast.parse("".join(cell["source"]))
        last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            exec(compile(tree, f"cell {i}", "exec"), namespace)
            value = eval(compile(ast.Expression(last.value), f"cell {i}", "eval"), namespace) if last else None
        kind, text = shown(value)
        print(json.dumps({"cell": i, "shown": kind, "text": text, "stdout": printed.getvalue()}))


if __name__ == "__main__":
    run(Path(sys.argv[1]))
