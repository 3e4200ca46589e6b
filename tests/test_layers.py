"""Redis only through broker/ (docs/architecture.md, "Packages and what each may import").

Every module of the project's packages is parsed, imports inside functions included;
outside broker/ none may import redis or broker.keys: they call the broker's stores.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("trials", "importance", "broker", "workers", "webui", "sweeprank")
ONLY_IN_BROKER = ("redis", "broker.keys")


def _dynamic_import(node: ast.Call) -> str | None:
    """The module named by `importlib.import_module("x")` or `__import__("x")`."""
    func = node.func
    called = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
    if called in ("import_module", "__import__") and node.args:
        first = node.args[0]
        if isinstance(first, ast.Constant) and isinstance(first.value, str):
            return first.value
    return None


def imported_modules(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """(line, dotted name) of everything a module imports, wherever the import statement is."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module
            # `from broker import keys` imports the module broker.keys.
            for alias in node.names:
                yield node.lineno, f"{node.module}.{alias.name}"
        elif isinstance(node, ast.Call) and (name := _dynamic_import(node)):
            yield node.lineno, name


def forbidden(source: str) -> list[str]:
    """The imports in `source` that only broker/ may make, as 'line: name'."""
    return [
        f"{line}: {name}"
        for line, name in imported_modules(ast.parse(source))
        if any(name == banned or name.startswith(f"{banned}.") for banned in ONLY_IN_BROKER)
    ]


def project_modules() -> list[Path]:
    return sorted(path for package in PACKAGES for path in (ROOT / package).rglob("*.py"))


@pytest.mark.parametrize(
    "source",
    [
        "import redis",
        "import redis.asyncio as aioredis",
        "from redis.exceptions import ConnectionError",
        "def f():\n    import redis\n    return redis",
        "class C:\n    def m(self):\n        from redis import Redis",
        "from broker import keys",
        "from broker import sweep_actions, keys as k",
        "from broker.keys import RESULTS_STREAM",
        "import broker.keys",
        "import importlib\nkeys = importlib.import_module('broker.keys')",
    ],
)
def test_the_check_sees_every_kind_of_import(source: str) -> None:
    assert forbidden(source)


@pytest.mark.parametrize(
    "source", ["from broker.store import Store", "from broker import sweep_actions", "import redistools", "x = 'redis'"]
)
def test_the_check_lets_other_imports_pass(source: str) -> None:
    assert forbidden(source) == []


def test_only_broker_imports_redis_or_its_keys() -> None:
    modules = project_modules()
    assert len(modules) > 50, f"found only {len(modules)} modules under {ROOT}"
    outside = [m for m in modules if m.relative_to(ROOT).parts[0] != "broker"]
    found = {str(m.relative_to(ROOT)): hits for m in outside if (hits := forbidden(m.read_text(encoding="utf-8")))}
    listing = "\n".join(f"  {module}: {', '.join(hits)}" for module, hits in found.items())
    assert not found, f"only broker/ may import redis or broker.keys; call the store's methods instead:\n{listing}"


def test_broker_itself_is_checked() -> None:
    """The store does import redis and its keys: the walk over the project reaches it."""
    inside = [m for m in project_modules() if m.relative_to(ROOT).parts[0] == "broker"]
    assert any(forbidden(m.read_text(encoding="utf-8")) for m in inside)
