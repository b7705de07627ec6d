"""Section 1: choose a digit (draw it, pick it from the gallery, or upload a picture), and see the 28x28
image the models receive.

A drawing can be injected for tests (AppTest cannot render the canvas component, which then returns its
default, an empty drawing): put an RGBA (H, W, 4) or grey (H, W) array, white ink on black, in
``st.session_state["injected_drawing"]`` (``keys.INJECTED_DRAWING``) and it replaces the canvas's pixels.

The drawing is kept in session state as the 28x28 image the models see (never a model): switching to the gallery
and back restores it on the canvas (its own strokes, or, for a drawing from a link, its pixels as squares). A
drawing or picture that does not look like a digit (``preprocess.not_a_digit``) is said so, and why.

In presentation mode the section is one row: a thumbnail of the digit, its label, and the chooser folded away
(``folded_input_section``).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from advdemo.data import Gallery, preprocess
from advdemo.demo import link
from advdemo.demo.charts import UPSCALE, upscale
from advdemo.models.registry import TRANSFER_SOURCE
from advdemo.ui import keys
from advdemo.ui.lang import N_, _

CANVAS_SIZE = 280
STROKE_WIDTH = 22
EMPTY_CANVAS_PROMPT = N_("**The canvas is empty.** Draw one digit (0-9) with the mouse or a finger: large, "
                       "in the middle of the black square.")
NO_UPLOAD_PROMPT = N_("Upload a photo or scan of **one** handwritten digit (PNG or JPEG, up to {mb} MB). Dark ink "
                      "on light paper is inverted automatically.")
#: The upload widget takes any type and up to this many MB, so that the page, not the widget, refuses a GIF, a PDF
#: or a file over MAX_UPLOAD_BYTES, and says why (the widget only marks the files it refuses with a red "!").
UPLOAD_WIDGET_MB = 50
EMPTY_UPLOAD_PROMPT = N_("No digit found in this picture: it looks blank. Try a darker pen or a tighter crop.")
#: Asked beside a drawing or picture: its true label, in one click.
LABEL_QUESTION = {"drawing": N_("Which digit did you draw?"), "upload": N_("Which digit is it?")}
#: Presentation mode: the thumbnail's scale (pixels per MNIST pixel), and the folded chooser's label.
THUMBNAIL_UPSCALE = 4
CHANGE_DIGIT = N_("1 · Change the digit (gallery, draw, upload)")
#: Set when presentation mode's chooser must open on the next run (it had no digit to show while folded).
_OPEN_CHOOSER = "_open_input_chooser"
#: The input choices, shown translated.
_MODE_MSGIDS = (N_("Gallery"), N_("Draw"), N_("Upload"))
NO_LABEL_YET = N_("**No true label yet.** A {what} has none until you give it: click its digit above. Until then "
                "the attack moves the models away from the **{judge}** model's guess, and *ALREADY WRONG?* only "
                "means that a model disagrees with that guess.")


@dataclasses.dataclass(frozen=True)
class InputDigit:
    """The digit under attack.

    Attributes:
        image: float32 (28, 28) in [0, 1], white on black, as the models see it.
        label: the true class (gallery) or the class the user stated; ``None`` means "use the base model's
            clean answer".
        origin: ``gallery``, ``drawing`` or ``upload``.
        description: where it comes from, for captions.
        not_a_digit: why it does not look like a digit (``preprocess.not_a_digit``), or None.
    """

    image: np.ndarray
    label: int | None
    origin: str
    description: str
    not_a_digit: str | None = None


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
        return UploadOutcome(None, _(EMPTY_UPLOAD_PROMPT), False)
    except preprocess.ImageError as error:
        message = _("**Cannot use `{name}`.** {error}").format(name=link.shown(name), error=error)
        return UploadOutcome(None, message, True)


def render_canvas(key: str, initial_drawing: dict | None = None) -> tuple[np.ndarray | None, dict | None]:
    """The drawing canvas (white strokes on black), starting with ``initial_drawing`` (fabric.js JSON); returns
    its RGBA pixels (None before any stroke since it was shown) and its strokes.

    The component is imported here, not at module level: registering it needs a running Streamlit (a plain
    ``import advdemo.ui.inputs``, e.g. from a test, must work without one).
    """
    from streamlit_drawable_canvas import st_canvas

    result = st_canvas(stroke_width=STROKE_WIDTH, stroke_color="#FFFFFF", background_color="#000000",
                       height=CANVAS_SIZE, width=CANVAS_SIZE, drawing_mode="freedraw", return_image_data=True,
                       update_streamlit=True, initial_drawing=initial_drawing, key=key)
    return result.image_data, result.json_data


def squares_drawing(image: np.ndarray, size: int = CANVAS_SIZE) -> dict:
    """A 28x28 image as canvas objects (fabric.js JSON): one grey square per inked pixel, filling the canvas."""
    cell = size / image.shape[0]
    levels = np.round(np.clip(np.asarray(image, dtype=np.float64), 0.0, 1.0) * 255).astype(int)
    objects = [{"type": "rect", "left": col * cell, "top": row * cell, "width": cell, "height": cell,
                "fill": f"rgb({level},{level},{level})", "strokeWidth": 0, "originX": "left", "originY": "top"}
               for (row, col), level in np.ndenumerate(levels) if level > 0]
    return {"objects": objects}


def drawing_seed() -> dict | None:
    """What the canvas starts with when shown: the kept drawing's strokes, else (a drawing from a link) its
    pixels as squares, else nothing."""
    strokes = st.session_state.get(keys.DRAWING_STROKES)
    if strokes and strokes.get("objects"):
        return strokes
    drawn = st.session_state.get(keys.DRAWN_DIGIT)
    return None if drawn is None else squares_drawing(drawn)


def forget_drawing() -> None:
    """No drawing any more, and no label for it."""
    for key in (keys.DRAWN_DIGIT, keys.DRAWN_INK, keys.DRAWING_STROKES, keys.STATED_LABEL):
        st.session_state.pop(key, None)


def _clear_canvas() -> None:
    """A fresh canvas (a new key remounts it empty), no injected drawing and no kept one."""
    st.session_state[keys.CANVAS_VERSION] = st.session_state.get(keys.CANVAS_VERSION, 0) + 1
    st.session_state[keys.CANVAS_SEED] = None
    st.session_state.pop(keys.INJECTED_DRAWING, None)
    forget_drawing()


def remount_canvas() -> None:
    """Callback of the input choice: back on Draw, a fresh canvas that starts with the kept drawing."""
    if st.session_state.get(keys.INPUT_MODE) == keys.DRAW:
        st.session_state[keys.CANVAS_VERSION] = st.session_state.get(keys.CANVAS_VERSION, 0) + 1
        st.session_state[keys.CANVAS_SEED] = drawing_seed()


def keep_drawing(pixels: np.ndarray, strokes: dict | None) -> str | None:
    """Preprocess what the canvas holds and keep it (quantised as a link keeps it) in session state; an empty
    canvas forgets the drawing. Returns an error message for pixels that are not an image, else None."""
    try:
        digit = preprocess.preprocess_drawing(pixels, min_ink_fraction=0.0)  # a dot is "not a digit", not empty
    except preprocess.EmptyImageError:
        forget_drawing()
        return None
    except preprocess.ImageError as error:
        return _("This drawing cannot be used: {error}").format(error=error)
    st.session_state[keys.DRAWN_DIGIT] = link.quantise(digit.image)
    st.session_state[keys.DRAWN_INK] = digit.ink_fraction
    if strokes is not None:
        st.session_state[keys.DRAWING_STROKES] = strokes
    return None


def drawing_input() -> InputDigit | None:
    """The canvas; the kept drawing once something is drawn, else a prompt."""
    keys.default(keys.CANVAS_VERSION, 0)
    if keys.CANVAS_SEED not in st.session_state:  # first shown: with the drawing of a link, if any
        st.session_state[keys.CANVAS_SEED] = drawing_seed()
    pixels, strokes = render_canvas(f"canvas_{st.session_state[keys.CANVAS_VERSION]}",
                                    st.session_state[keys.CANVAS_SEED])
    st.button(_("Clear the canvas"), icon=":material/delete:", on_click=_clear_canvas)
    st.caption(_("Undo, redo and reset: the toolbar above the canvas (with a mouse, it shows while over the "
                 "canvas)."))
    injected = st.session_state.get(keys.INJECTED_DRAWING)
    if injected is not None:
        pixels, strokes = np.asarray(injected), None
    if pixels is not None:
        error = keep_drawing(pixels, strokes)
        if error:
            st.error(error)
            return None
    drawn = st.session_state.get(keys.DRAWN_DIGIT)
    if drawn is None:
        st.info(_(EMPTY_CANVAS_PROMPT), icon=":material/draw:")
        return None
    return InputDigit(drawn, None, "drawing", _("your drawing"),
                      preprocess.not_a_digit(drawn, st.session_state.get(keys.DRAWN_INK), "canvas"))


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
    st.session_state[keys.GALLERY_INDEX] = int(np.random.default_rng().choice(candidates))
    st.session_state[keys.INPUT_OPEN] = False  # presentation mode: a digit is chosen, fold the chooser away


def _pick_class(gallery: Gallery) -> None:
    """Callback of the class buttons: a random digit of the clicked class; the buttons then reset."""
    chosen = st.session_state.get(keys.GALLERY_CLASS)
    if chosen is not None:
        _pick(gallery, int(chosen))
        st.session_state[keys.GALLERY_CLASS] = None


def default_gallery_index(gallery: Gallery) -> int:
    """The first hard digit (the base model falls for a small attack on it), else the first digit."""
    hard = np.flatnonzero(gallery.hard)
    return int(hard[0]) if hard.size else 0


def gallery_input(gallery: Gallery | None, error: str | None) -> InputDigit | None:
    """Pick a bundled MNIST test digit: by index, at random, a hard one, or a random one of a class."""
    if gallery is None:
        st.error(_("**The digit gallery is unavailable**: {error}\n\nFix: `python -m advdemo.gallery` or "
                   "`git checkout -- pretrained/gallery.npz`. You can still draw or upload a digit.").format(
                     error=error))
        return None
    keys.default(keys.GALLERY_INDEX, default_gallery_index(gallery))
    index = st.session_state[keys.GALLERY_INDEX]
    if not isinstance(index, int) or not 0 <= index < len(gallery):
        st.session_state[keys.GALLERY_INDEX] = default_gallery_index(gallery)
    by_index, pickers = st.columns(2, vertical_alignment="bottom")
    by_index.number_input(_("Digit number (0-{last})").format(last=len(gallery) - 1), min_value=0,
                          max_value=len(gallery) - 1,
                          step=1, key=keys.GALLERY_INDEX)
    with pickers.container(horizontal=True, gap="small"):  # each button as wide as its words; a narrow window wraps
        st.button(_("Random"), icon=":material/casino:", on_click=_pick, args=(gallery,), width="content")
        st.button(_("Hard one"), icon=":material/local_fire_department:", on_click=_pick, args=(gallery, None, True),
                  width="content", help=_("A digit the base model gets wrong under a small attack."))
    st.pills(_("Random digit of class"), list(range(10)), key=keys.GALLERY_CLASS, on_change=_pick_class,
             args=(gallery,))
    index = int(st.session_state[keys.GALLERY_INDEX])
    hard_note = _(" · a hard one") if gallery.hard[index] else ""
    return InputDigit(gallery.images[index, :, :, 0], int(gallery.labels[index]), "gallery",
                      _("gallery digit {index} (MNIST test image {test})").format(
                          index=index, test=int(gallery.test_indices[index])) + hard_note)


def _new_upload() -> None:
    """Callback of the upload widget: a new picture has no label yet."""
    st.session_state.pop(keys.UPLOAD_LABEL, None)


def upload_input() -> InputDigit | None:
    """An uploaded picture. The widget takes any file, so that the page says why one is refused (not a PNG or
    JPEG, too large, corrupt) and shows no result for it; blank pictures give a prompt."""
    file = st.file_uploader(_("A picture of one digit (PNG or JPEG)"), type=None, max_upload_size=UPLOAD_WIDGET_MB,
                            key=keys.UPLOAD_FILE, on_change=_new_upload)
    if file is None:
        st.info(_(NO_UPLOAD_PROMPT).format(mb=preprocess.MAX_UPLOAD_BYTES // 2**20), icon=":material/upload:")
        return None
    outcome = handle_upload(file.name, file.getvalue())
    if outcome.digit is None:
        if outcome.is_error:
            st.error(_("{message} No result is shown for it.").format(message=outcome.message), icon=":material/block:")
        else:
            st.info(outcome.message or "")
        return None
    note = _(" (inverted: dark ink on a light background)") if outcome.digit.inverted else ""
    return InputDigit(outcome.digit.image, None, "upload",
                      _("your picture `{name}`").format(name=link.shown(file.name)) + note,
                      preprocess.not_a_digit(outcome.digit.image, outcome.digit.ink_fraction, "picture"))


def stated_label(digit: InputDigit) -> int | None:
    """The label the user gives a drawing or a picture, in one click (None until they do), with a word on what
    the verdicts mean without it."""
    key = keys.STATED_LABEL if digit.origin == "drawing" else keys.UPLOAD_LABEL
    stated = st.pills(_(LABEL_QUESTION.get(digit.origin, LABEL_QUESTION["upload"])), list(range(10)), key=key,
                      help=_("Its true label: what the attack tries to move the models away from."))
    if stated is None:
        st.info(_(NO_LABEL_YET).format(what=_("drawing") if digit.origin == "drawing" else _("picture"),
                                    judge=TRANSFER_SOURCE), icon=":material/help:")
        return None
    return int(stated)


def describe_digit(digit: InputDigit, picture: DeltaGenerator, thumbnail: bool = False) -> InputDigit:
    """The 28x28 image the models see (in ``picture``; a small one with ``thumbnail``), its true label and where it
    comes from; for a drawing or a picture, whether it looks like a digit and the one-click question for its label.
    Returns the digit with the label given, if any."""
    if thumbnail:
        picture.image(upscale(digit.image, THUMBNAIL_UPSCALE), width=28 * THUMBNAIL_UPSCALE)
    else:
        picture.image(upscale(digit.image), width=28 * UPSCALE,
                      caption=_("What the models see: 28 × 28 pixels, MNIST-style"))
    if digit.label is not None:
        seen = _(" · on the left, the 28 × 28 pixels the models see") if thumbnail else ""
        st.markdown(_("**True label: {label}** · {description}").format(label=digit.label,
                                                                        description=digit.description) + seen)
        return digit
    if digit.not_a_digit is not None:
        st.warning(_("**This does not look like a digit**: it is {why}.").format(why=digit.not_a_digit),
                   icon=":material/help:")
    label = stated_label(digit)
    st.caption(_("Input: {description}.").format(description=digit.description))
    return dataclasses.replace(digit, label=label)


def choose_digit(gallery: Gallery | None, gallery_error: str | None) -> InputDigit | None:
    """The Gallery / Draw / Upload choice and the chosen input's widgets; the digit, or None (none yet, or
    refused)."""
    keys.default(keys.INPUT_MODE, keys.GALLERY if gallery is not None else keys.DRAW)
    mode = st.radio(_("Input"), keys.INPUT_MODES, key=keys.INPUT_MODE, horizontal=True, format_func=_,
                    label_visibility="collapsed", on_change=remount_canvas)
    if mode == keys.DRAW:
        return drawing_input()
    if mode == keys.UPLOAD:
        return upload_input()
    return gallery_input(gallery, gallery_error)


def folded_input_section(gallery: Gallery | None, gallery_error: str | None) -> InputDigit | None:
    """Presentation mode's section 1, one row high: a thumbnail of the digit, its label, and the whole chooser
    folded away under "Change the digit". The chooser opens by itself when there is no digit (an empty canvas, a
    refused picture), and folds when a gallery button picks one."""
    if st.session_state.pop(_OPEN_CHOOSER, False):
        st.session_state[keys.INPUT_OPEN] = True
    keys.default(keys.INPUT_OPEN, False)
    picture, about, change = st.columns([1, 5, 5], gap="medium", vertical_alignment="center")
    with change:
        chooser = st.expander(_(CHANGE_DIGIT), key=keys.INPUT_OPEN, on_change="rerun", icon=":material/edit:")
        with chooser:
            digit = choose_digit(gallery, gallery_error)
    if digit is None:
        if not chooser.open:  # nothing to show: open the chooser (a widget's state is set before it is drawn)
            st.session_state[_OPEN_CHOOSER] = True
            st.rerun()
        about.caption(_("Choose a digit: the thumbnail of what the models see appears here."))
        return None
    with about:
        return describe_digit(digit, picture, thumbnail=True)


def input_section(gallery: Gallery | None, gallery_error: str | None, compact: bool = False) -> InputDigit | None:
    """Section 1: the input chooser on the left, the 28x28 model input on the right; in presentation mode
    (``compact``), ``folded_input_section``."""
    if compact:
        return folded_input_section(gallery, gallery_error)
    st.subheader(_("1 · Choose a digit"))
    left, right = st.columns([3, 2], gap="large")
    with left:
        digit = choose_digit(gallery, gallery_error)
    with right:
        if digit is None:
            st.caption(_("The 28 × 28 image the models see appears here."))
            return None
        return describe_digit(digit, right)
