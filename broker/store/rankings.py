"""Rankings: the latest full ranking record of a sweep and its trajectory, thinned as it ages to a bounded size.

The trajectory keeps every one of the last `RECENT` entries; older ones are thinned geometrically: an entry whose
age (in publications) is in [RECENT·2^k, RECENT·2^(k+1)) is kept when its publication number is a multiple of
4^(k+1). The band of age RECENT·2^k holds about RECENT/(4·2^k) entries, so the whole trajectory holds about
1.5·RECENT (plus landmarks) however long the sweep runs, and keeps its shape. Landmarks are never thinned: an
entry where the stable-since point changes and one stored after an analyst pause (its lines break there).

Entries are kept in a sorted set scored by publication number ("seq"), so a page can ask for what is new since
the last one it has. The entries' content is the caller's (trials.records); only `_landmark` looks inside.
"""

from __future__ import annotations

from typing import cast

import redis

from broker import keys
from broker.store.archive_file import SweepArchive
from trials.records import RankingHistoryEntry, RankingRecord

RECENT = 500

# KEYS: latest record, trajectory, its meta hash. ARGV: record json, entry json, recent, '1' if the entry is a
# pause landmark, the entry's stable-since ('' for none).
# On each publication only entries whose age just reached a band boundary can lose their place: age RECENT·2^k.
_SAVE = """
redis.call('SET', KEYS[1], ARGV[1])
local seq = redis.call('HINCRBY', KEYS[3], 'seq', 1)
local previous = redis.call('HGET', KEYS[3], 'stable_since') or ''
local pinned = (ARGV[4] == '1' or previous ~= ARGV[5]) and '1' or '0'
redis.call('HSET', KEYS[3], 'stable_since', ARGV[5])
redis.call('ZADD', KEYS[2], seq, seq .. '|' .. pinned .. '|' .. ARGV[2])
local recent, age, stride = tonumber(ARGV[3]), tonumber(ARGV[3]), 4
while age < seq do
  local old = seq - age
  for _, m in ipairs(redis.call('ZRANGE', KEYS[2], old, old, 'BYSCORE')) do
    local sep = string.find(m, '|', 1, true)
    if string.sub(m, sep + 1, sep + 1) == '0' and old % stride ~= 0 then redis.call('ZREM', KEYS[2], m) end
  end
  age, stride = age * 2, stride * 4
end
return seq
"""


def _landmark(entry: RankingHistoryEntry) -> tuple[bool, str]:
    """(stored after a pause, its stable-since as text): what decides that an entry is never thinned."""
    resumed = getattr(entry, "resumed_after_pause_since", None) is not None
    stable = getattr(entry, "stable_since", None)
    return resumed, "" if stable is None else str(stable)


def split_member(member: str) -> tuple[int, str]:
    """(seq, entry JSON) of a member "seq|pinned|json"."""
    seq, _, rest = member.partition("|")
    return int(seq), rest.partition("|")[2]


def kept(seq: int, last: int, pinned: bool, recent: int = RECENT) -> bool:
    """Whether publication `seq` is still in a trajectory whose last publication is `last` (the rule above)."""
    age, stride = recent, 4
    while age <= last - seq:
        if not pinned and seq % stride:
            return False
        age, stride = age * 2, stride * 4
    return True


class RankingStore:
    """An archived sweep's ranking and trajectory are read from its archive (broker/store/archive.py)."""

    def __init__(self, client: redis.Redis, archive: SweepArchive) -> None:
        self._r = client
        self._archive = archive
        self._save = client.register_script(_SAVE)
        self._moved: set[str] = set()

    def save(self, sweep_id: str, record: RankingRecord, compact: RankingHistoryEntry) -> int:
        """Replace the latest record and add its compact entry to the trajectory, in one step; its seq."""
        self.move_list_once(sweep_id)
        resumed, stable = _landmark(compact)
        return int(
            self._save(
                keys=[
                    keys.ranking(sweep_id),
                    keys.ranking_trajectory(sweep_id),
                    keys.ranking_trajectory_meta(sweep_id),
                ],
                args=[record.model_dump_json(), compact.model_dump_json(), RECENT, "1" if resumed else "0", stable],
            )
        )

    def latest(self, sweep_id: str) -> RankingRecord | None:
        archived = self._archive.find(sweep_id)
        raw = archived.ranking() if archived is not None else self._r.get(keys.ranking(sweep_id))
        return None if raw is None else RankingRecord.model_validate_json(cast(str, raw))

    def history(self, sweep_id: str) -> list[RankingHistoryEntry]:
        """The trajectory, oldest first (bounded: see the module)."""
        return [entry for _, entry in self.history_since(sweep_id, 0)]

    def history_since(self, sweep_id: str, since: int) -> list[tuple[int, RankingHistoryEntry]]:
        """(seq, entry) of the trajectory's entries published after `since` (0: all of them), oldest first."""
        return [
            (seq, RankingHistoryEntry.model_validate_json(raw)) for seq, raw in self.history_since_json(sweep_id, since)
        ]

    def history_since_json(self, sweep_id: str, since: int) -> list[tuple[int, str]]:
        """As `history_since`, each entry as the JSON it was stored as (written by the model: served as it is)."""
        if (archived := self._archive.find(sweep_id)) is not None:
            return [split_member(m) for m in archived.trajectory_since(since)]
        self.move_list_once(sweep_id)
        members = cast(list[str], self._r.zrangebyscore(keys.ranking_trajectory(sweep_id), f"({since}", "+inf"))
        return [split_member(m) for m in members]

    def last_seq(self, sweep_id: str) -> int:
        if (archived := self._archive.find(sweep_id)) is not None:
            return archived.last_seq()
        return int(cast(str | None, self._r.hget(keys.ranking_trajectory_meta(sweep_id), "seq")) or 0)

    def move_list_once(self, sweep_id: str) -> None:
        """A history stored as a list (one entry per publication, before the bounded trajectory) is thinned into
        the trajectory once, in a transaction that starts over if the list changes meanwhile."""
        if sweep_id in self._moved:
            return
        legacy = keys.ranking_history(sweep_id)
        while True:
            with self._r.pipeline(transaction=True) as pipe:
                try:
                    pipe.watch(legacy)
                    raw = cast(list[str], pipe.lrange(legacy, 0, -1))
                    if raw:
                        pipe.multi()
                        self._queue_move(pipe, sweep_id, raw)
                        pipe.delete(legacy)
                        pipe.execute()
                    break
                except redis.WatchError:
                    continue
        self._moved.add(sweep_id)

    def _queue_move(self, pipe: redis.client.Pipeline, sweep_id: str, raw: list[str]) -> None:
        last, previous = len(raw), ""
        members: dict[str | bytes, float] = {}
        for seq, text in enumerate(raw, start=1):
            resumed, stable = _landmark(RankingHistoryEntry.model_validate_json(text))
            pinned = resumed or stable != previous
            previous = stable
            if kept(seq, last, pinned):
                members[f"{seq}|{int(pinned)}|{text}"] = float(seq)
        pipe.zadd(keys.ranking_trajectory(sweep_id), members)
        pipe.hset(keys.ranking_trajectory_meta(sweep_id), mapping={"seq": last, "stable_since": previous})
