"""End to end, presentation mode: cause and effect on one projector screen. The real server in
Debian's headless Chromium at 1280x720 (fixtures in ``conftest.py``).

* A link with ``present=1``: move eps one step with the keyboard on the slider above the results; the page did not
  scroll, and the slider and every model's updated verdict lie inside the viewport; Streamlit's Deploy button and
  main menu are hidden.
* The toggle: turning it on puts ``present=1`` in the link, moves the norm, eps and attack from the sidebar above
  the verdicts and folds the input section; turning it off undoes all of it.
* The first screen, at 1280x720 and at 1024x768 (a projector's common sizes): the digit, the eps slider, both
  verdicts and both models' attacked images (with their captions) lie inside the viewport without scrolling.
"""

from __future__ import annotations

import re

import pytest
from page_helpers import (
    PROJECTORS,
    VERDICT,
    attack_heading,
    below_the_fold,
    first_screen,
    inside,
    open_app,
    query,
    set_toggle,
    settle,
    wait_idle,
    widget,
)

expect = pytest.importorskip("playwright.sync_api").expect

VIEWPORT = {"width": 1280, "height": 720}
#: The eps slider above the results (presentation mode draws it in the main area, not in the sidebar).
MAIN_EPS_SLIDER = '[data-testid="stMain"] [data-testid="stSlider"] input[type="range"]'
#: The style sheet presentation mode adds (``advdemo/ui/style.py``).
PRESENTATION_STYLE = "style.advdemo-present"


def test_moving_eps_and_the_verdicts_share_one_1280x720_screen(app_url, new_page):
    page = new_page(viewport=VIEWPORT)
    open_app(page, f"{app_url}?present=1&models=base,robust")
    verdicts = page.locator(VERDICT)
    expect(verdicts).to_have_count(2)
    expect(page.get_by_role("button", name="Deploy")).to_have_count(0)  # no Streamlit chrome (hidden by CSS)
    expect(page.locator('[data-testid="stMainMenu"]')).to_be_hidden()

    slider = page.locator(MAIN_EPS_SLIDER)
    expect(slider).to_have_count(1)
    before = float(slider.input_value())
    settle(page, lambda: (slider.focus(), slider.press("ArrowRight")))  # as a presenter with a clicker would
    after = round(before + 0.01, 2)
    expect(page.get_by_role("heading", name=re.compile(rf"ε = {after:g}, white-box"))).to_be_visible()
    expect(page.get_by_text(f"Size: L-inf {after:.3f}").first).to_be_attached()  # the new attack's results
    expect(verdicts).to_have_count(2)

    scrolled = page.evaluate("() => [window.scrollY, document.querySelector('[data-testid=\"stMain\"]').scrollTop]")
    assert scrolled == [0, 0], scrolled
    boxes = [verdict.bounding_box() for verdict in verdicts.all()]
    assert all(inside(box, VIEWPORT) for box in boxes), boxes
    assert inside(page.locator('[data-testid="stMain"] [data-testid="stSlider"]').bounding_box(), VIEWPORT)
    assert float(slider.input_value()) == pytest.approx(after)


def test_the_toggle_moves_the_controls_above_the_verdicts_and_back(app_url, new_page):
    page = new_page(viewport=VIEWPORT)
    open_app(page, app_url)
    main, sidebar = page.get_by_test_id("stMain"), page.get_by_test_id("stSidebar")
    expect(page.locator(PRESENTATION_STYLE)).to_have_count(0)
    expect(sidebar.locator(".st-key-eps_linf")).to_have_count(1)
    expect(main.get_by_role("heading", name="1 · Choose a digit")).to_be_visible()
    assert "present" not in query(page)

    set_toggle(page, "present", True)
    assert query(page)["present"] == "1"
    expect(page.locator(PRESENTATION_STYLE)).to_have_count(1)
    for key in ("norm", "eps_linf", "method"):  # the very widgets, moved above the results
        expect(main.locator(f".st-key-{key}")).to_have_count(1)
        expect(sidebar.locator(f".st-key-{key}")).to_have_count(0)
    expect(sidebar.get_by_text("Presentation mode: the norm, ε and the attack are above the results.")) \
        .to_be_attached()
    expect(main.get_by_role("heading", name="1 · Choose a digit")).to_have_count(0)
    expect(main.get_by_text("1 · Change the digit (gallery, draw, upload)")).to_be_visible()  # folded input
    expect(page.get_by_role("button", name="Deploy")).to_be_hidden()
    expect(page.locator(VERDICT)).to_have_count(2)
    expect(attack_heading(page)).to_have_text("2 · The attack: FGSM L-inf ε = 0.2, white-box")
    verdict_box = page.locator(VERDICT).first.bounding_box()
    assert inside(verdict_box, VIEWPORT), verdict_box  # the verdicts on the first screen

    set_toggle(page, "present", False)
    wait_idle(page)
    assert "present" not in query(page)
    expect(page.locator(PRESENTATION_STYLE)).to_have_count(0)
    expect(sidebar.locator(".st-key-eps_linf")).to_have_count(1)
    expect(main.locator(".st-key-eps_linf")).to_have_count(0)
    expect(main.get_by_role("heading", name="1 · Choose a digit")).to_be_visible()
    expect(page.locator(VERDICT)).to_have_count(2)
    assert widget(page, "gallery_index").locator("input").input_value() == "6"  # the same digit throughout


@pytest.mark.parametrize("viewport", PROJECTORS, ids=lambda viewport: f"{viewport['width']}x{viewport['height']}")
def test_the_digit_eps_verdicts_and_attacked_images_fit_the_first_screen(app_url, new_page, viewport):
    page = new_page(viewport=viewport)
    open_app(page, f"{app_url}?present=1&models=base,robust")
    expect(page.locator(VERDICT)).to_have_count(2)
    boxes, columns = first_screen(page)
    assert len(columns) == 2
    below = below_the_fold(boxes, viewport)
    assert not below, f"px below the fold (or off screen): {below}"
    assert page.evaluate("() => document.querySelector('[data-testid=\"stMain\"]').scrollTop") == 0
    for number in range(2):
        assert boxes[f"attacked image {number}"]["width"] >= 90, boxes  # smaller, still a picture
        expect(columns[number].get_by_test_id("stImage").first).to_contain_text("attacked")
