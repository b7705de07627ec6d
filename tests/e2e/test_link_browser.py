"""End to end, the shared link (the real server in Debian's Chromium; fixtures in ``conftest.py``): set many
controls in one page, read the URL the app writes (it keeps its state in the query string), open it in a fresh
browser context (a new session, nothing shared but the link) and find the same settings and the same results.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from page_helpers import (
    attack_heading,
    choose_option,
    choose_radio,
    eventually,
    multiselect_values,
    open_app,
    press_slider,
    query,
    set_number,
    set_toggle,
    settle,
    size_lines,
    slider_value,
    verdicts_by_model,
    widget,
)

from advdemo import PRETRAINED_DIR

expect = pytest.importorskip("playwright.sync_api").expect

DIGIT = 123
#: Only the base model: the link's models differ from the default (base, robust), and one model is quick to attack.
MODELS = ["base"]


def results(page) -> dict[str, object]:
    """What the page computed: the attack's heading, each model's verdict, "Size" and noise lines."""
    noise = page.get_by_test_id("stMain").get_by_test_id("stMarkdownContainer") \
        .filter(has_text=re.compile(r"^Random noise of the same"))
    return {"heading": attack_heading(page).inner_text(), "verdicts": verdicts_by_model(page),
            "sizes": size_lines(page), "noise": noise.all_inner_texts()}


def settings(page) -> dict[str, object]:
    """The controls as the page shows them."""
    def checked(key: str) -> str:
        return widget(page, key).locator("[data-testid=stRadioOption]:has(input:checked)").inner_text().strip()

    return {"digit": widget(page, "gallery_index").locator("input").input_value(),
            "models": multiselect_values(page, "models"),
            "norm": checked("norm"), "eps": slider_value(page, "eps_l2"), "attack": checked("method"),
            "steps": slider_value(page, "pgd_steps"),
            "targeted": widget(page, "targeted").locator("input").is_checked(),
            "target": widget(page, "target").get_by_role("combobox").input_value(),
            "noise": widget(page, "noise").locator("input").is_checked(),
            "tab": page.get_by_role("tab", selected=True).inner_text().strip()}


def test_a_shared_link_reopens_the_same_view_in_a_fresh_browser(app_url, new_page):
    with np.load(PRETRAINED_DIR / "gallery.npz") as gallery:
        label = int(gallery["labels"][DIGIT])
    target = (label + 4) % 10  # not the default target (label + 1)

    page = new_page()
    open_app(page, app_url)
    # The test-set tab reads the model cards: no eps sweep of the digit (40 attacks per model) after each change.
    settle(page, page.get_by_role("tab", name="Test set: accuracy vs ε").click)
    set_number(page, "gallery_index", str(DIGIT))
    settle(page, widget(page, "models").get_by_role("button", name="Remove robust").first.click)
    choose_radio(page, "norm", "L2")
    press_slider(page, "eps_l2", "ArrowLeft", times=4)  # 2 - 4 x 0.1
    choose_radio(page, "method", "PGD: many steps")
    press_slider(page, "pgd_steps", "ArrowLeft", times=2)  # 40 - 2
    set_toggle(page, "targeted", True)
    choose_option(page, "target", str(target))
    set_toggle(page, "noise", True)
    expect(attack_heading(page)).to_have_text(f"2 · The attack: PGD-38 L2 ε = 1.6 targeted at {target}, white-box")

    link = query(page)
    assert link == {"norm": "l2", "eps": "1.6", "attack": "pgd", "source": "white-box", "steps": "38", "step": "0.1",
                    "start": "random", "target": str(target), "models": ",".join(MODELS), "input": "gallery",
                    "digit": str(DIGIT), "noise": "1", "view": "curves"}, link
    shown, computed = settings(page), results(page)
    assert shown == {"digit": str(DIGIT), "models": MODELS, "norm": "L2", "eps": pytest.approx(1.6),
                     "attack": "PGD: many steps", "steps": 38, "targeted": True, "target": str(target), "noise": True,
                     "tab": "Test set: accuracy vs ε"}, shown
    assert sorted(computed["verdicts"]) == MODELS and len(computed["noise"]) == 1, computed

    shared = new_page()  # a fresh context: a new session that knows nothing but the link
    open_app(shared, page.url)
    assert query(shared) == link  # the app rewrote the same URL from what it restored
    eventually(shared, lambda: settings(shared), shown)
    recomputed = results(shared)
    assert recomputed == computed, recomputed
    expect(shared.get_by_text("Ignored from the link")).to_have_count(0)
    expect(shared.get_by_text("Adjusted from the link")).to_have_count(0)
