"""Fixtures shared by every test package: a real redis-server on a free port."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from hypothesis import settings

from sweeprank.stack import Stack, free_port
from tests.integration.conftest import LiveStack

# CI replays the same examples every run (a red CI must be reproducible); locally each
# run explores new ones.
settings.register_profile("ci", derandomize=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


#: Fixtures that start processes: redis-server (every store, API, web and stack fixture builds on
#: redis_url), the fault stacks (their own Redis), the multi-host pool, `sweeprank up`, and Chromium.
#: A test that uses one, directly or through another fixture, is marked `stack`; `-m "not stack and
#: not slow"` is the fast lane (README, "Tests").
STACK_FIXTURES = frozenset({"redis_url", "faults", "long_claims", "tuning", "pool", "stack_up", "browser"})


#: Packages whose every test runs against real processes (stacks they start, kill and restart).
STACK_PACKAGES = frozenset({"faults", "integration", "security"})
TESTS = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        package = item.path.resolve().relative_to(TESTS).parts[0]
        if package in STACK_PACKAGES or STACK_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.stack)
    if hasattr(config, "workerinput"):
        # Run in parallel (pytest-xdist, `bash dev.sh test`), files are handed out in this order: the
        # files that start processes, which take the longest, go first, so that the many short ones
        # fill in at the end instead of one long file running alone. The sort is stable.
        items.sort(key=lambda item: item.get_closest_marker("stack") is None)


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A private redis-server (AOF on, own data dir) for the whole run."""
    stack = Stack(log_dir=None)
    url = stack.start_redis(Path(tmp_path_factory.mktemp("redis")), free_port())
    yield url
    stack.stop()


def database_url(redis_url: str, db: int) -> str:
    """The same server, another database: tests that flush must not touch the live stack's (0)."""
    return f"{redis_url.rsplit('/', 1)[0]}/{db}"


@pytest.fixture(scope="session")
def tfds_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny_shapes tfds dataset, built offline as array_record for the trainers to read."""
    from tests.workers.tfds_fixture.tiny_shapes import build

    return build(tmp_path_factory.mktemp("tfds"))


@pytest.fixture(scope="session")
def live(redis_url: str, tfds_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveStack]:
    """Trainers and the analyst on database 0, started once and shared by every module that uses them.

    Safe to share: the modules shared the database already (it is never flushed); sharing the processes,
    their tests still wait for their own sweeps' events, leave no sweep open (the `api` fixture settles
    before and after each test), and the one that restarts the analyst starts it again.
    """
    stack = LiveStack(redis_url, tmp_path_factory.mktemp("logs"), tfds_dir)
    stack.start_trainer()
    stack.start_analyst()
    yield stack
    stack.stack.stop()


@pytest.fixture
def scratch_redis(redis_url: str) -> redis.Redis:
    """Database 2, emptied: for tests that drive the store without workers."""
    client = redis.Redis.from_url(database_url(redis_url, 2), decode_responses=True)
    client.flushdb()
    return client


#: The name under which a test's figure travels on its report (the fault tests' `figures` fixture).
FIGURE = "figure"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The fault tests' figures, together at the end of the run."""
    lines = [
        f"{report.nodeid.rsplit('::', 1)[-1]}: {value}"
        for reports in terminalreporter.stats.values()
        for report in reports
        if isinstance(report, pytest.TestReport) and report.when == "call"
        for name, value in report.user_properties
        if name == FIGURE
    ]
    if lines:
        terminalreporter.section("fault figures")
        for line in lines:
            terminalreporter.write_line(line)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """On failure, show the tails of the child processes' logs beside the assertion."""
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        for value in getattr(item, "funcargs", {}).values():
            if isinstance(value, LiveStack):
                report.sections.append(("child process logs", value.logs()))
