"""A trainer as another host runs it: its own node name and data root, a Redis ACL user that may do only what a
trainer needs (deploy/redis-users.acl). Its trials complete, and Redis denied it nothing (`ACL LOG`)."""

from __future__ import annotations

import re
import secrets
import signal
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
from flask.testing import FlaskClient

from broker.settings import Settings
from broker.store import Store
from sweeprank.stack import Stack, free_port, redis_command, wait_for_redis
from tests.helpers import wait_until
from tests.integration.conftest import TINY_NARROW
from webui import create_app

ACL_FILE = Path(__file__).parents[2] / "deploy" / "redis-users.acl"
TRAINER_NAME = "cpu@otherhost"


def installed_acl(template: str, admin_password: str, trainer_password: str) -> str:
    """The ACL file as the deploy notes install it: passwords filled in, comments and blank lines dropped
    (Redis 7.0 reads none in an ACL file)."""
    filled = template.replace("ADMIN_PASSWORD", admin_password).replace("TRAINER_PASSWORD", trainer_password)
    # The head node's other users get passwords nobody here needs.
    filled = re.sub(r"\b[A-Z]+_PASSWORD\b", lambda _: secrets.token_hex(16), filled)
    return "".join(line + "\n" for line in filled.splitlines() if line.strip() and not line.startswith("#"))


@dataclass
class Pool:
    stack: Stack
    admin_url: str
    trainer_url: str
    admin: redis.Redis
    log_dir: Path


@pytest.fixture(scope="module")
def pool(tmp_path_factory: pytest.TempPathFactory, tfds_dir: Path) -> Iterator[Pool]:
    """Redis with the shipped users; the head's analyst as admin; one trainer as `trainer`, from its own data root."""
    root = tmp_path_factory.mktemp("multihost")
    admin_password, trainer_password = secrets.token_hex(16), secrets.token_hex(16)
    acl = root / "users.acl"
    acl.write_text(installed_acl(ACL_FILE.read_text(), admin_password, trainer_password))
    port = free_port()
    stack = Stack(log_dir=root)
    (root / "redis").mkdir()
    stack.spawn("redis", [*redis_command(root / "redis", port), "--aclfile", str(acl)])
    admin_url = f"redis://admin:{admin_password}@127.0.0.1:{port}/0"
    trainer_url = f"redis://trainer:{trainer_password}@127.0.0.1:{port}/0"
    try:
        wait_for_redis(admin_url)
        # The other host's data root holds the dataset the sweep uses (tfds), prepared there.
        data_root = root / "otherhost-data"
        (data_root / "tfds").mkdir(parents=True)
        (data_root / "tfds" / "tiny_shapes").symlink_to(tfds_dir / "tiny_shapes")
        stack.env.update(SWEEPRANK_REDIS_URL=admin_url, SWEEPRANK_DEVICE="cpu", SWEEPRANK_TORCH_THREADS="1")
        stack.spawn("analyst", [sys.executable, "-m", "sweeprank", "analyst", "--bootstrap", "50"])
        worker_host_env = {"SWEEPRANK_REDIS_URL": trainer_url, "SWEEPRANK_DATA_DIR": str(data_root)}
        command = [sys.executable, "-m", "sweeprank", "worker", "--name", TRAINER_NAME, "--concurrency", "2"]
        stack.spawn("trainer-otherhost", command, worker_host_env)
        admin = redis.Redis.from_url(admin_url, decode_responses=True)
        store = Store(admin)
        wait_until(lambda: any(w.name == TRAINER_NAME for w in store.workers.live(30)), 60, what="trainer up")
        yield Pool(stack, admin_url, trainer_url, admin, root)
    finally:
        stack.stop()


def _finished(pool: Pool, sweep_id: str) -> bool:
    """Whether the sweep ended; a trainer that died (refused by Redis at start, say) fails the test at once."""
    assert "trainer-otherhost" not in pool.stack.dead(), (pool.log_dir / "trainer-otherhost.log").read_text()[-3000:]
    return Store(pool.admin).sweeps.get(sweep_id).status.final


def _denials(admin: redis.Redis, user: str) -> list[dict[str, object]]:
    return [entry for entry in admin.acl_log() if entry.get("username") == user]


def test_a_trainer_on_another_host_with_the_trainer_acl_user_completes_its_trials(pool: Pool) -> None:
    store = Store(pool.admin)
    [trainer] = [w for w in store.workers.live(30) if w.name == TRAINER_NAME]
    assert trainer.datasets is not None and "tfds:tiny_shapes" in trainer.datasets, "read from its own data root"

    web: FlaskClient = create_app(Settings(redis_url=pool.admin_url), {"TESTING": True}).test_client()
    web.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {store.users.add('ann')}"
    spec = {"name": "remote", "datasets": ["tfds:tiny_shapes"], "n_trials": 6, "narrow": TINY_NARROW, "seed": 1}
    created = web.post("/api/sweeps", json=spec)
    assert created.status_code == 201, created.get_json()
    sweep_id = created.get_json()["id"]
    wait_until(lambda: _finished(pool, sweep_id), 180, what="the sweep to finish")

    results = store.results.in_arrival_order(sweep_id)
    assert store.sweeps.get(sweep_id).status == "completed", [r.error for r in results]
    assert len(results) == 6 and all(r.status == "completed" and r.worker.startswith(TRAINER_NAME) for r in results)
    wait_until(lambda: (r := store.rankings.latest(sweep_id)) and r.n_results == 6, 60, what="the head's ranking")
    assert _denials(pool.admin, "trainer") == [], "Redis refused the trainer something it needs"


def test_the_trainer_user_cannot_read_members_tokens_or_run_admin_commands(pool: Pool) -> None:
    trainer = redis.Redis.from_url(pool.trainer_url, decode_responses=True)
    for attempt in (
        lambda: trainer.hgetall("sr:tokens"),
        lambda: trainer.get("sr:web:secret"),
        lambda: trainer.smembers("sr:users"),
        lambda: trainer.flushall(),
        lambda: trainer.config_get("*"),
        lambda: trainer.keys("*"),
    ):
        with pytest.raises(redis.exceptions.NoPermissionError):
            attempt()
    with pytest.raises(redis.exceptions.AuthenticationError):
        redis.Redis.from_url(pool.admin_url.replace("admin:", "default:"), decode_responses=True).ping()
    pool.admin.execute_command("ACL", "LOG", "RESET")  # the refusals above were this test's own


def test_the_trainer_user_may_shut_the_trainer_down_cleanly(pool: Pool) -> None:
    """SIGTERM: the drain flag, the unregistration and Celery's goodbye all pass the ACL."""
    [trainer] = [process for label, process in pool.stack.children if label == "trainer-otherhost"]
    trainer.send_signal(signal.SIGTERM)
    assert trainer.wait(60) == 0, (pool.log_dir / "trainer-otherhost.log").read_text()[-3000:]
    assert not any(w.name == TRAINER_NAME for w in Store(pool.admin).workers.live(30)), "it unregistered itself"
    assert _denials(pool.admin, "trainer") == []
