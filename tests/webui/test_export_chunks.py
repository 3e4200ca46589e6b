"""How an export reads its chunks: the next one read while this one is written, parsed by orjson only where it reads
what `json` reads, each format's cells exact (on the real Redis and the real app)."""

from __future__ import annotations

import csv
import io
import json
import threading
import time

import pytest
from flask.testing import FlaskClient
from hypothesis import given, settings
from hypothesis import strategies as st

from broker.store import Store
from tests.webui.conftest import save_result, seed_sweep
from trials.specs import TrialStatus
from webui import export


def _export_readers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("export-read")]


def test_the_next_chunk_is_read_while_this_one_is_written_and_no_further(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(export, "EXPORT_CHUNK", 5)
    sweep_id = seed_sweep(store, n_trials=40, n_results=12)
    reads: list[range] = []
    chunk_json = store.export.chunk_json

    def counted(sweep: str, ids: range) -> str:
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
    assert json.dumps(export._parsed(text)) == json.dumps(json.loads(text))
    assert json.dumps(export._parsed(text.replace(", ", ","))) == json.dumps(json.loads(text))


@pytest.mark.parametrize(
    "text",
    ["[12345678901234567890]", "[-9223372036854775809]", '{"a":[1,{"b":100000000000000000000}]}', "[NaN, 1e400]"],
)
def test_texts_orjson_reads_otherwise_are_read_by_json(text: str) -> None:
    # An int read as a float would be dumped as 1.2345678901234567e+19.
    assert json.dumps(export._parsed(text)) == json.dumps(json.loads(text))
