"""The event stream: `retry:` first, then one small event per change, within a poll interval."""

from __future__ import annotations

import json
import threading
import time

from flask.testing import FlaskClient

from broker.store import Store
from tests.webui.conftest import seed_sweep
from trials.specs import SweepStatus, TrialResult, TrialStatus


def parse(stream: str) -> list[tuple[str, dict[str, object]]]:
    events = []
    for block in stream.split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line and not line.startswith(":"))
        if "event" in lines:
            events.append((lines["event"], json.loads(lines["data"])))
    return events


def test_stream_reports_a_new_result_and_the_end_of_a_sweep(client: FlaskClient, store: Store) -> None:
    sweep_id = seed_sweep(store, n_trials=4)
    config = store.sweeps.planned_configs(sweep_id)[0]

    def later() -> None:
        time.sleep(0.3)
        store.results.save(
            TrialResult(
                sweep_id=sweep_id,
                trial_id=0,
                attempt=1,
                dataset="digits",
                config=config,
                status=TrialStatus.COMPLETED,
                test_accuracy=0.5,
            )
        )
        time.sleep(0.3)
        store.sweeps.set_status(sweep_id, SweepStatus.CANCELLED, "test")

    writer = threading.Thread(target=later)
    writer.start()
    response = client.get("/events")
    assert response.mimetype == "text/event-stream" and response.headers["Cache-Control"] == "no-cache"
    stream = response.get_data(as_text=True)
    writer.join()
    assert stream.startswith("retry: 1000\n")
    events = parse(stream)
    assert events[0][0] == "hello"
    sweep_events = [data for name, data in events if name == "change" and data.get("topic") == "sweep"]
    assert any(e["n_final"] == 1 for e in sweep_events), events
    assert sweep_events[-1]["status"] == "cancelled", "the final status is sent although the sweep left the active set"
    assert any(data.get("topic") == "pool" for name, data in events if name == "change"), "the results stream moved"
