"""The analyst: result stream → incremental N-RReliefF per sweep → stored ranking records.

It reads `sr:results` through a consumer group and acknowledges an event only
after the ranking that includes it is stored. On start it rebuilds every
sweep's state from the stored results in arrival order (the order the stream
delivered them), then reads its own unacknowledged events again: trials it
already counted are skipped, so a restart loses nothing and counts nothing twice.
It also runs the control tick: dispatcher refill (and the asks of model-based sweeps), the next
group of sequential-tuning chains (broker/tuning/chain.py), the reconciler (lost trials
get a new attempt) and stop-when-stable, sends a heartbeat every few seconds,
idle or busy (the health report and the sweep pages' "ranking paused" read it),
and computes the comparisons with fANOVA / PED-ANOVA that members request
(seconds of CPU, kept off the web server).
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from functools import partial

from analyst.method_comparison import compare_latest
from broker import sweep_actions
from broker.connection import BrokerError, BrokerUnavailable, writes_refused
from broker.dispatcher import Dispatcher
from broker.processes import notify_service_manager
from broker.reconciler import Reconciler
from broker.store import ResultEvent, Store
from broker.store.service_beats import ANALYST
from broker.tuning.chain import advance_chains
from importance.config import RankingConfig
from importance.groups import POOLED, GroupedRanking
from importance.nrrelieff import NRReliefF
from importance.stability import StabilityTracker
from trials.effects_view import present
from trials.encoding import categorical_mask, encode_trials, result_row
from trials.records import (
    RankedTrials,
    RankingHistoryEntry,
    RankingParameters,
    RankingRecord,
    ServiceBeat,
)
from trials.space import SearchSpace
from trials.specs import SweepSpec, TrialResult

log = logging.getLogger(__name__)

METHOD = "n-rrelieff"
# The significance re-test costs O(n): a stream re-tests when its trial count grew by 1/RETEST_SHARE since the last
# test (at least every RETEST_MIN trials), so its cost per result stays flat; verdicts lag by at most that share.
RETEST_MIN = 50
RETEST_SHARE = 20
REBUILD_BEAT_S = 1.0
# Result events read (and folded in) at once. A read takes every pending event up to this many and stores one
# ranking per sweep for them: while results arrive one at a time, each gets its ranking; when they arrive faster
# than that, the fixed cost of a read-out (O(cells), not O(n)) is shared by the batch, so the analyst keeps up,
# and a ranking lags the newest result by at most one batch's processing (its n_results says what it counts).
READ_AT_MOST = 2000
# How often the analyst looks for finished sweeps old enough to archive (SWEEPRANK_ARCHIVE_AFTER_S).
ARCHIVE_EVERY_S = 60.0


def retest_every(n: int) -> int:
    """Trials between significance re-tests of a stream that has seen `n`."""
    return max(RETEST_MIN, n // RETEST_SHARE)


class SweepAnalysis:
    """The incremental ranking state of one sweep."""

    def __init__(
        self, sweep_id: str, spec: SweepSpec, space: SearchSpace, params: RankingConfig, arrival_list: str
    ) -> None:
        self.sweep_id = sweep_id
        self.arrival_list = arrival_list
        self.spec = spec
        self.space = space
        self.seen: set[int] = set()
        self.excluded: Counter[str] = Counter()
        self.config = spec.ranking_config(params)
        self.ranking = GroupedRanking(space.names, categorical=categorical_mask(space), config=self.config)

    @classmethod
    def of_stored(cls, store: Store, sweep_id: str, params: RankingConfig) -> SweepAnalysis:
        """An empty analysis of a stored sweep (its spec and resolved space come from the store)."""
        record = store.sweeps.get(sweep_id)
        space = SearchSpace.from_dict(record.space)
        return cls(sweep_id, record.spec, space, params, store.results.arrival_list_name(sweep_id))

    @property
    def n_results(self) -> int:
        return len(self.seen)

    def add(self, results: list[TrialResult]) -> int:
        """Fold in results not seen before; returns how many were new."""
        fresh = [r for r in results if r.trial_id not in self.seen]
        self.seen.update(r.trial_id for r in fresh)
        if fresh:
            encoded = encode_trials(
                self.space,
                [result_row(r, self.spec.metric, self.space) for r in fresh],
                maximize=self.spec.direction == "maximize",
            )
            self.excluded.update(encoded.excluded)
            if encoded.n:
                self._space_out_retests()
                self.ranking.partial_fit(encoded.X, encoded.y, encoded.groups)
            if self.n_results >= self.spec.n_trials:
                # The last result: its verdicts must count every trial, not the last refresh.
                self.ranking.refresh_significance()
        return len(fresh)

    def _space_out_retests(self) -> None:
        self.ranking.refresh_every = retest_every(0)
        for estimator in self.ranking.estimators.values():
            # The anova method schedules its own tests (importance.anova.REPLICATE_EVERY); this spaces out N-RReliefF's.
            if isinstance(estimator, NRReliefF):
                estimator.refresh_every = retest_every(estimator.n_seen_)

    def records(self) -> tuple[RankingRecord, RankingHistoryEntry]:
        """The full ranking record and its compact entry for the history."""
        maximize = self.spec.direction == "maximize"
        groups = {
            group: present(entry, self.space, maximize, self.spec.sampler)
            for group, entry in self.ranking.snapshot().items()
        }
        pooled = groups[POOLED]
        now = time.time()
        record = RankingRecord(
            method=f"{METHOD}/{self.spec.importance_method}",
            parameters=RankingParameters(config=self.config, metric=self.spec.metric, direction=self.spec.direction),
            n_results=self.n_results,
            n_trials=pooled.n_trials,
            # The trials ranked are the first n_results of the sweep's arrival list.
            trials=RankedTrials(arrival_list=self.arrival_list, first=self.n_results),
            excluded=dict(self.excluded),
            time=now,
            groups=groups,
        )
        by_name = {row.name: row for row in pooled.rows}
        rows = [by_name[name] for name in self.space.names]  # the history's series are in the space's order
        verdicts = [row.verdict for row in rows if row.verdict is not None]
        compact = RankingHistoryEntry(
            n_trials=pooled.n_trials,
            time=now,
            names=[row.name for row in rows],
            importances=[row.importance for row in rows],
            ci_low=[row.ci_low for row in rows],
            ci_high=[row.ci_high for row in rows],
            verdicts=verdicts if len(verdicts) == len(rows) else None,
            stable_since=pooled.stability.stable_since,
        )
        return record, compact

    @property
    def stability(self) -> StabilityTracker:
        return self.ranking.trackers[POOLED]


class Analyst:
    def __init__(
        self,
        store: Store,
        dispatcher: Dispatcher,
        params: RankingConfig | None = None,
        consumer: str | None = None,
        batch: int = READ_AT_MOST,
    ) -> None:
        self.store = store
        self.dispatcher = dispatcher
        self.params = params or RankingConfig()
        self.consumer = consumer or f"analyst-{socket.gethostname()}"
        self.batch = batch
        self.sweeps: dict[str, SweepAnalysis] = {}
        self.kept_as_ranked: set[str] = set()  # finished sweeps whose stored ranking counts all their results
        self.failed: set[str] = set()  # sweeps whose analysis raised: marked failed, skipped (_isolated)
        self.started_at = time.time()
        self.processed = 0
        self.last_event_id = ""
        self.last_beat_at = 0.0
        # When the ranking stopped before this process started: the previous analyst's last beat (start()).
        self.paused_since: float | None = None
        self._archiving: threading.Thread | None = None
        self._archived: queue.SimpleQueue[str] = queue.SimpleQueue()  # archived by that thread, to forget here

    def beat(self) -> None:
        """Tell the pool this analyst is alive and how far it got (and systemd's watchdog, if it runs us)."""
        notify_service_manager("WATCHDOG=1")
        self.last_beat_at = time.time()
        self.store.services.beat(
            ANALYST,
            ServiceBeat(
                pid=os.getpid(),
                host=socket.gethostname(),
                started_at=self.started_at,
                beat=time.time(),
                processed=self.processed,
                last_event_id=self.last_event_id,
            ),
        )

    def _isolated(self, sweep_id: str, work: Callable[[], object]) -> None:
        """Run one sweep's work; if it raises, mark that sweep failed with the error and skip it from now on.

        What a member submitted reaches this process through their sweep: whatever in it breaks the analysis
        must end that sweep, never the analyst, and so never every other member's rankings.
        """
        if sweep_id in self.failed:
            return
        try:
            work()
        except BrokerUnavailable:
            raise
        except Exception as err:
            log.exception("sweep %s cannot be analysed; marked failed and skipped", sweep_id)
            self.failed.add(sweep_id)
            self.sweeps.pop(sweep_id, None)
            try:
                self.store.fail_sweep(sweep_id, f"the analyst could not process it: {type(err).__name__}: {err}")
            except BrokerUnavailable:
                raise
            except BrokerError:
                log.exception("sweep %s: its record is too damaged to be marked failed", sweep_id)

    def analysis(self, sweep_id: str) -> SweepAnalysis:
        if sweep_id not in self.sweeps:
            self.sweeps[sweep_id] = SweepAnalysis.of_stored(self.store, sweep_id, self.params)
            if sweep_id in self.kept_as_ranked:
                # A finished sweep skipped at start that is needed after all (a late event): fit it now.
                self.kept_as_ranked.discard(sweep_id)
                self.sweeps[sweep_id].add(self.store.results.in_arrival_order(sweep_id))
        return self.sweeps[sweep_id]

    def rebuild(self) -> None:
        """State from the stored results, in arrival order; store a ranking where it is behind.

        A finished sweep whose stored ranking counts every one of its results is not fitted again: its last
        ranking stands (a restart costs what the live sweeps hold, not every sweep ever stored).
        """
        self.sweeps.clear()
        self.kept_as_ranked.clear()
        for sweep_id in self.store.sweeps.ids():
            self._isolated(sweep_id, partial(self._rebuild_one, sweep_id))
            # A long rebuild is work, not a hang: keep beating (`up` restarts an analyst that stops beating).
            self._beat_when_due()

    def _beat_when_due(self) -> None:
        if time.time() - self.last_beat_at >= REBUILD_BEAT_S:
            self.beat()

    def _rebuild_one(self, sweep_id: str) -> None:
        record = self.store.sweeps.get(sweep_id)
        latest = self.store.rankings.latest(sweep_id)
        if record.status.final and latest is not None and latest.n_results == record.n_final:
            self.kept_as_ranked.add(sweep_id)
            return
        results = self.store.results.in_arrival_order(sweep_id)
        if not results:
            return
        analysis = self.analysis(sweep_id)
        analysis.add(results)
        if latest is None:
            self._publish(analysis)
        elif latest.n_results != analysis.n_results:
            # Results stored while no analyst ranked are folded in at once here. Say so in the history
            # rather than let the trajectory draw a straight line across the gap (readers cannot tell
            # a catch-up from a batch by the jump in n alone: a busy analyst folds batches too).
            self._publish(analysis, resumed_after_pause_since=self.paused_since or latest.time)

    def read_new(self, block_ms: int | None) -> list[ResultEvent]:
        """The next batch of result events, waiting up to `block_ms` for one (None: do not wait)."""
        return self.store.results.next_events(self.consumer, self.batch, block_ms)

    def handle(self, events: list[ResultEvent]) -> None:
        """Fold a batch of result events in, store rankings, then acknowledge."""
        by_sweep: dict[str, list[int]] = {}
        for event in events:
            by_sweep.setdefault(event.sweep_id, []).append(event.trial_id)
        for sweep_id, trial_ids in by_sweep.items():
            self._isolated(sweep_id, partial(self._handle_one, sweep_id, trial_ids))
        # Also the events of a sweep that failed: skipped for good, never read again.
        self.store.results.acknowledge(events)
        if events:
            self.processed += len(events)
            self.last_event_id = events[-1].id

    def _handle_one(self, sweep_id: str, trial_ids: list[int]) -> None:
        analysis = self.analysis(sweep_id)
        # One read for the batch, in the events' (arrival) order.
        found = self.store.results.get_many(sweep_id, trial_ids)
        results = [found[t] for t in trial_ids if t in found]
        if analysis.spec.model_based:
            for result in results:
                self.dispatcher.tuner.tell(result, analysis.spec)
        if analysis.add(results):
            self._publish(analysis)
            self._stop_if_stable(analysis)

    def _publish(self, analysis: SweepAnalysis, resumed_after_pause_since: float | None = None) -> None:
        record, compact = analysis.records()
        if resumed_after_pause_since is not None:
            compact = compact.model_copy(update={"resumed_after_pause_since": resumed_after_pause_since})
        self.store.rankings.save(analysis.sweep_id, record, compact)

    def _stop_if_stable(self, analysis: SweepAnalysis) -> None:
        if not analysis.spec.stop_when_stable or not analysis.stability.stable:
            return
        sweep_actions.stop_when_stable(self.store, self.dispatcher, analysis.sweep_id, analysis.stability.sentence())

    def compare_requested(self) -> None:
        """Compute and store every requested comparison (of the sweep's latest ranking)."""
        while (sweep_id := self.store.comparisons.take_request()) is not None:
            try:
                comparison = compare_latest(self.store, sweep_id)
            except BrokerUnavailable:
                raise
            except Exception:  # one sweep's bad data must not stop the rankings of every sweep
                log.exception("comparison of %s failed", sweep_id)
                continue
            if comparison is not None:
                self.store.comparisons.save(comparison)
                self.store.health.count("comparisons_computed")

    def archive_finished(self, older_than_s: float) -> threading.Thread | None:
        """Archive the sweeps that ended more than `older_than_s` ago (broker/store/archive.py), on a thread of its
        own: writing a 100,000-trial sweep's file takes a minute or two, and the rankings of the live sweeps go on
        meanwhile. None while the previous round still runs. Sweeps archived by then are forgotten here."""
        while not self._archived.empty():
            sweep_id = self._archived.get()
            self.sweeps.pop(sweep_id, None)
            self.kept_as_ranked.discard(sweep_id)
        if self._archiving is not None and self._archiving.is_alive():
            return None
        self._archiving = threading.Thread(target=self._archive_round, args=(older_than_s,), name="archiver")
        self._archiving.daemon = True  # a file half-written is a temporary one: the next analyst starts it over
        self._archiving.start()
        return self._archiving

    def _archive_round(self, older_than_s: float) -> None:
        try:
            run = self.store.archive.archive_due(older_than_s)
        except Exception:  # Redis away, say: the next round tries again
            log.exception("archiving finished sweeps failed; trying again in %.0f s", ARCHIVE_EVERY_S)
            return
        for done in run.done:
            log.info("archived %s: %d trials, %d bytes", done.sweep_id, done.rows["trials"], done.bytes)
            self._archived.put(done.sweep_id)

    def start(self) -> None:
        previous = self.store.services.last_beat(ANALYST)
        self.paused_since = previous.beat if previous is not None else None
        self.beat()
        self.store.results.ensure_analyst_group()
        self.rebuild()
        # Events delivered to us before a crash and never acknowledged come first.
        while events := self.store.results.unacknowledged(self.consumer, self.batch):
            self.handle(events)

    def run_forever(
        self,
        reconcile_every_s: float = 5.0,
        tick_s: float = 1.0,
        beat_every_s: float = 2.0,
        archive_after_s: float = 0.0,
    ) -> None:
        """With `archive_after_s` > 0, finished sweeps are archived that long after they ended."""
        self.start()
        reconciler = Reconciler(self.store, self.dispatcher)
        next_reconcile = next_beat = next_archive = 0.0
        # The read blocks at most this long, so an idle analyst still beats on time.
        block_ms = max(1, int(min(tick_s, beat_every_s) * 1000))
        while True:
            try:
                if time.monotonic() >= next_beat:
                    self.beat()
                    next_beat = time.monotonic() + beat_every_s
                self.handle(self.read_new(block_ms))
                self.compare_requested()
                if time.monotonic() >= next_reconcile:
                    outcomes = reconciler.run_once()
                    if outcomes:
                        log.warning("reconciler: %s", dict(outcomes))
                    next_reconcile = time.monotonic() + reconcile_every_s
                advance_chains(self.store, self.dispatcher)
                self.dispatcher.refill()
                if archive_after_s > 0 and time.monotonic() >= next_archive:
                    next_archive = time.monotonic() + ARCHIVE_EVERY_S  # first: a failing archive waits its turn
                    self.archive_finished(archive_after_s)
            except BrokerUnavailable:
                log.warning("Redis unreachable; retrying")
                time.sleep(1.0)
                self._reconnect()
            except Exception as err:
                if (refused := writes_refused(err)) is not None:  # a full disk: one line, not a traceback a second
                    log.warning("Redis refuses writes (%s); retrying", refused)
                else:
                    # The last line of defence: a tick that raised (the per-sweep work is isolated above) is
                    # logged and retried, never the end of the process that ranks every member's sweep_actions.
                    log.exception("analyst tick failed; retrying")
                time.sleep(1.0)

    def _reconnect(self) -> None:
        with contextlib.suppress(BrokerUnavailable):
            self.start()
