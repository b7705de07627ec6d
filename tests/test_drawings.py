"""Drawn and uploaded digits: whether a drawing looks like a digit at all (``preprocess.not_a_digit``), what the
page shows for one that does not, asking for a drawing's digit, refused uploads, and the drawing kept across
input switches."""

from __future__ import annotations

import io
import re

import numpy as np
import pytest
from apptest_support import (
    needs_models,
    query_of,
    rerun,
    start,
    texts,
    verdict_kinds,
    verdicts,
)
from drawings import (
    NONSENSE,
    a_seven,
    drawn_digit,
)
from PIL import Image

from advdemo import PRETRAINED_DIR
from advdemo.data import load_gallery, preprocess
from advdemo.ui import keys


@pytest.mark.parametrize("name", list(NONSENSE))
def test_nonsense_drawings_are_not_digits(name):
    make, words = NONSENSE[name]
    drawing = preprocess.preprocess_drawing(make(), min_ink_fraction=0.0)
    reason = preprocess.not_a_digit(drawing.image, drawing.ink_fraction, "canvas")
    assert reason is not None and reason.startswith(words), reason
    assert preprocess.not_a_digit(drawing.image) is not None  # the 28x28 image alone decides (a link has no canvas)


def test_no_bundled_mnist_digit_is_called_nonsense():
    gallery = load_gallery(PRETRAINED_DIR / "gallery.npz")
    flagged = {index: preprocess.not_a_digit(gallery.images[index, :, :, 0]) for index in range(len(gallery))}
    assert len(flagged) == 500
    assert {index: reason for index, reason in flagged.items() if reason} == {}


@pytest.mark.parametrize("height", [60, 120, 240])
@pytest.mark.parametrize("digit", [0, 1, 4, 7, 8])
def test_drawn_digits_are_digits(digit, height):
    """Digits drawn on the canvas with its thick brush, small (60 px, bold once scaled to 20) or large."""
    drawing = preprocess.preprocess_drawing(drawn_digit(digit, height))
    assert preprocess.not_a_digit(drawing.image, drawing.ink_fraction) is None, preprocess.digit_shape(drawing.image)


def test_shape_measures_on_simple_images():
    ring_image = np.zeros((28, 28))
    ring_image[4:24, 8:20] = 1.0
    ring_image[7:21, 11:17] = 0.0  # an MNIST-like 0: one hole, 3-pixel strokes
    shape = preprocess.digit_shape(ring_image)
    assert (shape.holes, shape.pieces, shape.thickest) == (1, 1, 3)
    assert shape.outline == 2 * (20 + 12) + 2 * (14 + 6)
    assert shape.ink_share == pytest.approx((20 * 12 - 14 * 6) / 784)
    assert preprocess.largest_solid_square(np.ones((28, 28), bool)) == 27
    assert preprocess.largest_solid_square(np.zeros((28, 28), bool)) == 0


@needs_models
@pytest.mark.parametrize("name", list(NONSENSE)[:3])
def test_nonsense_drawings_get_no_verdict(name):
    make, words = NONSENSE[name]
    at = start(**{keys.INPUT_MODE: keys.DRAW, keys.INJECTED_DRAWING: make(), keys.MODELS: ["base"]})
    warnings = [w.value for w in at.warning]
    assert any(w.startswith("**This does not look like a digit**: it is " + words) for w in warnings), warnings
    assert any(w.startswith("**No verdicts: this does not look like a digit**") for w in warnings), warnings
    assert verdict_kinds(at) == ["none"]
    assert verdicts(at)[0].startswith("NO VERDICT: not a digit · says ")
    assert "FOOLED" not in texts(at) and "HELD" not in texts(at)


@needs_models
def test_a_real_drawing_gets_verdicts():
    at = start(**{keys.INPUT_MODE: keys.DRAW, keys.INJECTED_DRAWING: a_seven(), keys.MODELS: ["base"]})
    assert "does not look like a digit" not in texts(at)
    assert verdict_kinds(at) and "none" not in verdict_kinds(at)


@needs_models
def test_a_drawing_asks_for_its_digit_in_one_click():
    at = start(**{keys.INPUT_MODE: keys.DRAW, keys.INJECTED_DRAWING: a_seven()})
    question = at.pills(key=keys.STATED_LABEL)
    assert question.label == "Which digit did you draw?" and question.options == [str(d) for d in range(10)]
    assert question.value is None
    assert any(i.value.startswith("**No true label yet.**") and "*ALREADY WRONG?*" in i.value for i in at.info)
    assert "the base model's answer on the clean image" in texts(at, "caption")
    question.set_value(3)  # a 3, whatever the models think
    rerun(at)
    assert "Label 3: the digit you stated." in texts(at, "caption")
    assert not any(i.value.startswith("**No true label yet.**") for i in at.info)
    assert all("guessed" not in text for text in verdicts(at))
    assert query_of(at)["label"] == "3"
    next(button for button in at.button if button.label == "Clear the canvas").click()
    rerun(at)  # a new drawing needs a new answer
    assert keys.STATED_LABEL not in at.session_state or at.session_state[keys.STATED_LABEL] is None


def png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def a_paper_one() -> bytes:
    paper = np.full((120, 90), 240, np.uint8)
    paper[15:105, 40:52] = 10
    return png(paper)


def gif() -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.zeros((20, 20), np.uint8)).save(buffer, format="GIF")
    return buffer.getvalue()


REFUSED = {  # (file name, bytes, MIME type, what the page must say)
    "gif": ("digit.gif", gif, "image/gif", "This is a GIF image; only PNG and JPEG are supported."),
    "pdf": ("scan.pdf", lambda: b"%PDF-1.7\n" + bytes(200), "application/pdf", "not a PNG or JPEG image"),
    "too large": ("huge.png", lambda: a_paper_one() + bytes(6 * 2**20), "image/png", "the limit is 5 MB"),
    "corrupt": ("broken.png", lambda: a_paper_one()[:60], "image/png", "could not be decoded"),
}


@needs_models
@pytest.mark.parametrize("case", list(REFUSED))
def test_a_refused_upload_says_why_and_clears_the_old_result(case):
    name, data, mime, why = REFUSED[case]
    at = start(**{keys.INPUT_MODE: keys.UPLOAD, keys.MODELS: ["base"]})
    at.file_uploader(key=keys.UPLOAD_FILE).set_value(("one.png", a_paper_one(), "image/png"))
    rerun(at)
    assert len(verdicts(at)) == 1  # a result on screen
    at.file_uploader(key=keys.UPLOAD_FILE).set_value((name, data(), mime))
    rerun(at)
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and errors[0].startswith(f"**Cannot use `{name}`.**") and why in errors[0], errors
    assert "No result is shown for it." in errors[0]
    assert verdicts(at) == [] and not any(h.value.startswith("2 ·") for h in at.subheader)  # nothing stale


@needs_models
def test_the_upload_widget_leaves_refusing_to_the_page():
    """The widget accepts any type and well over the app's size limit, so that the page, not the widget (which
    only marks a refused file with a red "!" and keeps the previous one), refuses a file and says why."""
    at = start(**{keys.INPUT_MODE: keys.UPLOAD, keys.MODELS: ["base"]})
    widget = at.file_uploader(key=keys.UPLOAD_FILE).proto
    assert list(widget.type) == []
    assert widget.max_upload_size_mb * 2**20 >= 10 * preprocess.MAX_UPLOAD_BYTES
    assert f"up to {preprocess.MAX_UPLOAD_BYTES // 2**20} MB" in texts(at, "info")


@needs_models
def test_the_drawing_and_the_gallery_digit_survive_switching_inputs():
    at = start(**{keys.MODELS: ["base"]})
    at.number_input(key=keys.GALLERY_INDEX).set_value(5)  # chosen on the page (Streamlit forgets such values)
    rerun(at)
    at.radio(key=keys.INPUT_MODE).set_value(keys.DRAW)
    rerun(at)
    at.session_state[keys.INJECTED_DRAWING] = a_seven()  # as if drawn on the canvas
    rerun(at)
    drawn = at.session_state[keys.DRAWN_DIGIT]
    at.pills(key=keys.STATED_LABEL).set_value(7)
    rerun(at)
    del at.session_state[keys.INJECTED_DRAWING]  # from now on the canvas only has what the app gives it
    at.radio(key=keys.INPUT_MODE).set_value(keys.GALLERY)
    rerun(at)
    assert "gallery digit 5 " in texts(at, "markdown")  # the gallery digit was kept too
    at.radio(key=keys.INPUT_MODE).set_value(keys.DRAW)
    rerun(at)
    assert np.array_equal(at.session_state[keys.DRAWN_DIGIT], drawn)
    assert "Label 7: the digit you stated" in texts(at, "caption")
    assert len(verdicts(at)) == 1 and "The canvas is empty" not in texts(at, "info")
    seed = at.session_state[keys.CANVAS_SEED]  # the remounted canvas starts with the drawing
    assert seed is not None and len(seed["objects"]) == np.count_nonzero(drawn)


def test_the_canvas_toolbar_has_room_above_the_canvas():
    from advdemo.ui import style

    assert re.search(r'\[class\*="st-key-canvas_"\] \{ margin-top: [2-9](\.\d+)?rem; \}', style.CSS)
