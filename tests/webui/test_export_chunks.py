"""How an export reads its chunks: the next one read while this one is written, parsed by orjson only where it reads
what `json` reads, each format's cells exact (on the real Redis and the real app)."""

from __future__ import annotations

import csv
import io
import json
import threading
import time
from typing import Any

import pytest
import redis
from flask.testing import FlaskClient
from hypothesis import given, settings
from hypothesis import strategies as st

from broker import keys
from broker.store import Store
from broker.store.export_reads import _strings
from tests.webui.conftest import save_result, seed_sweep
from trials.specs import TrialStatus
from webui import export
from webui.csv_text import Cell


def _export_readers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("export-read")]


def test_the_next_chunk_is_read_while_this_one_is_written_and_no_further(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(export, "EXPORT_CHUNK", 5)
    sweep_id = seed_sweep(store, n_trials=40, n_results=12)
    reads: list[range] = []
    chunk_json = store.export.chunk_json

    def counted(sweep: str, ids: range) -> bytes:
        reads.append(ids)
        return chunk_json(sweep, ids)

    monkeypatch.setattr(store.export, "chunk_json", counted)
    chunks = export.export_rows(store, store.sweeps.get(sweep_id))
    first = next(chunks)
    assert first.columns[0] == [0, 1, 2, 3, 4]
    deadline = time.monotonic() + 60
    while len(reads) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert reads == [range(0, 5), range(5, 10)], "the second chunk is read while the first is held"
    chunks.close()  # the client went away: the reading thread ends, and nothing more is read
    assert not _export_readers() and reads == [range(0, 5), range(5, 10)]


def test_an_export_keeps_integers_beyond_64_bits_and_text_beyond_ascii_exact(client: FlaskClient, store: Store) -> None:
    sweep_id = seed_sweep(store, n_trials=4, n_results=1)
    configs = store.sweeps.planned_configs(sweep_id)
    huge = 2**70 + 1  # orjson alone would read it as a float
    save_result(store, sweep_id, 1, configs[1], n_params=huge, worker="gpu0@Zürich:€", device="cuda:0")
    save_result(store, sweep_id, 2, configs[2], status=TrialStatus.FAILED, error='=1+1, "x"\nline 2')
    base = f"/api/sweeps/{sweep_id}/export?format="
    rows = list(csv.DictReader(io.StringIO(client.get(base + "csv").get_data(as_text=True))))
    assert rows[1]["n_params"] == str(huge) and rows[1]["worker"] == "gpu0@Zürich:€"
    assert rows[2]["error"] == '\'=1+1, "x"\nline 2' and rows[3]["status"] == "queued"
    body = json.loads(client.get(base + "json").data)
    assert body["rows"][1]["n_params"] == huge and body["rows"][1]["worker"] == "gpu0@Zürich:€"
    assert body["rows"][2]["error"] == '=1+1, "x"\nline 2' and body["rows"][3]["test_accuracy"] is None
    assert [r["trial_id"] for r in body["rows"]] == [0, 1, 2, 3] and list(body) == ["columns", "rows"]


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.lists(JSON_VALUES, max_size=6))
def test_a_chunk_is_parsed_as_json_parses_it(values: list[object]) -> None:
    # Integers beyond 64 bits, NaN, infinities, lone surrogates, long fractions: orjson reads some otherwise or
    # refuses them; the chunk is then read by `json`. Compared through their JSON text: NaN != NaN.
    text = json.dumps(values)
    assert json.dumps(export._parsed(text.encode())) == json.dumps(json.loads(text))
    assert json.dumps(export._parsed(text.replace(", ", ",").encode())) == json.dumps(json.loads(text))


@pytest.mark.parametrize(
    "text",
    ["[12345678901234567890]", "[-9223372036854775809]", '{"a":[1,{"b":100000000000000000000}]}', "[NaN, 1e400]"],
)
def test_texts_orjson_reads_otherwise_are_read_by_json(text: str) -> None:
    # An int read as a float would be dumped as 1.2345678901234567e+19.
    assert json.dumps(export._parsed(text.encode())) == json.dumps(json.loads(text))


@pytest.mark.parametrize("count", [1, 15, 16, 70_000])
def test_the_texts_redis_packs_are_unpacked_whatever_their_sizes_and_number(web_redis_url: str, count: int) -> None:
    # MessagePack writes a string's length in 0, 1, 2 or 4 bytes, and an array's in 0, 2 or 4, by size.
    sizes = [0, 1, 31, 32, 255, 256, 65_535, 65_536] if count < 70_000 else [0, 1, 2]
    texts = [bytes([ord("a") + i % 26]) * sizes[i % len(sizes)] for i in range(count)]
    binary = redis.Redis.from_url(web_redis_url)
    packed = binary.eval("return cmsgpack.pack(ARGV)", 0, *texts) if count < 70_000 else _packed(binary, texts)
    assert [bytes(text) for text in _strings(packed)] == texts


def _packed(binary: redis.Redis, texts: list[bytes]) -> Any:
    # More strings than one command takes comfortably: put in a list first.
    binary.delete("texts")
    for start in range(0, len(texts), 5000):
        binary.rpush("texts", *texts[start : start + 5000])
    return binary.eval("return cmsgpack.pack(redis.call('LRANGE', KEYS[1], 0, -1))", 1, "texts")


def test_a_chunk_holds_each_trials_stored_text_as_it_is(store: Store, web_redis_url: str) -> None:
    sweep_id = seed_sweep(store, n_trials=40, n_results=20)
    configs = store.sweeps.planned_configs(sweep_id)
    save_result(store, sweep_id, 25, configs[25], status=TrialStatus.FAILED, error="x" * 70_000)  # a long text
    store.trials.update(sweep_id, 30, status="running", worker="gpu0@b:3", attempt=2)
    stored = redis.Redis.from_url(web_redis_url, decode_responses=True)
    for ids in (range(0, 1), range(10, 26), range(0, 40), range(35, 45)):
        expected = [
            stored.hget(keys.results(sweep_id), str(t))
            or f'{{"live":{stored.hget(keys.trials(sweep_id), str(t)) or "null"},'
            f'"plan":{stored.hget(keys.configs(sweep_id), str(t)) or "null"}}}'
            for t in ids
        ]
        assert store.export.chunk_json(sweep_id, ids) == ("[" + ",".join(expected) + "]").encode()


def test_json_rows_keep_integers_beyond_64_bits_and_lone_surrogates_and_a_repeated_column_name() -> None:
    rows: list[list[Cell]] = [[2**70, "\ud800", 1.5, 1], [None, "x", 2.5, 2]]
    chunk = export.Chunk(list(zip(*rows, strict=True)))
    body = json.loads(b"".join(export.json_chunks(["a", "b", "c", "d"], [chunk])))
    assert body["rows"] == [{"a": 2**70, "b": "\ud800", "c": 1.5, "d": 1}, {"a": None, "b": "x", "c": 2.5, "d": 2}]
    repeated = json.loads(b"".join(export.json_chunks(["a", "b", "a", "d"], [chunk])))
    assert repeated["rows"][0] == {"a": 1.5, "b": "\ud800", "d": 1}


def test_a_chunk_is_read_after_redis_forgot_its_script(store: Store, web_redis_url: str) -> None:
    sweep_id = seed_sweep(store, n_trials=6, n_results=3)
    before = store.export.chunk_json(sweep_id, range(6))
    redis.Redis.from_url(web_redis_url).script_flush()  # as a restarted Redis has
    assert store.export.chunk_json(sweep_id, range(6)) == before and len(json.loads(before)) == 6
