"""Every session-state key of the app, in one place, with the two helpers that give widgets their values.

Every widget has a key here and gets its default through ``default()`` (never both a ``value=`` argument and
session state, which Streamlit warns about).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import streamlit as st

from advdemo.configs import Norm

# Input.
INPUT_MODE = "input_mode"
DRAW, GALLERY, UPLOAD = "Draw", "Gallery", "Upload"  # shown translated (msgids: inputs._MODE_MSGIDS)
INPUT_MODES = (GALLERY, DRAW, UPLOAD)
#: Tests (and future features) put a drawing here: an RGBA (H, W, 4) or grey (H, W) array, white on black.
#: When present it replaces what the canvas returns.
INJECTED_DRAWING = "injected_drawing"
CANVAS_VERSION = "canvas_version"
#: The drawing, kept while another input is shown: the 28x28 image the models see (float32, 8-bit levels), the
#: share of the canvas that was ink (None when it came from a link), the canvas's own strokes (fabric.js JSON),
#: and what the canvas starts with when it is shown again.
DRAWN_DIGIT = "drawn_digit"
DRAWN_INK = "drawn_ink"
DRAWING_STROKES = "drawing_strokes"
CANVAS_SEED = "canvas_seed"
GALLERY_INDEX = "gallery_index"
GALLERY_CLASS = "gallery_class"
#: The digit the user says they drew, and the one on their uploaded picture (None: not said).
STATED_LABEL = "stated_label"
UPLOAD_LABEL = "upload_label"
UPLOAD_FILE = "upload_file"
# Attack controls.
MODELS = "models"
NORM = "norm"
METHOD = "method"
STEPS = "pgd_steps"
STEP_FRACTION = "pgd_step_fraction"
RANDOM_START = "pgd_random_start"
TARGETED = "targeted"
TARGET = "target"
SOURCE = "source"
TRANSFER_FROM = "transfer_from"
NOISE = "noise"
# Display.
#: Presentation mode (the toggle at the top of the page): large type, no Streamlit chrome, the norm, eps and attack
#: above the results instead of in the sidebar, the input section folded to a thumbnail.
PRESENT = "present"
#: Whether presentation mode's folded input section ("Change the digit") is open.
INPUT_OPEN = "input_open"
#: The guided tour (``advdemo.ui.tour``): the step shown, 1-based (absent: no tour).
TOUR = "tour_step"
# Views.
VIEW = "view"
BATCH_SIZE = 32
VIEW_SWEEP = "This digit: ε sweep"
VIEW_CURVES = "Test set: accuracy vs ε"
VIEW_BATCH = f"A batch of {BATCH_SIZE}"
VIEW_STEPS = "PGD step by step"
VIEW_QUIZ = "Quiz"
#: The detail views (tabs) by their name in the URL.
VIEWS = {"sweep": VIEW_SWEEP, "curves": VIEW_CURVES, "batch": VIEW_BATCH, "steps": VIEW_STEPS, "quiz": VIEW_QUIZ}
BATCH_START = "batch_start"
#: The step-through (``advdemo.ui.stepthrough``): its model, the step shown, and whether it plays.
STEP_MODEL = "step_model"
STEP_INDEX = "step_index"
STEP_PLAYING = "step_playing"
#: The quiz (``advdemo.ui.quiz``): its model and kind of round (widgets); its seed, round number, score (right,
#: asked) and the answer to the current round (kind, round number, answer), numbers only.
QUIZ_MODEL = "quiz_model"
QUIZ_KIND = "quiz_kind"
QUIZ_SEED = "quiz_seed"
QUIZ_ROUND = "quiz_round"
QUIZ_SCORE = "quiz_score"
QUIZ_ANSWER = "quiz_answer"
URL_RESTORED = "_url_restored"
#: The page's language (the selector at the top; ``lang=`` in the link), and the browser's (the default).
LANG = "lang"
LANG_BROWSER = "_lang_browser"
#: What the link could not use as given (one line, shown on the page), or None.
URL_NOTE = "url_note"
#: Widgets whose value outlives a run in which they are not shown (Streamlit forgets those otherwise): the gallery
#: digit and the stated label while another input is shown (the input section's), the tab, the target, PGD's
#: settings, the transfer source, each norm's eps while another norm is chosen, and the step-through's and the
#: quiz's choices while hidden (the attack fragment's).
KEPT_INPUT = (GALLERY_INDEX, STATED_LABEL)
KEPT_ATTACK = (VIEW, TARGET, STEPS, STEP_FRACTION, RANDOM_START, TRANSFER_FROM, *(f"eps_{norm.value}" for norm in Norm),
               STEP_MODEL, QUIZ_MODEL, QUIZ_KIND)


def eps_key(norm: Norm) -> str:
    """Each norm keeps its own eps slider (and so its own range, default and value: ``KEPT_ATTACK``)."""
    return f"eps_{norm.value}"


def default(key: str, value: Any) -> None:
    """Give widget ``key`` its default value unless it already has one."""
    if key not in st.session_state:
        st.session_state[key] = value


def keep_values(keys: Sequence[str]) -> None:
    """Keep the values of the widgets ``keys`` through runs that do not show them: call before any of them is
    drawn (KEPT_INPUT at the start of each run, KEPT_ATTACK at the start of the attack fragment). Re-setting a
    value marks it as the app's own, which Streamlit keeps."""
    for key in keys:
        if key in st.session_state:
            st.session_state[key] = st.session_state[key]
