"""End to end, "Students: open this on your phone": the QR code a projector shows. The real server in Debian's
headless Chromium at 1280x720 (fixtures in ``conftest.py``).

A link with ``present=1``, eps, norm and a digit; the button opens the panel over the page: the QR code is square,
whole on the screen and at least two thirds of its height, and encodes the text beneath it (its modules, read back
from the image the page shows, are segno's code of that text); the text is the page's own address (what the browser
sends, ``st.context.url``) with the scenario's parameters, without ``present``. Close brings the verdicts back.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from page_helpers import VERDICT, open_app, settle

from advdemo.demo import qr
from advdemo.ui import join

expect = pytest.importorskip("playwright.sync_api").expect

VIEWPORT = {"width": 1280, "height": 720}


def test_the_qr_code_of_the_scenarios_link_fills_the_screen(app_url, new_page):
    page = new_page(viewport=VIEWPORT)
    open_app(page, f"{app_url}?present=1&norm=linf&eps=0.3&digit=12&models=base,robust")
    expect(page.locator(VERDICT)).to_have_count(2)
    settle(page, page.get_by_role("button", name=join.BUTTON_LABEL).click)

    panel = page.locator(f".st-key-{join.PANEL}")
    image = panel.locator("img.advdemo-qr")
    expect(image).to_be_visible()
    box = image.bounding_box()
    assert box["width"] == pytest.approx(box["height"], abs=1), box
    assert box["x"] >= 0 and box["y"] >= 0 and box["x"] + box["width"] <= VIEWPORT["width"] \
        and box["y"] + box["height"] <= VIEWPORT["height"], box  # whole, without scrolling
    assert box["height"] >= 2 / 3 * VIEWPORT["height"], box  # large enough for the back of the room
    link = panel.get_by_test_id("stCode").inner_text().strip()
    svg = join.shown_svg(panel.get_by_test_id("stHtml").inner_html())
    modules = qr.read_modules(svg)
    assert modules == qr.matrix(link)  # the picture is the code of the text beneath it
    assert box["width"] / (len(modules) + 2 * qr.BORDER) >= 8, (box, len(modules))  # modules of 8 px or more

    address, page_address = urlsplit(link), urlsplit(page.url)
    assert (address.scheme, address.netloc, address.path) == (page_address.scheme, page_address.netloc, "/")
    students, teachers = parse_qs(address.query), parse_qs(page_address.query)
    assert teachers.pop("present") == ["1"] and students == teachers  # the scenario, not presentation mode
    assert students["eps"] == ["0.3"] and students["norm"] == ["linf"] and students["digit"] == ["12"]

    settle(page, panel.get_by_role("button", name="Close").click)
    expect(panel).to_have_count(0)
    expect(page.locator(VERDICT).first).to_be_in_viewport()
