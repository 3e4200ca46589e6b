"""`sweeprank up`: the whole local stack in one command, kept alive by restarts, stopped cleanly by Ctrl-C."""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

from broker.settings import Settings
from sweeprank.client import Client
from sweeprank.report import follow, print_final
from sweeprank.stack import Stack, StackError, free_port, redact_url, visible_gpus
from sweeprank.stack_state import STATE_FILE, StackState, remove_state, running_stack, write_state
from sweeprank.supervisor import GiveUp, Supervisor
from trials.errors import SweeprankError
from trials.json_types import JSONObject

TOKEN_FILE = "admin-token"
#: An analyst silent for this many beat TTLs (health has called it down for two of them) is killed and restarted.
HANG_AFTER_BEAT_TTLS = 3
FIRST_BEAT_WITHIN_S = 120.0
PROBE_TIMEOUT_S = 2.0


def _wait_for_web(client: Client, stack: Stack, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            client.get("/api/queue")
            return
        except SweeprankError:
            if stack.dead() or time.monotonic() > deadline:
                raise StackError(f"the web server did not start (dead: {stack.dead()}); see the logs") from None
            time.sleep(0.2)


def _admin_token(redis_url: str, data_dir: Path) -> str:
    """A fresh admin token for this stack's operator, kept in a file only they can read."""
    from broker.store import Store

    token = Store.from_url(redis_url, ride_out_restarts=False).users.add("admin", admin=True)
    path = data_dir / TOKEN_FILE
    path.touch(mode=0o600)
    path.write_text(token + "\n")
    return token


def analyst_watchdog(redis_url: str, hang_after_s: float) -> Callable[[str, int, float], str | None]:
    """A `Supervisor.hung` probe: the analyst is hung when its process is up but has not beaten for hang_after_s.

    Its beat comes from its main loop (analyst/service.py), so a stopped or stuck analyst stops beating while
    its process lives on; health already reports it down, this also restarts it.
    """
    from broker.connection import BrokerError
    from broker.store import Store
    from broker.store.service_beats import ANALYST

    store = Store.from_url(redis_url, ride_out_restarts=False)

    def hung(label: str, pid: int, uptime_s: float) -> str | None:
        if label != "analyst" or uptime_s < hang_after_s:
            return None
        try:
            beat = store.services.last_beat(ANALYST)
        except BrokerError:
            return None  # Redis itself is away: the analyst cannot beat, and is not to blame
        if beat is None or beat.pid != pid:
            # Not beaten yet: starting (imports on a busy host) gets its own, longer allowance.
            return f"no heartbeat {uptime_s:.0f} s after its start" if uptime_s > FIRST_BEAT_WITHIN_S else None
        silent_s = time.time() - beat.beat
        return f"no heartbeat for {silent_s:.0f} s" if silent_s > hang_after_s else None

    return hung


class ReadOnlyWatch:
    """Says on `up`'s output when Redis starts refusing writes (a full disk) and when it takes them again.

    Redis stays up meanwhile (append-only file fsynced once a second, sweeprank/stack.py): pages and reads
    work, writes are answered with a clear error, and everything resumes by itself once space returns.
    """

    def __init__(self, redis_url: str, redis_dir: Path, say: Callable[[str], None]) -> None:
        from broker.connection import connect
        from broker.store import Store

        self.store = Store(connect(redis_url, ride_out_restarts=False, reply_timeout_s=PROBE_TIMEOUT_S))
        self.redis_dir = redis_dir
        self.say = say
        self.refused: str | None = None

    def __call__(self) -> None:
        from broker.connection import BrokerError, read_only_sentence, writes_refused

        try:
            self.store.health.probe_write()
            refused = None
        except BrokerError as err:
            if (refused := writes_refused(err)) is None:
                return  # Redis away or restarting: its restart says so
        if refused is not None and self.refused is None:
            self.say(f"{read_only_sentence(refused)}; free space for {self.redis_dir}")
        elif refused is None and self.refused is not None:
            self.say("Redis takes writes again: the pool is back to normal")
        self.refused = refused


class TrainerWatchdog:
    """A `Supervisor.hung` probe for trainers: a Celery parent whose heartbeat has been missing for hang_after_s.

    The parent beats from a thread every few seconds, Redis up or not; its registration expires after
    worker_ttl_s without one. Missing is counted only while Redis answers (after a Redis restart the
    registration may be gone until the next beat): a stopped or deadlocked parent is killed, restarted,
    and its trials re-queued as it starts again (workers/trial_request.py). A hung pool child is its
    parent's to kill (workers/tasks.py).
    """

    def __init__(self, redis_url: str, hang_after_s: float) -> None:
        from broker.store import Store

        self.store = Store.from_url(redis_url, ride_out_restarts=False)
        self.hang_after_s = hang_after_s
        self.missing_since: dict[int, float] = {}
        self.beaten: set[int] = set()  # pids seen registered: past their start, however long ago

    def __call__(self, label: str, pid: int, uptime_s: float) -> str | None:
        from broker.connection import BrokerError

        if not label.startswith("trainer-"):
            return None
        now = time.monotonic()
        try:
            registered = any(w.pid == pid for w in self.store.workers.live(ttl_s=int(self.hang_after_s)))
        except BrokerError:
            self.missing_since.clear()  # Redis away: nobody can beat
            return None
        if registered:
            self.beaten.add(pid)
            self.missing_since.pop(pid, None)
            return None
        missing_s = now - self.missing_since.setdefault(pid, now)
        started = uptime_s > FIRST_BEAT_WITHIN_S or pid in self.beaten
        if missing_s > self.hang_after_s and started:
            return f"no heartbeat for {missing_s:.0f} s"
        return None


def either(*probes: Callable[[str, int, float], str | None]) -> Callable[[str, int, float], str | None]:
    """One `Supervisor.hung` probe from several: the first reason any of them gives."""

    def hung(label: str, pid: int, uptime_s: float) -> str | None:
        return next((reason for probe in probes if (reason := probe(label, pid, uptime_s)) is not None), None)

    return hung


def record_pids(data_dir: Path, state: StackState) -> None:
    """The state file after a restart; on a full disk `up` says so and keeps supervising (the old pids stay)."""
    try:
        write_state(data_dir, state)
    except OSError as err:
        _say(f"cannot update {data_dir / STATE_FILE}: {err.strerror or err}; the stack keeps running")


def _say(line: str) -> None:
    print(line, flush=True)


def _run_demo(client: Client, spec: JSONObject, web_url: str) -> None:
    """On a thread, so that the main thread keeps supervising (and spawning) the children."""
    try:
        created = client.post("/api/sweeps", spec)
        _say(f"demo sweep {created['id']} submitted: {web_url}/sweeps/{created['id']}")
        print_final(client, created["id"], follow(client, created["id"]))
        _say(f"\nThe web UI stays up at {web_url} ; Ctrl-C stops everything.")
    except SweeprankError as err:
        _say(f"the demo sweep stopped being followed: {err}")


def _client_url(host: str, port: int) -> str:
    """Where a client on this host reaches a server bound to host (a wildcard is not an address)."""
    return f"http://{'127.0.0.1' if host in ('0.0.0.0', '::', '') else host}:{port}"


def run_up(args: argparse.Namespace, settings: Settings, demo_spec: JSONObject | None) -> int:
    data_dir = Path(args.data_dir).resolve()
    if (running := running_stack(data_dir)) is not None:
        raise StackError(f"a sweeprank stack already runs in {data_dir} (pid {running.up_pid}): {running.web_url}")
    log_dir = data_dir / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    data_dir.chmod(0o700)  # the token file, the state file, the logs and Redis' AOF are this user's only
    stack = Stack(log_dir=log_dir)
    # SIGTERM (e.g. from a supervisor) stops the stack like Ctrl-C does.
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    wrote_state = False
    try:
        # A generated password: any local user could otherwise connect and read the session key.
        url = args.redis_url or stack.start_redis(data_dir / "redis", free_port(), secrets.token_urlsafe(32))
        stack.env["SWEEPRANK_REDIS_URL"] = url
        token = _admin_token(url, data_dir)
        gpus = visible_gpus()
        stack.start_trainers(
            cpu_workers=args.cpu_workers, threads=args.threads, gpus=gpus, trials_per_gpu=args.trials_per_gpu
        )
        stack.start_analyst()
        stack.start_web(args.host, args.port)
        web_url = _client_url(args.host, args.port)
        client = Client(web_url, token=token)
        _wait_for_web(client, stack)
        state = StackState(
            up_pid=os.getpid(),
            redis_url=url,
            web_url=web_url,
            log_dir=str(log_dir),
            started_at=time.time(),
            pids=stack.pids(),
        )
        write_state(data_dir, state)
        wrote_state = True
        trainers = f"{len(gpus)} GPU worker(s)" if gpus else f"{args.cpu_workers} CPU trainer process(es)"
        _say(f"sweeprank is up: web UI and API at {web_url} ; Redis {redact_url(url)} ; {trainers}; logs in {log_dir}")
        _say(f"log in as admin with the token in {data_dir / TOKEN_FILE} ; `sweeprank user add NAME` adds members")
        if demo_spec:
            threading.Thread(target=_run_demo, args=(client, demo_spec, web_url), daemon=True).start()
        Supervisor(
            stack,
            say=_say,
            on_restart=lambda: record_pids(data_dir, state.model_copy(update={"pids": stack.pids()})),
            hung=either(
                analyst_watchdog(url, HANG_AFTER_BEAT_TTLS * settings.analyst_beat_ttl_s),
                TrainerWatchdog(url, HANG_AFTER_BEAT_TTLS * settings.worker_ttl_s),
            ),
            # Only the web server's crash loop stops the stack (members could not reach it anyway); Redis (a full
            # disk), the analyst and trainers are retried until they recover, the rest serving meanwhile.
            spare=frozenset(label for label in stack.pids() if label != "web"),
            watch=ReadOnlyWatch(url, data_dir / "redis", _say),
        ).run()
        return 1  # run() only ends by raising
    except GiveUp as err:
        _say(f"giving up, stopping sweeprank: {err}")
        return 1
    except KeyboardInterrupt:
        _say("\nstopping sweeprank ...")
        return 0
    finally:
        if wrote_state:
            remove_state(data_dir)
        stack.stop()
