"""Section 1: choose a digit (draw it, pick it from the gallery, or upload a picture), and see the 28x28
image the models receive.

A drawing can be injected for tests (AppTest cannot render the canvas component, which then returns its
default, an empty drawing): put an RGBA (H, W, 4) or grey (H, W) array, white ink on black, in
``st.session_state["injected_drawing"]`` (``state.INJECTED_DRAWING``) and it replaces the canvas's pixels.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import streamlit as st

from advdemo import preprocess
from advdemo.data import Gallery
from advdemo.ui import state
from advdemo.ui.charts import UPSCALE, upscale

CANVAS_SIZE = 280
STROKE_WIDTH = 22
EMPTY_CANVAS_PROMPT = ("**The canvas is empty.** Draw one digit (0-9) with the mouse or a finger: large, "
                       "in the middle of the black square.")
NO_UPLOAD_PROMPT = ("Upload a photo or scan of **one** handwritten digit (PNG or JPEG, up to "
                    f"{preprocess.MAX_UPLOAD_BYTES // 2**20} MB). Dark ink on light paper is inverted automatically.")
#: The "Which digit is it?" choice that leaves the label to the base model (a selectbox shows None as empty).
AUTO_LABEL = -1
EMPTY_UPLOAD_PROMPT = "No digit found in this picture: it looks blank. Try a darker pen or a tighter crop."


@dataclasses.dataclass(frozen=True)
class InputDigit:
    """The digit under attack.

    Attributes:
        image: float32 (28, 28) in [0, 1], white on black, as the models see it.
        label: the true class (gallery) or the class the user stated; ``None`` means "use the base model's
            clean answer".
        origin: ``gallery``, ``drawing`` or ``upload``.
        description: where it comes from, for captions.
    """

    image: np.ndarray
    label: int | None
    origin: str
    description: str


@dataclasses.dataclass(frozen=True)
class UploadOutcome:
    """What became of an uploaded file: a digit, or a message (an error, or a prompt for a blank picture)."""

    digit: preprocess.Preprocessed | None
    message: str | None
    is_error: bool


def handle_upload(name: str, data: bytes) -> UploadOutcome:
    """Decode and preprocess an uploaded file; never raises for a bad file (the message says what is wrong)."""
    try:
        return UploadOutcome(preprocess.preprocess_upload(data), None, False)
    except preprocess.EmptyImageError:
        return UploadOutcome(None, EMPTY_UPLOAD_PROMPT, False)
    except preprocess.ImageError as error:
        return UploadOutcome(None, f"**Cannot use `{name}`.** {error}", True)


def render_canvas(key: str) -> np.ndarray | None:
    """The drawing canvas (white strokes on black); returns its RGBA pixels, or None before any drawing.

    The component is imported here, not at module level: registering it needs a running Streamlit (a plain
    ``import advdemo.ui.inputs``, e.g. from a test, must work without one).
    """
    from streamlit_drawable_canvas import st_canvas

    result = st_canvas(stroke_width=STROKE_WIDTH, stroke_color="#FFFFFF", background_color="#000000",
                       height=CANVAS_SIZE, width=CANVAS_SIZE, drawing_mode="freedraw", return_image_data=True,
                       update_streamlit=True, key=key)
    return result.image_data


def _clear_canvas() -> None:
    """A fresh canvas (a new key remounts it empty) and no injected drawing."""
    st.session_state[state.CANVAS_VERSION] = st.session_state.get(state.CANVAS_VERSION, 0) + 1
    st.session_state.pop(state.INJECTED_DRAWING, None)


def drawing_input() -> InputDigit | None:
    """The canvas; a digit once something is drawn, else a prompt."""
    state.default(state.CANVAS_VERSION, 0)
    pixels = render_canvas(f"canvas_{st.session_state[state.CANVAS_VERSION]}")
    st.button("Clear the canvas", icon=":material/delete:", on_click=_clear_canvas)
    st.caption("Undo, redo and reset: hover over the canvas for its toolbar.")
    injected = st.session_state.get(state.INJECTED_DRAWING)
    if injected is not None:
        pixels = np.asarray(injected)
    if pixels is None:
        st.info(EMPTY_CANVAS_PROMPT, icon=":material/draw:")
        return None
    try:
        digit = preprocess.preprocess_drawing(pixels)
    except preprocess.EmptyImageError:
        st.info(EMPTY_CANVAS_PROMPT, icon=":material/draw:")
        return None
    except preprocess.ImageError as error:
        st.error(f"This drawing cannot be used: {error}")
        return None
    return InputDigit(digit.image, None, "drawing", "your drawing")


def _pick(gallery: Gallery, digit_class: int | None = None, hard: bool = False) -> None:
    """Callback: a random gallery digit, of ``digit_class`` if given, among the hard ones if ``hard``."""
    mask = np.ones(len(gallery), dtype=bool)
    if digit_class is not None:
        mask &= gallery.labels == digit_class
    if hard:
        mask &= gallery.hard
    candidates = np.flatnonzero(mask)
    if candidates.size == 0:
        candidates = np.arange(len(gallery))
    st.session_state[state.GALLERY_INDEX] = int(np.random.default_rng().choice(candidates))


def _pick_class(gallery: Gallery) -> None:
    """Callback of the class buttons: a random digit of the clicked class; the buttons then reset."""
    chosen = st.session_state.get(state.GALLERY_CLASS)
    if chosen is not None:
        _pick(gallery, int(chosen))
        st.session_state[state.GALLERY_CLASS] = None


def default_gallery_index(gallery: Gallery) -> int:
    """The first hard digit (the base model falls for a small attack on it), else the first digit."""
    hard = np.flatnonzero(gallery.hard)
    return int(hard[0]) if hard.size else 0


def gallery_input(gallery: Gallery | None, error: str | None) -> InputDigit | None:
    """Pick a bundled MNIST test digit: by index, at random, a hard one, or a random one of a class."""
    if gallery is None:
        st.error(f"**The digit gallery is unavailable**: {error}\n\nFix: `python -m advdemo.gallery` or "
                 "`git checkout -- pretrained/gallery.npz`. You can still draw or upload a digit.")
        return None
    state.default(state.GALLERY_INDEX, default_gallery_index(gallery))
    index = st.session_state[state.GALLERY_INDEX]
    if not isinstance(index, int) or not 0 <= index < len(gallery):
        st.session_state[state.GALLERY_INDEX] = default_gallery_index(gallery)
    by_index, random, hard = st.columns([2, 1, 1], vertical_alignment="bottom")
    by_index.number_input(f"Digit number (0-{len(gallery) - 1})", min_value=0, max_value=len(gallery) - 1,
                          step=1, key=state.GALLERY_INDEX)
    random.button("Random", icon=":material/casino:", on_click=_pick, args=(gallery,), width="stretch")
    hard.button("Hard one", icon=":material/local_fire_department:", on_click=_pick, args=(gallery, None, True),
                width="stretch", help="A digit the base model gets wrong under a small attack.")
    st.pills("Random digit of class", list(range(10)), key=state.GALLERY_CLASS, on_change=_pick_class,
             args=(gallery,))
    index = int(st.session_state[state.GALLERY_INDEX])
    hard_note = " · a hard one" if gallery.hard[index] else ""
    return InputDigit(gallery.images[index, :, :, 0], int(gallery.labels[index]), "gallery",
                      f"gallery digit {index} (MNIST test image {int(gallery.test_indices[index])}){hard_note}")


def upload_input() -> InputDigit | None:
    """A PNG/JPEG upload; bad files give an error message, blank pictures a prompt."""
    file = st.file_uploader("A picture of one digit", type=["image/png", "image/jpeg"],
                            max_upload_size=preprocess.MAX_UPLOAD_BYTES // 2**20, key=state.UPLOAD_FILE)
    if file is None:
        st.info(NO_UPLOAD_PROMPT, icon=":material/upload:")
        return None
    outcome = handle_upload(file.name, file.getvalue())
    if outcome.digit is None:
        (st.error if outcome.is_error else st.info)(outcome.message or "")
        return None
    note = " (inverted: dark ink on a light background)" if outcome.digit.inverted else ""
    return InputDigit(outcome.digit.image, None, "upload", f"your picture {file.name}{note}")


def _stated_label(value: int) -> str:
    return "let the base model decide" if value == AUTO_LABEL else str(value)


def input_section(gallery: Gallery | None, gallery_error: str | None) -> InputDigit | None:
    """Section 1: the input chooser on the left, the 28x28 model input on the right."""
    st.subheader("1 · Choose a digit")
    left, right = st.columns([3, 2], gap="large")
    with left:
        state.default(state.INPUT_MODE, state.GALLERY if gallery is not None else state.DRAW)
        mode = st.radio("Input", state.INPUT_MODES, key=state.INPUT_MODE, horizontal=True,
                        label_visibility="collapsed")
        if mode == state.DRAW:
            digit = drawing_input()
        elif mode == state.UPLOAD:
            digit = upload_input()
        else:
            digit = gallery_input(gallery, gallery_error)
    with right:
        if digit is None:
            st.caption("The 28 × 28 image the models see appears here.")
            return None
        st.image(upscale(digit.image), width=28 * UPSCALE,
                 caption="What the models see: 28 × 28 pixels, MNIST-style")
        if digit.label is not None:
            st.markdown(f"**True label: {digit.label}** · {digit.description}")
            return digit
        state.default(state.STATED_LABEL, AUTO_LABEL)
        stated = st.selectbox("Which digit is it?", [AUTO_LABEL, *range(10)], key=state.STATED_LABEL,
                              format_func=_stated_label,
                              help="The label an attack tries to move the models away from.")
        st.caption(f"Input: {digit.description}.")
        return dataclasses.replace(digit, label=None if stated == AUTO_LABEL else int(stated))
