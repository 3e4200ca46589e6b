"""What each service imports, against what its extra installs (pyproject.toml; README, "Run a lab pool").

The web server and the analyst run in fresh interpreters, as their units start them: neither may
import torch (a web or analyst host installs none), and every distribution of the project's
dependencies that either imports must be installed by the core dependencies plus that service's extra.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from tests.conftest import database_url

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
DATABASE = 7  # the web tests use 1-3, security 5, the Optuna export 6
TRAINER_ONLY = ("torch", "torchvision", "tensorflow_datasets")

# create_app, then the pages and API reads a web process serves first.
WEB = """
import json, sys
from broker.settings import Settings
from webui.app import create_app
client = create_app(Settings(redis_url=sys.argv[1])).test_client()
for path in ("/", "/sweeps", "/login", "/api/health", "/api/queue", "/api/openapi.json"):
    client.get(path)
print(json.dumps(sorted(sys.modules)))
"""

# `sweeprank analyst`, as its unit runs it, until its first heartbeat is stored (it has started and read the stream).
ANALYST = """
import json, os, sys, threading, time
os.environ["SWEEPRANK_REDIS_URL"] = sys.argv[1]
from broker.store import Store
from sweeprank.cli import main
threading.Thread(target=main, args=(["analyst"],), daemon=True).start()
store, deadline = Store.from_url(sys.argv[1]), time.monotonic() + 120
while store.services.last_beat("analyst") is None and time.monotonic() < deadline:
    time.sleep(0.05)
time.sleep(0.5)  # the first read of the result stream and the first comparison check
print(json.dumps(sorted(sys.modules)))
sys.stdout.flush()
os._exit(0 if store.services.last_beat("analyst") is not None else 3)
"""


def _name(text: str) -> str:
    return re.sub(r"[-_.]+", "-", text).lower()


def installed_by(requirements: list[str]) -> set[str]:
    """The distributions (normalised names) these requirements install, transitively, as found in this env."""
    found: set[str] = set()
    todo = [Requirement(r) for r in requirements]
    while todo:
        req = todo.pop()
        name = _name(req.name)
        if name == "sweeprank":  # an extra of the project itself: its requirements instead
            todo += [Requirement(r) for extra in req.extras for r in PROJECT["optional-dependencies"][extra]]
            continue
        if name in found:
            continue
        try:
            requires = metadata.requires(req.name) or []
        except metadata.PackageNotFoundError:
            continue  # for another platform or Python
        found.add(name)
        for text in requires:
            sub = Requirement(text)
            if sub.marker is None or any(sub.marker.evaluate({"extra": e}) for e in [*req.extras, ""]):
                todo.append(sub)
    return found


def imported_distributions(modules: list[str]) -> set[str]:
    """The distributions that provide the top-level modules among `modules` (the project's own excluded)."""
    providers = metadata.packages_distributions()
    tops = {module.split(".")[0] for module in modules}
    return {_name(dist) for top in tops for dist in providers.get(top, []) if _name(dist) != "sweeprank"}


def modules_of(script: str, redis_url: str) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", script, database_url(redis_url, DATABASE)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return list(json.loads(done.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize(("service", "script"), [("web", WEB), ("analyst", ANALYST)])
def test_a_service_imports_no_torch_and_only_what_its_extra_installs(service: str, script: str, redis_url: str) -> None:
    modules = modules_of(script, redis_url)
    assert not [m for m in modules if m.split(".")[0] in TRAINER_ONLY]
    allowed = installed_by([*PROJECT["dependencies"], f"sweeprank[{service}]"])
    assert "torch" not in allowed, f"sweeprank[{service}] installs torch"
    # Libraries probe for optional packages (cryptography, greenlet, ...): what the project names itself counts.
    named = {
        _name(Requirement(r).name)
        for extra, requirements in PROJECT["optional-dependencies"].items()
        if extra != "dev"
        for r in [*PROJECT["dependencies"], *requirements]
    }
    assert imported_distributions(modules) & named <= allowed


def test_dev_installs_every_extra() -> None:
    extras = set(PROJECT["optional-dependencies"]) - {"dev", "all"}
    dev = {Requirement(r) for r in PROJECT["optional-dependencies"]["dev"]}
    assert {extra for r in dev if _name(r.name) == "sweeprank" for extra in r.extras} == extras


def test_the_trainer_extra_installs_the_trainer_only_packages() -> None:
    assert {"torch", "torchvision", "tensorflow-datasets"} <= installed_by(["sweeprank[trainer]"])
    assert not {"torch", "torchvision", "tensorflow-datasets"} & installed_by(PROJECT["dependencies"])


# What a process that ranks nothing imports to start: the web server (above), a trainer's Celery parent
# (its task module and the warm-up it runs before forking) and any command's parser.
TRAINER_PARENT = """
import json, sys
import workers.tasks
workers.tasks._import_before_forking()
print(json.dumps(sorted(sys.modules)))
"""
COMMAND_LINE = """
import json, sys
from sweeprank.cli import build_parser
build_parser()
print(json.dumps(sorted(sys.modules)))
"""


@pytest.mark.parametrize(("process", "script"), [("web", WEB), ("trainer", TRAINER_PARENT), ("cli", COMMAND_LINE)])
def test_a_process_that_ranks_nothing_starts_without_scipy(process: str, script: str, redis_url: str) -> None:
    # scipy's statistics cost each such process a second of CPU to start: the test stacks start about 150.
    assert not [m for m in modules_of(script, redis_url) if m.split(".")[0] == "scipy"]
