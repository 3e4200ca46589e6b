"""Configuration from the environment (prefix SWEEPRANK_), with laptop defaults."""

from __future__ import annotations

import os
from dataclasses import dataclass

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


@dataclass(frozen=True)
class Settings:
    redis_url: str = DEFAULT_REDIS_URL
    # Celery redelivers a task not acknowledged within this time, so it must
    # exceed every hard time limit (celery#5935); 25 h covers any sane trial.
    visibility_timeout_s: int = 25 * 3600
    claim_ttl_s: int = 120
    worker_ttl_s: int = 30
    reconcile_every_s: float = 5.0
    # How often trainers scan for unacknowledged messages past the visibility timeout.
    unacked_restore_every_s: int = 10

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            redis_url=os.environ.get("SWEEPRANK_REDIS_URL", DEFAULT_REDIS_URL),
            visibility_timeout_s=int(os.environ.get("SWEEPRANK_VISIBILITY_TIMEOUT_S", cls.visibility_timeout_s)),
            claim_ttl_s=int(os.environ.get("SWEEPRANK_CLAIM_TTL_S", cls.claim_ttl_s)),
            reconcile_every_s=float(os.environ.get("SWEEPRANK_RECONCILE_EVERY_S", cls.reconcile_every_s)),
            unacked_restore_every_s=int(
                os.environ.get("SWEEPRANK_UNACKED_RESTORE_EVERY_S", cls.unacked_restore_every_s)
            ),
        )
