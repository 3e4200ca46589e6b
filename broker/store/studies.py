"""Optuna studies of model-based sweeps, kept in the same Redis as everything else.

A study is Optuna's JournalStorage over a Redis list: each journal entry is one list item, so
an append is one RPUSH (atomic, ordered) and a reader replays from any position with LRANGE.
Every process that dispatches (web, trainers, analyst) sees the same study, and a restarted one
replays it. One study per (sweep, dataset): a sweep over two datasets tunes each on its own.
Storages are cached per store, so a process replays only the entries it has not seen.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, cast

import redis

from broker import keys
from trials.json_types import JSONObject

if TYPE_CHECKING:
    from optuna.storages import JournalStorage


def _journal_backend(client: redis.Redis, key: str) -> Any:
    from optuna.storages.journal import BaseJournalBackend

    class RedisListJournal(BaseJournalBackend):
        def read_logs(self, log_number_from: int) -> Iterator[JSONObject]:
            for raw in cast(list[str], client.lrange(key, log_number_from, -1)):
                yield json.loads(raw)

        def append_logs(self, logs: list[JSONObject]) -> None:
            if logs:
                client.rpush(key, *(json.dumps(log) for log in logs))

    return RedisListJournal()


class StudyStore:
    def __init__(self, client: redis.Redis) -> None:
        self._r = client
        self._storages: dict[str, JournalStorage] = {}

    def storage(self, sweep_id: str, dataset: str) -> JournalStorage:
        from optuna.storages import JournalStorage

        key = keys.study_journal(sweep_id, dataset)
        if key not in self._storages:
            self._storages[key] = JournalStorage(_journal_backend(self._r, key))
        return self._storages[key]
