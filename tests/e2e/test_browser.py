"""End to end: the real server in Debian's Chromium (Playwright), a digit drawn with the mouse on the canvas.

Starts ``streamlit run app.py`` on a free port (models from ``advdemo.PRETRAINED_DIR``, so
``ADVDEMO_PRETRAINED`` works here too), waits for ``/_stcore/health``, switches the input to Draw, checks
the empty-canvas prompt, draws a 7 and waits for both default models' verdicts; then clears the canvas and
draws again.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from browser_helpers import (
    CHROMIUM,
    SEVEN,
    VERDICT_SELECTOR,
    ServerError,
    canvas,
    draw_stroke,
    free_port,
    health_url,
    launch_chromium,
    launch_server,
    stop_server,
    wait_for_health,
    wait_until_drawable,
)

from advdemo import PRETRAINED_DIR

PAGE_TIMEOUT_MS = 240_000

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"Debian's Chromium is not installed at {CHROMIUM}"),
    pytest.mark.skipif(not all((PRETRAINED_DIR / name).is_file() for name in ("base.keras", "robust.keras")),
                       reason=f"{PRETRAINED_DIR} lacks base.keras and robust.keras: train them, or set "
                              "ADVDEMO_PRETRAINED"),
]


@pytest.fixture(scope="module")
def app_url(tmp_path_factory) -> Iterator[str]:
    """The URL of a freshly started app server (stopped after the tests)."""
    port = free_port()
    log = tmp_path_factory.mktemp("server") / "streamlit.log"
    server = launch_server(port, log)
    try:
        try:
            wait_for_health(health_url(port), server, log)
        except ServerError as error:
            pytest.fail(str(error))
        yield f"http://127.0.0.1:{port}/"
    finally:
        stop_server(server)


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        chromium = launch_chromium(playwright)
        try:
            yield chromium
        finally:
            chromium.close()


def test_drawing_a_digit_shows_both_models_predictions(app_url, browser, tmp_path):
    from playwright.sync_api import expect

    expect.set_options(timeout=PAGE_TIMEOUT_MS)  # a busy machine may take a while to attack and rerun
    page = browser.new_page(viewport={"width": 1600, "height": 1100})
    page.set_default_timeout(PAGE_TIMEOUT_MS)
    page.goto(app_url, wait_until="domcontentloaded")
    verdicts = page.locator(VERDICT_SELECTOR)
    expect(verdicts).to_have_count(2)  # the default gallery digit, base and robust

    page.get_by_text("Draw", exact=True).click()
    expect(page.get_by_text("The canvas is empty.")).to_be_visible()
    expect(verdicts).to_have_count(0)

    drawing = canvas(page)
    expect(drawing).to_be_visible()
    box = drawing.bounding_box()
    assert box is not None and box["width"] > 100 and box["height"] > 100
    wait_until_drawable(page, box)  # the canvas starts in selection mode and switches to drawing
    draw_stroke(page, box, SEVEN, steps=(15, 20))  # a 7: the bar, then the stem

    expect(page.get_by_text("Input: your drawing.")).to_be_visible()
    expect(verdicts).to_have_count(2)
    expect(page.get_by_text("The canvas is empty.")).to_have_count(0)
    headings = page.locator("h3").all_inner_texts()
    assert "base" in headings and "robust" in headings
    expect(page.get_by_text("Before the attack:")).to_have_count(2)
    for text in verdicts.all_inner_texts():
        assert any(word in text for word in ("FOOLED", "HELD", "ALREADY WRONG")), text
    page.screenshot(path=str(tmp_path / "drawn.png"), full_page=True)
    page.close()


def test_clearing_the_canvas_empties_it_and_takes_a_new_drawing(app_url, browser):
    from playwright.sync_api import expect

    expect.set_options(timeout=PAGE_TIMEOUT_MS)
    page = browser.new_page(viewport={"width": 1600, "height": 1100})
    page.set_default_timeout(PAGE_TIMEOUT_MS)
    page.goto(app_url, wait_until="domcontentloaded")
    verdicts = page.locator(VERDICT_SELECTOR)
    expect(verdicts).to_have_count(2)
    page.get_by_text("Draw", exact=True).click()
    for attempt in ("first drawing", "after clearing"):
        expect(page.get_by_text("The canvas is empty.")).to_be_visible()
        expect(verdicts).to_have_count(0)
        drawing = canvas(page)
        expect(drawing).to_be_visible()
        box = drawing.bounding_box()
        assert box is not None, attempt
        wait_until_drawable(page, box)  # the "Clear" button remounts the canvas: it must take strokes again
        draw_stroke(page, box, SEVEN, steps=(15, 20))
        expect(page.get_by_text("Input: your drawing.")).to_be_visible()
        expect(verdicts).to_have_count(2)
        page.get_by_role("button", name="Clear the canvas").click()
    expect(page.get_by_text("The canvas is empty.")).to_be_visible()
    expect(verdicts).to_have_count(0)
    page.close()
