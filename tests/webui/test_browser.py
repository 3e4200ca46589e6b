"""End to end in headless Chromium against the real stack: Redis, Celery trainers, the analyst, a web server process.

Chromium comes from Debian (`apt-get install -y chromium`, done by `bash dev.sh setup`);
Playwright only drives it. A missing browser fails these tests: it never skips them.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from broker.lifecycle import SweepEvent, change
from broker.store import Store
from broker.store.service_beats import ANALYST
from tests.helpers import wait_until
from tests.integration.conftest import TINY_NARROW, LiveStack
from tests.webui.conftest import ranking_group, ranking_record, save_result, seed_sweep
from tests.webui.server import BROWSER_TIMEOUT_MS as TIMEOUT_MS
from tests.webui.server import WebServer, desktop_page, sweep_page
from trials.records import Agreement, ServiceBeat

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).parents[2] / "artifacts"
PASSWORD = "ann's long password"

try:
    from playwright.sync_api import APIResponse, Browser, Page, Route, sync_playwright
except ImportError:  # the test below says what to install instead of failing at collection
    sync_playwright = None  # type: ignore[assignment]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if sync_playwright is None:
        pytest.fail("playwright is not installed: pip install -e '.[dev]' (never `playwright install`)")
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (bash dev.sh setup installs it)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def web(live: LiveStack) -> Iterator[WebServer]:
    server = WebServer(live.redis_url, live.log_dir / "web.log")
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def tokens(live: LiveStack) -> dict[str, str]:
    users = live.store.users
    return {"ann": users.add("ann", password=PASSWORD), "bob": users.add("bob")}


def login(browser: Browser, web: WebServer, name: str, tokens: dict[str, str]) -> Page:
    page = desktop_page(browser)
    page.goto(f"{web.url}/login")
    if name == "ann":
        page.fill("input[name=name]", "ann")
        page.fill("input[name=password]", PASSWORD)
    else:
        page.fill("input[name=token]", tokens[name])
    page.click("#login-submit")
    page.wait_for_selector("text=Log out")
    return page


def fill_form(page: Page, n_trials: str, epochs: str) -> None:
    page.goto(page.url.split("/", 3)[0] + "//" + page.url.split("/")[2] + "/submit")
    page.fill("input[name=name]", "browser sweep")
    page.uncheck("input[name=datasets][value=fashion_mnist]")
    page.check("input[name=datasets][value=digits]")
    page.fill("input[name=n_trials]", n_trials)
    page.fill("input[name='epochs.high']", epochs)
    for name, bounds in TINY_NARROW.items():
        if "high" in bounds and name != "epochs":
            page.fill(f"input[name='{name}.high']", str(bounds["high"]))
    for choice in ("32", "256", "512"):
        page.uncheck(f"input[name='batch_size.choices'][value='{choice}']")


def test_submit_watch_live_curve_and_cancel(
    browser: Browser, web: WebServer, live: LiveStack, tokens: dict[str, str]
) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page = login(browser, web, "ann", tokens)

    fill_form(page, n_trials="0", epochs="99")
    page.click("#submit-button")
    # Both at once, each next to its field.
    assert page.inner_text("label:has(input[name=n_trials]) .field-error") == "must be at least 1"
    assert "must lie in [1, 20]" in page.inner_text("label:has(input[name='epochs.high']) .field-error")
    page.screenshot(path=str(ARTIFACTS / "submit-errors.png"))

    fill_form(page, n_trials="60", epochs="3")
    page.click("#submit-button")
    page.wait_for_url("**/sweeps/sw*")
    sweep_id = page.url.rsplit("/", 1)[1]
    navigations: list[str] = []
    page.on("framenavigated", lambda frame: navigations.append(frame.url))
    page.evaluate("window.__stillHere = true")

    # A stored result reaches the page within about a second, without a reload.
    seen = live.store.sweeps.get(sweep_id).n_final
    fresh = wait_until(
        lambda: (n := live.store.sweeps.get(sweep_id).n_final) > seen and n, 60, interval_s=0.02, what="a new result"
    )
    page.wait_for_function(
        f"() => parseInt(document.getElementById('trial-count').textContent) >= {fresh}", timeout=1500
    )
    page.wait_for_function("() => parseInt(document.getElementById('importance-chart').dataset.n) >= 5")
    first_n = int(page.get_attribute("#importance-chart", "data-n") or 0)
    page.wait_for_function(f"() => parseInt(document.getElementById('importance-chart').dataset.n) > {first_n}")
    assert page.locator("#importance-chart g.bar").count() == 10
    assert page.evaluate("window.__stillHere") is True and navigations == [], "the page updated in place"

    page.click("#trials-table tbody tr:first-child")
    page.wait_for_selector("#curve-acc g.series circle", state="attached")
    assert "trial #" in page.inner_text("#curve-title")

    other = login(browser, web, "bob", tokens)
    other.goto(f"{web.url}/sweeps/{sweep_id}")
    assert other.locator("[data-action=cancel]").count() == 0
    refused = other.evaluate(
        """async (id) => (await fetch(`/api/sweeps/${id}/cancel`, {method: "POST",
        headers: {"X-CSRF-Token": document.querySelector('meta[name=csrf-token]').content}})).status""",
        sweep_id,
    )
    assert refused == 403 and live.store.sweeps.get(sweep_id).status == "running"
    other.close()

    page.wait_for_function("() => document.querySelectorAll('#trajectory-chart g.series').length === 10")
    page.click("#compare-button")
    page.wait_for_selector("#comparison-table [data-tau=fanova]", timeout=60_000)
    page.screenshot(path=str(ARTIFACTS / "sweep-page.png"), full_page=True)
    page.emulate_media(color_scheme="dark")
    page.screenshot(path=str(ARTIFACTS / "sweep-page-dark.png"))
    page.emulate_media(color_scheme="light")

    page.once("dialog", lambda dialog: dialog.accept())
    page.click("[data-action=cancel]")
    page.wait_for_selector("#status[data-status=cancelled]")
    assert "cancelled by ann" in page.inner_text("#stop-reason")
    wait_until(lambda: not live.store.trials.inflight("cpu"), 60, what="the running trials to stop")
    assert live.store.sweeps.get(sweep_id).status == "cancelled" and navigations == []

    # The trainers' names are a member's to see: the monitor opens logged in.
    monitor = login(browser, web, "ann", tokens)
    monitor.goto(f"{web.url}/")
    monitor.wait_for_selector("tr[data-worker='cpu@test']")
    monitor.screenshot(path=str(ARTIFACTS / "monitor.png"), full_page=True)
    monitor.close()
    page.close()


def test_pages_reconnect_after_a_server_restart(
    browser: Browser, web: WebServer, live: LiveStack, tokens: dict[str, str]
) -> None:
    page = browser.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(f"{web.url}/")
    page.wait_for_selector("#live[data-state=on]")
    page.evaluate("window.__stillHere = true")
    web.stop()
    page.wait_for_selector("#live[data-state=off]")
    web.start()
    page.wait_for_selector("#live[data-state=on]")
    before = page.inner_text("#throughput .value")
    web.post(
        "/api/sweeps",
        {"name": "after restart", "datasets": ["digits"], "n_trials": 2, "narrow": TINY_NARROW},
        tokens["ann"],
    )
    page.wait_for_function(f"() => document.querySelector('#throughput .value').textContent !== {before!r}")
    assert page.evaluate("window.__stillHere") is True
    page.close()


def test_verdicts_bands_and_agreement_render(browser: Browser, web_redis_url: str, tmp_path: Path) -> None:
    """A stored ranking with verdicts, drawn by the page's own scripts (no trainers: the record is hand-made)."""
    store = Store.from_url(web_redis_url)
    sweep_id = seed_sweep(store, n_trials=80)
    pooled = ranking_group(
        [0.45, 0.30, 0.20, 0.05],
        ["matters", "matters", "no_detectable_effect", "undetermined"],
        detectable=[None, None, 0.08, 0.3],
    )
    sentence = "The 2 datasets agree well (Kendall's W 0.81): the pooled top 3 holds in each."
    agreement = Agreement(kendall_w=0.81, n_groups=2, top_k=3, top_held=3, sentence=sentence)
    pooled = pooled.model_copy(update={"agreement": agreement})
    full, compact = ranking_record({"pooled": pooled, "digits": ranking_group([0.4, 0.3, 0.2, 0.1], ["matters"] * 4)})
    for n in (20, 40, 60):
        store.rankings.save(sweep_id, full, compact.model_copy(update={"n_trials": n}))
    server = WebServer(web_redis_url, tmp_path / "web.log")
    server.start()
    try:
        page = sweep_page(browser, server.url, sweep_id)
        page.wait_for_selector("#importance-chart g.verdict", state="attached")
        labels = page.eval_on_selector_all(
            "#importance-chart g.bar",
            "bs => bs.map(b => [b.dataset.name, b.querySelector('.verdict text').textContent])",
        )
        assert labels == [
            ["learning_rate", "matters"],
            ["num_conv_layers", "matters"],
            ["dropout_rate", "no detectable effect (< 0.08)"],
            ["batch_size", "undetermined"],
        ]
        tooltip = page.text_content("#importance-chart g.bar[data-name=dropout_rate] > title") or ""
        assert "Holm-adjusted p = 0.800" in tooltip and "P(rank) 0.700" in tooltip
        # Every term the chart shows is explained where it is shown, from the page's one help note.
        assert "P(rank): How often, over the bootstrap resamples" in tooltip
        assert "raw W: Method anova: the variance share itself" in tooltip
        verdict_tips = page.eval_on_selector_all(
            "#importance-chart g.verdict > title", "ts => ts.map(t => t.textContent.split(':')[0])"
        )
        assert verdict_tips == ["matters", "matters", "no detectable effect (< 0.08)", "undetermined"]
        assert "too few trials to rule out" in (
            page.text_content("#importance-chart g.bar[data-name=batch_size] g.verdict > title") or ""
        )
        abbrs = page.eval_on_selector_all("abbr[data-term]", "as => as.map(a => [a.textContent, a.title])")
        assert [a for a, _ in abbrs] == ["Importance", "95% CI", "Effects", "Interactions"]
        starts = ("Method anova", "The whisker", "The mean metric", "How much")
        assert all(title.startswith(starts) for _, title in abbrs), abbrs
        assert page.locator("#trajectory-chart g.band path").count() == 4
        page.hover("#trajectory-chart g.series[data-name=dropout_rate] circle >> nth=2")
        assert page.get_attribute("#trajectory-chart g.band.hot", "data-name") == "dropout_rate"
        assert page.inner_text("#agreement") == sentence
        assert page.is_visible("#ranking-csv") and not page.is_visible("#verdict-note")
        page.wait_for_function("() => !document.getElementById('reading').textContent.startsWith('Loading')")
        assert page.inner_text("#reading").startswith("learning_rate (0.45) and num_conv_layers (0.30) matter; ")
        page.click("#importance-help summary")
        assert "all in one Holm family" in page.inner_text("#importance-help dl")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "sweep-verdicts.png"), full_page=True)
        page.close()
    finally:
        server.stop()


def test_a_summary_answered_late_does_not_put_back_a_status_the_page_moved_past(
    browser: Browser, web_redis_url: str, tmp_path: Path
) -> None:
    """A /changes read before a cancel, answered after the page drew the cancel: the page stays cancelled.

    The held answer is released by the test, so the order is forced, not hoped for."""
    store = Store.from_url(web_redis_url)
    sweep_id = seed_sweep(store, n_trials=40, n_results=5)
    configs = store.sweeps.planned_configs(sweep_id)
    server = WebServer(web_redis_url, tmp_path / "web.log")
    server.start()
    try:
        page = sweep_page(browser, server.url, sweep_id)
        page.wait_for_selector("#status[data-status=queued]")
        page.evaluate(
            """() => { window.__statuses = [];
            new MutationObserver(() => window.__statuses.push(document.getElementById('status').dataset.status))
              .observe(document.getElementById('status'), { attributes: true, attributeFilter: ['data-status'] }); }"""
        )
        held: list[tuple[Route, APIResponse]] = []
        # The first is held; the ones after it go through.
        page.route("**/changes?**", lambda route: route.continue_() if held else held.append((route, route.fetch())))
        answered: list[str] = []
        page.on("response", lambda response: answered.append(response.url) if "/changes?" in response.url else None)

        save_result(store, sweep_id, 6, configs[6], test_accuracy=0.5, best_val_accuracy=0.5, final_train_loss=0.5)
        wait_until(lambda: page.wait_for_timeout(20) or held, 30, what="the page to ask /changes for the new result")
        # Cancelled after the held answer was read; the page's timer re-reads the summary and draws it.
        assert store.sweeps.apply(sweep_id, change(SweepEvent.CANCEL, reason="cancelled by ann")) == "queued"
        page.wait_for_selector("#status[data-status=cancelled]")
        assert page.inner_text("#stop-reason") == "Ended: cancelled by ann."

        route, response = held[0]
        before = len(answered)
        route.fulfill(response=response)
        # The page asks /changes again only once the held answer was handled (one request at a time), for the
        # cancel's event. So once the answer after the held one arrived, the held one has been drawn or dropped.
        wait_until(
            lambda: page.wait_for_timeout(20) or len(answered) >= before + 2, 30, what="a /changes after the held one"
        )
        statuses = page.evaluate("window.__statuses")
        assert set(statuses[statuses.index("cancelled") :]) == {"cancelled"}, statuses
        assert page.inner_text("#stop-reason") == "Ended: cancelled by ann."
        page.close()
    finally:
        server.stop()


def test_monitor_shows_the_services_and_a_sweep_page_its_paused_ranking(
    browser: Browser, web_redis_url: str, tmp_path: Path
) -> None:
    """The analyst's beat is written by the test: stale (down), then fresh; the pages follow without a reload."""
    store = Store.from_url(web_redis_url)
    stale = time.time() - 60
    store.services.beat(ANALYST, ServiceBeat(pid=4242, host="head", started_at=stale, beat=stale))
    sweep_id = seed_sweep(store, n_trials=40, n_results=30)
    full, compact = ranking_record({"pooled": ranking_group([0.45, 0.30, 0.20, 0.05])})
    for n, resumed in ((10, None), (20, None), (28, stale)):
        store.rankings.save(
            sweep_id,
            full.model_copy(update={"n_results": n}),
            compact.model_copy(update={"n_trials": n, "resumed_after_pause_since": resumed}),
        )
    server = WebServer(web_redis_url, tmp_path / "web.log")
    server.start()
    try:
        page = sweep_page(browser, server.url, sweep_id)
        page.wait_for_selector("#ranking-paused:not([hidden])")
        banner = page.inner_text("#ranking-paused")
        assert banner.startswith("Ranking paused since ") and banner.endswith("; 2 results waiting).")
        page.wait_for_selector("#trajectory-chart g.gap", state="attached")
        assert page.get_attribute("#trajectory-chart g.gap", "data-from") == "20"
        assert page.get_attribute("#trajectory-chart g.gap", "data-to") == "28"
        path = page.get_attribute("#trajectory-chart g.series[data-name=learning_rate] path", "d") or ""
        assert path.count("M") == 2 and path.count("L") == 1, f"no line across the gap: {path}"
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "sweep-paused.png"), full_page=True)

        monitor = browser.new_page(viewport={"width": 1440, "height": 900})
        monitor.set_default_timeout(TIMEOUT_MS)
        monitor.goto(f"{server.url}/")
        # Anonymous: the verdict only; the services (pids, hosts) need a member.
        monitor.wait_for_selector("#services-anonymous")
        assert monitor.inner_text("#health-verdict") == "not ok" and not monitor.query_selector("#services-table")
        monitor.goto(f"{server.url}/login")
        monitor.fill("input[name=token]", store.users.add("viewer"))
        monitor.click("#login-submit")
        monitor.wait_for_selector("text=Log out")
        monitor.goto(f"{server.url}/")
        monitor.wait_for_selector("#services-table tr[data-service=analyst][data-ok=false]")
        states = monitor.eval_on_selector_all(
            "#services-table tbody tr", "rows => rows.map(r => [r.dataset.service, r.dataset.ok])"
        )
        assert states == [["redis", "true"], ["analyst", "false"], ["web", "true"], ["trainer", "false"]]
        analyst_row = monitor.inner_text("#services-table tr[data-service=analyst]")
        assert "DOWN" in analyst_row and "4242" in analyst_row and "head" in analyst_row and "lag 30" in analyst_row
        assert monitor.inner_text("#health-verdict") == "not ok"
        monitor.screenshot(path=str(ARTIFACTS / "monitor-services.png"), full_page=True)

        now = time.time()
        store.services.beat(ANALYST, ServiceBeat(pid=4343, host="head", started_at=now, beat=now))
        monitor.wait_for_selector("#services-table tr[data-service=analyst][data-ok=true]")
        assert "4343" in monitor.inner_text("#services-table tr[data-service=analyst]")
        page.wait_for_selector("#ranking-paused[hidden]", state="attached")
        monitor.close()
        page.close()
    finally:
        server.stop()
