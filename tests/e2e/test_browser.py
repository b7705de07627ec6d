"""End to end, the input (section 1): the real server in Debian's Chromium (Playwright, fixtures in ``conftest.py``).

* Draw a 7 with the mouse on the canvas: both default models' verdicts; say it is a 7: the attack's label is the
  stated one and the link carries the drawing, which reopens in a fresh browser with the same verdicts.
* Clear the canvas: empty again, and it takes a new drawing.
* Pick gallery digits by number and by class: the page shows that digit's true label (read from
  ``pretrained/gallery.npz``), attacks away from it, and the link names the digit.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from browser_helpers import SEVEN, canvas, draw_stroke, wait_until_drawable
from page_helpers import (
    VERDICT,
    open_app,
    pill,
    query,
    settle,
    verdicts_by_model,
    wait_idle,
    widget,
)

from advdemo import PRETRAINED_DIR

expect = pytest.importorskip("playwright.sync_api").expect

VERDICT_WORDS = ("FOOLED", "HELD", "ALREADY WRONG")


def draw_seven(page) -> None:
    """Waits until the canvas takes strokes, draws a 7 and waits for the run it causes."""
    drawing = canvas(page)
    expect(drawing).to_be_visible()
    box = drawing.bounding_box()
    assert box is not None and box["width"] > 100 and box["height"] > 100, box
    wait_until_drawable(page, box)  # the canvas starts in selection mode and switches to drawing
    settle(page, lambda: draw_stroke(page, box, SEVEN, steps=(15, 20)))  # a 7: the bar, then the stem


def switch_to_drawing(page) -> None:
    settle(page, widget(page, "input_mode").get_by_text("Draw", exact=True).click)
    expect(page.get_by_text("The canvas is empty.")).to_be_visible()
    expect(page.locator(VERDICT)).to_have_count(0)


def test_drawing_a_digit_shows_both_models_predictions(app_url, page, new_page):
    open_app(page, app_url)
    expect(page.locator(VERDICT)).to_have_count(2)  # the default gallery digit, base and robust
    switch_to_drawing(page)
    draw_seven(page)

    expect(page.get_by_text("Input: your drawing.")).to_be_visible()
    expect(page.locator(VERDICT)).to_have_count(2)
    expect(page.get_by_text("The canvas is empty.")).to_have_count(0)
    verdicts = verdicts_by_model(page)
    assert sorted(verdicts) == ["base", "robust"], verdicts
    expect(page.get_by_text("Before the attack:")).to_have_count(2)
    for text in verdicts.values():
        assert any(word in text for word in VERDICT_WORDS), text
    # No label yet: the attack moves the models away from the base model's guess.
    expect(page.get_by_text(re.compile(r"^Computed now on this digit\. Label \d: the base model's answer"))) \
        .to_be_visible()

    settle(page, pill(page, "stated_label", "7").click)
    expect(page.get_by_text("Computed now on this digit. Label 7: the digit you stated.")).to_be_visible()
    link = query(page)
    assert link["input"] == "draw" and link["label"] == "7" and len(link.get("drawing", "")) > 50, link
    assert "digit" not in link, link  # the gallery digit is not part of a drawing's link
    verdicts = verdicts_by_model(page)

    shared = new_page()  # a fresh browser: only the link carries the drawing
    open_app(shared, page.url)
    expect(shared.get_by_text("Computed now on this digit. Label 7: the digit you stated.")).to_be_visible()
    expect(pill(shared, "stated_label", "7")).to_have_attribute("aria-checked", "true")
    assert verdicts_by_model(shared) == verdicts
    assert query(shared) == link


def test_clearing_the_canvas_empties_it_and_takes_a_new_drawing(app_url, page):
    open_app(page, app_url)
    switch_to_drawing(page)
    for attempt in ("first drawing", "after clearing"):
        expect(page.get_by_text("The canvas is empty.")).to_be_visible()
        expect(page.locator(VERDICT)).to_have_count(0)
        draw_seven(page)  # the "Clear" button remounts the canvas: it must take strokes again
        expect(page.get_by_text("Input: your drawing."), attempt).to_be_visible()
        expect(page.locator(VERDICT), attempt).to_have_count(2)
        assert "drawing" in query(page), attempt
        settle(page, page.get_by_role("button", name="Clear the canvas").click)
    expect(page.get_by_text("The canvas is empty.")).to_be_visible()
    expect(page.locator(VERDICT)).to_have_count(0)
    assert "drawing" not in query(page)


@pytest.fixture(scope="module")
def gallery() -> dict[str, np.ndarray]:
    with np.load(PRETRAINED_DIR / "gallery.npz") as data:
        return {name: data[name] for name in data.files}


def shown_digit(page) -> tuple[int, int]:
    """(true label, gallery number) as the page states them, e.g. "True label: 4 · gallery digit 6 (…)"."""
    text = page.get_by_text(re.compile(r"^True label: \d · gallery digit \d+")).inner_text()
    match = re.match(r"True label: (\d) · gallery digit (\d+)", text)
    assert match, text
    return int(match.group(1)), int(match.group(2))


def test_picking_a_gallery_digit_by_number_and_by_class(app_url, page, gallery):
    open_app(page, app_url)
    number = widget(page, "gallery_index").locator("input")
    expect(number).to_have_value("6")  # the first hard digit
    assert shown_digit(page) == (int(gallery["labels"][6]), 6)

    pick = next(index for index in range(100, 500) if gallery["labels"][index] != gallery["labels"][6])
    label = int(gallery["labels"][pick])
    settle(page, lambda: (number.fill(str(pick)), number.press("Enter")))
    assert shown_digit(page) == (label, pick)
    expect(page.get_by_text(f"Computed now on this digit. Label {label}: true label.")).to_be_visible()
    expect(page.get_by_text(f"(MNIST test image {int(gallery['test_indices'][pick])})", exact=False)).to_be_visible()
    assert query(page)["digit"] == str(pick)
    expect(page.locator(VERDICT)).to_have_count(2)

    wanted = (label + 3) % 10
    settle(page, pill(page, "gallery_class", str(wanted)).click)
    wait_idle(page)
    shown_label, index = shown_digit(page)
    assert shown_label == wanted and int(gallery["labels"][index]) == wanted, (shown_label, index)
    expect(number).to_have_value(str(index))
    expect(page.get_by_text(f"Computed now on this digit. Label {wanted}: true label.")).to_be_visible()
    assert query(page)["digit"] == str(index)
    expect(page.locator(VERDICT)).to_have_count(2)
