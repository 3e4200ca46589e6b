"""The system of record in Redis, one store per concept (docs/architecture.md, "Redis keys").

Redis runs with AOF, so everything needed to rebuild a ranking is stored here:
the spec, the sampled configs, every final result in arrival order. Only broker/
talks to Redis; every other package calls the named methods of these stores.
"""

from __future__ import annotations

from pathlib import Path

import redis

from broker.connection import connect
from broker.lifecycle import SweepEvent, change
from broker.store.activity import ActivityStore
from broker.store.archive import ArchiveStore
from broker.store.archive_file import SweepArchive
from broker.store.comparisons import ComparisonStore
from broker.store.export_reads import ExportReads
from broker.store.pool_counters import HealthStore
from broker.store.progress import ProgressStore
from broker.store.rankings import RankingStore
from broker.store.rates import RateStore
from broker.store.results import ResultEvent, ResultStore
from broker.store.service_beats import ServiceStore
from broker.store.studies import StudyStore
from broker.store.sweeps import PlannedTrial, SweepStore, UnknownSweep
from broker.store.trial_index import TrialIndex
from broker.store.trials import TrialStore
from broker.store.users import UserStore
from broker.store.workers import WorkerStore
from trials.specs import TrialStatus
from trials.untrusted import short

__all__ = ["PlannedTrial", "ResultEvent", "Store", "UnknownSweep"]


class Store:
    """One Redis client, and a store per concept on it.

    With `archive_dir`, the sweeps archived there (broker/store/archive.py) are read from their files by the same
    methods as the live ones: every reader picks, per sweep, the file or Redis.
    """

    def __init__(self, client: redis.Redis, archive_dir: Path | None = None) -> None:
        files = SweepArchive(archive_dir)
        self.sweeps = SweepStore(client, files)
        self.trials = TrialStore(client, files)
        self.health = HealthStore(client)
        self.results = ResultStore(client, self.health, files)
        self.progress = ProgressStore(client, self.results, files)
        self.trial_index = TrialIndex(client, files)
        self.rankings = RankingStore(client, files)
        self.comparisons = ComparisonStore(client, files)
        self.archive = ArchiveStore(client, files, self.rankings)
        self.workers = WorkerStore(client)
        self.users = UserStore(client)
        self.rates = RateStore(client)
        self.activity = ActivityStore(client)
        self.services = ServiceStore(client)
        self.studies = StudyStore(client)
        self.export = ExportReads(client, files)

    @classmethod
    def from_url(
        cls,
        url: str,
        ride_out_restarts: bool = True,
        reply_timeout_s: float | None = None,
        archive_dir: Path | None = None,
    ) -> Store:
        """A store on a new client for `url` (see broker.connection.connect)."""
        return cls(connect(url, ride_out_restarts, reply_timeout_s), archive_dir)

    def fail_sweep(self, sweep_id: str, reason: str) -> None:
        """Mark a sweep `failed` with `reason`, whatever its status: the pool could not process it.

        Its undispatched trials are dropped; trials already running finish. A sweep that is gone is left alone.
        """
        if self.sweeps.apply(sweep_id, change(SweepEvent.FAIL, reason=short(reason, 500))) is None:
            return
        self.trials.mark(sweep_id, self.sweeps.take_pending(sweep_id), TrialStatus.CANCELLED)
