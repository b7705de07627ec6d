"""What a teacher hit in class: nonsense drawings, drawings without a label, targeted badges, hostile
and complete links, refused uploads, and a drawing kept across input switches.

The pure parts (``preprocess.not_a_digit``, ``advdemo.ui.link``, ``state.read_link``, ``results.verdict``) are
tested directly; the page through ``streamlit.testing.v1.AppTest`` (see ``tests/test_app.py`` for its style).
"""

from __future__ import annotations

import io
import re
import zlib

import numpy as np
import pytest
from apptest_support import APP, TIMEOUT, needs_models, rerun
from PIL import Image, ImageDraw
from streamlit.testing.v1 import AppTest

from advdemo import PRETRAINED_DIR, preprocess
from advdemo.config import Norm
from advdemo.data import load_gallery
from advdemo.ui import inputs, link, state
from advdemo.ui.analysis import Method, Outcome
from advdemo.ui.controls import default_target, target_choices
from advdemo.ui.results import VIEW_CURVES, VIEW_SWEEP, verdict

CANVAS = 280
BRUSH = 22


# ----------------------------------------------------------------------------------------------------------------
# Drawings, as the canvas returns them: RGBA, white strokes (the app's 22-pixel brush) on black.

def canvas_of(draw) -> np.ndarray:
    """An RGBA canvas on which ``draw(ImageDraw)`` drew in white."""
    picture = Image.new("L", (CANVAS, CANVAS), 0)
    draw(ImageDraw.Draw(picture))
    pixels = np.zeros((CANVAS, CANVAS, 4), np.uint8)
    pixels[..., :3] = np.asarray(picture)[..., None]
    pixels[..., 3] = 255
    return pixels


def stroke(draw: ImageDraw.ImageDraw, points) -> None:
    draw.line([tuple(point) for point in points], fill=255, width=BRUSH, joint="curve")


def ring(draw: ImageDraw.ImageDraw, box) -> None:
    draw.ellipse(box, outline=255, width=BRUSH)


def drawn_digit(digit: int, height: int) -> np.ndarray:
    """A rough hand-drawn ``digit`` (0, 1, 4, 7 or 8), ``height`` pixels tall in the middle of the canvas."""
    width, middle = 0.6 * height, CANVAS / 2
    left, right, top, bottom = middle - width / 2, middle + width / 2, middle - height / 2, middle + height / 2
    shapes = {
        0: lambda d: ring(d, (left, top, right, bottom)),
        1: lambda d: stroke(d, [(middle + 0.1 * width, top), (middle - 0.1 * width, bottom)]),
        4: lambda d: (stroke(d, [(left + 0.6 * width, top), (left, middle + 0.15 * height),
                                 (right, middle + 0.15 * height)]),
                      stroke(d, [(left + 0.7 * width, top + 0.3 * height), (left + 0.7 * width, bottom)])),
        7: lambda d: stroke(d, [(left, top), (right, top), (middle - 0.1 * width, bottom)]),
        8: lambda d: (ring(d, (left + 0.1 * width, top, right - 0.1 * width, middle)),
                      ring(d, (left, middle, right, bottom))),
    }
    return canvas_of(shapes[digit])


def a_seven() -> np.ndarray:
    return drawn_digit(7, 220)


def a_dot() -> np.ndarray:
    """One click of the brush, a little dragged: 0.4% of the canvas."""
    return canvas_of(lambda d: d.ellipse((130, 130, 153, 152), fill=255))


def a_filled_canvas() -> np.ndarray:
    return canvas_of(lambda d: d.rectangle((0, 0, CANVAS, CANVAS), fill=255))


def a_hatching() -> np.ndarray:
    """A back-and-forth scribble over most of the canvas."""
    points = []
    for row in range(8):
        y = 40 + row * 200 / 7
        points += [(40, y), (240, y + 10)] if row % 2 == 0 else [(240, y), (40, y + 10)]
    return canvas_of(lambda d: stroke(d, points))


def a_tangle() -> np.ndarray:
    """A random scribble of 14 strokes that cross each other."""
    points = np.random.default_rng(1).uniform(30, 250, size=(14, 2))
    return canvas_of(lambda d: stroke(d, points))


def scattered_dots() -> np.ndarray:
    return canvas_of(lambda d: [d.ellipse((x - 10, y - 10, x + 10, y + 10), fill=255)
                                for x, y in [(40, 40), (240, 50), (140, 140), (50, 230), (230, 240)]])


NONSENSE = {  # drawing, and the words that must say what it is
    "dot": (a_dot, "a single dot (0.5% of the canvas is ink"),
    "filled canvas": (a_filled_canvas, "a painted-over canvas, not pen strokes (100% of the canvas is ink"),
    "scribble": (a_hatching, "a scribble"),
    "tangle": (a_tangle, "a tangle"),
    "scattered dots": (scattered_dots, "in 5 separate pieces"),
}


# ----------------------------------------------------------------------------------------------------------------
# Item 2: does it look like a digit?

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


# ----------------------------------------------------------------------------------------------------------------
# Items 3 and 6: the verdict badges.

def outcome(clean: int, adversarial: int, p: float = 0.83) -> Outcome:
    def probabilities(top: int, value: float) -> np.ndarray:
        probs = np.full(10, (1.0 - value) / 9, np.float32)
        probs[top] = value
        return probs

    image = np.zeros((28, 28), np.float32)
    return Outcome("robust", probabilities(clean, 0.9), image, probabilities(adversarial, p),
                   {norm: 0.0 for norm in Norm}, "robust")


@pytest.mark.parametrize("clean, adversarial, target, expected", [
    (4, 5, 5, ("fooled", "🎯 REACHED 5 → says 5 (83%)")),
    (4, 4, 5, ("held", "✓ MISSED 5 → still 4 (83%)")),
    (4, 8, 5, ("missed", "MISSED 5 → says 8 (83%), wrong but not the target")),
    (4, 9, None, ("fooled", "✗ FOOLED → says 9 (83%)")),
])
def test_targeted_badges_say_reached_or_missed(clean, adversarial, target, expected):
    assert verdict(outcome(clean, adversarial), 4, target) == expected


def test_a_guessed_label_is_said_to_be_a_guess():
    """A drawing nobody labelled: its label is base's guess, so a model that disagrees is not known to be wrong."""
    assert verdict(outcome(7, 7), 4, None, guessed_by="base") == ("wrong", "ALREADY WRONG? says 7, base guessed 4")
    assert verdict(outcome(7, 7), 4, None) == ("wrong", "ALREADY WRONG before the attack (says 7)")
    assert verdict(outcome(4, 9), 4, None, not_a_digit=True) == ("none", "NO VERDICT: not a digit · says 9 (83%)")


@pytest.mark.parametrize("label", range(10))
def test_the_target_is_never_the_label(label):
    assert label not in target_choices(label) and len(target_choices(label)) == 9
    assert default_target(label) in target_choices(label)
    assert target_choices(None) == list(range(10))


# ----------------------------------------------------------------------------------------------------------------
# Item 7: links.

def gallery_image(index: int = 0) -> np.ndarray:
    return load_gallery(PRETRAINED_DIR / "gallery.npz").images[index, :, :, 0]


def test_a_drawing_survives_the_url_exactly_once_quantised():
    image = gallery_image()
    text = link.encode_drawing(image)
    assert len(text) < 600 and re.fullmatch(r"[A-Za-z0-9_-]+", text)
    decoded = link.decode_drawing(text)
    assert decoded.dtype == np.float32 and decoded.shape == (28, 28)
    assert np.array_equal(decoded, link.quantise(image))
    assert np.abs(decoded - image).max() <= 0.5 / 255 + 1e-6


def b64(data: bytes) -> str:
    import base64

    return base64.urlsafe_b64encode(data).decode().rstrip("=")


@pytest.mark.parametrize("text, why", [
    ("!!not base64!!", "not an encoded drawing"),
    ("QUJD", "not an encoded drawing"),  # base64 of b"ABC": not zlib
    (b64(zlib.compress(bytes(100))), "not a 28x28 drawing"),
    (b64(zlib.compress(bytes(784 * 1000))), "not a 28x28 drawing"),  # a small bomb: inflated no further than 785
    (b64(zlib.compress(bytes([255]) * 784) + b"junk"), "not a 28x28 drawing"),
    (b64(zlib.compress(bytes(784))), "an empty drawing"),
    ("A" * 1201, "too long"),
])
def test_hostile_drawings_are_refused(text, why):
    with pytest.raises(link.Refused, match=why):
        link.decode_drawing(text)


def context() -> link.LinkContext:
    return link.LinkContext(models=("base", "tutorial", "robust"), gallery_size=500)


#: Hostile or out-of-range link parameters: (query, what the note must say, the session value that must result;
#: None when the parameter sets nothing).
HOSTILE = {
    "digit-superscript": ({"digit": "²"}, "`digit=²` (not a whole number)", (state.GALLERY_INDEX, None)),
    "digit-5000-digits": ({"digit": "9" * 5000}, "(5,000 characters: too long)", (state.GALLERY_INDEX, None)),
    "digit-out-of-range": ({"digit": "5000"}, "`digit=5000` (out of range 0-499)", (state.GALLERY_INDEX, None)),
    "eps-nan": ({"eps": "nan"}, "`eps=nan` (not a number)", (state.eps_key(Norm.LINF), None)),
    "eps-inf": ({"eps": "inf"}, "`eps=inf` (above the L-inf maximum 1: using 1)", (state.eps_key(Norm.LINF), 1.0)),
    "eps-huge": ({"norm": "l2", "eps": "1e300"}, "(above the L2 maximum 10: using 10)", (state.eps_key(Norm.L2), 10.0)),
    "eps-negative": ({"eps": "-0.5"}, "`eps=-0.5` (negative: using 0)", (state.eps_key(Norm.LINF), 0.0)),
    "eps-words": ({"eps": "lots"}, "`eps=lots` (not a number)", (state.eps_key(Norm.LINF), None)),
    "norm-unknown": ({"norm": "l7"}, "`norm=l7` (unknown norm: use linf, l2 or l1)", (state.NORM, None)),
    "models-repeated": ({"models": "robust,base,robust"}, "(repeated robust: using robust, base)",
                        (state.MODELS, ["robust", "base"])),
    "models-unknown": ({"models": "base,mystery"}, "(unknown mystery: using base)", (state.MODELS, ["base"])),
    "models-none-known": ({"models": "../x,<b>"}, "`models=../x,<b>` (no model of this app)", (state.MODELS, None)),
    "models-empty": ({"models": "", "norm": "l9"}, "`norm=l9`", (state.MODELS, [])),  # as the page writes it
    "models-given-twice": ({"models": ["base", "robust"]}, "`models` given 2 times (using the last)",
                           (state.MODELS, ["robust"])),
    "attack-unknown": ({"attack": "cw"}, "`attack=cw` (unknown attack: use fgsm or pgd or strongest)",
                       (state.METHOD, None)),
    "source-unknown": ({"source": "oracle"}, "`source=oracle` (unknown source", (state.SOURCE, None)),
    "from-unknown": ({"from": "../../etc/passwd"}, "`from=../../etc/passwd` (no such model)",
                     (state.TRANSFER_FROM, None)),
    "steps-huge": ({"steps": "1000"}, "`steps=1000` (above the maximum 100: using 100)", (state.STEPS, 100)),
    "steps-zero": ({"steps": "0"}, "`steps=0` (below the minimum 1: using 1)", (state.STEPS, 1)),
    "steps-words": ({"steps": "forty"}, "`steps=forty` (not a whole number)", (state.STEPS, None)),
    "step-unknown": ({"step": "0.3"}, "`step=0.3` (not one of 0.025, 0.05, 0.1, 0.25, 0.5, 1)",
                     (state.STEP_FRACTION, None)),
    "start-unknown": ({"start": "maybe"}, "`start=maybe` (unknown start", (state.RANDOM_START, None)),
    "target-out-of-range": ({"target": "12"}, "`target=12` (not a digit 0-9)", (state.TARGET, None)),
    "target-strongest": ({"attack": "strongest", "target": "5"}, "(the strongest attack is untargeted)",
                         (state.TARGET, None)),
    "input-unknown": ({"input": "camera"}, "`input=camera` (unknown input", (state.INPUT_MODE, None)),
    "drawing-garbage": ({"drawing": "<script>"}, "`drawing=<script>` (not an encoded drawing)",
                        (state.DRAWN_DIGIT, None)),
    "label-out-of-range": ({"label": "10"}, "`label=10` (out of range 0-9)", (state.STATED_LABEL, None)),
    "noise-unknown": ({"noise": "loud"}, "`noise=loud` (use 1 or 0)", (state.NOISE, None)),
    "view-unknown": ({"view": "secret"}, "`view=secret` (unknown view", (state.VIEW, None)),
    "unknown-parameter": ({"utm_source": "x"}, "unknown parameter `utm_source`", (state.NORM, None)),
    "long-string": ({"norm": "l" * 300}, "(300 characters: too long)", (state.NORM, None)),
    "backticks": ({"norm": "`**x**`"}, "`norm=?**x**?` (unknown norm", (state.NORM, None)),
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_read_link_refuses_or_clamps_each_hostile_parameter_and_says_so(case):
    query, said, (key, expected) = HOSTILE[case]
    values, note = state.read_link({name: value if isinstance(value, list) else [value]
                                    for name, value in query.items()}, context())
    assert note is not None and said in note, note
    assert "\n" not in note
    assert values.get(key) == expected


def test_read_link_takes_a_whole_scenario_without_a_note():
    image = gallery_image(3)
    query = {"norm": "l2", "eps": "1.5", "attack": "pgd", "steps": "12", "step": "0.25", "start": "clean",
             "target": "4", "source": "transfer", "from": "robust", "models": "base,robust", "input": "draw",
             "drawing": link.encode_drawing(image), "label": "5", "noise": "1", "view": "curves"}
    values, note = state.read_link({name: [value] for name, value in query.items()}, context())
    assert note is None
    drawn = values.pop(state.DRAWN_DIGIT)
    assert np.array_equal(drawn, link.quantise(image))
    assert values == {state.NORM: Norm.L2, state.eps_key(Norm.L2): 1.5, state.METHOD: Method.PGD, state.STEPS: 12,
                      state.STEP_FRACTION: 0.25, state.RANDOM_START: False, state.TARGET: 4, state.TARGETED: True,
                      state.SOURCE: "transfer", state.TRANSFER_FROM: "robust", state.MODELS: ["base", "robust"],
                      state.INPUT_MODE: state.DRAW, state.STATED_LABEL: 5, state.NOISE: True,
                      state.VIEW: VIEW_CURVES}


def test_every_link_parameter_is_one_row():
    """Presentation mode (or any other setting) joins the URL with one row of ``state.PARAMS``."""
    names = [param.name for param in state.PARAMS]
    assert len(names) == len(set(names))
    assert {"noise", "view", "drawing", "label", "digit", "input"} <= set(names)


# ----------------------------------------------------------------------------------------------------------------
# The page.

def new_app(query: dict | None = None, **session: object) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    for key, value in session.items():
        at.session_state[key] = value
    if query:
        at.query_params.update(query)
    return at


def start(query: dict | None = None, **session: object) -> AppTest:
    """The app after its first run; the detail view is the cheap test-set curves unless a test says otherwise."""
    session.setdefault(state.VIEW, VIEW_CURVES)
    return rerun(new_app(query, **session))


def verdicts(at: AppTest) -> list[str]:
    return [re.sub(r"<[^>]+>", "", m.value) for m in at.markdown if "advdemo-verdict" in m.value]


def verdict_kinds(at: AppTest) -> list[str]:
    return [re.search(r"advdemo-verdict advdemo-(\w+)", m.value)[1] for m in at.markdown
            if "advdemo-verdict" in m.value]


def texts(at: AppTest, *kinds: str) -> str:
    kinds = kinds or ("markdown", "caption", "info", "error", "warning", "success", "subheader")
    return "\n".join(str(element.value) for kind in kinds for element in getattr(at, kind))


def heading(at: AppTest) -> str:
    return next(header.value for header in at.subheader if header.value.startswith("2 ·"))


def sizes(at: AppTest) -> list[str]:
    return [m.value for m in at.markdown if m.value.startswith("Size: L-inf")]


def query_of(at: AppTest) -> dict[str, str]:
    return {name: at.query_params[name] if isinstance(at.query_params[name], str) else at.query_params[name][-1]
            for name in at.query_params}


#: One representative of each kind of hostile parameter of item 7, on the page (the cheap base-only page).
PAGE_CASES = ["digit-superscript", "digit-5000-digits", "digit-out-of-range", "eps-nan", "eps-huge", "eps-negative",
              "norm-unknown", "models-repeated", "models-unknown", "attack-unknown", "source-unknown", "steps-huge",
              "steps-words", "long-string", "unknown-parameter", "drawing-garbage", "view-unknown"]


@needs_models
@pytest.mark.parametrize("case", PAGE_CASES)
def test_a_hostile_link_opens_the_page_with_a_note(case):
    query, said, (key, expected) = HOSTILE[case]
    query = {name: value[-1] if isinstance(value, list) else value for name, value in query.items()}
    if "models" not in query:
        query["models"] = "base"
    at = start(query)
    notes = [info.value for info in at.info if "from the link" in info.value]
    assert len(notes) == 1 and said in notes[0], notes
    assert verdicts(at)  # the page carries on with the rest of the link
    if expected is not None:
        assert at.session_state[key] == expected
    rerun(at)  # a rerun (a reload keeps the URL the page rewrote) raises nothing either
    assert len([info for info in at.info if "from the link" in info.value]) == 1


@needs_models
def test_a_clean_link_gives_no_note():
    at = start({"models": "base", "norm": "l2", "eps": "1.5"})
    assert not [info for info in at.info if "link" in info.value]
    assert heading(at) == "2 · The attack: FGSM L2 ε = 1.5, white-box"


@needs_models
def test_the_url_keeps_the_whole_scenario_with_a_drawing():
    """Set the controls (L2, eps, PGD, a target, the noise control, one model), the open tab and a drawn digit with
    its label; a new session opened on the URL the page wrote shows the same: heading, sizes, verdicts, noise
    lines, the same 28x28 drawing and label, the same tab."""
    at = start(**{state.INPUT_MODE: state.DRAW, state.INJECTED_DRAWING: a_seven(), state.MODELS: ["base"],
                  state.NORM: Norm.L2, state.eps_key(Norm.L2): 1.5, state.METHOD: Method.PGD, state.STEPS: 5,
                  state.RANDOM_START: False, state.NOISE: True, state.TARGETED: True})
    at.pills(key=state.STATED_LABEL).set_value(7)
    rerun(at)
    at.selectbox(key=state.TARGET).set_value(2)
    rerun(at)
    query = query_of(at)
    assert {name: query[name] for name in ("norm", "eps", "attack", "steps", "start", "target", "models", "input",
                                           "label", "noise", "view")} == {
        "norm": "l2", "eps": "1.5", "attack": "pgd", "steps": "5", "start": "clean", "target": "2", "models": "base",
        "input": "draw", "label": "7", "noise": "1", "view": "curves"}
    assert "digit" not in query and len(query["drawing"]) < 700
    shown = (heading(at), sizes(at), verdicts(at), [m.value for m in at.markdown if m.value.startswith("Random")])
    assert "targeted at 2" in shown[0] and len(shown[3]) == 1 and "Label 7: the digit you stated" in texts(at)

    again = rerun(new_app(query))  # a new session: no session state, the URL only (the tab included)
    assert (heading(again), sizes(again), verdicts(again),
            [m.value for m in again.markdown if m.value.startswith("Random")]) == shown
    assert np.array_equal(again.session_state[state.DRAWN_DIGIT], at.session_state[state.DRAWN_DIGIT])
    assert again.session_state[state.VIEW] == VIEW_CURVES and "From the model cards" in texts(again)
    assert again.pills(key=state.STATED_LABEL).value == 7
    assert query_of(again) == query
    assert not [info for info in again.info if "link" in info.value]
    # the canvas shows the drawing of the link: its pixels as squares
    seed = again.session_state[state.CANVAS_SEED]
    assert len(seed["objects"]) == np.count_nonzero(again.session_state[state.DRAWN_DIGIT])


def test_a_link_drawing_on_the_canvas_is_the_same_digit():
    """The squares that put a link's drawing on the canvas, painted as the canvas would and preprocessed again,
    give back the digit (the canvas then returns what the models saw)."""
    image = link.quantise(preprocess.preprocess_drawing(a_seven()).image)
    painted = np.zeros((CANVAS, CANVAS), np.float64)
    for square in inputs.squares_drawing(image)["objects"]:
        level = int(re.fullmatch(r"rgb\((\d+),\d+,\d+\)", square["fill"])[1]) / 255
        top, left = round(square["top"]), round(square["left"])
        painted[top:top + round(square["height"]), left:left + round(square["width"])] = level
    again = preprocess.preprocess_drawing(painted).image
    assert np.abs(again - image).max() < 0.25 and np.abs(again - image).mean() < 0.01


@needs_models
@pytest.mark.parametrize("name", list(NONSENSE)[:3])
def test_nonsense_drawings_get_no_verdict(name):
    make, words = NONSENSE[name]
    at = start(**{state.INPUT_MODE: state.DRAW, state.INJECTED_DRAWING: make(), state.MODELS: ["base"]})
    warnings = [w.value for w in at.warning]
    assert any(w.startswith("**This does not look like a digit**: it is " + words) for w in warnings), warnings
    assert any(w.startswith("**No verdicts: this does not look like a digit**") for w in warnings), warnings
    assert verdict_kinds(at) == ["none"]
    assert verdicts(at)[0].startswith("NO VERDICT: not a digit · says ")
    assert "FOOLED" not in texts(at) and "HELD" not in texts(at)


@needs_models
def test_a_real_drawing_gets_verdicts():
    at = start(**{state.INPUT_MODE: state.DRAW, state.INJECTED_DRAWING: a_seven(), state.MODELS: ["base"]})
    assert "does not look like a digit" not in texts(at)
    assert verdict_kinds(at) and "none" not in verdict_kinds(at)


@needs_models
def test_a_drawing_asks_for_its_digit_in_one_click():
    at = start(**{state.INPUT_MODE: state.DRAW, state.INJECTED_DRAWING: a_seven()})
    question = at.pills(key=state.STATED_LABEL)
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
    assert state.STATED_LABEL not in at.session_state or at.session_state[state.STATED_LABEL] is None


@needs_models
def test_targeted_badges_and_the_default_target():
    """On the default gallery digit: the target offered first is not its label, the label is not offered, and
    each badge says whether the attack reached the target."""
    at = start()
    at.toggle(key=state.TARGETED).set_value(True)
    rerun(at)
    label = int(re.search(r"\*\*True label: (\d)\*\*", texts(at, "markdown"))[1])
    target = at.selectbox(key=state.TARGET)
    assert target.value == (label + 1) % 10 and label not in target.options and str(label) not in target.options
    base, robust = verdicts(at)
    assert re.fullmatch(rf"(🎯 REACHED {target.value} → says {target.value}|MISSED {target.value} → says \d) .*",
                        base), base
    assert robust.startswith(f"✓ MISSED {target.value} → still {label}"), robust
    assert "FOOLED" not in " ".join(verdicts(at))


@needs_models
def test_a_link_whose_target_is_the_label_moves_the_target():
    gallery = load_gallery(PRETRAINED_DIR / "gallery.npz")
    label = int(gallery.labels[3])
    at = start({"models": "base", "digit": "3", "target": str(label)})
    assert at.selectbox(key=state.TARGET).value == (label + 1) % 10
    assert f"Target {label} is this digit's own label: the target is now {(label + 1) % 10}." in texts(at, "caption")
    assert f"targeted at {(label + 1) % 10}" in heading(at)


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
    at = start(**{state.INPUT_MODE: state.UPLOAD, state.MODELS: ["base"]})
    at.file_uploader(key=state.UPLOAD_FILE).set_value(("one.png", a_paper_one(), "image/png"))
    rerun(at)
    assert len(verdicts(at)) == 1  # a result on screen
    at.file_uploader(key=state.UPLOAD_FILE).set_value((name, data(), mime))
    rerun(at)
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and errors[0].startswith(f"**Cannot use `{name}`.**") and why in errors[0], errors
    assert "No result is shown for it." in errors[0]
    assert verdicts(at) == [] and not any(h.value.startswith("2 ·") for h in at.subheader)  # nothing stale


@needs_models
def test_the_upload_widget_leaves_refusing_to_the_page():
    """The widget accepts any type and well over the app's size limit, so that the page, not the widget (which
    only marks a refused file with a red "!" and keeps the previous one), refuses a file and says why."""
    at = start(**{state.INPUT_MODE: state.UPLOAD, state.MODELS: ["base"]})
    widget = at.file_uploader(key=state.UPLOAD_FILE).proto
    assert list(widget.type) == []
    assert widget.max_upload_size_mb * 2**20 >= 10 * preprocess.MAX_UPLOAD_BYTES
    assert f"up to {preprocess.MAX_UPLOAD_BYTES // 2**20} MB" in texts(at, "info")


@needs_models
def test_the_drawing_and_the_gallery_digit_survive_switching_inputs():
    at = start(**{state.MODELS: ["base"]})
    at.number_input(key=state.GALLERY_INDEX).set_value(5)  # chosen on the page (Streamlit forgets such values)
    rerun(at)
    at.radio(key=state.INPUT_MODE).set_value(state.DRAW)
    rerun(at)
    at.session_state[state.INJECTED_DRAWING] = a_seven()  # as if drawn on the canvas
    rerun(at)
    drawn = at.session_state[state.DRAWN_DIGIT]
    at.pills(key=state.STATED_LABEL).set_value(7)
    rerun(at)
    del at.session_state[state.INJECTED_DRAWING]  # from now on the canvas only has what the app gives it
    at.radio(key=state.INPUT_MODE).set_value(state.GALLERY)
    rerun(at)
    assert "gallery digit 5 " in texts(at, "markdown")  # the gallery digit was kept too
    at.radio(key=state.INPUT_MODE).set_value(state.DRAW)
    rerun(at)
    assert np.array_equal(at.session_state[state.DRAWN_DIGIT], drawn)
    assert "Label 7: the digit you stated" in texts(at, "caption")
    assert len(verdicts(at)) == 1 and "The canvas is empty" not in texts(at, "info")
    seed = at.session_state[state.CANVAS_SEED]  # the remounted canvas starts with the drawing
    assert seed is not None and len(seed["objects"]) == np.count_nonzero(drawn)


def test_the_canvas_toolbar_has_room_above_the_canvas():
    from advdemo.ui import style

    assert re.search(r'\[class\*="st-key-canvas_"\] \{ margin-top: [2-9](\.\d+)?rem; \}', style.CSS)


def test_a_first_run_asks_nothing():
    """``streamlit run`` in this project neither prompts for an e-mail address nor announces usage statistics."""
    import tomllib

    config = tomllib.loads((APP.parent / ".streamlit" / "config.toml").read_text())
    assert config["server"]["showEmailPrompt"] is False
    assert config["browser"]["gatherUsageStats"] is False
    assert config["theme"]["base"] == "light"


@needs_models
def test_the_sweep_tab_goes_to_the_url_too():
    at = start(**{state.MODELS: ["base"], state.VIEW: VIEW_SWEEP})
    assert query_of(at)["view"] == "sweep"


@needs_models
def test_hidden_attack_settings_are_kept():
    """PGD's steps survive a detour through FGSM (the slider is not shown meanwhile), and so does the target
    while the targeted toggle is off."""
    at = start(**{state.MODELS: ["base"], state.METHOD: Method.PGD})
    at.slider(key=state.STEPS).set_value(12)
    rerun(at)
    at.toggle(key=state.TARGETED).set_value(True)
    rerun(at)
    at.selectbox(key=state.TARGET).set_value(8)
    rerun(at)
    at.toggle(key=state.TARGETED).set_value(False)
    at.radio(key=state.METHOD).set_value(Method.FGSM)
    rerun(at)
    rerun(at)
    at.radio(key=state.METHOD).set_value(Method.PGD)
    at.toggle(key=state.TARGETED).set_value(True)
    rerun(at)
    assert at.slider(key=state.STEPS).value == 12 and at.selectbox(key=state.TARGET).value == 8
    assert heading(at) == "2 · The attack: PGD-12 L-inf ε = 0.2 targeted at 8, white-box"
