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

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            redis_url=os.environ.get("SWEEPRANK_REDIS_URL", DEFAULT_REDIS_URL),
            visibility_timeout_s=int(os.environ.get("SWEEPRANK_VISIBILITY_TIMEOUT_S", cls.visibility_timeout_s)),
            claim_ttl_s=int(os.environ.get("SWEEPRANK_CLAIM_TTL_S", cls.claim_ttl_s)),
        )
