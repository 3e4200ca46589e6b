"""Processes on this host: whether one still runs (a claim's holder, the `up` that wrote a state file)."""

from __future__ import annotations

import os


def pid_alive(pid: int) -> bool:
    """Whether a process `pid` runs on this host."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process holds the pid: alive, as far as we can tell
        return True
    return True
