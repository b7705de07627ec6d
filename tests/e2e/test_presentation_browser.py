"""End to end, presentation mode (issue 9, item 1): cause and effect on one projector screen.

Starts ``streamlit run app.py`` on a free port (``browser_helpers.app_server``), opens the default scenario with
``present=1`` in Debian's headless Chromium at 1280x720, moves eps one step with the keyboard on the slider above
the results, and checks that the page did not scroll and that the slider and every model's updated verdict lie
inside the viewport; and that Streamlit's Deploy button and main menu are hidden.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from browser_helpers import CHROMIUM, VERDICT_SELECTOR, ServerError, app_server, launch_chromium

from advdemo import PRETRAINED_DIR

PAGE_TIMEOUT_MS = 240_000
VIEWPORT = {"width": 1280, "height": 720}
#: The eps slider above the results (presentation mode draws it in the main area, not in the sidebar).
MAIN_EPS_SLIDER = '[data-testid="stMain"] [data-testid="stSlider"] input[type="range"]'

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"Debian's Chromium is not installed at {CHROMIUM}"),
    pytest.mark.skipif(not all((PRETRAINED_DIR / name).is_file() for name in ("base.keras", "robust.keras")),
                       reason=f"{PRETRAINED_DIR} lacks base.keras and robust.keras: train them, or set "
                              "ADVDEMO_PRETRAINED"),
]


@pytest.fixture(scope="module")
def app_url(tmp_path_factory) -> Iterator[str]:
    try:
        with app_server(tmp_path_factory.mktemp("server") / "streamlit.log") as url:
            yield url
    except ServerError as error:
        pytest.fail(str(error))


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        chromium = launch_chromium(playwright)
        try:
            yield chromium
        finally:
            chromium.close()


def inside(box: dict | None, viewport: dict) -> bool:
    return (box is not None and box["x"] >= 0 and box["y"] >= 0 and box["x"] + box["width"] <= viewport["width"]
            and box["y"] + box["height"] <= viewport["height"])


def test_moving_eps_and_the_verdicts_share_one_1280x720_screen(app_url, browser, tmp_path):
    from playwright.sync_api import expect

    expect.set_options(timeout=PAGE_TIMEOUT_MS)
    page = browser.new_page(viewport=VIEWPORT)
    page.set_default_timeout(PAGE_TIMEOUT_MS)
    page.goto(f"{app_url}?present=1&models=base,robust", wait_until="domcontentloaded")
    verdicts = page.locator(VERDICT_SELECTOR)
    expect(verdicts).to_have_count(2)
    expect(page.get_by_role("button", name="Deploy")).to_have_count(0)  # no Streamlit chrome (hidden by CSS)
    expect(page.locator('[data-testid="stMainMenu"]')).to_be_hidden()

    slider = page.locator(MAIN_EPS_SLIDER)
    expect(slider).to_have_count(1)
    before = float(slider.input_value())
    slider.focus()
    slider.press("ArrowRight")  # the keyboard, as a presenter with a clicker would
    after = round(before + 0.01, 2)
    expect(page.get_by_role("heading", name=re.compile(rf"ε = {after:g}, white-box"))).to_be_visible()
    expect(page.get_by_text(f"Size: L-inf {after:.3f}").first).to_be_attached()  # the new attack's results
    expect(verdicts).to_have_count(2)
    page.wait_for_timeout(500)  # let the layout settle

    scrolled = page.evaluate("() => [window.scrollY, document.querySelector('[data-testid=\"stMain\"]').scrollTop]")
    assert scrolled == [0, 0], scrolled
    boxes = [verdict.bounding_box() for verdict in verdicts.all()]
    page.screenshot(path=str(tmp_path / "presentation.png"))
    assert all(inside(box, VIEWPORT) for box in boxes), boxes
    assert inside(page.locator('[data-testid="stMain"] [data-testid="stSlider"]').bounding_box(), VIEWPORT)
    assert float(slider.input_value()) == pytest.approx(after)
    page.close()
