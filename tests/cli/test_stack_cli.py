"""`sweeprank up` starts the whole stack; the client commands find and drive it; Ctrl-C stops every child."""

from __future__ import annotations

import csv
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import yaml

from sweeprank.stack_state import STATE_FILE
from tests.cli.stack_up import TINY_SPEC, UpStack, alive, process_tree, start_up, sweeprank
from tests.helpers import wait_until

# `sweeprank up` and commands run as processes.
pytestmark = pytest.mark.stack


@pytest.fixture(scope="module")
def stack_up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UpStack]:
    stack = start_up(tmp_path_factory.mktemp("up"))
    yield stack
    stack.stop()


def test_submit_follows_the_sweep_and_prints_the_ranking(stack_up: UpStack, tmp_path: Path) -> None:
    url, token = stack_up.url, stack_up.admin_token()
    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text(yaml.safe_dump(TINY_SPEC))
    anonymous = sweeprank("submit", str(spec_file), "--url", url)
    assert anonymous.returncode == 2 and "HTTP 401" in anonymous.stderr
    done = sweeprank("submit", str(spec_file), "--url", url, token=token)
    assert done.returncode == 0, done.stderr
    assert "submitted sweep sw1" in done.stdout
    assert "6/6 completed" in done.stdout, done.stdout
    assert "Importance over 6 completed trials, by share of the metric's variance" in done.stdout
    assert "paper (arXiv 2410.08920)" in done.stdout

    status = sweeprank("status", "--url", url)
    assert status.returncode == 0 and "sw1" in status.stdout and "completed" in status.stdout

    out = tmp_path / "trials.csv"
    assert sweeprank("export", "sw1", "--url", url, "-o", str(out)).returncode == 0
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 6 and all(r["status"] == "completed" for r in rows)

    refused = sweeprank("cancel", "sw1", "--url", url, token=token)
    assert refused.returncode == 2
    assert "cannot cancel a sweep that is completed" in refused.stderr and "Traceback" not in refused.stderr


def test_bad_spec_is_one_line_with_the_field(stack_up: UpStack, tmp_path: Path) -> None:
    spec_file = tmp_path / "bad.yaml"
    spec_file.write_text(yaml.safe_dump({**TINY_SPEC, "n_trials": -1}))
    done = sweeprank("submit", str(spec_file), "--url", stack_up.url, token=stack_up.admin_token())
    assert done.returncode == 2 and "n_trials" in done.stderr and "Traceback" not in done.stderr


def test_a_new_member_is_added_and_submits_with_no_settings_but_the_data_dir(stack_up: UpStack) -> None:
    # No SWEEPRANK_ variable and no URL: the commands find the stack by its state file.
    data_dir = str(stack_up.data_dir)
    added = sweeprank("user", "add", "bob", "--data-dir", data_dir, timeout_s=60)
    assert added.returncode == 0, added.stderr
    token = added.stdout.strip().split()[-1]
    done = sweeprank(
        "submit",
        "--datasets",
        "digits",
        "--trials",
        "2",
        "--max-epochs",
        "1",
        "--max-train",
        "300",
        "--data-dir",
        data_dir,
        token=token,
    )
    assert done.returncode == 0, done.stderr
    sweep_id = done.stdout.split("submitted sweep ")[1].split()[0]
    status = sweeprank("status", "--data-dir", data_dir)
    assert any(line.split()[:2] == [sweep_id, "bob"] for line in status.stdout.splitlines()), status.stdout
    assert "2/2 completed" in done.stdout


@pytest.mark.parametrize("command", [["user", "add", "bob"], ["status"], ["export", "sw1"], ["analyst"]])
def test_with_no_stack_a_command_says_in_one_line_how_to_point_it_at_a_pool(command: list[str], tmp_path: Path) -> None:
    done = sweeprank(*command, "--data-dir", str(tmp_path), timeout_s=60)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr, done.stderr
    assert f"no sweeprank stack found in {tmp_path}: start one with `sweeprank up`" in done.stderr
    assert "--url/--redis-url (SWEEPRANK_URL/SWEEPRANK_REDIS_URL)" in done.stderr


def test_a_second_up_in_the_same_data_dir_is_refused(stack_up: UpStack) -> None:
    done = sweeprank("up", "--data-dir", str(stack_up.data_dir), "--port", "1", timeout_s=60)
    assert done.returncode == 2 and "a sweeprank stack already runs in" in done.stderr, done.stderr


def test_the_state_file_is_the_operators_alone(stack_up: UpStack) -> None:
    state = stack_up.state()
    assert (stack_up.data_dir / STATE_FILE).stat().st_mode & 0o777 == 0o600
    assert (state.up_pid, state.web_url, state.redis_url) == (stack_up.process.pid, stack_up.url, stack_up.redis_url)
    assert set(state.pids) == {"redis", "trainer-cpu", "analyst", "web"}


def test_no_other_local_user_can_read_the_data_or_reach_redis_without_its_password(stack_up: UpStack) -> None:
    assert stack_up.data_dir.stat().st_mode & 0o777 == 0o700
    assert (stack_up.data_dir / "redis").stat().st_mode & 0o777 == 0o700
    files = [p for p in (stack_up.data_dir / "redis").rglob("*") if p.is_file()]
    assert any(p.name.endswith(".aof") for p in files), files
    assert all(p.stat().st_mode & 0o077 == 0 for p in files), {p.name: oct(p.stat().st_mode) for p in files}
    without = redis.Redis(port=int(stack_up.redis_url.rsplit(":", 1)[1].split("/")[0]), socket_connect_timeout=1)
    with pytest.raises(redis.AuthenticationError):
        without.get("sr:web:secret")
    assert stack_up.redis_url.startswith("redis://:") and "@127.0.0.1:" in stack_up.redis_url


def test_ctrl_c_stops_every_child(stack_up: UpStack) -> None:
    children = process_tree(stack_up.process.pid)
    assert len(children) >= 5, "redis, trainer (parent + child), analyst, web"
    stack_up.process.send_signal(signal.SIGINT)
    assert stack_up.process.wait(60) == 0
    wait_until(lambda: not any(alive(p) for p in children), 20, what="children to exit")
    assert not (stack_up.data_dir / STATE_FILE).exists(), "a stopped stack leaves no state file"
    assert (stack_up.data_dir / "redis" / "appendonlydir").is_dir(), "Redis ran with AOF in the data directory"
    with pytest.raises(redis.ConnectionError):
        redis.Redis.from_url(stack_up.redis_url, socket_connect_timeout=1).ping()


def test_a_redis_that_refuses_the_command_is_one_line_not_a_traceback(redis_url: str) -> None:
    admin = redis.Redis.from_url(redis_url)
    user = "no-rights-cli-test"
    admin.acl_setuser(user, enabled=True, passwords=["+pw"], commands=["-@all", "+auth", "+hello"])
    try:
        refused_url = redis_url.replace("redis://", f"redis://{user}:pw@", 1)
        done = sweeprank("user", "add", "bob", "--redis-url", refused_url)
    finally:
        admin.acl_deluser(user)
    assert done.returncode == 2, done
    assert done.stderr.startswith("sweeprank: Redis: NoPermissionError") and done.stderr.count("\n") == 1, done.stderr
