"""Every page on a 390 px phone, in light and dark: nothing wider than the screen, legible charts, readable colours.

Headless Chromium (Debian's) against a real `sweeprank web` process over a store seeded by the test: a sweep of the
cnn-paper space with a real ranking of its 10 hyperparameters, a failed trial and a pool failure whose text is one
unbroken 500-character token.
"""

from __future__ import annotations

import contextlib
import itertools
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from broker.store import Store
from tests.webui.conftest import seed_ranking, seed_sweep
from tests.webui.server import WebServer
from tests.webui.test_browser import ARTIFACTS, TIMEOUT_MS, browser  # noqa: F401
from trials.presets import preset
from trials.records import FailureRecord
from trials.specs import TrialResult, TrialStatus

PHONE = {"width": 390, "height": 844}
PASSWORD = "ann's phone password"
UNBROKEN = "E" * 500
# Chart text smaller than this is unreadable on a phone.
MIN_CHART_TEXT_PX = 11
# WCAG: body text 4.5:1; a chart line against its card 3:1 (non-text contrast).
TEXT_CONTRAST = 4.5
LINE_CONTRAST = 3.0

with contextlib.suppress(ImportError):  # test_browser's fixture says what to install
    from playwright.sync_api import Browser, Page

# Elements wider than the viewport, except inside a wrapper that scrolls sideways (a table in its card).
OVERFLOWING = """() => {
  const width = document.documentElement.clientWidth;
  const scrolls = (el) => {
    for (let p = el.parentElement; p && p !== document.body; p = p.parentElement) {
      if (["auto", "scroll"].includes(getComputedStyle(p).overflowX)) return true;
    }
    return false;
  };
  return {
    scrollWidth: document.documentElement.scrollWidth,
    wide: [...document.body.querySelectorAll("*")].flatMap((el) => {
      const box = el.getBoundingClientRect();
      if (!box.width || (box.right <= width + 0.5 && box.left >= -0.5) || scrolls(el)) return [];
      return [`${el.tagName.toLowerCase()}#${el.id}.${el.getAttribute("class") || ""} [${Math.round(box.left)}, `
              + `${Math.round(box.right)}] ${(el.textContent || "").slice(0, 40)}`];
    }),
  };
}"""

# Rendered size of every chart text: its computed font size times the SVG's scale on screen.
CHART_TEXT_PX = """() => [...document.querySelectorAll(".chart svg text")]
  .filter((t) => t.getBoundingClientRect().width)
  .map((t) => [t.textContent, parseFloat(getComputedStyle(t).fontSize) * t.ownerSVGElement.getScreenCTM().a])"""

COLOURS = """() => {
  const css = (el, property) => getComputedStyle(el)[property];
  const card = document.querySelector(".card");
  const text = document.querySelector("#importance-chart g.bar > text");
  return {
    body: [css(document.body, "color"), css(document.body, "backgroundColor")],
    card: [css(card, "color"), css(card, "backgroundColor")],
    chartText: css(text, "fill"),
    lines: [...document.querySelectorAll("#trajectory-chart g.series")].map((g) => [g.dataset.name,
      css(g.querySelector("path"), "stroke"), g.querySelector("path").getAttribute("stroke-dasharray")]),
    bars: [...document.querySelectorAll("#importance-chart g.bar")].map((g) => [g.dataset.name,
      css(g.querySelector("rect.fill"), "fill"), g.dataset.hatch, g.querySelector("text").textContent]),
  };
}"""


@dataclass
class Seeded:
    server: WebServer
    sweep_id: str
    names: list[str]


def rgb(css: str) -> tuple[float, ...]:
    return tuple(float(part) for part in css[css.index("(") + 1 : css.index(")")].split(",")[:3])


def contrast(a: str, b: str) -> float:
    """WCAG contrast ratio of two computed colours ("rgb(r, g, b)")."""

    def luminance(colour: str) -> float:
        linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in (v / 255 for v in rgb(colour))]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


@pytest.fixture
def seeded(web_redis_url: str, tmp_path: Path) -> Iterator[Seeded]:
    store = Store.from_url(web_redis_url)
    store.users.add("ann", password=PASSWORD)
    sweep_id = seed_sweep(store, n_trials=60, n_results=40, name="a sweep whose name is long enough to wrap twice")
    full = seed_ranking(store, sweep_id)
    compact = store.rankings.history(sweep_id)[-1]
    for n, scale in ((50, 0.9), (60, 1.1)):
        store.rankings.save(
            sweep_id,
            full,
            compact.model_copy(update={"n_trials": n, "importances": [v * scale for v in compact.importances]}),
        )
    config = store.sweeps.planned_configs(sweep_id)[45]
    store.results.save(
        TrialResult(
            sweep_id=sweep_id,
            trial_id=45,
            attempt=1,
            dataset="digits",
            config=config,
            status=TrialStatus.FAILED,
            error=UNBROKEN,
        )
    )
    store.health.add_failure(
        FailureRecord(
            sweep_id=sweep_id, trial_id=45, status=TrialStatus.FAILED, error=UNBROKEN, worker="w", time=time.time()
        )
    )
    server = WebServer(web_redis_url, tmp_path / "web.log")
    server.start()
    try:
        yield Seeded(server, sweep_id, sorted(full.pooled.ranking))
    finally:
        server.stop()


def phone(browser: Browser, scheme: str) -> Page:  # noqa: F811
    context = browser.new_context(viewport=PHONE, color_scheme=scheme)  # type: ignore[arg-type]
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    return page


def log_in(page: Page, url: str) -> None:
    page.goto(f"{url}/login")
    page.fill("input[name=name]", "ann")
    page.fill("input[name=password]", PASSWORD)
    page.click("#login-submit")
    page.wait_for_selector("text=Log out")


def assert_fits(page: Page, what: str, scheme: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"phone-{what}-{scheme}.png"), full_page=True)
    layout: dict[str, Any] = page.evaluate(OVERFLOWING)
    assert layout["wide"] == [], f"{what}: wider than {PHONE['width']} px: {layout['wide'][:5]}"
    assert layout["scrollWidth"] <= PHONE["width"], f"{what}: the page scrolls sideways"
    if what != "login":  # the login page has no Log in/out button
        box = page.locator("header.top button:has-text('Log out')").bounding_box()
        assert box is not None and box["x"] + box["width"] <= PHONE["width"], f"{what}: Log out is off-screen"
    small = [(text, px) for text, px in page.evaluate(CHART_TEXT_PX) if px < MIN_CHART_TEXT_PX]
    assert small == [], f"{what}: chart text below {MIN_CHART_TEXT_PX} px: {small[:5]}"


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_every_page_fits_a_phone(browser: Browser, seeded: Seeded, scheme: str) -> None:  # noqa: F811
    url = seeded.server.url
    page = phone(browser, scheme)
    page.goto(f"{url}/login")
    assert_fits(page, "login", scheme)
    log_in(page, url)

    page.goto(f"{url}/")
    page.wait_for_selector("#failures-table")
    page.wait_for_selector("#services-table")
    assert_fits(page, "monitor", scheme)
    reason = page.locator("#failures-table .failure-reason").first
    box = reason.bounding_box()
    assert box is not None and box["height"] > 5 * 16, "the 500-character failure wraps onto many lines"

    page.goto(f"{url}/sweeps")
    page.wait_for_selector("#sweeps table")
    assert_fits(page, "sweeps", scheme)
    # On a phone each sweep is a block: its progress and top 3 are on screen, not behind a sideways scroll.
    for label in ("progress", "top 3"):
        cell = page.locator(f"#sweeps td[data-label='{label}']").bounding_box()
        assert cell is not None and cell["x"] + cell["width"] <= PHONE["width"], label

    page.goto(f"{url}/sweeps/{seeded.sweep_id}")
    page.wait_for_function("() => document.querySelectorAll('#importance-chart g.bar').length === 10")
    page.wait_for_function("() => document.querySelectorAll('#trajectory-chart g.series').length === 10")
    page.wait_for_selector("#trials-table")
    page.click("#trials-table th[data-sort=trial_id]")  # newest first: the failed trial 45 is on the first page
    page.wait_for_selector("#trials-table tr[data-trial='45']")
    page.click("#importance-help summary")
    assert_fits(page, "sweep", scheme)
    error = page.locator("#trials-table .trial-error").filter(has_text="EEEE").bounding_box()
    assert error is not None and error["width"] <= 28 * 16 and error["height"] > 5 * 16, "the error column wraps"

    colours: dict[str, Any] = page.evaluate(COLOURS)
    for pair in ("body", "card"):
        assert contrast(*colours[pair]) >= TEXT_CONTRAST, f"{scheme}: {pair} text is not readable: {colours[pair]}"
    assert colours["chartText"] == colours["card"][0], "chart text takes the theme's text colour"
    card = colours["card"][1]
    for name, stroke, _ in colours["lines"]:
        assert contrast(stroke, card) >= LINE_CONTRAST, f"{scheme}: the {name} line is faint on its card ({stroke})"

    page.goto(f"{url}/submit")
    page.wait_for_selector("#submit-form")
    assert_fits(page, "submit", scheme)
    page.context.close()


def test_ten_hyperparameters_get_ten_colours_and_a_second_cue(browser: Browser, seeded: Seeded) -> None:  # noqa: F811
    assert len(seeded.names) == len(preset("cnn-paper").names) == 10
    strokes_by_scheme = {}
    for scheme in ("light", "dark"):
        page = phone(browser, scheme)
        page.goto(f"{seeded.server.url}/sweeps/{seeded.sweep_id}")
        page.wait_for_function("() => document.querySelectorAll('#trajectory-chart g.series').length === 10")
        page.wait_for_function("() => document.querySelectorAll('#importance-chart g.bar').length === 10")
        colours: dict[str, Any] = page.evaluate(COLOURS)
        lines = {name: (stroke, dash) for name, stroke, dash in colours["lines"]}
        assert sorted(lines) == sorted(seeded.names)
        strokes = [stroke for stroke, _ in lines.values()]
        assert len(set(strokes)) == 10, f"{scheme}: two lines share a colour: {lines}"
        assert len(set(lines.values())) == 10
        # Neighbours in the palette also differ in dash, so two similar hues never look alike.
        dashes = [lines[name][1] for name in seeded.names]
        assert all(a != b for a, b in itertools.pairwise(dashes)), dashes
        bars = {name: (fill, hatch, label) for name, fill, hatch, label in colours["bars"]}
        assert {name: fill for name, (fill, _, _) in bars.items()} == {name: s for name, (s, _) in lines.items()}
        assert all(label == name for name, (_, _, label) in bars.items()), "each bar is labelled with its name"
        hatches = [bars[name][1] for name in seeded.names]
        assert all(a != b for a, b in itertools.pairwise(hatches)), hatches
        assert len(set(hatches)) == 4, hatches
        # The legend under the narrow trajectory names every line with a swatch of its own dash.
        legend = page.eval_on_selector_all(
            "#trajectory-chart g.label",
            "gs => gs.map(g => [g.dataset.name, g.querySelector('line').getAttribute('stroke-dasharray')])",
        )
        assert {name: dash for name, dash in legend} == {name: dash for name, (_, dash) in lines.items()}
        strokes_by_scheme[scheme] = strokes
        page.context.close()
    assert strokes_by_scheme["light"] != strokes_by_scheme["dark"], "dark mode has its own palette"


def test_charts_drawn_wide_redraw_to_fit_when_the_window_narrows_to_a_phone(
    browser: Browser,  # noqa: F811
    seeded: Seeded,
) -> None:
    """Charts take their width from the box the page measured or the resize observer reported last: a window narrowed
    after the first draw must still get charts of the new width (the effects cards' charts are measured ahead)."""
    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    log_in(page, seeded.server.url)
    page.goto(f"{seeded.server.url}/sweeps/{seeded.sweep_id}")
    page.wait_for_selector("#effects svg")
    widths = "() => [...document.querySelectorAll('.chart svg')].map((s) => s.viewBox.baseVal.width)"
    wide = page.evaluate(widths)
    page.set_viewport_size(PHONE)
    page.wait_for_function(f"() => ({widths})().every((w) => w < {PHONE['width']})")
    narrow = page.evaluate(widths)
    # Every chart was redrawn: the wide page's big charts narrowed, its three-a-row effects charts widened.
    assert len(narrow) == len(wide) and all(n != w for n, w in zip(narrow, wide, strict=True)), (wide, narrow)
    assert_fits(page, "sweep-narrowed", "light")
    context.close()
