"""The shape of the code: no import cycles, packages import only what docs/architecture.md allows,
and only broker/settings.py reads SWEEPRANK_ variables from the environment.

Everything here reads source files with `ast`; nothing is imported.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("trials", "importance", "offline", "broker", "workers", "analyst", "webui", "sweeprank")
SETTINGS_MODULE = "broker.settings"

# docs/architecture.md, "Packages and what each may import" (project packages only).
MAY_IMPORT = {
    "trials": {"importance"},
    "importance": set(),
    "broker": {"trials"},
    "offline": {"trials", "importance"},
    "workers": {"broker", "trials", "importance"},
    "analyst": {"broker", "trials", "importance"},
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


# --- who reads SWEEPRANK_ variables ---------------------------------------------------------------------------------

# A variable's name, or the prefix itself ("SWEEPRANK", "SWEEPRANK_", "SWEEPRANK_REDIS_URL").
_VARIABLE = re.compile(r"^SWEEPRANK(_[A-Z0-9_]*)?$")


def _parents(tree: ast.AST) -> dict[ast.AST, ast.AST]:
    return {child: parent for parent in ast.walk(tree) for child in ast.iter_child_nodes(parent)}


def sweeprank_reads(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """(line, name) for each use of a SWEEPRANK_ variable's name that is not setting it.

    Setting a child's environment names a variable in exactly two ways, and both are allowed:
    a dict key (`{"SWEEPRANK_DEVICE": "cuda"}`, `env.update({...})`) and an assignment target
    (`env["SWEEPRANK_REDIS_URL"] = url`, also `os.environ[...] = ...`); keyword arguments
    (`env.update(SWEEPRANK_DEVICE="cpu")`) are names, not strings, so they never show up here.
    Every other use of the name as a whole string is counted as reading it: `os.environ.get(...)`,
    `os.getenv(...)`, `os.environ[...]`, `... in os.environ`, `from_prefixed_env("SWEEPRANK")`,
    another pydantic `env_prefix="SWEEPRANK_"`, `key.startswith("SWEEPRANK_")`, an f-string
    building the name. Messages that merely mention a variable ("or set SWEEPRANK_TFDS_DIR")
    are longer strings and do not match.
    """
    parents = _parents(tree)
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Constant) and isinstance(node.value, str) and _VARIABLE.match(node.value)):
            continue
        parent = parents.get(node)
        if isinstance(parent, ast.Dict) and any(key is node for key in parent.keys):
            continue
        if isinstance(parent, ast.Subscript) and parent.slice is node and isinstance(parent.ctx, ast.Store):
            continue
        yield node.lineno, node.value


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


def test_the_architecture_table_is_the_one_enforced_here() -> None:
    """docs/architecture.md's package table names the same packages, with the same project imports, as MAY_IMPORT."""
    section = (ROOT / "docs" / "architecture.md").read_text().split("## Packages and what each may import")[1]
    rows = [line for line in section.split("\n## ")[0].splitlines() if line.startswith("| `")]
    documented = {
        (cells := [c.strip() for c in row.strip("|").split("|")])[0].strip("`/"): set(re.findall(r"`(\w+)`", cells[2]))
        & set(PACKAGES)
        for row in rows
    }
    assert documented == {**MAY_IMPORT, "sweeprank": set(PACKAGES) - {"sweeprank"}}


def test_no_two_modules_share_a_file_name() -> None:
    """A file name says what the module holds: two `services.py` with different meanings mislead a reader."""
    seen: dict[str, list[str]] = {}
    for name, path in project_modules().items():
        if path.name != "__init__.py":
            seen.setdefault(path.name, []).append(name)
    assert {file: names for file, names in seen.items() if len(names) > 1} == {}


# Untyped records are where a schema should be: a known shape gets a model or a TypedDict, arbitrary JSON the
# `trials.json_types` alias. Lower this when one goes; never raise it.
MOST_UNTYPED_DICTS = 23


def test_untyped_dicts_do_not_grow_back() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in project_modules().values()
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if "dict[str, Any]" in line
    ]
    assert len(found) <= MOST_UNTYPED_DICTS, "\n".join(found)


def test_only_the_settings_module_reads_sweeprank_variables() -> None:
    modules = project_modules()
    reads = {name: list(sweeprank_reads(ast.parse(path.read_text()))) for name, path in modules.items()}
    assert reads[SETTINGS_MODULE], "the settings module reads them (or this test no longer sees how)"
    elsewhere = [
        f"{modules[name].relative_to(ROOT)}:{line}: {variable}"
        for name, found in reads.items()
        if name != SETTINGS_MODULE
        for line, variable in found
    ]
    assert not elsewhere, "SWEEPRANK_ variables read outside broker/settings.py:\n" + "\n".join(elsewhere)


# --- the checkers themselves ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "code",
    [
        'os.environ.get("SWEEPRANK_DEVICE", "cpu")',
        'os.getenv("SWEEPRANK_TOKEN")',
        'os.environ["SWEEPRANK_REDIS_URL"]',
        'env = dict(os.environ); url = env["SWEEPRANK_REDIS_URL"]',
        '"SWEEPRANK_PUBLIC_READ" in os.environ',
        'app.config.from_prefixed_env("SWEEPRANK")',
        'SettingsConfigDict(env_prefix="SWEEPRANK_")',
        '{k: v for k, v in os.environ.items() if k.startswith("SWEEPRANK_")}',
        'def f():\n    from os import environ\n    return environ.get(f"SWEEPRANK_{name}")',
    ],
)
def test_reads_are_found(code: str) -> None:
    assert list(sweeprank_reads(ast.parse(code)))


@pytest.mark.parametrize(
    "code",
    [
        'env.update(SWEEPRANK_DEVICE="cpu", SWEEPRANK_TORCH_THREADS=str(threads))',
        'spawn("trainer", command, {"CUDA_VISIBLE_DEVICES": gpu, "SWEEPRANK_DEVICE": "cuda"})',
        'stack.env["SWEEPRANK_REDIS_URL"] = url',
        'os.environ["SWEEPRANK_DEVICE"] = "cpu"',
        'raise Error(f"{root}: not found; or set SWEEPRANK_TFDS_DIR")',
        '"""Settings: SWEEPRANK_REDIS_URL and SWEEPRANK_SECRET_KEY."""',
    ],
)
def test_setting_and_mentioning_are_not_reads(code: str) -> None:
    assert not list(sweeprank_reads(ast.parse(code)))


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
