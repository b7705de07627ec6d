"""End to end, on a phone: what a student sees after scanning the QR code. Playwright's mobile emulation in Debian's
headless Chromium (``browser_helpers.PHONE``: 390 x 844, a touch screen, 3 device pixels per CSS pixel), fingers
through ``browser_helpers.Finger`` (real touch events).

* A digit drawn with a finger on the canvas: the app reads it (the attack's label is the base model's answer, a 7),
  both models' verdicts and attacked images appear, each inside the screen's width, and the page never scrolls
  sideways (before drawing, after, and in presentation mode, which a teacher's link may carry).
* The eps slider, in the sidebar a tap opens: a finger slides its thumb to the middle of the track, and the attack
  reruns at that eps.
"""

from __future__ import annotations

import re

import pytest
from browser_helpers import PHONE, SEVEN, Finger, canvas, wait_until_drawable
from page_helpers import VERDICT, attack_heading, eventually, open_app, settle, slider_value, wait_idle, widget

expect = pytest.importorskip("playwright.sync_api").expect

WIDTH = PHONE["viewport"]["width"]
#: The page's scrolling boxes: the document, and Streamlit's main area (which scrolls the page's content).
SCROLL_WIDTHS = """() => [document.scrollingElement, document.querySelector('[data-testid="stMain"]')]
    .map(box => ({scroll: box.scrollWidth, client: box.clientWidth}))"""


def assert_no_sideways_scroll(page) -> None:
    """Neither the document nor the main area is wider than the screen."""
    widths = page.evaluate(SCROLL_WIDTHS)
    assert all(box["scroll"] <= box["client"] for box in widths), widths
    assert widths[0]["client"] == WIDTH, widths


def assert_inside_the_width(locator, what: str) -> None:
    """Every element of ``locator`` (at least one) lies within the screen's width."""
    boxes = [element.bounding_box() for element in locator.all()]
    assert boxes, f"no {what}"
    assert all(box is not None and box["x"] >= 0 and box["x"] + box["width"] <= WIDTH + 0.5 for box in boxes), \
        (what, boxes)


def test_a_finger_drawn_digit_is_read_and_the_page_fits_the_phone(app_url, new_page):
    page = new_page(**PHONE)
    open_app(page, app_url)
    assert_no_sideways_scroll(page)
    draw = widget(page, "input_mode").get_by_test_id("stRadioOption").filter(has_text=re.compile("^Draw$"))
    settle(page, draw.tap)
    expect(page.get_by_text("The canvas is empty.")).to_be_visible()

    drawing = canvas(page)
    drawing.scroll_into_view_if_needed()
    wait_idle(page)
    box = drawing.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= WIDTH, box  # the whole canvas is on the screen
    wait_until_drawable(page, box)  # fabric.js starts in selection mode: wait for drawing mode
    settle(page, lambda: Finger(page).stroke(drawing.bounding_box(), SEVEN))  # a 7: the bar, then the stem

    expect(page.get_by_text("Input: your drawing.")).to_be_visible()
    expect(page.get_by_text(re.compile(r"^Computed now on this digit\. Label 7: the base model's answer"))) \
        .to_be_visible()  # the app read the finger's 7
    verdicts = page.locator(VERDICT)
    expect(verdicts).to_have_count(2)
    assert_inside_the_width(verdicts, "verdicts")
    columns = page.locator('[data-testid="stColumn"]').filter(has=verdicts)
    pictures = [column.get_by_test_id("stImage").first for column in columns.all()]
    assert len(pictures) == 2
    for picture in pictures:
        assert_inside_the_width(picture.locator("img"), "attacked image")
        assert picture.locator("img").bounding_box()["width"] >= 120  # not shrunk to a stamp
    assert_inside_the_width(drawing, "canvas")
    assert_no_sideways_scroll(page)

    teacher = new_page(**PHONE)  # a teacher's link may carry presentation mode: it fits too
    open_app(teacher, f"{app_url}?present=1")
    expect(teacher.locator(VERDICT)).to_have_count(2)
    assert_inside_the_width(teacher.locator(VERDICT), "verdicts in presentation mode")
    assert_no_sideways_scroll(teacher)


def test_the_eps_slider_follows_a_finger(app_url, new_page):
    page = new_page(**PHONE)
    open_app(page, app_url)
    expect(page.locator(VERDICT)).to_have_count(2)
    page.get_by_test_id("stExpandSidebarButton").tap()
    sidebar = page.get_by_test_id("stSidebar")
    eventually(page, lambda: sidebar.bounding_box()["x"], 0)  # slid in, over the page
    slider = widget(page, "eps_linf")
    expect(slider).to_be_in_viewport()
    assert slider_value(page, "eps_linf") == pytest.approx(0.2)
    thumb = slider.locator("input[type=range]").locator("xpath=../..")  # React Aria's thumb holds the input
    track = thumb.locator("xpath=..")
    start, line = thumb.bounding_box(), track.bounding_box()
    assert line["x"] >= 0 and line["x"] + line["width"] <= WIDTH, line
    middle = (line["x"] + line["width"] / 2, start["y"] + start["height"] / 2)
    settle(page, lambda: Finger(page).drag([(start["x"] + start["width"] / 2, middle[1]), middle]))
    value = slider_value(page, "eps_linf")
    assert value == pytest.approx(0.5, abs=0.03), value  # eps runs from 0 to 1: the middle is 0.5
    expect(attack_heading(page)).to_have_text(f"2 · The attack: FGSM L-inf ε = {value:g}, white-box")
    expect(page.get_by_text(f"Size: L-inf {value:.3f}").first).to_be_attached()  # the attack reran at that eps
    assert_no_sideways_scroll(page)
