"""Processes on this host: whether one still runs (a claim's holder, the `up` that wrote a state file), whose
child it is, and the keepalives a service manager (systemd's watchdog) expects from it."""

from __future__ import annotations

import os
import socket
from pathlib import Path


def pid_alive(pid: int) -> bool:
    """Whether a process `pid` runs on this host."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process holds the pid: alive, as far as we can tell
        return True
    return True


def parent_of(pid: int) -> int | None:
    """The parent pid of process `pid` (Linux /proc); None when it is gone or this is not Linux."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name, in parentheses, may hold spaces: the fields after it are "state ppid ...".
    return int(stat.rsplit(")", 1)[1].split()[1])


def notify_service_manager(state: str) -> bool:
    """Tell systemd `state` ("READY=1", "WATCHDOG=1") through $NOTIFY_SOCKET; False when not run by it.

    The sd_notify protocol is one datagram on a unix socket, so no library is needed. A unit with
    `WatchdogSec=` kills and restarts a process whose "WATCHDOG=1" stops coming.
    """
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):  # an abstract socket
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            # Never wait: a full queue (a manager not reading) must not stop the heartbeat that pings it.
            sock.sendto(state.encode(), socket.MSG_DONTWAIT, address)
    except OSError:
        return False
    return True
