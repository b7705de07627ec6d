"""The bad-input table: every odd drawing, upload, link parameter, model file and training mishap the
project knows of, each with the clear message the user sees and what must not be lost.

``CASES`` is the table, one ``Case`` per row; docs/bad-input.md is the same table in words (kept in
sync by hand: ``test_every_case_is_in_the_documentation`` checks that each id is there). One test per kind of input runs
its rows, and each asserts

* the message: the fragment ``Case.shows`` in the page element ``Case.element`` (error, warning, info, caption),
  or in the job's final message for a training;
* that nothing is lost: no exception on the page, and what was there before still there (the gallery digit and the
  attack's settings chosen before a bad drawing or upload; the rest of a hostile link; the other models beside a
  broken one; the files of the user's models folder, byte for byte, with no partial or temporary file).

How each kind is fed:

* drawings: through the page (AppTest), as ``st.session_state[keys.INJECTED_DRAWING]``, which replaces the pixels
  the canvas returns (AppTest cannot draw on the canvas component) and then goes through the page's own code
  (``inputs.keep_drawing``: ``preprocess_drawing``, then ``not_a_digit``);
* uploads: through the page's file uploader (AppTest's ``file_uploader().set_value``), so the page's own
  ``inputs.handle_upload`` decides;
* links: a fresh session opened on the query (``at.query_params``), as a shared link would open;
* model files: ``ADVDEMO_PRETRAINED`` at a copy of ``pretrained/`` with one file missing or cut short, and
  ``ADVDEMO_HOME`` with a user model of the wrong shape;
* a model name: typed in the training panel's name field, then Train (AppTest);
* training: through the public API (``jobs.user_model_job``, the job the app runs: ``registry.save_user_model``,
  on a tiny synthetic MNIST), not the page: the panel shows the job's final message (``st.info`` when cancelled,
  ``st.error("Training NAME failed: ...")`` when failed).
"""

from __future__ import annotations

import dataclasses
import errno
import io
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from apptest_support import APP, TIMEOUT, needs_models, rerun, verdicts
from PIL import Image, ImageDraw
from streamlit.testing.v1 import AppTest

from advdemo import PRETRAINED_DIR
from advdemo.configs import Norm, TrainConfig
from advdemo.data import load_gallery, preprocess
from advdemo.models import registry
from advdemo.training.jobs import State, TrainingRequest, user_model_job
from advdemo.ui import keys, training
from advdemo.ui.inputs import EMPTY_CANVAS_PROMPT, default_gallery_index
from advdemo.ui.results import VIEW_CURVES

BAD_INPUT_DOC = Path(__file__).resolve().parent.parent / "docs" / "bad-input.md"
#: The state worth keeping that a bad drawing or upload arrives on: a gallery digit and an eps, both chosen.
KEPT_DIGIT = 7
KEPT_EPS = 0.3
EPS = keys.eps_key(Norm.LINF)


@dataclasses.dataclass(frozen=True)
class Case:
    """One row of the table.

    Attributes:
        id: its name (pytest's id, and the first column of docs/bad-input.md).
        kind: ``drawing``, ``upload``, ``link``, ``model file``, ``model name`` or ``training``.
        fed: what is fed, in words.
        shows: the exact fragment of the message the user sees.
        element: the page element that shows it (``error``, ``warning``, ``info``, ``caption``); ``job`` for the
            final message of a training job.
        kept: what must not be lost, in words (each kind's test checks it).
        data: what the kind's test feeds (a canvas, a file, a query, a setup function).
        accepted: the input is handled (a digit the models are attacked on), not refused.
        expect: for links, the session values that must result (the link's other values, and the hostile one
            refused, clamped or dropped).
    """

    id: str
    kind: str
    fed: str
    shows: str
    element: str
    kept: str
    data: Any = None
    accepted: bool = False
    expect: dict = dataclasses.field(default_factory=dict)


# ----------------------------------------------------------------------------------------------------------------
# Drawings: RGBA canvases as the canvas component returns them (280x280, white ink on black, opaque).

CANVAS = 280


def canvas(draw: Callable[[ImageDraw.ImageDraw], object] | None = None) -> np.ndarray:
    picture = Image.new("L", (CANVAS, CANVAS), 0)
    if draw is not None:
        draw(ImageDraw.Draw(picture))
    pixels = np.zeros((CANVAS, CANVAS, 4), np.uint8)
    pixels[..., :3] = np.asarray(picture)[..., None]
    pixels[..., 3] = 255
    return pixels


def a_dot() -> np.ndarray:
    """One click of the 22-pixel brush."""
    return canvas(lambda d: d.ellipse((129, 129, 151, 151), fill=255))


def a_white_canvas() -> np.ndarray:
    return canvas(lambda d: d.rectangle((0, 0, CANVAS, CANVAS), fill=255))


# Uploads: files built here (a stroke of a "1" wherever there is a digit).

def encode(image: Image.Image, format: str, **options: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=format, **options)
    return buffer.getvalue()


def one(dark_on_light: bool = False) -> np.ndarray:
    """uint8 (100, 80): a vertical stroke, white on black (or black on white)."""
    pixels = np.zeros((100, 80), np.uint8)
    pixels[15:85, 35:47] = 255
    return 255 - pixels if dark_on_light else pixels


def png_of_one() -> bytes:
    return encode(Image.fromarray(one()), "PNG")


def huge() -> bytes:
    """A valid PNG padded past the limit by one byte over: cheap (zeros), and just over, where rounding bit."""
    data = png_of_one()
    return data + bytes(preprocess.MAX_UPLOAD_BYTES + 1 - len(data))


def sixteen_bit() -> bytes:
    image = Image.fromarray(one().astype(np.uint16) * 257)  # 0-65535: Pillow's mode "I;16"
    assert image.mode == "I;16"
    return encode(image, "PNG")


def transparent() -> bytes:
    """A black stroke on a fully transparent background (RGBA), as drawing apps export."""
    pixels = np.zeros((100, 80, 4), np.uint8)
    pixels[..., 3] = np.where(one() > 0, 255, 0)
    return encode(Image.fromarray(pixels, "RGBA"), "PNG")


def animated_gif() -> bytes:
    frames = [Image.fromarray(one()), Image.fromarray(one(dark_on_light=True))]
    return encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)


def animated_png() -> bytes:
    """An APNG whose first frame is blank and the second holds the digit."""
    return encode(Image.new("L", (80, 100), 0), "PNG", save_all=True, append_images=[Image.fromarray(one())],
                  duration=100)


def truncated_jpeg() -> bytes:
    data = encode(Image.fromarray(one(dark_on_light=True)).convert("RGB"), "JPEG", quality=90)
    return data[:len(data) // 2]


PDF = (b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n2 0 obj\n<< /Type /Pages /Kids [] "
       b"/Count 0 >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n")


# Model files: each setup prepares the folders and returns (link query, models that must still be attacked, files
# that must stay as they are).

Setup = Callable[[Path, pytest.MonkeyPatch], tuple[dict, list[str], list[Path]]]


def bundled_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *names: str) -> Path:
    """``ADVDEMO_PRETRAINED`` at a copy of ``pretrained/`` holding only ``names`` and the gallery."""
    folder = tmp_path / "pretrained"
    folder.mkdir()
    for name in (*names, "gallery.npz"):
        shutil.copy(PRETRAINED_DIR / name, folder / name)
    monkeypatch.setenv("ADVDEMO_PRETRAINED", str(folder))
    return folder


def missing_weights(tmp_path, monkeypatch):
    folder = bundled_copy(tmp_path, monkeypatch, "base.keras", "base.json", "robust.json")
    return {"models": "base,robust"}, ["base"], [folder / "base.keras", folder / "robust.json"]


def truncated_weights(tmp_path, monkeypatch):
    folder = bundled_copy(tmp_path, monkeypatch, "base.keras", "base.json", "robust.json")
    whole = (PRETRAINED_DIR / "robust.keras").read_bytes()
    (folder / "robust.keras").write_bytes(whole[:len(whole) // 2])  # a download or copy cut short
    return {"models": "base,robust"}, ["base"], [folder / "base.keras", folder / "robust.keras"]


def wrong_input_shape(tmp_path, monkeypatch):
    import keras

    inputs = keras.Input(shape=(32, 32, 1))  # not MNIST's 28x28
    odd = keras.Model(inputs, keras.layers.Dense(10)(keras.layers.Flatten()(inputs)))
    monkeypatch.setenv("ADVDEMO_HOME", str(tmp_path / "home"))
    info = registry.save_user_model(odd, {"summary": "32x32 input"}, "odd")
    return {"models": "base,odd"}, ["base"], [info.path, info.card_path]


# Training: each returns the job's final snapshot; the test compares the user folder before and after.

def tiny_request(name: str, epochs: int = 1) -> TrainingRequest:
    return TrainingRequest(name, "custom", "a bad-input test", TrainConfig(epochs=epochs, batch_size=32), None,
                           evaluation_n=0, curve_n=0)


def cancelled_halfway(monkeypatch):
    job = None

    def cancel_in_the_first_epoch(snapshot):
        if snapshot.state is State.TRAINING and snapshot.batch == 3:
            job.cancel()

    job = user_model_job(tiny_request("halfway", epochs=2), on_update=cancel_in_the_first_epoch)
    final = job.run()
    assert final.epoch == 1 and final.batch == 3  # stopped halfway through the training, not before it started
    return final


def disk_full(monkeypatch):
    """The disk fills up while Keras writes the model: half a file, then ENOSPC, from ``keras.Model.save`` (where
    the model's bytes reach the disk)."""
    import keras

    calls = []

    def full(self, filepath, *args, **kwargs):
        calls.append(filepath)
        Path(filepath).write_bytes(b"PK\x03\x04 the first half of a model")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(filepath))

    monkeypatch.setattr(keras.Model, "save", full)
    final = user_model_job(tiny_request("full-disk")).run()
    assert calls and Path(calls[0]).name.startswith(".full-disk")  # it wrote a temporary file, never the target
    return final


def no_mnist(monkeypatch):
    return user_model_job(tiny_request("no-data")).run()


# ----------------------------------------------------------------------------------------------------------------
# The table.

def link(id: str, fed: str, query: dict, shows: str, expect: dict, kept: str) -> Case:
    """A link row: the hostile value on top of a link that chose base, eps 0.3 and gallery digit 7."""
    return Case(id, "link", fed, shows, "info", kept, data={"models": "base", "eps": "0.3", "digit": "7", **query},
                expect=expect)


LINK_KEPT = "the rest of the link: base, eps 0.3, digit 7"
INPUT_KEPT = f"the gallery digit ({KEPT_DIGIT}) and eps ({KEPT_EPS}) chosen before"

CASES: tuple[Case, ...] = (
    # Drawings.
    Case("empty-canvas", "drawing", "an empty canvas", "**The canvas is empty.** Draw one digit", "info",
         INPUT_KEPT + "; no verdict", canvas()),
    Case("single-dot", "drawing", "a single dot", "**This does not look like a digit**: it is a single dot",
         "warning", INPUT_KEPT + "; the dot stays on the canvas; NO VERDICT badges", a_dot),
    Case("white-canvas", "drawing", "a fully white (painted-over) canvas",
         "**This does not look like a digit**: it is a painted-over canvas, not pen strokes", "warning",
         INPUT_KEPT + "; NO VERDICT badges", a_white_canvas),
    # Uploads.
    Case("huge-upload", "upload", "a file just over 5 MB", "The file is 5.1 MB; the limit is 5 MB.", "error",
         INPUT_KEPT + "; no stale result", ("huge.png", huge)),
    Case("non-image-upload", "upload", "a text file", "This file is not a PNG or JPEG image", "error",
         INPUT_KEPT, ("notes.txt", lambda: b"a shopping list, not a picture\n" * 20)),
    Case("zero-byte-upload", "upload", "a 0-byte file", "The file is empty (0 bytes).", "error", INPUT_KEPT,
         ("empty.png", lambda: b"")),
    Case("one-pixel-image", "upload", "a 1x1 image", "The image is 1x1 pixels: too small to hold a digit", "error",
         INPUT_KEPT, ("dot.png", lambda: encode(Image.new("L", (1, 1), 0), "PNG"))),
    Case("16-bit-png", "upload", "a 16-bit grey PNG", "Input: your picture `deep.png`.", "caption",
         INPUT_KEPT, ("deep.png", sixteen_bit), accepted=True),
    Case("transparent-png", "upload", "a black digit on a transparent PNG",
         "Input: your picture `clear.png` (inverted: dark ink on a light background).", "caption", INPUT_KEPT,
         ("clear.png", transparent), accepted=True),
    Case("animated-gif", "upload", "an animated GIF", "This is a GIF image; only PNG and JPEG are supported.",
         "error", INPUT_KEPT, ("moving.gif", animated_gif)),
    Case("animated-png", "upload", "an animated PNG (blank first frame)",
         "This PNG is animated (2 frames); upload a still picture of one digit.", "error", INPUT_KEPT,
         ("moving.png", animated_png)),
    Case("truncated-jpeg", "upload", "a JPEG cut in half", "The image could not be decoded (truncated or corrupt?)",
         "error", INPUT_KEPT, ("half.jpg", truncated_jpeg)),
    Case("pdf-upload", "upload", "a PDF", "This file is not a PNG or JPEG image", "error", INPUT_KEPT,
         ("scan.pdf", lambda: PDF)),
    Case("inverted-image", "upload", "a dark digit on white paper",
         "Input: your picture `paper.png` (inverted: dark ink on a light background).", "caption", INPUT_KEPT,
         ("paper.png", lambda: encode(Image.fromarray(one(dark_on_light=True)), "PNG")), accepted=True),
    # Links.
    link("eps-negative", "`eps=-1`", {"eps": "-1"}, "`eps=-1` (negative: using 0)",
         {EPS: 0.0, keys.GALLERY_INDEX: 7, keys.MODELS: ["base"]}, LINK_KEPT.replace("eps 0.3", "eps 0")),
    link("eps-huge", "`eps=1e9`", {"eps": "1e9"}, "`eps=1e9` (above the L-inf maximum 1: using 1)",
         {EPS: 1.0, keys.GALLERY_INDEX: 7, keys.MODELS: ["base"]}, LINK_KEPT.replace("eps 0.3", "eps 1")),
    link("eps-nan", "`eps=nan`", {"eps": "nan"}, "`eps=nan` (not a number)",
         {EPS: 0.2, keys.GALLERY_INDEX: 7, keys.MODELS: ["base"]}, LINK_KEPT.replace("eps 0.3", "eps 0.2")),
    link("norm-unknown", "`norm=foo`", {"norm": "foo"}, "`norm=foo` (unknown norm: use linf, l2 or l1)",
         {keys.NORM: Norm.LINF, EPS: 0.3, keys.GALLERY_INDEX: 7, keys.MODELS: ["base"]}, LINK_KEPT),
    link("digit-negative", "`digit=-1`", {"digit": "-1"}, "`digit=-1` (out of range 0-499)",
         {EPS: 0.3, keys.MODELS: ["base"]}, LINK_KEPT.replace(", digit 7", "")),
    link("digit-huge", "`digit=1000000000` (10**9)", {"digit": str(10**9)}, "`digit=1000000000` (far too large)",
         {EPS: 0.3, keys.MODELS: ["base"]}, LINK_KEPT.replace(", digit 7", "")),
    link("digit-superscript", "`digit=²`", {"digit": "²"}, "`digit=²` (not a whole number)",
         {EPS: 0.3, keys.MODELS: ["base"]}, LINK_KEPT.replace(", digit 7", "")),
    link("digit-5000-digits", "a 5,000-digit `digit`", {"digit": "9" * 5000}, "(5,000 characters: too long)",
         {EPS: 0.3, keys.MODELS: ["base"]}, LINK_KEPT.replace(", digit 7", "")),
    link("models-path", "`models=../../etc/passwd`", {"models": "../../etc/passwd"},
         "`models=../../etc/passwd` (no model of this app)", {EPS: 0.3, keys.GALLERY_INDEX: 7},
         LINK_KEPT.replace("base, ", "") + "; the default models"),
    link("models-duplicated", "`models=base,base`", {"models": "base,base"},
         "`models=base,base` (repeated base: using base)", {EPS: 0.3, keys.GALLERY_INDEX: 7, keys.MODELS: ["base"]},
         LINK_KEPT),
    link("drawing-malformed", "`input=draw&drawing=<garbage>`", {"input": "draw", "drawing": "<b>not-a-drawing"},
         "`drawing=<b>not-a-drawing` (not an encoded drawing)", {EPS: 0.3, keys.INPUT_MODE: keys.DRAW},
         "the rest of the link: Draw, base, eps 0.3; an empty canvas"),
    # Model files.
    Case("missing-weights", "model file", "a bundled weights file missing (robust.keras)",
         "**The robust model is unavailable**: model file", "error",
         "the other models, attacked as usual; every other file", missing_weights),
    Case("truncated-weights", "model file", "a weights file cut in half (robust.keras)",
         "is not a .keras archive (corrupt or truncated?)", "error",
         "the other models; the cut file itself, untouched", truncated_weights),
    Case("wrong-input-shape", "model file", "a user model taking 32x32 images",
         "**The odd model is unavailable**: model file", "error",
         "the other models; the user's file, untouched (rename or delete it under Your models)", wrong_input_shape),
    Case("name-with-path", "model name", "a new model named `../../etc/passwd`",
         "looks like a path: a model name is a plain word such as my-model-2", "error",
         "the name typed, to correct; nothing written, no training started", "../../etc/passwd"),
    # Training.
    Case("training-cancelled", "training", "Cancel, halfway through the first epoch", "cancelled: nothing was written",
         "job", "the models folder as it was (no model, card or temporary file)", cancelled_halfway),
    Case("disk-full", "training", "a full disk while the model is saved (simulated ENOSPC)",
         "No space left on device: the model 'full-disk' was not saved;", "job",
         "the models folder as it was: no half-written model, no temporary file or staging folder", disk_full),
    Case("mnist-missing", "training", "Train with `ADVDEMO_MNIST` naming a missing file",
         "does not exist: name a Keras-format mnist.npz (arrays x_train, y_train, x_test, y_test, uint8) with "
         "ADVDEMO_MNIST (then restart the app)", "job",
         "the models folder as it was; nothing downloaded", no_mnist),
)


def cases(kind: str) -> list:
    return [pytest.param(case, id=case.id) for case in CASES if case.kind == kind]


def test_the_table_has_every_case_once():
    ids = [case.id for case in CASES]
    assert len(ids) >= 25 and len(set(ids)) == len(ids)
    assert {case.kind for case in CASES} == {"drawing", "upload", "link", "model file", "model name", "training"}
    assert all(case.shows and case.kept and case.fed for case in CASES)


def test_every_case_is_in_the_documentation():
    text = BAD_INPUT_DOC.read_text()
    missing = [case.id for case in CASES if f"`{case.id}`" not in text]
    assert missing == [], f"add these rows to docs/bad-input.md's table: {missing}"


# ----------------------------------------------------------------------------------------------------------------
# The page.

def page_texts(at: AppTest, element: str) -> list[str]:
    return [str(item.value) for item in getattr(at, element)]


def shows(at: AppTest, case: Case) -> None:
    """The case's message is on the page, in its element; no exception anywhere on it."""
    assert not at.exception, [exception.value for exception in at.exception]
    found = page_texts(at, case.element)
    assert any(case.shows in text for text in found), (case.shows, found)


def input_page(mode: str) -> AppTest:
    """The page after a user chose gallery digit KEPT_DIGIT and eps KEPT_EPS (base only, the cheap curves tab),
    then switched to ``mode``."""
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    for key, value in {keys.VIEW: VIEW_CURVES, keys.MODELS: ["base"], keys.GALLERY_INDEX: KEPT_DIGIT,
                       EPS: KEPT_EPS}.items():
        at.session_state[key] = value
    rerun(at)
    assert f"gallery digit {KEPT_DIGIT} " in "\n".join(page_texts(at, "markdown")) and len(verdicts(at)) == 1
    at.radio(key=keys.INPUT_MODE).set_value(mode)
    return rerun(at)


def assert_input_kept(at: AppTest) -> None:
    """The eps and the models chosen before are still set, and the gallery digit comes back with its verdict."""
    assert at.slider(key=EPS).value == pytest.approx(KEPT_EPS)
    assert at.multiselect(key=keys.MODELS).value == ["base"]
    at.radio(key=keys.INPUT_MODE).set_value(keys.GALLERY)
    rerun(at)
    assert f"gallery digit {KEPT_DIGIT} " in "\n".join(page_texts(at, "markdown"))
    assert len(verdicts(at)) == 1 and at.slider(key=EPS).value == pytest.approx(KEPT_EPS)


@needs_models
@pytest.mark.parametrize("case", cases("drawing"))
def test_a_bad_drawing(case: Case):
    """Fed as the canvas's pixels (``keys.INJECTED_DRAWING``): the page's own drawing code then decides."""
    at = input_page(keys.DRAW)
    at.session_state[keys.INJECTED_DRAWING] = case.data() if callable(case.data) else case.data
    rerun(at)
    shows(at, case)
    if case.id == "empty-canvas":
        assert verdicts(at) == [] and keys.DRAWN_DIGIT not in at.session_state
    else:  # kept, to be drawn over; the models' answers shown without a verdict
        assert at.session_state[keys.DRAWN_DIGIT] is not None
        assert verdicts(at) and all(text.startswith("NO VERDICT: not a digit") for text in verdicts(at))
    assert_input_kept(at)


@needs_models
@pytest.mark.parametrize("case", cases("upload"))
def test_a_bad_upload(case: Case):
    """Fed through the page's file uploader: the page's ``inputs.handle_upload`` decides."""
    name, make = case.data
    data = make()
    at = input_page(keys.UPLOAD)
    at.file_uploader(key=keys.UPLOAD_FILE).set_value((name, data, "application/octet-stream"))
    rerun(at)
    shows(at, case)
    if case.accepted:
        assert not at.error and len(verdicts(at)) == 1
        assert not any("does not look like a digit" in text for text in page_texts(at, "warning"))
    else:
        [error] = page_texts(at, "error")
        assert error.startswith(f"**Cannot use `{name}`.**") and error.endswith("No result is shown for it.")
        assert verdicts(at) == []  # nothing stale either
    assert_input_kept(at)


@needs_models
@pytest.mark.parametrize("case", cases("link"))
def test_a_hostile_link(case: Case):
    """A new session opened on the link: one note says what was ignored or adjusted; the rest of the link is used."""
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    at.session_state[keys.VIEW] = VIEW_CURVES
    at.query_params.update(case.data)
    rerun(at)
    shows(at, case)
    notes = [text for text in page_texts(at, "info") if "from the link" in text]
    assert len(notes) == 1 and "\n" not in notes[0], notes
    for key, value in case.expect.items():
        assert at.session_state[key] == (pytest.approx(value) if isinstance(value, float) else value), key
    if case.data["digit"] != "7":  # refused: the page opens on its default digit
        default = default_gallery_index(load_gallery(PRETRAINED_DIR / "gallery.npz"))
        assert at.session_state[keys.GALLERY_INDEX] == default
    if case.data.get("input") == "draw":
        assert EMPTY_CANVAS_PROMPT in page_texts(at, "info") and verdicts(at) == []
    else:
        assert verdicts(at)  # the page carries on
    rerun(at)  # a reload keeps the URL the page rewrote: still no exception, still one note
    assert len([text for text in page_texts(at, "info") if "from the link" in text]) == 1


@needs_models
@pytest.mark.parametrize("case", cases("model file"))
def test_a_broken_model_file(case: Case, tmp_path, monkeypatch):
    query, still_attacked, untouched = case.data(tmp_path, monkeypatch)
    before = {path: path.read_bytes() for path in untouched}
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    at.session_state[keys.VIEW] = VIEW_CURVES
    at.query_params.update(query)
    rerun(at)
    shows(at, case)
    [error] = [text for text in page_texts(at, "error") if case.shows in text]
    assert "The app carries on with the other models." in error
    assert at.multiselect(key=keys.MODELS).value == still_attacked and len(verdicts(at)) == len(still_attacked)
    assert {path: path.read_bytes() for path in untouched} == before


@needs_models
@pytest.mark.parametrize("case", cases("model name"))
def test_a_model_name_with_a_path(case: Case, tmp_path, monkeypatch):
    """Typed in the training panel's name field, then Train: refused before anything starts."""
    monkeypatch.setenv("ADVDEMO_HOME", str(tmp_path / "home"))
    training.job_manager.clear()
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    at.session_state[keys.VIEW] = VIEW_CURVES
    at.session_state[keys.MODELS] = ["base"]
    rerun(at)
    at.sidebar.text_input(key=training.NAME).set_value(case.data)
    at.sidebar.button(key="train_start").click()
    rerun(at)
    shows(at, case)
    assert at.sidebar.text_input(key=training.NAME).value == case.data
    assert training.job_manager().current() is None
    assert sorted(tmp_path.rglob("*")) == [] and len(verdicts(at)) == 1


def folder_contents(folder: Path) -> dict[str, bytes | None]:
    """Every file (bytes) and folder (None) under ``folder``, hidden ones included."""
    return {str(path.relative_to(folder)): path.read_bytes() if path.is_file() else None
            for path in folder.rglob("*")} if folder.exists() else {}


@pytest.mark.parametrize("case", cases("training"))
def test_a_training_mishap(case: Case, tmp_path, monkeypatch, write_tiny_mnist, make_linear_model,
                           no_keras_download):
    """Through ``TrainingJob`` with the app's save: the job ends with the message the panel shows, and the user's
    models folder (holding an earlier model) is exactly as it was."""
    monkeypatch.setenv("ADVDEMO_HOME", str(tmp_path / "home"))
    data = tmp_path / ("nowhere/mnist.npz" if case.id == "mnist-missing" else "tiny.npz")
    if case.id != "mnist-missing":
        write_tiny_mnist(data)
    monkeypatch.setenv("ADVDEMO_MNIST", str(data))
    registry.save_user_model(make_linear_model(), {"summary": "trained earlier"}, "earlier")
    users = registry.user_dir()
    before = folder_contents(users)
    final = case.data(monkeypatch)
    assert final.state is (State.CANCELLED if case.id == "training-cancelled" else State.FAILED), final.message
    assert case.shows in final.message, final.message
    assert "\n" not in final.message and "Traceback" not in final.message
    assert folder_contents(users) == before  # nothing new, nothing half-written, nothing temporary
    assert registry.list_models().names == (*registry.BUNDLED_NAMES, "earlier")
