"""One change feed per web process: one marker read per interval, however many streams are open."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask

import webui.events
from broker.settings import Settings
from broker.store import Store
from tests.helpers import wait_until
from tests.webui.conftest import seed_sweep
from tests.webui.test_events import parse
from trials.specs import SweepStatus, TrialResult, TrialStatus
from webui import create_app
from webui.events import (
    KEEP_FINISHED_S,
    ChangeFeed,
    Markers,
    change_feed,
    changes,
    event_stream,
    read_markers,
)

STREAMS = 5


class World:
    """Markers a test sets by hand, and how often the feed read them."""

    def __init__(self) -> None:
        self.sweeps: dict[str, tuple[str, int, int, int]] = {"sw1": ("running", 0, 0, 0)}
        self.reads = 0

    def read(self, previous: Markers | None) -> Markers:
        self.reads += 1
        return Markers(pool={"queues": [0, 0]}, sweeps=dict(self.sweeps))


class Reader:
    """A stream consumed on its own thread, as a server thread would."""

    def __init__(self, stream: Iterator[str | bytes]) -> None:
        self.chunks: list[str] = []
        self.thread = threading.Thread(target=self._consume, args=(stream,), daemon=True)
        self.thread.start()

    def _consume(self, stream: Iterator[str | bytes]) -> None:
        for chunk in stream:
            self.chunks.append(chunk.decode() if isinstance(chunk, bytes) else chunk)

    def events(self) -> list[tuple[str, dict[str, object]]]:
        return parse("".join(list(self.chunks)))


@pytest.fixture
def world() -> World:
    return World()


@pytest.fixture
def feed(world: World) -> Iterator[ChangeFeed]:
    feed = ChangeFeed(world.read, interval_s=3600.0, own_poller=False)
    yield feed
    feed.close()


def open_streams(feed: ChangeFeed, n: int) -> list[Reader]:
    before = feed.listeners
    readers = [Reader(event_stream(feed, max_s=3600.0)) for _ in range(n)]
    wait_until(lambda: feed.listeners == before + n, 30, 0.01, what="every stream listening")
    return readers


def test_one_read_serves_every_stream(feed: ChangeFeed, world: World) -> None:
    readers = open_streams(feed, STREAMS)
    feed.poll_once()  # the streams' baseline: no event
    world.sweeps["sw1"] = ("running", 1, 3, 1)
    feed.poll_once()

    def all_saw_it() -> bool:
        return all(any(name == "change" and data.get("n_final") == 1 for name, data in r.events()) for r in readers)

    wait_until(all_saw_it, 30, 0.01, what="the change on every stream")
    assert world.reads == 2, "one read per poll, not one per stream"
    for reader in readers:
        names = [name for name, _ in reader.events()]
        assert names == ["hello", "change"], "the baseline reading sent nothing, the pool did not move"


def test_closing_the_feed_ends_every_stream(feed: ChangeFeed) -> None:
    readers = open_streams(feed, STREAMS)
    feed.close()
    for reader in readers:
        reader.thread.join(30)
        assert not reader.thread.is_alive(), "a stream outlived its server"
    assert feed.listeners == 0
    late = list(event_stream(feed, max_s=3600.0))
    assert [name for name, _ in parse("".join(late))] == ["hello"], "a stream opened while stopping ends at once"


def test_a_stream_that_joins_later_reports_what_moves_after_it_joined(feed: ChangeFeed, world: World) -> None:
    first = open_streams(feed, 1)[0]
    feed.poll_once()
    world.sweeps["sw1"] = ("running", 2, 0, 0)
    feed.poll_once()
    wait_until(lambda: len(first.events()) == 2, 30, 0.01, what="the first stream's change")
    # A second stream joins now: its baseline is the current reading, so it reports only what moves next.
    second = open_streams(feed, 1)[0]
    world.sweeps["sw1"] = ("completed", 2, 0, 0)
    feed.poll_once()
    wait_until(lambda: len(second.events()) == 2, 30, 0.01, what="the second stream's change")
    assert second.events()[1][1]["status"] == "completed"
    assert [e[1].get("status") for e in first.events()[1:]] == ["running", "completed"]


def test_a_stream_that_fell_behind_steps_through_each_reading(feed: ChangeFeed, world: World) -> None:
    feed.poll_once()
    world.sweeps["sw1"] = ("completed", 1, 1, 1)
    feed.poll_once()
    del world.sweeps["sw1"]  # the finished sweep leaves the readings
    feed.poll_once()
    # A stream that compared reading 1 last, busy while 2 and 3 came, compares 1 with 2 next: it sends "completed".
    step = feed.next_after(1, timeout_s=0)
    assert step is not None and step[0] == 2 and step[1].sweeps["sw1"][0] == "completed"
    first = feed.next_after(0, timeout_s=0)
    assert first is not None
    assert [data["status"] for _, data in parse("".join(changes(first[1], step[1])))] == ["completed"]


def test_a_finished_sweep_stays_in_the_readings_for_a_while(store: Store) -> None:
    sweep_id = seed_sweep(store, n_trials=4)
    settings = Settings(redis_url="redis://unused:1/0")
    running = read_markers(store, settings, None, now=100.0)
    assert running.sweeps[sweep_id][0] == "queued"
    store.sweeps.set_status(sweep_id, SweepStatus.CANCELLED, "test")
    ended = read_markers(store, settings, running, now=101.0)
    assert ended.sweeps[sweep_id][0] == "cancelled" and ended.finished_at == {sweep_id: 101.0}
    # A stream that was busy while the status changed compares an older reading with a later one.
    later = read_markers(store, settings, ended, now=101.0 + KEEP_FINISHED_S - 1)
    assert later.sweeps[sweep_id][0] == "cancelled", "kept, so a late stream still sends the final status"
    assert later.finished_at == {sweep_id: 101.0}, "the time it was first seen finished"
    gone = read_markers(store, settings, later, now=101.0 + KEEP_FINISHED_S + 1)
    assert sweep_id not in gone.sweeps


@pytest.fixture
def live_app(web_redis_url: str) -> Iterator[Flask]:
    app = create_app(Settings(redis_url=web_redis_url, events_interval_s=0.05, events_max_s=600.0), {"TESTING": True})
    yield app
    webui.events.end_streams(app)


def test_the_streams_of_an_app_share_one_poller(live_app: Flask, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    readers_threads: list[str] = []
    read = webui.events.read_markers

    def recording(*args: Any, **kwargs: Any) -> Markers:
        readers_threads.append(threading.current_thread().name)
        return read(*args, **kwargs)

    monkeypatch.setattr(webui.events, "read_markers", recording)
    sweep_id = seed_sweep(store, n_trials=4)
    feed = change_feed(live_app)
    client = live_app.test_client()
    readers = [Reader(client.get("/events", buffered=False).response) for _ in range(STREAMS)]  # type: ignore[arg-type]
    wait_until(lambda: feed.listeners == STREAMS and feed.version >= 1, 30, 0.01, what="streams and a baseline")
    config = store.sweeps.planned_configs(sweep_id)[0]
    result = TrialResult(
        sweep_id=sweep_id,
        trial_id=0,
        attempt=1,
        dataset="digits",
        config=config,
        status=TrialStatus.COMPLETED,
        test_accuracy=0.5,
    )
    store.results.save(result)

    def all_saw_it() -> bool:
        return all(any(data.get("n_final") == 1 for _, data in r.events()) for r in readers)

    wait_until(all_saw_it, 60, 0.01, what="the new result on every stream")
    assert set(readers_threads) == {"sse-change-feed"}, "the streams' own threads never read Redis"
    webui.events.end_streams(live_app)
    for reader in readers:
        reader.thread.join(30)
        assert not reader.thread.is_alive()
    assert feed.listeners == 0
