"""The sweep page's effects (one chart per hyperparameter) and interactions (heatmap, top pairs), in headless Chromium.

The ranking is the real analyst's over stored results (tests.webui.conftest.seed_ranking); the page's own scripts
draw it from the API, on a desktop and on a phone, in light and dark.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from broker.store import Store
from tests.webui.conftest import seed_ranking, seed_sweep
from tests.webui.server import WebServer, sweep_page
from tests.webui.test_browser import ARTIFACTS, TIMEOUT_MS, browser  # noqa: F401
from tests.webui.test_responsive import PASSWORD, PHONE, assert_fits, log_in

with contextlib.suppress(ImportError):  # test_browser's fixture says what to install
    from playwright.sync_api import Browser


def test_effects_and_interactions_render_from_the_analysts_ranking(
    browser: Browser,  # noqa: F811
    web_redis_url: str,
    tmp_path: Path,
) -> None:
    store = Store.from_url(web_redis_url)
    store.users.add("ann", password=PASSWORD)
    # Accuracy rises with the learning rate and falls with dropout (tests.webui.conftest.seed_sweep).
    sweep_id = seed_sweep(store, n_trials=120, n_results=120)
    record = seed_ranking(store, sweep_id)
    group = record.groups["digits"]
    lr = group.row("learning_rate").effect
    assert lr is not None and group.interactions is not None
    assert lr.largest is not None and lr.largest.difference is not None and lr.largest.difference > 0
    server = WebServer(web_redis_url, tmp_path / "web.log")
    server.start()
    try:
        page = sweep_page(browser, server.url, sweep_id)
        page.wait_for_selector("#effects article.effect .chart svg")
        names = page.eval_on_selector_all("#effects article.effect", "as => as.map(a => a.dataset.name)")
        assert names == group.ranking  # in ranking order, one per hyperparameter
        first = page.locator(f"#effects article[data-name='{group.ranking[0]}']")
        assert first.locator("h3 .badge").inner_text() == "matters"
        difference = first.locator("p.difference").inner_text()
        assert "→" in difference and "[" in difference  # "from → to: +0.123 [0.1, 0.15]"
        # A dot per level with trials, each with its CI whisker and a tooltip naming the level's values.
        levels = [level for level in lr.levels if level.mean is not None]
        dots = page.locator("#effects article[data-name='learning_rate'] g.level")
        assert dots.count() == len(levels)
        assert f"{levels[0].n} trials" in (dots.nth(0).locator("title").text_content() or "")
        note = page.inner_text("#effects-note")
        assert "δ =" in note and "overall mean" in note
        # The heatmap holds every pair once (both halves of the matrix) and the top pairs their cell means.
        a = len(group.rows)
        assert page.locator("#interaction-matrix tbody td[title]").count() == a * (a - 1)
        top = group.interactions[0]
        pair = page.locator(f"#interaction-pairs article[data-pair='{top.first}|{top.second}']")
        assert pair.count() == 1
        assert pair.locator("tbody td").count() == sum(len(row) for row in top.cell_means or [])
        ARTIFACTS.mkdir(exist_ok=True)
        page.locator("#effects-card").screenshot(path=str(ARTIFACTS / "sweep-effects.png"))
        page.locator("#interactions-card").screenshot(path=str(ARTIFACTS / "sweep-interactions.png"))
        page.close()
        for scheme in ("light", "dark"):
            phone = browser.new_page(viewport=PHONE, color_scheme=scheme)
            phone.set_default_timeout(TIMEOUT_MS)
            log_in(phone, server.url)
            phone.goto(f"{server.url}/sweeps/{sweep_id}")
            phone.wait_for_selector("#effects article.effect .chart svg")
            assert_fits(phone, "sweep-effects", scheme)
            phone.close()
    finally:
        server.stop()
