"""The shape of the code: no import cycles, and packages import only what docs/architecture.md allows.

Everything here reads source files with `ast`; nothing is imported.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("trials", "importance", "broker", "workers", "webui", "sweeprank")

# docs/architecture.md, "Packages and what each may import" (project packages only).
MAY_IMPORT = {
    "trials": set(),
    "importance": set(),
    "broker": {"trials"},
    "workers": {"broker", "trials", "importance"},
    "webui": {"broker", "trials", "importance"},
    "sweeprank": set(PACKAGES),
}


# --- reading the project --------------------------------------------------------------------------------------------


def project_modules(root: Path = ROOT) -> dict[str, Path]:
    """Dotted name -> file, for every module of the project packages (a package is its __init__)."""
    modules = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def _resolve(dotted: str, modules: dict[str, Path]) -> str | None:
    """The project module `import dotted` runs last: the longest project prefix of the name."""
    parts = dotted.split(".")
    for end in range(len(parts), 0, -1):
        if ".".join(parts[:end]) in modules:
            return ".".join(parts[:end])
    return None


def imported_modules(name: str, tree: ast.AST, modules: dict[str, Path], is_package: bool) -> set[str]:
    """Project modules that module `name` imports anywhere (top level, functions, conditionals).

    `from package import module` is an import of the module; `from module import name` of the module;
    relative imports are resolved against `name`'s package.
    """
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(t for alias in node.names if (t := _resolve(alias.name, modules)))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                package = name.split(".") if is_package else name.split(".")[:-1]
                package = package[: len(package) - (node.level - 1)]
                base = ".".join([*package, *([node.module] if node.module else [])])
            else:
                base = node.module or ""
            for alias in node.names:
                # A module of that name if there is one, else the module the name is taken from.
                target = _resolve(base if alias.name == "*" else f"{base}.{alias.name}", modules)
                if target is not None:
                    found.add(target)
    found.discard(name)
    return found


def import_graph(root: Path = ROOT) -> dict[str, set[str]]:
    modules = project_modules(root)
    return {
        name: imported_modules(name, ast.parse(path.read_text(), str(path)), modules, path.name == "__init__.py")
        for name, path in modules.items()
    }


def import_components(graph: dict[str, set[str]]) -> list[set[str]]:
    """The strongly connected components of more than one module: each holds at least one cycle."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []

    def visit(node: str) -> None:  # Tarjan's algorithm
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(component)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return components


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per tangled component, as a path a -> ... -> a."""
    return [_cycle_in(graph, component) for component in import_components(graph)]


def _cycle_in(graph: dict[str, set[str]], component: set[str]) -> list[str]:
    """The shortest cycle through the component's first module (breadth-first, inside the component)."""
    start = min(component)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for nxt in sorted(graph[node] & component):
                if nxt == start:
                    return [*paths[node], start]
                if nxt not in paths:
                    paths[nxt] = [*paths[node], nxt]
                    following.append(nxt)
        frontier = following
    raise AssertionError(f"no cycle through {start} in {component}")


# --- the tests --------------------------------------------------------------------------------------------------------


def test_no_import_cycles() -> None:
    graph = import_graph()
    tangles = [
        f"{' -> '.join(_cycle_in(graph, component))} (all of {', '.join(sorted(component))} reach each other)"
        for component in import_components(graph)
    ]
    assert not tangles, "import cycles:\n" + "\n".join(tangles)


def test_packages_import_only_what_the_architecture_allows() -> None:
    wrong = [
        f"{name} imports {target}"
        for name, targets in import_graph().items()
        for target in sorted(targets)
        if (package := name.split(".")[0]) != (other := target.split(".")[0]) and other not in MAY_IMPORT[package]
    ]
    assert not wrong, "imports against docs/architecture.md:\n" + "\n".join(wrong)


# --- the checkers themselves ---------------------------------------------------------------------------------------


def test_cycles_are_found_and_named(tmp_path: Path) -> None:
    files = {
        "sweeprank/__init__.py": "",
        "sweeprank/cli.py": "from sweeprank import up\n",
        "sweeprank/up.py": "def run():\n    from sweeprank.cli import follow\n",
        "webui/__init__.py": "from webui.app import create_app\n",
        "webui/app.py": "def create_app():\n    from . import api\n",
        "webui/api.py": "from .app import services\n",
        "broker/__init__.py": "",
        "broker/keys.py": "import broker\nfrom broker import store\n",
        "broker/store.py": "from broker.keys import user\n",
        "trials/__init__.py": "",
        "trials/ok.py": "import numpy\nfrom trials import errors\n",
        "trials/errors.py": "",
    }
    for path, text in files.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text)
    for package in PACKAGES:
        (tmp_path / package).mkdir(exist_ok=True)
    cycles = sorted(" -> ".join(c) for c in import_cycles(import_graph(tmp_path)))
    assert cycles == [
        "broker.keys -> broker.store -> broker.keys",
        "sweeprank.cli -> sweeprank.up -> sweeprank.cli",
        "webui.api -> webui.app -> webui.api",
    ]
