"""A chunk of a sweep's trials as one JSON text, for exports that stream every trial.

An export reads every trial: at 100k trials, a reply element and a model validation per trial cost more than the
whole rest of the export. Here Redis packs the stored JSON texts of a chunk into one reply, and the client joins them
into one JSON array, parsed with one call. The texts are those the stores wrote after validating them (a final result
is a `TrialResult` dumped by `ResultStore.save`), so they are read back as plain JSON.

Redis packs them with MessagePack (its Lua's cmsgpack, C) rather than joining them with `table.concat`: Lua 5.1's
string buffer takes about twice as long for a megabyte of texts, and Redis serves no one else meanwhile.
"""

from __future__ import annotations

import hashlib
import struct

import redis
from redis.exceptions import NoScriptError

from broker import keys
from broker.store.archive_file import SweepArchive

# KEYS: results, trial states, planned configs; ARGV: the first trial id, how many.
# A MessagePack array of JSON texts, one per trial id: its final result where it has one, else {"live": state,
# "plan": plan} (each null when missing). The ids are made here: a few thousand arguments cost the client more than
# the reads.
CHUNK_SCRIPT = """
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
return cmsgpack.pack(out)
"""

_CHUNK_SHA = hashlib.sha1(CHUNK_SCRIPT.encode(), usedforsecurity=False).hexdigest()

# Lua's unpack() takes at most a few thousand values: a chunk must stay below.
MAX_CHUNK = 5000


class ExportReads:
    """An archived sweep's chunks are joined from its archive file's texts the same way (broker/store/archive.py)."""

    def __init__(self, client: redis.Redis, archive: SweepArchive) -> None:
        self._client = client
        self._archive = archive

    def chunk_json(self, sweep_id: str, trial_ids: range) -> bytes:
        """A JSON array with one element per trial id (consecutive ids), in order: its final result as stored, or,
        for a trial without one, `{"live": its state, "plan": its planned trial}`."""
        if len(trial_ids) > MAX_CHUNK or trial_ids.step != 1:
            raise ValueError(f"need at most {MAX_CHUNK} consecutive trial ids, got {trial_ids}")
        if not trial_ids:
            return b"[]"
        if (archived := self._archive.find(sweep_id)) is not None:
            return archived.chunk_json(trial_ids).encode()
        sweep_keys = [keys.results(sweep_id), keys.trials(sweep_id), keys.configs(sweep_id)]
        command = [_CHUNK_SHA, len(sweep_keys), *sweep_keys, trial_ids.start, len(trial_ids)]
        try:
            # Binary: the client decodes replies as text.
            packed = self._client.execute_command("EVALSHA", *command, NEVER_DECODE=True)
        except NoScriptError:  # a Redis restarted since the script was loaded
            self._client.script_load(CHUNK_SCRIPT)
            packed = self._client.execute_command("EVALSHA", *command, NEVER_DECODE=True)
        return b"[" + b",".join(_strings(packed)) + b"]"


# MessagePack string headers: the first byte, and the size of the length that follows it (big-endian).
_STR_LENGTH = {0xD9: ">B", 0xDA: ">H", 0xDB: ">I"}
_ARRAY_LENGTH = {0xDC: ">H", 0xDD: ">I"}


def _strings(packed: bytes) -> list[memoryview]:
    """The strings of a MessagePack array of strings (as cmsgpack packs them), without copying them."""
    view = memoryview(packed)
    head = packed[0]
    if 0x90 <= head <= 0x9F:  # an array of up to 15
        count, at = head & 0x0F, 1
    else:
        (count,), at = struct.unpack_from(_ARRAY_LENGTH[head], packed, 1), 1 + struct.calcsize(_ARRAY_LENGTH[head])
    strings = []
    for _ in range(count):
        head = packed[at]
        if 0xA0 <= head <= 0xBF:  # a string of up to 31 bytes
            length, at = head & 0x1F, at + 1
        else:
            form = _STR_LENGTH[head]
            (length,), at = struct.unpack_from(form, packed, at + 1), at + 1 + struct.calcsize(form)
        strings.append(view[at : at + length])
        at += length
    return strings
