"""Links that reopen a scenario: each URL parameter's parser (``advdemo.demo.link``, ``url.read_link``) against
hostile and complete links, and the page opened from a link, with its one-line note on what it could not use."""

from __future__ import annotations

import re
import zlib

import numpy as np
import pytest
from apptest_support import (
    heading,
    needs_models,
    new_app,
    query_of,
    rerun,
    sizes,
    start,
    texts,
    verdicts,
)
from drawings import (
    CANVAS,
    a_seven,
    gallery_image,
)

from advdemo import PRETRAINED_DIR
from advdemo.configs import Norm
from advdemo.data import load_gallery, preprocess
from advdemo.demo import link
from advdemo.demo.analysis import Method
from advdemo.ui import inputs, keys, url
from advdemo.ui.results import VIEW_CURVES, VIEW_SWEEP


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
    "digit-superscript": ({"digit": "²"}, "`digit=²` (not a whole number)", (keys.GALLERY_INDEX, None)),
    "digit-5000-digits": ({"digit": "9" * 5000}, "(5,000 characters: too long)", (keys.GALLERY_INDEX, None)),
    "digit-out-of-range": ({"digit": "5000"}, "`digit=5000` (out of range 0-499)", (keys.GALLERY_INDEX, None)),
    "eps-nan": ({"eps": "nan"}, "`eps=nan` (not a number)", (keys.eps_key(Norm.LINF), None)),
    "eps-inf": ({"eps": "inf"}, "`eps=inf` (above the L-inf maximum 1: using 1)", (keys.eps_key(Norm.LINF), 1.0)),
    "eps-huge": ({"norm": "l2", "eps": "1e300"}, "(above the L2 maximum 10: using 10)", (keys.eps_key(Norm.L2), 10.0)),
    "eps-negative": ({"eps": "-0.5"}, "`eps=-0.5` (negative: using 0)", (keys.eps_key(Norm.LINF), 0.0)),
    "eps-words": ({"eps": "lots"}, "`eps=lots` (not a number)", (keys.eps_key(Norm.LINF), None)),
    "norm-unknown": ({"norm": "l7"}, "`norm=l7` (unknown norm: use linf, l2 or l1)", (keys.NORM, None)),
    "models-repeated": ({"models": "robust,base,robust"}, "(repeated robust: using robust, base)",
                        (keys.MODELS, ["robust", "base"])),
    "models-unknown": ({"models": "base,mystery"}, "(unknown mystery: using base)", (keys.MODELS, ["base"])),
    "models-none-known": ({"models": "../x,<b>"}, "`models=../x,<b>` (no model of this app)", (keys.MODELS, None)),
    "models-empty": ({"models": "", "norm": "l9"}, "`norm=l9`", (keys.MODELS, [])),  # as the page writes it
    "models-given-twice": ({"models": ["base", "robust"]}, "`models` given 2 times (using the last)",
                           (keys.MODELS, ["robust"])),
    "attack-unknown": ({"attack": "cw"}, "`attack=cw` (unknown attack: use fgsm or pgd or strongest)",
                       (keys.METHOD, None)),
    "source-unknown": ({"source": "oracle"}, "`source=oracle` (unknown source", (keys.SOURCE, None)),
    "from-unknown": ({"from": "../../etc/passwd"}, "`from=../../etc/passwd` (no such model)",
                     (keys.TRANSFER_FROM, None)),
    "steps-huge": ({"steps": "1000"}, "`steps=1000` (above the maximum 100: using 100)", (keys.STEPS, 100)),
    "steps-zero": ({"steps": "0"}, "`steps=0` (below the minimum 1: using 1)", (keys.STEPS, 1)),
    "steps-words": ({"steps": "forty"}, "`steps=forty` (not a whole number)", (keys.STEPS, None)),
    "step-unknown": ({"step": "0.3"}, "`step=0.3` (not one of 0.025, 0.05, 0.1, 0.25, 0.5, 1)",
                     (keys.STEP_FRACTION, None)),
    "start-unknown": ({"start": "maybe"}, "`start=maybe` (unknown start", (keys.RANDOM_START, None)),
    "target-out-of-range": ({"target": "12"}, "`target=12` (not a digit 0-9)", (keys.TARGET, None)),
    "target-strongest": ({"attack": "strongest", "target": "5"}, "(the strongest attack is untargeted)",
                         (keys.TARGET, None)),
    "input-unknown": ({"input": "camera"}, "`input=camera` (unknown input", (keys.INPUT_MODE, None)),
    "drawing-garbage": ({"drawing": "<script>"}, "`drawing=<script>` (not an encoded drawing)",
                        (keys.DRAWN_DIGIT, None)),
    "label-out-of-range": ({"label": "10"}, "`label=10` (out of range 0-9)", (keys.STATED_LABEL, None)),
    "noise-unknown": ({"noise": "loud"}, "`noise=loud` (use 1 or 0)", (keys.NOISE, None)),
    "view-unknown": ({"view": "secret"}, "`view=secret` (unknown view", (keys.VIEW, None)),
    "unknown-parameter": ({"utm_source": "x"}, "unknown parameter `utm_source`", (keys.NORM, None)),
    "long-string": ({"norm": "l" * 300}, "(300 characters: too long)", (keys.NORM, None)),
    "backticks": ({"norm": "`**x**`"}, "`norm=?**x**?` (unknown norm", (keys.NORM, None)),
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_read_link_refuses_or_clamps_each_hostile_parameter_and_says_so(case):
    query, said, (key, expected) = HOSTILE[case]
    values, note = url.read_link({name: value if isinstance(value, list) else [value]
                                    for name, value in query.items()}, context())
    assert note is not None and said in note, note
    assert "\n" not in note
    assert values.get(key) == expected


def test_read_link_takes_a_whole_scenario_without_a_note():
    image = gallery_image(3)
    query = {"norm": "l2", "eps": "1.5", "attack": "pgd", "steps": "12", "step": "0.25", "start": "clean",
             "target": "4", "source": "transfer", "from": "robust", "models": "base,robust", "input": "draw",
             "drawing": link.encode_drawing(image), "label": "5", "noise": "1", "view": "curves"}
    values, note = url.read_link({name: [value] for name, value in query.items()}, context())
    assert note is None
    drawn = values.pop(keys.DRAWN_DIGIT)
    assert np.array_equal(drawn, link.quantise(image))
    assert values == {keys.NORM: Norm.L2, keys.eps_key(Norm.L2): 1.5, keys.METHOD: Method.PGD, keys.STEPS: 12,
                      keys.STEP_FRACTION: 0.25, keys.RANDOM_START: False, keys.TARGET: 4, keys.TARGETED: True,
                      keys.SOURCE: "transfer", keys.TRANSFER_FROM: "robust", keys.MODELS: ["base", "robust"],
                      keys.INPUT_MODE: keys.DRAW, keys.STATED_LABEL: 5, keys.NOISE: True,
                      keys.VIEW: VIEW_CURVES}


def test_every_link_parameter_is_one_row():
    """Presentation mode (or any other setting) joins the URL with one row of ``url.PARAMS``."""
    names = [param.name for param in url.PARAMS]
    assert len(names) == len(set(names))
    assert {"noise", "view", "drawing", "label", "digit", "input"} <= set(names)


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
    at = start(**{keys.INPUT_MODE: keys.DRAW, keys.INJECTED_DRAWING: a_seven(), keys.MODELS: ["base"],
                  keys.NORM: Norm.L2, keys.eps_key(Norm.L2): 1.5, keys.METHOD: Method.PGD, keys.STEPS: 5,
                  keys.RANDOM_START: False, keys.NOISE: True, keys.TARGETED: True})
    at.pills(key=keys.STATED_LABEL).set_value(7)
    rerun(at)
    at.selectbox(key=keys.TARGET).set_value(2)
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
    assert np.array_equal(again.session_state[keys.DRAWN_DIGIT], at.session_state[keys.DRAWN_DIGIT])
    assert again.session_state[keys.VIEW] == VIEW_CURVES and "From the model cards" in texts(again)
    assert again.pills(key=keys.STATED_LABEL).value == 7
    assert query_of(again) == query
    assert not [info for info in again.info if "link" in info.value]
    # the canvas shows the drawing of the link: its pixels as squares
    seed = again.session_state[keys.CANVAS_SEED]
    assert len(seed["objects"]) == np.count_nonzero(again.session_state[keys.DRAWN_DIGIT])


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
def test_a_link_whose_target_is_the_label_moves_the_target():
    gallery = load_gallery(PRETRAINED_DIR / "gallery.npz")
    label = int(gallery.labels[3])
    at = start({"models": "base", "digit": "3", "target": str(label)})
    assert at.selectbox(key=keys.TARGET).value == (label + 1) % 10
    assert f"Target {label} is this digit's own label: the target is now {(label + 1) % 10}." in texts(at, "caption")
    assert f"targeted at {(label + 1) % 10}" in heading(at)


@needs_models
def test_the_sweep_tab_goes_to_the_url_too():
    at = start(**{keys.MODELS: ["base"], keys.VIEW: VIEW_SWEEP})
    assert query_of(at)["view"] == "sweep"
