"""End to end: the app in Polish (``?lang=pl``) in presentation mode, in Chromium at the projectors' sizes: the
longer Polish texts keep the first screen (the digit, eps, each model's verdict and attacked image), the page
shows no English sentence of the message catalog, and a screenshot of each size is kept."""

from __future__ import annotations

import pytest
from page_helpers import PROJECTORS, VERDICT, below_the_fold, first_screen, open_app
from test_i18n import english_sentences

expect = pytest.importorskip("playwright.sync_api").expect

TITLE_PL = "Jak oszukać sieć neuronową i jak uczynić ją odporną"


@pytest.mark.parametrize("viewport", PROJECTORS, ids=lambda viewport: f"{viewport['width']}x{viewport['height']}")
def test_presentation_mode_in_polish_fits_the_projector_and_says_nothing_in_english(app_url, new_page, viewport,
                                                                                   screenshot):
    page = new_page(viewport=viewport)
    open_app(page, f"{app_url}?lang=pl&present=1&models=base,robust")
    expect(page.get_by_role("heading", name=TITLE_PL)).to_be_visible()
    expect(page.locator(VERDICT)).to_have_count(2)
    boxes, columns = first_screen(page)
    assert len(columns) == 2
    below = below_the_fold(boxes, viewport)
    assert not below, f"px below the fold (or off screen): {below}"
    assert page.evaluate("() => document.scrollingElement.scrollWidth <= document.scrollingElement.clientWidth")
    text = page.get_by_test_id("stMain").inner_text()
    english = sorted({sentence for sentence in english_sentences() if len(sentence.split()) > 4 and sentence in text})
    assert english == [], english
    screenshot(page, full_page=False)
