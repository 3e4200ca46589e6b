"""A full disk under `sweeprank up`: the pool turns read-only with one clear line and recovers by itself.

The data directory is a small tmpfs, filled up for real: Redis' append-only file, the logs and the state
file all live there. Mounting needs root (CI runs as root); elsewhere the test is skipped with the reason,
and tests/webui/test_health.py covers the same handling with a Redis that refuses writes (OOM).
"""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from broker.store import Store
from sweeprank.client import Client
from sweeprank.stack_state import STATE_FILE
from tests.cli.stack_up import TINY_SPEC, UpStack, start_up
from tests.helpers import wait_until
from trials.errors import SweeprankError

# `sweeprank up` on a real, filling tmpfs.
pytestmark = pytest.mark.stack

SIZE = "24m"
CHUNK = 1 << 20


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={SIZE}", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs to fill (needs root): {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(disk: Path) -> Path:
    """Write a file until the disk is full; returns it."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for size in (CHUNK, 4096, 1):  # big writes, then the last pages, then the last bytes
            with contextlib.suppress(OSError):
                while os.write(fd, b"\0" * size):
                    pass
    finally:
        os.close(fd)
    with pytest.raises(OSError) as full:
        (disk / "probe").write_bytes(b"\0" * 4096)
    assert full.value.errno == errno.ENOSPC
    return filler


class Output:
    """`up`'s output, read as it comes (a thread), so a test can wait for a line."""

    def __init__(self, stack: UpStack) -> None:
        self.lines: list[str] = []
        assert stack.process.stdout is not None
        stdout = stack.process.stdout
        threading.Thread(target=lambda: self.lines.extend(stdout), daemon=True).start()

    def wait_for(self, text: str, timeout_s: float = 90) -> float:
        wait_until(lambda: any(text in line for line in self.lines), timeout_s, what=f"`up` to say {text!r}")
        return time.monotonic()

    @property
    def text(self) -> str:
        return "".join(self.lines)


def test_a_full_disk_makes_the_pool_read_only_and_it_recovers_by_itself(small_disk: Path) -> None:
    stack = start_up(small_disk / "data")
    output = Output(stack)
    admin = Client(stack.url, token=stack.admin_token())
    store = Store.from_url(stack.redis_url)
    try:
        before = admin.post("/api/sweeps", {**TINY_SPEC, "n_trials": 2, "name": "before"})["id"]
        wait_until(lambda: store.sweeps.get(before).status.final, 180, what="the first sweep to end")
        results_before = store.results.in_arrival_order(before)

        filled = time.monotonic()
        filler = fill(small_disk)
        # The analyst's next heartbeat is a write: Redis cannot append it to its file and turns read-only.
        read_only_at = output.wait_for("the pool is read-only: Redis refuses writes")
        with pytest.raises(SweeprankError, match="the pool is read-only: Redis refuses writes"):
            admin.post("/api/sweeps", {**TINY_SPEC, "n_trials": 1, "name": "refused"})
        assert admin.get(f"/api/sweeps/{before}")["status"] == "completed", "reads still work"

        freed = time.monotonic()
        filler.unlink()
        back_at = output.wait_for("Redis takes writes again")
        after = admin.post("/api/sweeps", {**TINY_SPEC, "n_trials": 2, "name": "after"})["id"]
        wait_until(lambda: store.sweeps.get(after).status.final, 180, what="a sweep submitted after the recovery")
        assert store.results.in_arrival_order(before) == results_before, "nothing stored before was lost"
        assert stack.process.poll() is None and not (stack.data_dir / "stack.partial").exists()
        assert "Traceback" not in output.text, output.text
        print(f"\nfull disk -> read-only in {read_only_at - filled:.1f} s; space freed -> writes back in "
              f"{back_at - freed:.1f} s; results lost: 0")  # fmt: skip
    finally:
        stack.stop()
    assert not (stack.data_dir / STATE_FILE).exists()
