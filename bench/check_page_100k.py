"""The sweep page of a large sweep in headless Chromium: it loads, updates live, pages and sorts, shows a curve.

Against `sweeprank web` on a kept snapshot of a sweep of N trials (bench/scale_sweep.py), it opens the sweep page
(the page's own scripts, as a member sees it) and times each step, waiting for what the page shows:
  - load: until the count of results, the importance bars and the first table page are drawn; with the bytes the
    page fetched (the document and every resource but the live-update stream, which never ends), and when each
    response ended; the first load meets web processes just started, so three more loads follow in new browser
    contexts (the web processes warm, nothing cached in the browser);
  - live: a trial finished through the store calls (as a trainer does) until the page's count shows it;
  - next page, sort by the metric (both orders: the table's order is checked), and a trial's learning curve.
tests/webui/test_large_page.py runs the same check on a small sweep in CI.

Usage: python bench/check_page_100k.py --snapshot DIR [--trials 100000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path

from playwright.sync_api import Browser, Page, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]
TIMEOUT_MS = 60_000

# Bytes of the document and of every resource fetched so far, the live-update stream left out (it never ends).
_FETCHED_BYTES = """() => {
  const entries = [...performance.getEntriesByType("navigation"), ...performance.getEntriesByType("resource")];
  return entries.filter((e) => !e.name.endsWith("/events")).reduce((sum, e) => sum + e.encodedBodySize, 0);
}"""


# The page's clock (ms since the navigation started) once it shows the count of results, the importance bars and the
# first table page; falsy until then.
_DRAWN = """() => /^[0-9]+\\//.test(document.getElementById("trial-count").textContent)
  && document.querySelector("#importance-chart g.bar") && document.querySelector("#trials-table tbody tr")
  && performance.now()"""

# The page's main-thread tasks over 50 ms (start-end, ms from the navigation's start): script and drawing time.
_LONG_TASKS = """window.longTasks = [];
new PerformanceObserver((list) => list.getEntries().forEach((e) => window.longTasks.push(
  `${Math.round(e.startTime)}-${Math.round(e.startTime + e.duration)}`)))
  .observe({ type: "longtask", buffered: true });"""

# Where the load's time went: each fetched resource's end, in ms from the navigation's start.
_RESPONSE_ENDS = """() => {
  const entries = [...performance.getEntriesByType("navigation"), ...performance.getEntriesByType("resource")];
  return entries.filter((e) => !e.name.endsWith("/events"))
    .map((e) => `${e.name.replace(location.origin, "")} ${Math.round(e.startTime)}-${Math.round(e.responseEnd)}`);
}"""


@dataclass(frozen=True)
class PageTimings:
    load_s: float
    load_bytes: int
    live_s: float
    next_page_s: float
    sort_s: float
    curve_s: float

    def lines(self) -> list[str]:
        return [f"{f.name}: {getattr(self, f.name):,.3f}" for f in fields(self)]


def _count(page: Page) -> int:
    return int(page.inner_text("#trial-count").split("/")[0])


def _column(page: Page, key: str) -> list[str]:
    """The cells of the table column sorted by `key`, as drawn."""
    index = page.eval_on_selector(f"#trials-table th[data-sort='{key}']", "th => th.cellIndex")
    return list(
        page.eval_on_selector_all("#trials-table tbody tr", f"rows => rows.map((r) => r.cells[{index}].textContent)")
    )


def load(page: Page, url: str, sweep_id: str) -> tuple[float, int]:
    """(seconds, bytes) until the page shows the count of results, the importance bars and the first table page."""
    page.add_init_script(_LONG_TASKS)
    started = time.perf_counter()
    page.goto(f"{url}/sweeps/{sweep_id}")
    drawn_ms = page.wait_for_function(_DRAWN).json_value()
    load_s = time.perf_counter() - started
    print(
        f"load: drawn {drawn_ms:.0f} ms after the navigation started (the browser's clock), {load_s * 1000:.0f} ms "
        f"as this script waited for it; each response's end, ms from navigation start: {page.evaluate(_RESPONSE_ENDS)}"
        f"; the main thread's tasks over 50 ms: {page.evaluate('() => window.longTasks')}"
    )
    return load_s, int(page.evaluate(_FETCHED_BYTES))


def check_sweep_page(
    page: Page, url: str, sweep_id: str, finish_one: Callable[[], int], metric: str = "test_accuracy"
) -> PageTimings:
    """Open the sweep page and time load, a live update, paging, sorting and a learning curve.

    `finish_one` stores one more final result and returns the sweep's count of results after it.
    """
    load_s, load_bytes = load(page, url, sweep_id)
    assert page.inner_text("#page-info").startswith("1–20 of "), page.inner_text("#page-info")

    page.wait_for_selector("#live[data-state=on]")
    started = time.perf_counter()
    n_final = finish_one()
    page.wait_for_function(f"() => parseInt(document.getElementById('trial-count').textContent) >= {n_final}")
    live_s = time.perf_counter() - started

    started = time.perf_counter()
    page.click("#next")
    page.wait_for_function("() => document.getElementById('page-info').textContent.startsWith('21–40 of ')")
    page.wait_for_selector("#trials-table tbody tr[data-trial='20']")
    next_page_s = time.perf_counter() - started

    started = time.perf_counter()
    page.click(f"#trials-table th[data-sort='{metric}']")
    page.wait_for_selector(f"#trials-table th[data-sort='{metric}'][aria-sort=ascending]")
    page.click(f"#trials-table th[data-sort='{metric}']")
    page.wait_for_selector(f"#trials-table th[data-sort='{metric}'][aria-sort=descending]")
    sort_s = time.perf_counter() - started
    shown = [float(cell.rstrip("%")) for cell in _column(page, metric)]
    assert shown == sorted(shown, reverse=True) and len(shown) == 20, shown

    started = time.perf_counter()
    page.click("#trials-table tbody tr:first-child")
    page.wait_for_selector("#curve-acc g.series circle", state="attached")
    curve_s = time.perf_counter() - started
    assert "trial #" in page.inner_text("#curve-title")
    return PageTimings(load_s, load_bytes, live_s, next_page_s, sort_s, curve_s)


def launch(playwright: object) -> Browser:
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)  # type: ignore[attr-defined]


def main() -> None:
    import numpy as np
    from scale_sweep import accuracy_of, snapshot_redis, train

    from broker.store import Store
    from sweeprank.stack import Stack, free_port

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--snapshot", type=Path, required=True, help="where the sweeps' Redis snapshots are kept")
    parser.add_argument("--trials", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        stack = Stack(log_dir=Path(tmp))
        try:
            redis_url, built = snapshot_redis(stack, args.snapshot, args.trials, Path(tmp))
            store = Store.from_url(redis_url)
            started = time.perf_counter()
            # A no-op for a sweep kept by this version.
            store.trial_index.ensure(store.sweeps.get(built.sweep_id), "test_accuracy")
            print(f"packed columns of a sweep kept before them, built once: {time.perf_counter() - started:.1f} s")
            stack.env.update(SWEEPRANK_REDIS_URL=redis_url)
            port = free_port()
            url = stack.start_web("127.0.0.1", port)
            _wait(lambda: _answers(url))
            left = iter(
                t for t in range(built.n_results, built.n_trials) if not store.results.is_final(built.sweep_id, t)
            )
            rng = np.random.default_rng(2)

            def finish_one() -> int:
                trial_id = next(left)
                config = store.sweeps.planned_configs_of(built.sweep_id, [trial_id])[trial_id]
                train(store, built.sweep_id, trial_id, config, accuracy_of(config, rng))
                return store.sweeps.get(built.sweep_id).n_final

            with sync_playwright() as playwright:
                browser = launch(playwright)
                page = browser.new_page(viewport={"width": 1440, "height": 1000})
                page.set_default_timeout(TIMEOUT_MS)
                timings = check_sweep_page(page, url, built.sweep_id, finish_one)
                page.screenshot(path=str(Path(tmp) / "page.png"))
                # The first load met web processes just started (their caches empty); a member's load usually
                # does not: the same load again in a new browser context (nothing cached in the browser).
                again = [load(browser.new_context().new_page(), url, built.sweep_id) for _ in range(3)]
                browser.close()
            print(f"sweep page of {built.n_trials:,} trials ({built.n_results:,}+ results) in headless Chromium:")
            print("\n".join(timings.lines()))
            print("loads again, web processes warm, browser cold: " + ", ".join(f"{s:.3f} s" for s, _ in again))
        finally:
            stack.stop()


def _answers(url: str) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(f"{url}/api/queue", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def _wait(probe: Callable[[], bool], timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not probe():
        if time.monotonic() > deadline:
            raise SystemExit("the web server did not answer")
        time.sleep(0.2)


if __name__ == "__main__":
    main()
