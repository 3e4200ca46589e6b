"""The archive of a finished sweep: one SQLite file per sweep, read in place of its Redis keys.

Why SQLite, one file per sweep (docs/architecture.md, "Archived sweeps"): the standard library reads and writes
it; a file is written under a temporary name, synced and verified, then renamed, so it either exists whole or not
at all (no shared database to lock or to repair); its B-trees answer a page of the trials table, one trial's
curve or one result by key, so a read costs what it returns, as it does in Redis; and a sweep's archive is moved,
copied or deleted as one file. Parquet would need the sorted pages and per-trial lookups rebuilt on top.

The file holds everything Redis held of the sweep, so it is served with Redis emptied: the sweep's hash (its
record), every trial's live state, planned config and final result, the arrival order, the metrics stream in its
order, the trials table's sort order for every sortable column (the same scores and members as
broker/store/trial_index.py, so pages come out identical), the best so far, the latest ranking and its trajectory,
the comparison, the lineage (children, the chain's next sweep) and a model-based sweep's Optuna journals.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict

from trials.space import Value
from trials.specs import EpochMetrics, TrialResult, is_sweep_id
from trials.trial_state import TrialState

FORMAT = "1"
SUFFIX = ".sqlite"

SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE trials (trial_id INTEGER PRIMARY KEY, state TEXT NOT NULL, planned TEXT, result TEXT);
CREATE INDEX unfinished ON trials (trial_id) WHERE result IS NULL;
CREATE TABLE arrival (pos INTEGER PRIMARY KEY, trial_id INTEGER NOT NULL);
CREATE TABLE metrics (pos INTEGER PRIMARY KEY, trial_id INTEGER NOT NULL, record TEXT NOT NULL);
CREATE INDEX metrics_of_trial ON metrics (trial_id, pos);
CREATE TABLE columns (col INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, present INTEGER NOT NULL);
CREATE TABLE sorted (col INTEGER, score REAL, text TEXT, trial INTEGER, PRIMARY KEY (col, score, text, trial))
  WITHOUT ROWID;
CREATE TABLE trajectory (seq INTEGER PRIMARY KEY, member TEXT NOT NULL);
CREATE TABLE progress_points (pos INTEGER PRIMARY KEY, point TEXT NOT NULL);
CREATE TABLE journals (dataset TEXT, pos INTEGER, entry TEXT NOT NULL, PRIMARY KEY (dataset, pos)) WITHOUT ROWID;
"""

# What a verified file must hold, by table (the writer records the counts it read from Redis).
COUNTED = ("trials", "arrival", "metrics", "sorted", "trajectory", "progress_points", "journals")


class PlannedEntry(TypedDict):
    """A trial's plan as the sweep's configs hash holds it (a model-based sweep's also names its study trial)."""

    dataset: str
    config: dict[str, Value]
    seed: int


class ArchiveDamaged(Exception):
    """An archive file that does not hold what its writer recorded (or no archive at all)."""


def _connect(path: Path) -> sqlite3.Connection:
    # immutable: a renamed archive is never written again, so readers take no locks.
    return sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True, check_same_thread=False)


class _Connections:
    """Read-only connections to archive files, shared by a process's threads, the most recently used kept open.

    Opening a file and reading its schema costs a millisecond or more, about what a page's reads of it cost; SQLite
    serializes the use of a shared connection (a serialized build: `sqlite3.threadsafety` 3). A connection dropped
    from the cache is closed when its last user lets go of it. A forked child opens its own.
    """

    def __init__(self, size: int = 32) -> None:
        self._size = size
        self._lock = threading.Lock()
        self._open: OrderedDict[Path, sqlite3.Connection] = OrderedDict()
        self._pid = os.getpid()

    def get(self, path: Path) -> sqlite3.Connection:
        with self._lock:
            if self._pid != os.getpid():
                self._open, self._pid = OrderedDict(), os.getpid()
            db = self._open.get(path)
            if db is None:
                db = self._open[path] = _connect(path)
                if len(self._open) > self._size:
                    self._open.popitem(last=False)
            else:
                self._open.move_to_end(path)
            return db


_CONNECTIONS = _Connections() if sqlite3.threadsafety == 3 else None


def _marks(ids: list[int]) -> str:
    return ",".join("?" * len(ids))


@dataclass(frozen=True)
class ArchivedSweep:
    """Read access to one sweep's archive; each call opens the file, reads what it answers, and closes it."""

    path: Path

    @contextlib.contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        if _CONNECTIONS is not None:
            yield _CONNECTIONS.get(self.path)
            return
        db = _connect(self.path)  # an SQLite build whose connections threads may not share: one per read
        try:
            yield db
        finally:
            db.close()

    def _meta(self, key: str) -> Any:
        with self._db() as db:
            row = db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else json.loads(row[0])

    # --- the sweep record and its lineage ------------------------------------------

    def sweep_hash(self) -> dict[str, str]:
        """The sweep's Redis hash as it was when archived (its record)."""
        found: dict[str, str] = self._meta("sweep")
        return found

    def pending(self) -> list[int]:
        """Trials never dispatched (a sweep ended early keeps none: they were marked cancelled and taken off)."""
        found: list[int] = self._meta("pending") or []
        return found

    def children(self) -> list[str]:
        found: list[str] = self._meta("children") or []
        return found

    def next_in_chain(self) -> str | None:
        found: str | None = self._meta("chain_next")
        return found

    # --- trials: live states, planned configs, final results -----------------------

    def _column_of(self, column: str, trial_ids: list[int]) -> dict[int, str]:
        """`column` (state, planned or result) of these trials, where it is set."""
        if not trial_ids:
            return {}
        with self._db() as db:
            rows = db.execute(
                f"SELECT trial_id, {column} FROM trials WHERE trial_id IN ({_marks(trial_ids)}) AND {column} NOT NULL",
                trial_ids,
            ).fetchall()
        return dict(rows)

    def _all_of(self, column: str) -> dict[int, str]:
        with self._db() as db:
            return dict(db.execute(f"SELECT trial_id, {column} FROM trials WHERE {column} NOT NULL").fetchall())

    def states_of(self, trial_ids: list[int]) -> dict[int, TrialState]:
        return {t: TrialState.from_json(v) for t, v in self._column_of("state", trial_ids).items()}

    def states(self) -> dict[int, TrialState]:
        return {t: TrialState.from_json(v) for t, v in self._all_of("state").items()}

    def planned_of(self, trial_ids: list[int]) -> dict[int, PlannedEntry]:
        """The planned entries ({dataset, config, seed[, study_trial]}) of these trials that have one."""
        return {t: json.loads(v) for t, v in self._column_of("planned", trial_ids).items()}

    def planned(self) -> dict[int, PlannedEntry]:
        return {t: json.loads(v) for t, v in self._all_of("planned").items()}

    def results_of(self, trial_ids: list[int]) -> dict[int, TrialResult]:
        return {t: TrialResult.model_validate_json(v) for t, v in self._column_of("result", trial_ids).items()}

    def chunk_json(self, trial_ids: range) -> str:
        """As broker/store/export_reads.py joins it from Redis: per id its result's text, else its state and plan."""
        with self._db() as db:
            rows = db.execute(
                "SELECT trial_id, state, planned, result FROM trials WHERE trial_id >= ? AND trial_id < ?",
                (trial_ids.start, trial_ids.stop),
            ).fetchall()
        found = {
            t: result or f'{{"live":{state or "null"},"plan":{planned or "null"}}}'
            for t, state, planned, result in rows
        }
        return "[" + ",".join(found.get(t, '{"live":null,"plan":null}') for t in trial_ids) + "]"

    def in_arrival_order(self, limit: int | None = None) -> list[TrialResult]:
        with self._db() as db:
            rows = db.execute(
                "SELECT t.result FROM arrival a JOIN trials t USING (trial_id) ORDER BY a.pos LIMIT ?",
                (-1 if limit is None else limit,),
            ).fetchall()
        return [TrialResult.model_validate_json(r) for (r,) in rows]

    def arrived(self, start: int, count: int) -> list[int]:
        """Trial ids of the results stored at arrival positions [start, start + count)."""
        with self._db() as db:
            # Positions are 0, 1, ...: a range of the key, not an offset stepped through.
            rows = db.execute(
                "SELECT trial_id FROM arrival WHERE pos >= ? ORDER BY pos LIMIT ?", (start, max(count, 0))
            ).fetchall()
        return [t for (t,) in rows]

    def epoch_metrics(self, trial_id: int | None) -> list[EpochMetrics]:
        with self._db() as db:
            if trial_id is None:
                rows = db.execute("SELECT record FROM metrics ORDER BY pos").fetchall()
            else:
                rows = db.execute("SELECT record FROM metrics WHERE trial_id = ? ORDER BY pos", (trial_id,)).fetchall()
        return [EpochMetrics.model_validate_json(r) for (r,) in rows]

    # --- one page of the trials table ----------------------------------------------

    def page(self, column: str, n_trials: int, offset: int, limit: int, descending: bool) -> list[int]:
        """Trial ids of a page sorted by `column`, in the order broker/store/trial_index.py documents:
        final trials with a value (reversed for `desc`), final trials without one, then the unfinished by id."""
        with self._db() as db:
            # Every sortable column of the table has its rows (broker/store/trial_index.py, table_columns).
            col, present = db.execute("SELECT col, present FROM columns WHERE name = ?", (column,)).fetchone()
            (unfinished_n,) = db.execute("SELECT count(*) FROM trials WHERE result IS NULL").fetchone()
            final = n_trials - unfinished_n
            # Rows of a column, in (score, text, trial) order: its `present` valued trials, then those without a value.
            ranked = "SELECT trial FROM sorted WHERE col = ? ORDER BY score {0}, text {0}, trial {0} LIMIT ? OFFSET ?"
            unfinished = "SELECT trial_id FROM trials WHERE result IS NULL ORDER BY trial_id LIMIT ? OFFSET ?"
            # (segment size, its query, the rows its offset skips): the page is cut out of the three in turn.
            segments = [
                (present, ranked.format("DESC" if descending else "ASC"), final - present if descending else 0),
                (final - present, ranked.format("ASC"), present),
                (n_trials - final, unfinished, 0),
            ]
            ids: list[int] = []
            start = offset
            for size, query, skipped in segments:
                if len(ids) < limit and start < size:
                    args = (col,) if query is not unfinished else ()
                    rows = db.execute(query, (*args, min(limit - len(ids), size - start), skipped + start)).fetchall()
                    ids.extend(t for (t,) in rows)
                start = max(start - size, 0)
        return ids

    # --- best so far, rankings, comparison -----------------------------------------

    def progress(self) -> tuple[dict[str, str], list[str]]:
        """The best-so-far hash and its improvement points, as Redis held them."""
        with self._db() as db:
            points = [p for (p,) in db.execute("SELECT point FROM progress_points ORDER BY pos").fetchall()]
        return self._meta("progress") or {}, points

    def ranking(self) -> str | None:
        """The latest ranking record's JSON (None: the sweep was never ranked)."""
        found: str | None = self._meta("ranking")
        return found

    def comparison(self) -> str | None:
        found: str | None = self._meta("comparison")
        return found

    def trajectory_since(self, since: int) -> list[str]:
        """The trajectory's members ("seq|pinned|entry") published after `since`, oldest first."""
        with self._db() as db:
            rows = db.execute("SELECT member FROM trajectory WHERE seq > ? ORDER BY seq", (since,)).fetchall()
        return [m for (m,) in rows]

    def last_seq(self) -> int:
        meta: dict[str, str] = self._meta("trajectory_meta") or {}
        return int(meta.get("seq") or 0)

    # --- checks ----------------------------------------------------------------------

    def recorded_counts(self) -> dict[str, int]:
        """Rows per table as the writer read them from Redis."""
        found: dict[str, int] = self._meta("counts")
        return found

    def verify(self) -> dict[str, int]:
        """The recorded counts, after checking that every table holds them; ArchiveDamaged otherwise."""
        # A connection of its own: what is on disk now, not what a shared connection read before.
        db = _connect(self.path)
        try:
            found = db.execute("SELECT value FROM meta WHERE key = 'format'").fetchone()
            if found != (json.dumps(FORMAT),):
                raise ArchiveDamaged(f"{self.path}: not a sweep archive of format {FORMAT}")
            (counts,) = db.execute("SELECT value FROM meta WHERE key = 'counts'").fetchone()
            expected: dict[str, int] = json.loads(counts)
            for table in COUNTED:
                (rows,) = db.execute(f"SELECT count(*) FROM {table}").fetchone()
                if rows != expected[table]:
                    raise ArchiveDamaged(f"{self.path}: {table} holds {rows} rows, {expected[table]} were written")
        except sqlite3.DatabaseError as err:
            raise ArchiveDamaged(f"{self.path}: {err}") from None
        finally:
            db.close()
        return expected


class SweepArchive:
    """The directory of archive files: which sweeps are archived, and where."""

    def __init__(self, root: Path | None) -> None:
        self.root = root

    def path_of(self, sweep_id: str) -> Path:
        if self.root is None:
            raise ValueError("no archive directory is configured")
        return self.root / f"{sweep_id}{SUFFIX}"

    def find(self, sweep_id: str) -> ArchivedSweep | None:
        """The sweep's archive, if it is archived (a file exists only once written whole and verified)."""
        if self.root is None or not is_sweep_id(sweep_id):
            return None
        path = self.path_of(sweep_id)
        return ArchivedSweep(path) if path.exists() else None

    def ids(self) -> list[str]:
        """Every archived sweep, by number."""
        if self.root is None or not self.root.is_dir():
            return []
        found = [p.name.removesuffix(SUFFIX) for p in self.root.iterdir() if p.name.endswith(SUFFIX)]
        return sorted((s for s in found if is_sweep_id(s)), key=lambda s: int(s[2:]))


class ArchiveWriter:
    """Writes one archive under a temporary name; `commit` syncs, verifies and renames it into place."""

    def __init__(self, archive: SweepArchive, sweep_id: str) -> None:
        self.final = archive.path_of(sweep_id)
        # Members' configs and results, private to the services as Redis' own files are (`up`'s data dir is 0700).
        self.final.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.temporary = self.final.with_name(f".{self.final.name}.partial")
        self.temporary.unlink(missing_ok=True)  # left by a writer that crashed: start over
        self.temporary.touch(mode=0o600)
        self._db = sqlite3.connect(self.temporary)
        # The file is synced once, whole, before it is renamed: no journal needed while it is written.
        # A big page cache: the sort rows arrive in trial order and go into a B-tree in column and value order.
        self._db.executescript(
            "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; PRAGMA cache_size = -131072;" + SCHEMA
        )
        self.counts = dict.fromkeys(COUNTED, 0)

    def meta(self, key: str, value: object) -> None:
        self._db.execute("INSERT INTO meta VALUES (?, ?)", (key, json.dumps(value)))

    def rows(self, table: str, rows: Iterable[tuple[Any, ...]]) -> None:
        batch = list(rows)
        if batch:
            self._db.executemany(f"INSERT INTO {table} VALUES ({_marks(list(batch[0]))})", batch)
            if table in self.counts:
                self.counts[table] += len(batch)

    def columns(self, columns: list[tuple[int, str, int]]) -> None:
        self._db.executemany("INSERT INTO columns VALUES (?, ?, ?)", columns)

    def commit(self, expected: dict[str, int]) -> ArchivedSweep:
        """Sync the file, check it holds `expected` rows per table (what Redis held), and put it in place."""
        if self.counts != expected:
            self.abandon()
            raise ArchiveDamaged(f"read {self.counts} from Redis while it held {expected}: try again")
        self.meta("counts", expected)
        self.meta("format", FORMAT)
        self._db.commit()
        self._db.close()
        with open(self.temporary, "rb+") as f:
            os.fsync(f.fileno())
        written = ArchivedSweep(self.temporary)
        written.verify()
        db = _connect(self.temporary)
        try:
            if db.execute("PRAGMA quick_check").fetchone() != ("ok",):
                raise ArchiveDamaged(f"{self.temporary}: SQLite's quick check failed")
        finally:
            db.close()
        os.replace(self.temporary, self.final)
        sync_directory(self.final.parent)
        return ArchivedSweep(self.final)

    def abandon(self) -> None:
        self._db.close()
        self.temporary.unlink(missing_ok=True)


def sync_directory(path: Path) -> None:
    """Make a rename in `path` durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
