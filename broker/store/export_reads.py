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

# KEYS: results, trial states, planned configs; ARGV: trial ids.
# One JSON array, an element per trial id: its final result where it has one, else {"live": state, "plan": plan}
# (each null when missing).
_CHUNK = """
local results = redis.call('HMGET', KEYS[1], unpack(ARGV))
local out = {}
for i = 1, #ARGV do
  local result = results[i]
  if result then
    out[i] = result
  else
    local state = redis.call('HGET', KEYS[2], ARGV[i]) or 'null'
    local plan = redis.call('HGET', KEYS[3], ARGV[i]) or 'null'
    out[i] = '{"live":' .. state .. ',"plan":' .. plan .. '}'
  end
end
return '[' .. table.concat(out, ',') .. ']'
"""

# Lua's unpack() takes at most a few thousand values: a chunk must stay below.
MAX_CHUNK = 5000


class ExportReads:
    def __init__(self, client: redis.Redis) -> None:
        self._chunk = client.register_script(_CHUNK)

    def chunk_json(self, sweep_id: str, trial_ids: list[int]) -> str:
        """A JSON array with one element per trial id, in order: its final result as stored, or, for a trial
        without one, `{"live": its state, "plan": its planned trial}`."""
        if len(trial_ids) > MAX_CHUNK:
            raise ValueError(f"at most {MAX_CHUNK} trials per chunk, got {len(trial_ids)}")
        if not trial_ids:
            return "[]"
        return cast(
            str,
            self._chunk(keys=[keys.results(sweep_id), keys.trials(sweep_id), keys.configs(sweep_id)], args=trial_ids),
        )
