"""The hostile-member suite's stack: real Redis (its own database), a real trainer, the real analyst, the real app.

alice is an honest member whose reference sweep runs to completion before any attack; mallory is the
member who attacks. The last test checks that the pool is healthy, alice's sweep untouched and nothing
lost. Trials are the integration suite's tiny ones (digits, 1 epoch, small nets).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from subprocess import Popen
from typing import Any

import pytest
import redis
from flask.testing import FlaskClient

from broker.settings import Settings
from broker.store import Store
from tests.conftest import database_url
from tests.helpers import wait_until
from tests.integration.conftest import LiveStack, tiny_spec
from trials.records import RankingRecord, SweepRecord
from webui import create_app

DATABASE = 5  # not the integration stack's 0 nor the web tests' 1-3: records here are damaged on purpose
PASSWORD = "correct horse battery"


@dataclass
class Pool:
    live: LiveStack
    analyst: Popen[bytes]
    alice: FlaskClient
    mallory: FlaskClient
    anonymous: FlaskClient
    mallory_token: str
    reference: str  # alice's sweep, completed before the attacks
    reference_record: SweepRecord
    reference_ranking: RankingRecord

    @property
    def store(self) -> Store:
        return self.live.store

    @property
    def redis(self) -> redis.Redis:
        return self.live.redis_client

    def sweep_ids(self) -> list[str]:
        return self.store.sweeps.ids()


def member_client(url: str, token: str) -> FlaskClient:
    client = create_app(Settings(redis_url=url), {"TESTING": True}).test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    return client


def spec_of(**extra: Any) -> dict[str, Any]:
    """A tiny spec as a member submits it (the owner comes from who is logged in)."""
    return {k: v for k, v in tiny_spec(**extra).items() if k != "owner"}


def wait_completed(store: Store, sweep_id: str, timeout_s: float = 120) -> SweepRecord:
    return wait_until(
        lambda: (r := store.sweeps.get(sweep_id)).status.final and r, timeout_s, what=f"{sweep_id} to end"
    )


@pytest.fixture(scope="module")
def pool(redis_url: str, tfds_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pool]:
    url = database_url(redis_url, DATABASE)
    redis.Redis.from_url(url).flushdb()
    live = LiveStack(url, tmp_path_factory.mktemp("logs"), tfds_dir)
    try:
        live.start_trainer()
        analyst = live.start_analyst()
        alice = member_client(url, live.store.users.add("alice", password=PASSWORD))
        mallory_token = live.store.users.add("mallory", password=PASSWORD)
        mallory = member_client(url, mallory_token)
        anonymous = create_app(Settings(redis_url=url), {"TESTING": True}).test_client()
        created = alice.post("/api/sweeps", json=spec_of(name="alice's reference", n_trials=4))
        assert created.status_code == 201, created.get_json()
        reference = created.get_json()["id"]
        record = wait_completed(live.store, reference)
        ranking = wait_until(
            lambda: (r := live.store.rankings.latest(reference)) and r.n_results == 4 and r, 60, what="its ranking"
        )
        yield Pool(live, analyst, alice, mallory, anonymous, mallory_token, reference, record, ranking)
    finally:
        live.stack.stop()
