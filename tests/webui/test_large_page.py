"""The sweep page of a sweep of many trials in headless Chromium (the check bench/check_page_100k.py runs at 100k).

The sweep is written as trainers and the analyst write it (bench/scale_sweep.py: every trial's epochs and final
result, ranked as they arrive); the page must load, take a new result live, page, sort and draw a learning curve.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from playwright.sync_api import Browser

from bench.check_page_100k import TIMEOUT_MS, check_sweep_page
from bench.scale_sweep import accuracy_of, build, train
from broker.store import Store
from tests.webui.server import WebServer
from tests.webui.test_browser import browser  # noqa: F401  (the module's Chromium fixture)

TRIALS = 2000
SPARE = 20  # trials left to finish: the live update's, and the sweep stays active


def test_a_sweep_page_of_thousands_of_trials_loads_updates_pages_sorts_and_draws_a_curve(
    browser: Browser,  # noqa: F811
    web_redis_url: str,
    tmp_path: Path,
) -> None:
    built = build(web_redis_url, TRIALS, SPARE, running=5, bootstrap=20)
    store = Store.from_url(web_redis_url)
    left = iter(range(built.n_results, built.n_trials))
    rng = np.random.default_rng(0)

    def finish_one() -> int:
        trial_id = next(left)
        config = store.sweeps.planned_configs_of(built.sweep_id, [trial_id])[trial_id]
        train(store, built.sweep_id, trial_id, config, accuracy_of(config, rng))
        return store.sweeps.get(built.sweep_id).n_final

    server = WebServer(web_redis_url, tmp_path / "web.log")
    server.start()
    try:
        page = browser.new_page(viewport={"width": 1440, "height": 1000})
        page.set_default_timeout(TIMEOUT_MS)
        timings = check_sweep_page(page, server.url, built.sweep_id, finish_one)
        page.close()
    finally:
        server.stop()
    # What the page fetched to load is bounded by a page of the table and the bounded trajectory, not the sweep.
    assert timings.load_bytes < 2_000_000, timings
