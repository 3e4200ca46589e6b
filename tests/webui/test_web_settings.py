"""The web process uses every setting of its environment, also those only the dispatcher reads.

A web app once built its settings from the Redis URL alone, so SWEEPRANK_VISIBILITY_TIMEOUT_S was
dropped: trials it dispatched were clipped against the 25 h default, and Redis redelivered trials
still running past a shorter visibility timeout. The app is started in a fresh process, as
`sweeprank web` starts it, configured by nothing but its environment.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import textwrap
from typing import Any

import redis

from broker import keys
from broker.celery_app import hard_limit_margin
from broker.store import Store
from tests.integration.conftest import tiny_spec
from trials.records import WorkerInfo

VISIBILITY_TIMEOUT_S = 1000

SUBMIT = textwrap.dedent(
    """
    import json, sys
    from webui import create_app

    spec, token = json.loads(sys.argv[1]), sys.argv[2]
    response = create_app().test_client().post("/api/sweeps", json=spec, headers={"Authorization": f"Bearer {token}"})
    print(response.status_code, response.get_data(as_text=True))
    """
)


def _queued_messages(web_redis: redis.Redis) -> list[dict[str, Any]]:
    return [json.loads(raw) for raw in web_redis.lrange(keys.queue_name("cpu"), 0, -1)]


def test_trials_dispatched_by_the_web_process_are_clipped_by_the_visibility_timeout_it_was_given(
    web_redis_url: str, store: Store, web_redis: redis.Redis
) -> None:
    store.workers.register("w1", WorkerInfo(queues=[keys.queue_name("cpu")], slots=1, device="cpu"), ttl_s=60)
    token = store.users.add("ann")
    spec = {k: v for k, v in tiny_spec(n_trials=1).items() if k != "owner"}
    spec["limits"] = {"soft_time_limit_s": 1800, "hard_time_limit_s": 1860}  # both above the timeout below
    env = {
        **os.environ,
        "SWEEPRANK_REDIS_URL": web_redis_url,
        "SWEEPRANK_VISIBILITY_TIMEOUT_S": str(VISIBILITY_TIMEOUT_S),
    }
    done = subprocess.run(
        [sys.executable, "-c", SUBMIT, json.dumps(spec), token], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0 and done.stdout.startswith("201"), done.stdout + done.stderr

    [message] = _queued_messages(web_redis)
    [trial] = json.loads(base64.b64decode(message["body"]))[0]  # Celery's (args, kwargs, embed)
    assert trial["limits"]["hard_time_limit_s"] == 1860  # what the member asked for ...
    hard, _soft = message["headers"]["timelimit"]  # ... and what the worker pool will enforce
    assert hard == VISIBILITY_TIMEOUT_S - hard_limit_margin(VISIBILITY_TIMEOUT_S)
