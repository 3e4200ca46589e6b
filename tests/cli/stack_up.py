"""Running `sweeprank up` and the CLI as a user would, and looking at the processes they leave."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sweeprank.stack import free_port
from sweeprank.stack_state import StackState, running_stack
from tests.helpers import wait_until

# A sweep that trains in seconds on one CPU.
TINY_SPEC: dict[str, Any] = {
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


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without any SWEEPRANK_ setting, so that only flags and the state file count."""
    return {**{k: v for k, v in os.environ.items() if not k.startswith("SWEEPRANK_")}, **extra}


def sweeprank(*args: str, token: str | None = None, timeout_s: float = 120) -> subprocess.CompletedProcess[str]:
    env = clean_env(SWEEPRANK_TOKEN=token) if token else clean_env()
    return subprocess.run(
        [sys.executable, "-m", "sweeprank", *args], capture_output=True, text=True, timeout=timeout_s, env=env
    )


@dataclass
class UpStack:
    process: subprocess.Popen[str]
    url: str
    data_dir: Path
    redis_url: str

    def admin_token(self) -> str:
        return (self.data_dir / "admin-token").read_text().strip()

    def state(self) -> StackState:
        state = running_stack(self.data_dir)
        assert state is not None, f"no state file of a running stack in {self.data_dir}"
        return state

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            self.process.wait(90)


def ctrl_c_as_in_a_terminal() -> None:
    """In the child: SIGINT's default action, as in a terminal. A suite started in the background by a
    script (`cmd &`, where job control is off) hands its children SIGINT ignored, and Python then never
    turns SIGINT into KeyboardInterrupt: `up` would not stop on the Ctrl-C these tests send."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start_up(data_dir: Path, **env: str) -> UpStack:
    """`sweeprank up` with one CPU trainer (and `env`'s settings), once its banner says every service answers."""
    port = free_port()
    options = ["--data-dir", str(data_dir), "--port", str(port), "--cpu-workers", "1"]
    process = subprocess.Popen(
        [sys.executable, "-m", "sweeprank", "up", *options],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=clean_env(**env),
        preexec_fn=ctrl_c_as_in_a_terminal,
    )
    assert process.stdout is not None
    banner = process.stdout.readline()
    assert "sweeprank is up" in banner, banner + process.stdout.read()
    assert "log in as admin" in process.stdout.readline()
    # The banner shows Redis' URL with its generated password redacted; the state file (0600) holds it.
    state = running_stack(data_dir)
    assert state is not None and "***" in banner.split("Redis ")[1].split(" ;")[0], banner
    return UpStack(process, f"http://127.0.0.1:{port}", data_dir, state.redis_url)


def _stat(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name; None for a process that is gone or a zombie."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return None if fields[0] in ("Z", "X") else fields


def alive(pid: int) -> bool:
    return _stat(pid) is not None


def process_tree(root: int) -> set[int]:
    """root's living descendants, at any depth (a Celery parent's pool children included)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat(int(entry.name))) is not None:
            parents[int(entry.name)] = int(fields[1])
    tree: set[int] = set()
    frontier = {root}
    while frontier:
        frontier = {pid for pid, parent in parents.items() if parent in frontier} - tree
        tree |= frontier
    return tree


def wait_for_new_pid(stack: UpStack, label: str, old_pid: int, timeout_s: float = 90) -> int:
    """The pid `up` started `label` with after old_pid died, once that process runs."""
    return wait_until(
        lambda: (pid := stack.state().pids[label]) != old_pid and alive(pid) and pid,
        timeout_s,
        what=f"{label} to be restarted",
    )
