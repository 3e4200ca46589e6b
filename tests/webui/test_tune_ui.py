"""The tuning UI in headless Chromium: best so far, lineage, the "Tune what matters" form, the sweeps list.

A real `sweeprank web` process over a real Redis; no trainers. The parent's ranking is hand-made (two
hyperparameters matter), the chain is created through the tune API and advanced by the analyst's own
`advance_chains`, and the chain sweeps' results are written through the store as a trainer would.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from broker.celery_app import make_celery
from broker.dispatcher import Dispatcher
from broker.settings import Settings
from broker.store import Store
from broker.store.sweeps import PlannedTrial
from broker.tuning import chain as tune_chain
from tests.webui.conftest import ranking_group, ranking_record, save_result, seed_sweep
from tests.webui.server import WebServer, desktop_page
from tests.webui.test_browser import ARTIFACTS, TIMEOUT_MS, browser  # noqa: F401
from tests.webui.test_responsive import PASSWORD, PHONE, assert_fits, log_in
from trials.space import Value
from trials.specs import SweepStatus, TrialStatus

with contextlib.suppress(ImportError):  # test_browser's fixture says what to install
    from playwright.sync_api import Browser, Page

# The chain's trials, in arrival order: (value of the tuned hyperparameter, test accuracy or None for pruned).
GROUP_1 = [(1e-3, 0.60), (1e-2, 0.95), (3e-3, 0.70), (1e-4, 0.50)]  # tunes learning_rate; best: trial 1
GROUP_2 = [(2, 0.97), (1, 0.80), (1, None)]  # tunes num_conv_layers, holding trial 1's learning rate; 1 to go


@dataclass
class Chain:
    server: WebServer
    store: Store
    parent: str
    first: str
    second: str


def write_results(store: Store, sweep_id: str, trials: list[tuple[Value, float | None]], first: int = 0) -> None:
    """Results of a tune sweep as its trainers would store them: the asked config, then the final result."""
    spec = store.sweeps.spec(sweep_id)
    assert spec.tune is not None and len(spec.tune.tuned) == 1
    for trial_id, (value, accuracy) in enumerate(trials, start=first):
        config = {**spec.fixed, spec.tune.tuned[0]: value}
        store.sweeps.set_asked_config(sweep_id, trial_id, PlannedTrial("digits", config, 0), trial_id)
        pruned = accuracy is None
        save_result(
            store,
            sweep_id,
            trial_id,
            config,
            TrialStatus.PRUNED if pruned else TrialStatus.COMPLETED,
            test_accuracy=accuracy,
            best_val_accuracy=accuracy,
            epochs_completed=1,
            error="pruned after epoch 1" if pruned else "",
            wall_time_s=3.0,
            worker="host:1",
        )


@pytest.fixture
def chain(web_redis_url: str, tmp_path: Path) -> Iterator[Chain]:
    store = Store.from_url(web_redis_url)
    token = store.users.add("ann", password=PASSWORD)
    parent = seed_sweep(store, n_trials=40, n_results=40)
    verdicts = ["matters", "matters", "no_detectable_effect", "undetermined"]
    full, compact = ranking_record({"pooled": ranking_group([0.45, 0.30, 0.20, 0.05], verdicts)})
    store.rankings.save(parent, full, compact)
    store.sweeps.set_status(parent, SweepStatus.COMPLETED)
    server = WebServer(web_redis_url, tmp_path / "web.log")
    server.start()
    try:
        request = {"top": 2, "sequential": True, "group_size": 1, "trials_per_group": 4, "sampler": "tpe"}
        first = server.post(f"/api/sweeps/{parent}/tune", request, token)["id"]
        write_results(store, first, GROUP_1)  # its last result completes it
        settings = Settings(redis_url=web_redis_url)
        (second,) = tune_chain.advance_chains(store, Dispatcher(store, make_celery(settings), settings))
        write_results(store, second, GROUP_2)
        store.sweeps.set_status(second, SweepStatus.RUNNING)
        yield Chain(server, store, parent, first, second)
    finally:
        server.stop()


def texts(page: Page, selector: str) -> list[str]:
    return page.eval_on_selector_all(selector, "els => els.map(e => e.textContent.trim())")


def test_best_so_far_lineage_and_pruned_trials_of_a_chain(browser: Browser, chain: Chain) -> None:  # noqa: F811
    page = desktop_page(browser)
    log_in(page, chain.server.url)
    page.goto(f"{chain.server.url}/sweeps/{chain.second}")
    page.wait_for_selector("#best-chart g.series[data-name='chain best']", state="attached")

    # One point per improvement across the chain (trials 1, 2, 5 of 7), held flat to the chain's last result.
    circles = page.eval_on_selector_all("#best-chart g.series circle", "cs => cs.map(c => +c.getAttribute('cx'))")
    assert len(circles) == 3
    path = page.get_attribute("#best-chart g.series path", "d") or ""
    assert float(path.rsplit("L", 1)[1].split(",")[0]) > circles[-1] + 10, f"the line goes on to trial 7: {path}"
    assert texts(page, "#best-chart g.mark text") == ["group 1", "group 2"]
    assert page.inner_text("#best-value") == "97.0%"
    assert "after 5 trials / 15.0 trainer-s (of 7 / 21.0 trainer-s so far)" in page.inner_text("#best-numbers")
    assert page.inner_text("#best-metric") == "test accuracy, higher is better"
    assert "best test accuracy (%)" in texts(page, "#best-chart .axis-label")
    x_before = page.eval_on_selector_all("#best-chart g.mark line", "ls => ls.map(l => +l.getAttribute('x1'))")
    page.click("#best-axis [data-axis=trainer_s]")
    page.wait_for_function("() => document.querySelector('#best-chart .axis-label').textContent.startsWith('trainer')")
    assert len(texts(page, "#best-chart g.mark text")) == 2 and x_before[0] < x_before[1]

    assert page.get_attribute("#lineage-parent a", "href") == f"/sweeps/{chain.first}"
    tunes = page.inner_text("#lineage-tunes")
    assert tunes.startswith("tunes: num_conv_layers") and "learning_rate=0.01" in tunes
    assert tunes.endswith(f"at trial 1 of {chain.first})")
    page.wait_for_selector("#chain-groups li .status", state="attached")
    groups = page.eval_on_selector_all(
        "#chain-groups li", "ls => ls.map(l => [l.dataset.sweep, l.querySelector('.status').dataset.status])"
    )
    assert groups == [[chain.first, "completed"], [chain.second, "running"]]
    assert page.inner_text("#chain-best").startswith("chain best 97.0% (trial #0 of")
    assert page.is_hidden("#tune-button"), "a sweep without a ranking offers no tune"

    page.wait_for_selector("#trials-table .status[data-status=pruned]")
    assert page.inner_text("#counts [data-count=pruned]") == "1 pruned"
    # The queued trial has no config yet (asked from the study when dispatched): dashes, not "undefined".
    assert "undefined" not in page.inner_text("#trials-table")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "sweep-tune-chain.png"), full_page=True)

    # The last result arrives: a new best, and the chain's end, reach the page without a reload.
    page.evaluate("window.__stillHere = true")
    write_results(chain.store, chain.second, [(2, 0.99)], first=len(GROUP_2))
    page.wait_for_function("() => document.getElementById('best-value').textContent === '99.0%'")
    page.wait_for_selector(f"#chain-groups li[data-sweep={chain.second}] .status[data-status=completed]")
    assert page.evaluate("window.__stillHere") is True

    page.goto(f"{chain.server.url}/sweeps")
    best = page.locator(f"#sweeps tr[data-sweep={chain.second}] td[data-label=best]")
    best.wait_for()
    assert best.inner_text().startswith("99.0% (#3)")
    assert best.locator(".best-config").inner_text().startswith("num_conv_layers=2, ")
    assert "fc_units=" in (best.locator(".best-config").get_attribute("title") or "")
    assert page.inner_text(f"#sweeps tr[data-sweep={chain.second}] td[data-label=sampler]") == "tpe"
    page.close()


def test_the_tune_form_shows_field_errors_then_posts_and_opens_the_new_sweep(
    browser: Browser,  # noqa: F811
    chain: Chain,
) -> None:
    page = desktop_page(browser)
    log_in(page, chain.server.url)
    page.goto(f"{chain.server.url}/sweeps/{chain.parent}")
    page.click("#tune-button")
    assert page.get_attribute("#lineage-children a", "href") == f"/sweeps/{chain.first}"
    page.check("#tune-form input[name=sequential]")
    assert page.is_visible("#tune-groups") and page.is_hidden("#tune-trials")
    page.fill("#tune-form input[name=group_size]", "")
    page.click("#tune-submit")
    page.wait_for_selector("#tune-form .field-error[data-field=sequential]")
    assert "needs group_size and trials_per_group" in page.inner_text("#tune-form .field-error")

    page.uncheck("#tune-form input[name=sequential]")
    page.fill("#tune-form input[name=trials]", "0")
    page.click("#tune-submit")
    page.wait_for_selector("#tune-form .field-error[data-field=trials]")
    assert page.locator("#tune-form .field-error").count() == 1, "the earlier error is gone"
    assert page.url.endswith(f"/sweeps/{chain.parent}")

    page.fill("#tune-form input[name=trials]", "5")
    page.select_option("#tune-form select[name=sampler]", "gp")
    before = set(chain.store.sweeps.ids())
    page.click("#tune-submit")
    page.wait_for_url(lambda url: url.rsplit("/", 1)[1] not in before | {"sweeps"})
    created = page.url.rsplit("/", 1)[1]
    record = chain.store.sweeps.get(created)
    assert record.owner == "ann" and record.spec.sampler == "gp" and record.n_trials == 5
    assert record.spec.tune is not None and record.spec.tune.tuned == ["learning_rate", "num_conv_layers"]
    assert page.get_attribute("#lineage-parent a", "href") == f"/sweeps/{chain.parent}"
    page.close()


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_a_chain_sweep_page_fits_a_phone(browser: Browser, chain: Chain, scheme: str) -> None:  # noqa: F811
    context = browser.new_context(viewport=PHONE, color_scheme=scheme)  # type: ignore[arg-type]
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    log_in(page, chain.server.url)
    page.goto(f"{chain.server.url}/sweeps/{chain.parent}")
    page.click("#tune-button")
    page.check("#tune-form input[name=sequential]")
    assert_fits(page, "sweep-tune-form", scheme)
    page.goto(f"{chain.server.url}/sweeps/{chain.second}")
    page.wait_for_selector("#best-chart g.mark", state="attached")
    page.wait_for_selector("#chain-groups li .status", state="attached")
    page.wait_for_selector("#trials-table")
    assert_fits(page, "sweep-tune-chain", scheme)
    page.goto(f"{chain.server.url}/sweeps")
    page.wait_for_selector("#sweeps .best-config")
    assert_fits(page, "sweeps-tune", scheme)
    context.close()
