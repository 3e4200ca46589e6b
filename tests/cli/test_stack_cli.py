"""`sweeprank up` starts the whole stack; the client commands drive it; Ctrl-C stops every child."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import yaml

from sweeprank.stack import free_port
from tests.helpers import wait_until

TINY_SPEC = {
    "owner": "ann",
    "name": "cli sweep",
    "datasets": ["digits"],
    "n_trials": 6,
    "seed": 2,
    "narrow": {
        "num_conv_layers": {"high": 2},
        "num_filters": {"high": 16},
        "fc_units": {"high": 64},
        "batch_size": {"choices": [128]},
        "epochs": {"high": 1},
    },
}


def sweeprank(*args: str, token: str | None = None, timeout_s: float = 120) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SWEEPRANK_TOKEN": token} if token else None
    return subprocess.run(
        [sys.executable, "-m", "sweeprank", *args], capture_output=True, text=True, timeout=timeout_s, env=env
    )


def admin_token(data_dir: Path) -> str:
    return (data_dir / "admin-token").read_text().strip()


def processes_with(marker: str) -> list[int]:
    """Pids whose environment holds marker (the stack's own Redis URL is in every child's)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if marker.encode() in (entry / "environ").read_bytes():
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


UpStack = tuple[subprocess.Popen[str], str, Path, str]


@pytest.fixture(scope="module")
def stack_up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UpStack]:
    data_dir = tmp_path_factory.mktemp("up")
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sweeprank",
            "up",
            "--data-dir",
            str(data_dir),
            "--port",
            str(port),
            "--cpu-workers",
            "1",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    banner = process.stdout.readline()
    assert "sweeprank is up" in banner, banner + process.stdout.read()
    assert "log in as admin" in process.stdout.readline()
    redis_url = banner.split("Redis ")[1].split(" ;")[0]
    yield process, f"http://127.0.0.1:{port}", data_dir, redis_url
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        process.wait(60)


def test_submit_follows_the_sweep_and_prints_the_ranking(stack_up: UpStack, tmp_path: Path) -> None:
    _, url, data_dir, _ = stack_up
    token = admin_token(data_dir)
    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text(yaml.safe_dump(TINY_SPEC))
    anonymous = sweeprank("submit", str(spec_file), "--url", url)
    assert anonymous.returncode == 2 and "HTTP 401" in anonymous.stderr
    done = sweeprank("submit", str(spec_file), "--url", url, token=token)
    assert done.returncode == 0, done.stderr
    assert "submitted sweep sw1" in done.stdout
    assert "6/6 completed" in done.stdout, done.stdout
    assert "N-RReliefF importance over 6 completed trials" in done.stdout
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
    _, url, data_dir, _ = stack_up
    spec_file = tmp_path / "bad.yaml"
    spec_file.write_text(yaml.safe_dump({**TINY_SPEC, "n_trials": -1}))
    done = sweeprank("submit", str(spec_file), "--url", url, token=admin_token(data_dir))
    assert done.returncode == 2 and "n_trials" in done.stderr and "Traceback" not in done.stderr


def test_a_new_member_submits_from_options(stack_up: UpStack) -> None:
    _, url, _, redis_url = stack_up
    added = subprocess.run(
        [sys.executable, "-m", "sweeprank", "user", "add", "bob"],
        capture_output=True,
        text=True,
        env={**os.environ, "SWEEPRANK_REDIS_URL": redis_url},
        timeout=60,
    )
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
        "--url",
        url,
        token=token,
    )
    assert done.returncode == 0, done.stderr
    sweep_id = done.stdout.split("submitted sweep ")[1].split()[0]
    status = sweeprank("status", "--url", url)
    assert any(line.split()[:2] == [sweep_id, "bob"] for line in status.stdout.splitlines()), status.stdout
    assert "2/2 completed" in done.stdout


def test_ctrl_c_stops_every_child(stack_up: UpStack) -> None:
    process, _, data_dir, redis_url = stack_up
    children = [p for p in processes_with(f"SWEEPRANK_REDIS_URL={redis_url}\0") if p != process.pid]
    assert len(children) >= 3, "trainer (parent + child), analyst, web"
    process.send_signal(signal.SIGINT)
    assert process.wait(60) == 0
    wait_until(lambda: not any(Path(f"/proc/{p}").exists() for p in children), 20, what="children to exit")
    assert (data_dir / "redis" / "appendonlydir").is_dir(), "Redis ran with AOF in the data directory"
    with pytest.raises(redis.ConnectionError):
        redis.Redis.from_url(redis_url, socket_connect_timeout=1).ping()
