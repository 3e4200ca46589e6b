"""A child process that dies with its parent (Linux), whatever killed the parent."""

from __future__ import annotations

import ctypes
import os
import signal

PR_SET_PDEATHSIG = 1


def die_with_parent(parent_pid: int, sig: signal.Signals = signal.SIGTERM) -> None:
    """Ask the kernel for `sig` when the parent dies; call in the child (before exec, or at its start).

    The kernel sends it when the *thread* that forked the child ends, so children are forked from the
    main thread only. A child whose parent died before the request exits at once: no signal would come.
    """
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, sig)
    except OSError:
        return  # not Linux: children outlive a killed parent, as usual
    if os.getppid() != parent_pid:
        os._exit(1)
