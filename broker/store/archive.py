"""Finished sweeps leave Redis: each is written to its archive file (broker/store/archive_file.py), then its keys go.

The steps, each safe to crash after (a retry completes the archive, nothing is lost):
1. check the sweep may leave: it ended, every trial ended, and its stored ranking counts every result (so the
   analyst will not need its results again);
2. write the file under a temporary name from what Redis holds, sync it, check it holds as many rows as Redis
   did, and rename it into place: from then on every read of the sweep is served by the file;
3. mark the sweep archived in its hash;
4. delete its big keys (UNLINK: Redis frees them in the background).
The sweep's hash stays as a stub (its record, for the lists and the live-update markers), with its entry in the
list of sweeps and its lineage links; a sweep whose hash is gone (Redis emptied) is listed from the archive files.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import cast

import redis

from broker import keys
from broker.store.archive_file import ArchiveDamaged, ArchivedSweep, ArchiveWriter, SweepArchive
from broker.store.rankings import RankingStore
from broker.store.sweeps import UnknownSweep, sweep_record
from broker.store.trial_index import FINAL_IDS, NO_VALUE, column_value, sort_key, table_columns
from trials.errors import SweeprankError
from trials.records import SweepRecord
from trials.specs import SweepStatus, TrialResult, is_sweep_id
from trials.trial_state import TrialState

log = logging.getLogger(__name__)

_BATCH = 2000
# Longer than archiving the largest sweep takes (about 100 s per 100,000 trials): a second archiver waits for none.
_LOCK_S = 1800

# KEYS: a metrics stream. ARGV: the range's start ('-' or '(' .. last id read), count.
# Returns {last id read ('' at the end), "trial TAB record" lines}: one reply string per batch, not seven per entry
# (the client's parser, not Redis, is what a 100k-trial stream costs to read).
_READ_METRICS = r"""
local batch = redis.call('XRANGE', KEYS[1], ARGV[1], '+', 'COUNT', ARGV[2])
local lines = {}
for i, e in ipairs(batch) do
  local f, trial, record = e[2], '', ''
  for j = 1, #f, 2 do
    if f[j] == 'trial' then trial = f[j + 1] elseif f[j] == 'record' then record = f[j + 1] end
  end
  if trial == '' then trial = tostring(cjson.decode(record)['trial_id']) end
  lines[i] = trial .. '\t' .. record
end
return {#batch > 0 and batch[#batch][1] or '', table.concat(lines, '\n')}
"""
ARCHIVED_FIELD = "archived"  # in the sweep's hash: when its archive was complete


class NotArchivable(SweeprankError):
    """A sweep that cannot leave Redis yet (still running, not ranked to its last result, ...)."""


@dataclass(frozen=True)
class Archived:
    sweep_id: str
    rows: dict[str, int]  # rows per table of its archive
    bytes: int  # the archive file's size
    already: bool  # it was archived before this call (a retry only finished deleting its keys)


@dataclass(frozen=True)
class ArchiveRun:
    done: list[Archived]
    left: dict[str, str]  # sweep id -> why it stays in Redis for now


class ArchiveStore:
    def __init__(self, client: redis.Redis, archive: SweepArchive, rankings: RankingStore) -> None:
        self._r = client
        self.files = archive
        self._rankings = rankings
        self._read_metrics = client.register_script(_READ_METRICS)

    def archive(self, sweep_id: str, progress: Callable[[], object] = lambda: None) -> Archived:
        """Move a finished sweep out of Redis into its archive file (see the module for the steps).

        `progress` is called between batches (a long archive is work, not a hang: the analyst keeps beating).
        """
        if self.files.root is None:
            raise NotArchivable("no archive directory is configured (SWEEPRANK_ARCHIVE_DIR)")
        if not is_sweep_id(sweep_id):
            raise UnknownSweep(sweep_id)
        lock = self._r.lock(keys.archive_lock(sweep_id), timeout=_LOCK_S, blocking=False)
        if not lock.acquire():
            raise NotArchivable(f"{sweep_id} is being archived by another process")
        try:
            return self._archive(sweep_id, progress)
        finally:
            with contextlib.suppress(redis.exceptions.LockError):  # expired meanwhile: nothing left to release
                lock.release()

    def _archive(self, sweep_id: str, progress: Callable[[], object]) -> Archived:
        raw = cast(dict[str, str], self._r.hgetall(keys.sweep(sweep_id)))
        found = self.files.find(sweep_id)
        if not raw:
            if found is None:
                raise UnknownSweep(sweep_id)
            return self._done(sweep_id, found, already=True)  # Redis was emptied: only the archive holds it
        if ARCHIVED_FIELD in raw:
            if found is None:
                raise ArchiveDamaged(f"{sweep_id} is marked archived but {self.files.path_of(sweep_id)} is missing")
            found.verify()
            self._drop_keys(sweep_id, raw)
            return self._done(sweep_id, found, already=True)
        record = sweep_record(raw, 0)
        self._check_finished(record)
        self._rankings.move_list_once(sweep_id)  # a history kept as a list before trajectories: moved first
        expected = self._counts(sweep_id, record)
        if found is None or found.recorded_counts() != expected:
            found = self._write(sweep_id, raw, record, expected, progress)
        found.verify()
        self._mark(sweep_id)
        self._drop_keys(sweep_id, raw)
        return self._done(sweep_id, found, already=False)

    def due(self, older_than_s: float, now: float | None = None) -> list[str]:
        """Sweeps in Redis that ended more than `older_than_s` ago and are not archived yet, oldest first."""
        cutoff = (now or time.time()) - older_than_s
        ids = cast(list[str], self._r.zrange(keys.SWEEPS, 0, -1))
        pipe = self._r.pipeline(transaction=False)
        for sweep_id in ids:
            pipe.hmget(keys.sweep(sweep_id), ["status", "ended", ARCHIVED_FIELD])
        due = []
        for sweep_id, (status, ended, archived) in zip(ids, pipe.execute(), strict=True):
            if archived is None and status and SweepStatus(status).final and float(ended or "inf") <= cutoff:
                due.append(sweep_id)
        return due

    def archive_due(self, older_than_s: float, progress: Callable[[], object] = lambda: None) -> ArchiveRun:
        """Archive every sweep due; one that cannot leave yet (a trial still ending) is left for a later call."""
        run = ArchiveRun([], {})
        for sweep_id in self.due(older_than_s):
            try:
                run.done.append(self.archive(sweep_id, progress))
            except NotArchivable as err:
                run.left[sweep_id] = str(err)
            except (ArchiveDamaged, OSError, sqlite3.Error, ValueError) as err:
                # One sweep that cannot be written (a full disk, a record that does not load) holds back no other.
                log.warning("%s stays in Redis: archiving it failed: %s", sweep_id, err)
                run.left[sweep_id] = f"archiving it failed: {err}"
            progress()
        return run

    # --- the steps -------------------------------------------------------------------

    def _check_finished(self, record: SweepRecord) -> None:
        sid = record.id
        if not record.status.final:
            raise NotArchivable(f"{sid} is {record.status.value}: only a finished sweep can be archived")
        unfinished = 0
        for batch in self._scan(keys.trials(sid)):
            unfinished += sum(not TrialState.from_json(v).status.final for v in batch.values())
        if unfinished:
            raise NotArchivable(f"{sid} still has {unfinished} trials queued or running: archive it when they end")
        latest = self._r.get(keys.ranking(sid))
        ranked = 0 if latest is None else int(json.loads(cast(str, latest))["n_results"])
        if record.n_final and ranked != record.n_final:
            raise NotArchivable(
                f"{sid}: the analyst has ranked {ranked} of its {record.n_final} results; archive it once it caught up"
            )

    def _counts(self, sweep_id: str, record: SweepRecord) -> dict[str, int]:
        """Rows the archive must hold, read from Redis."""
        pipe = self._r.pipeline(transaction=True)
        pipe.hlen(keys.trials(sweep_id))
        pipe.llen(keys.arrival(sweep_id))
        pipe.xlen(keys.metrics(sweep_id))
        pipe.hlen(keys.results(sweep_id))
        pipe.zcard(keys.ranking_trajectory(sweep_id))
        pipe.llen(keys.progress_points(sweep_id))
        for dataset in record.spec.datasets:
            pipe.llen(keys.study_journal(sweep_id, dataset))
        trials, arrival, metrics, results, trajectory, points, *journals = pipe.execute()
        columns = len(table_columns(record.config_names))
        return {
            "trials": trials,
            "arrival": arrival,
            "metrics": metrics,
            "sorted": results * columns,
            "trajectory": trajectory,
            "progress_points": points,
            "journals": sum(journals),
        }

    def _write(
        self,
        sweep_id: str,
        raw: dict[str, str],
        record: SweepRecord,
        expected: dict[str, int],
        progress: Callable[[], object],
    ) -> ArchivedSweep:
        writer = ArchiveWriter(self.files, sweep_id)
        try:
            writer.meta("sweep", raw)
            for key, value in self._small_records(sweep_id).items():
                writer.meta(key, value)
            columns = list(table_columns(record.config_names))
            present = [0] * len(columns)
            for batch in self._scan(keys.trials(sweep_id)):
                ids = list(batch)
                planned = cast(list[str | None], self._r.hmget(keys.configs(sweep_id), ids))
                results = cast(list[str | None], self._r.hmget(keys.results(sweep_id), ids))
                writer.rows("trials", ((int(t), batch[t], p, r) for t, p, r in zip(ids, planned, results, strict=True)))
                parsed = [TrialResult.model_validate_json(r) for r in results if r is not None]
                writer.rows("sorted", _sort_rows(parsed, columns, present))
                progress()
            writer.columns([(i, name, present[i]) for i, name in enumerate(columns)])
            for start, ids in self._list(keys.arrival(sweep_id)):
                writer.rows("arrival", ((start + i, int(t)) for i, t in enumerate(ids)))
            for start, lines in self._stream(keys.metrics(sweep_id)):
                writer.rows("metrics", ((start + i, *_trial_and_record(line)) for i, line in enumerate(lines)))
                progress()
            for start, points in self._list(keys.progress_points(sweep_id)):
                writer.rows("progress_points", ((start + i, p) for i, p in enumerate(points)))
            members = cast(
                list[tuple[str, float]], self._r.zrange(keys.ranking_trajectory(sweep_id), 0, -1, withscores=True)
            )
            writer.rows("trajectory", ((int(seq), m) for m, seq in members))
            for dataset in record.spec.datasets:
                for start, logs in self._list(keys.study_journal(sweep_id, dataset)):
                    writer.rows("journals", ((dataset, start + i, log) for i, log in enumerate(logs)))
            return writer.commit(expected)
        except BaseException:
            writer.abandon()
            raise

    def _small_records(self, sweep_id: str) -> dict[str, object]:
        pipe = self._r.pipeline(transaction=True)
        pipe.get(keys.ranking(sweep_id))
        pipe.get(keys.comparison(sweep_id))
        pipe.hgetall(keys.ranking_trajectory_meta(sweep_id))
        pipe.hgetall(keys.progress(sweep_id))
        pipe.smembers(keys.children(sweep_id))
        pipe.get(keys.chain_next(sweep_id))
        pipe.lrange(keys.pending(sweep_id), 0, -1)
        ranking, comparison, trajectory_meta, progress, children, chain_next, pending = pipe.execute()
        return {
            "ranking": ranking,
            "comparison": comparison,
            "trajectory_meta": trajectory_meta,
            "progress": progress,
            "children": sorted(children, key=lambda s: int(s[2:])),
            "chain_next": chain_next,
            "pending": [int(t) for t in pending],
        }

    def _mark(self, sweep_id: str) -> None:
        self._r.hset(keys.sweep(sweep_id), ARCHIVED_FIELD, repr(time.time()))

    def _drop_keys(self, sweep_id: str, raw: dict[str, str]) -> None:
        """Every key of the sweep but its hash (the stub), its place in the list of sweeps and its lineage links."""
        columns = cast(set[str], self._r.smembers(keys.trial_index_columns(sweep_id)))
        datasets = json.loads(raw["spec"]).get("datasets", [])
        self._r.unlink(
            keys.configs(sweep_id),
            keys.pending(sweep_id),
            keys.trials(sweep_id),
            keys.results(sweep_id),
            keys.arrival(sweep_id),
            keys.metrics(sweep_id),
            keys.metrics_index(sweep_id),
            keys.running(sweep_id),
            keys.progress(sweep_id),
            keys.progress_points(sweep_id),
            keys.ranking(sweep_id),
            keys.ranking_history(sweep_id),
            keys.ranking_trajectory(sweep_id),
            keys.ranking_trajectory_meta(sweep_id),
            keys.comparison(sweep_id),
            keys.trial_index_columns(sweep_id),
            keys.trial_index_ready(sweep_id),
            *(keys.trial_index(sweep_id, c) for c in {*columns, FINAL_IDS}),
            *(keys.trial_index_texts(sweep_id, c) for c in columns),
            *(keys.study_journal(sweep_id, d) for d in datasets),
        )

    def _done(self, sweep_id: str, found: ArchivedSweep, already: bool) -> Archived:
        return Archived(sweep_id, found.recorded_counts(), found.path.stat().st_size, already)

    # --- reading Redis a batch at a time -----------------------------------------------

    def _scan(self, key: str) -> Iterator[dict[str, str]]:
        cursor = 0
        while True:
            cursor, batch = cast(tuple[int, dict[str, str]], self._r.hscan(key, cursor, count=_BATCH))
            if batch:
                yield batch
            if cursor == 0:
                return

    def _list(self, key: str) -> Iterator[tuple[int, list[str]]]:
        start = 0
        while items := cast(list[str], self._r.lrange(key, start, start + _BATCH - 1)):
            yield start, items
            start += len(items)

    def _stream(self, key: str) -> Iterator[tuple[int, list[str]]]:
        """(position, "trial TAB record" lines) of a metrics stream, a batch at a time, in its order."""
        start, after = 0, "-"
        while True:
            last, text = cast(list[str], self._read_metrics(keys=[key], args=[after, _BATCH]))
            if not last:
                return
            lines = text.split("\n")
            yield start, lines
            start += len(lines)
            after = "(" + last


def _trial_and_record(line: str) -> tuple[int, str]:
    trial, _, record = line.partition("\t")
    return int(trial), record


def _sort_rows(
    results: list[TrialResult], columns: list[str], present: list[int]
) -> Iterator[tuple[int, float, str, int]]:
    """Rows of the archive's sorted table: (column, score, text, trial), in the order of the trials-table index in
    Redis, whose members are the text then the trial id (broker/store/trial_index.py)."""
    for result in results:
        for i, column in enumerate(columns):
            score, text = sort_key(column_value(result, column))
            if score < NO_VALUE:
                present[i] += 1
            yield i, score, text, result.trial_id
