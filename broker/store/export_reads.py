"""A chunk of a sweep's trials as one JSON text, for exports that stream every trial.

An export reads every trial: at 100k trials, a reply element and a model validation per trial cost more than the
whole rest of the export. Here Redis joins the stored JSON texts of a chunk into one array, so the client parses one
reply with one `json.loads`. The texts are those the stores wrote after validating them (a final result is a
`TrialResult` dumped by `ResultStore.save`), so they are read back as plain JSON.
"""

from __future__ import annotations

from typing import cast

import redis

from broker import keys
from broker.store.archive_file import SweepArchive

# KEYS: results, trial states, planned configs; ARGV: the first trial id, how many.
# One JSON array, an element per trial id: its final result where it has one, else {"live": state, "plan": plan}
# (each null when missing). The ids are made here: a few thousand arguments cost the client more than the reads.
_CHUNK = """
local first, count = tonumber(ARGV[1]), tonumber(ARGV[2])
local ids = {}
for i = 1, count do ids[i] = tostring(first + i - 1) end
local results = redis.call('HMGET', KEYS[1], unpack(ids))
local out = {}
for i = 1, count do
  local result = results[i]
  if result then
    out[i] = result
  else
    local state = redis.call('HGET', KEYS[2], ids[i]) or 'null'
    local plan = redis.call('HGET', KEYS[3], ids[i]) or 'null'
    out[i] = '{"live":' .. state .. ',"plan":' .. plan .. '}'
  end
end
return '[' .. table.concat(out, ',') .. ']'
"""

# Lua's unpack() takes at most a few thousand values: a chunk must stay below.
MAX_CHUNK = 5000


class ExportReads:
    """An archived sweep's chunks are joined from its archive file's texts the same way (broker/store/archive.py)."""

    def __init__(self, client: redis.Redis, archive: SweepArchive) -> None:
        self._chunk = client.register_script(_CHUNK)
        self._archive = archive

    def chunk_json(self, sweep_id: str, trial_ids: range) -> str:
        """A JSON array with one element per trial id (consecutive ids), in order: its final result as stored, or,
        for a trial without one, `{"live": its state, "plan": its planned trial}`."""
        if len(trial_ids) > MAX_CHUNK or trial_ids.step != 1:
            raise ValueError(f"need at most {MAX_CHUNK} consecutive trial ids, got {trial_ids}")
        if not trial_ids:
            return "[]"
        if (archived := self._archive.find(sweep_id)) is not None:
            return archived.chunk_json(trial_ids)
        sweep_keys = [keys.results(sweep_id), keys.trials(sweep_id), keys.configs(sweep_id)]
        return cast(str, self._chunk(keys=sweep_keys, args=[trial_ids.start, len(trial_ids)]))
