"""Starting the processes of a sweeprank stack: Redis, trainers, analyst, web.

Each is a child process that dies with this one (Linux); `Stack` restarts one with the
command it was first started with (sweeprank/supervisor.py) and stops them in reverse order.
"""

from __future__ import annotations

import functools
import os
import shutil
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from broker.celery_app import queue_for_device
from broker.connection import wait_until_up
from trials.errors import SweeprankError
from workers.lifeline import die_with_parent


class StackError(SweeprankError):
    pass


def _private_child(parent_pid: int, sig: signal.Signals) -> None:
    """`die_with_parent`, and every file the child creates readable by its user only (Redis' AOF)."""
    os.umask(0o077)
    die_with_parent(parent_pid, sig)


def redact_url(url: str) -> str:
    """The URL with any password replaced, for printing and logging."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def ensure_port_free(host: str, port: int) -> None:
    """Fail early and clearly: otherwise the client could talk to whatever holds the port."""
    with socket.socket() as s:
        # As the server will: connections of a stopped server in TIME_WAIT (a minute) do not hold the port.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as err:
            raise StackError(f"cannot serve on {host}:{port}: {err.strerror}; pick another --port") from None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_redis(url: str, timeout_s: float = 10.0) -> None:
    if not wait_until_up(url, timeout_s):
        raise StackError(f"Redis at {redact_url(url)} did not answer within {timeout_s:.0f} s")


def redis_command(data_dir: Path, port: int, fsync: str = "everysec") -> list[str]:
    """redis-server with AOF, fsynced once a second, as the lab pool's Redis (deploy/redis-sweeprank.conf).

    Each write reaches the file before Redis replies, so a killed Redis loses nothing; only a crash of the
    host can lose the last second, which the reconciler re-runs. Not `always`: on a full disk Redis exits
    with `always`, while with `everysec` it stays up read-only (MISCONF) and takes writes again by itself
    once space returns.
    """
    binary = shutil.which("redis-server")
    if binary is None:
        raise StackError(
            "redis-server not found: install it (Debian: apt-get install -y redis-server) "
            "or pass --redis-url to use a running Redis"
        )
    return [
        binary,
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--dir",
        str(data_dir),
        "--appendonly",
        "yes",
        "--appendfsync",
        fsync,
        "--save",
        "",
        "--protected-mode",
        "yes",
        "--daemonize",
        "no",
    ]


def worker_command(*, name: str, device: str, concurrency: int, loglevel: str = "warning") -> list[str]:
    queue = queue_for_device(device)
    return [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "workers.tasks",
        "worker",
        "-Q",
        queue,
        "-c",
        str(concurrency),
        "--pool",
        "prefork",
        "-n",
        name,
        "--loglevel",
        loglevel,
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
    ]


def visible_gpus() -> list[str]:
    """GPU indices from nvidia-smi, without importing torch in this process."""
    if os.environ.get("CUDA_VISIBLE_DEVICES") is not None:
        return [g for g in os.environ["CUDA_VISIBLE_DEVICES"].split(",") if g.strip()]
    if shutil.which("nvidia-smi") is None:
        return []
    out = subprocess.run(["nvidia-smi", "--query-gpu=index", "--format=csv,noheader"], capture_output=True, text=True)
    return [line.strip() for line in out.stdout.splitlines() if line.strip()] if out.returncode == 0 else []


@dataclass
class Stack:
    """Children of this process, stopped in reverse start order."""

    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    children: list[tuple[str, subprocess.Popen[bytes]]] = field(default_factory=list)
    log_dir: Path | None = None
    commands: dict[str, tuple[list[str], dict[str, str]]] = field(default_factory=dict)
    private: set[str] = field(default_factory=set)  # labels whose files only this user may read (Redis)
    # Labels killed outright when this process dies: a trainer's warm shutdown would train on for minutes
    # with its Redis gone (the trial is re-queued from its claim); the others stop quickly on SIGTERM.
    killed_with_parent: set[str] = field(default_factory=set)

    def spawn(self, label: str, command: list[str], extra_env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        process = self._popen(label, command, extra_env or {})
        self.commands[label] = (command, extra_env or {})
        self.children.append((label, process))
        return process

    def respawn(self, label: str) -> subprocess.Popen[bytes]:
        """Start `label` again as it was first started, in its old place in the stop order."""
        command, extra_env = self.commands[label]
        process = self._popen(label, command, extra_env)
        index = next(i for i, (name, _) in enumerate(self.children) if name == label)
        self.children[index] = (label, process)
        return process

    def _popen(self, label: str, command: list[str], extra_env: dict[str, str]) -> subprocess.Popen[bytes]:
        log = self.log_dir / f"{label}.log" if self.log_dir else os.devnull
        with open(log, "ab") as out:  # the child keeps its own copy of the descriptor
            return subprocess.Popen(
                command,
                env={**self.env, **extra_env},
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=functools.partial(
                    _private_child if label in self.private else die_with_parent,
                    os.getpid(),
                    signal.SIGKILL if label in self.killed_with_parent else signal.SIGTERM,
                ),
            )

    def pids(self) -> dict[str, int]:
        return {label: process.pid for label, process in self.children}

    def start_redis(self, data_dir: Path, port: int, password: str | None = None) -> str:
        """Redis on `port` with its AOF in `data_dir` (mode 0700, files 0600); with `password`, AUTH is required.

        The password goes in a config file only this user can read, never on the command line (ps shows it).
        """
        data_dir.mkdir(parents=True, exist_ok=True)
        data_dir.chmod(0o700)  # also a directory an older version created world-readable
        command = redis_command(data_dir, port)
        if password is not None:
            config = data_dir / "auth.conf"
            fd = os.open(config, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as out:
                out.write(f"requirepass {password}\n")
            command.insert(1, str(config))  # redis-server CONFIG-FILE [options]
        self.private.add("redis")
        self.spawn("redis", command)
        url = f"redis://{f':{password}@' if password else ''}127.0.0.1:{port}/0"
        wait_for_redis(url)
        return url

    def start_trainers(
        self, *, cpu_workers: int = 1, threads: int = 1, gpus: list[str] | None = None, trials_per_gpu: int = 1
    ) -> None:
        self.killed_with_parent.update([f"trainer-gpu{gpu}" for gpu in gpus or []] + ["trainer-cpu"])
        if gpus:
            for gpu in gpus:
                self.spawn(
                    f"trainer-gpu{gpu}",
                    worker_command(name=f"gpu{gpu}@%h", device="cuda", concurrency=trials_per_gpu),
                    {"CUDA_VISIBLE_DEVICES": gpu, "SWEEPRANK_DEVICE": "cuda"},
                )
            return
        self.spawn(
            "trainer-cpu",
            worker_command(name="cpu@%h", device="cpu", concurrency=cpu_workers),
            {"SWEEPRANK_DEVICE": "cpu", "SWEEPRANK_TORCH_THREADS": str(threads)},
        )

    def start_analyst(self) -> None:
        self.spawn("analyst", [sys.executable, "-m", "sweeprank", "analyst"])

    def start_web(self, host: str, port: int) -> str:
        ensure_port_free(host, port)
        self.spawn("web", [sys.executable, "-m", "sweeprank", "web", "--host", host, "--port", str(port)])
        return f"http://{host}:{port}"

    def dead(self) -> list[str]:
        return [label for label, p in self.children if p.poll() is not None]

    def stop(self, timeout_s: float = 20.0) -> None:
        for _, process in reversed(self.children):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout_s)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        self.children.clear()
