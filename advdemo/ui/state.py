"""Session-state keys and defaults, and the scenario kept in the page's URL.

Every widget has a key here and gets its default through ``default()`` (never both a ``value=`` argument
and session state, which Streamlit warns about). On a session's first run the URL's query parameters, if
any, overwrite those defaults; after every run the URL is rewritten from the current scenario, so a
bookmarked or shared link reopens the same demonstration.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import streamlit as st

from advdemo import registry
from advdemo.config import Norm
from advdemo.ui.analysis import Scenario

# Input.
INPUT_MODE = "input_mode"
DRAW, GALLERY, UPLOAD = "Draw", "Gallery", "Upload"
INPUT_MODES = (GALLERY, DRAW, UPLOAD)
#: Tests (and future features) put a drawing here: an RGBA (H, W, 4) or grey (H, W) array, white on black.
#: When present it replaces what the canvas returns.
INJECTED_DRAWING = "injected_drawing"
CANVAS_VERSION = "canvas_version"
GALLERY_INDEX = "gallery_index"
GALLERY_CLASS = "gallery_class"
STATED_LABEL = "stated_label"
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
# Views.
VIEW = "view"
BATCH_START = "batch_start"
_URL_RESTORED = "_url_restored"


def eps_key(norm: Norm) -> str:
    """Each norm keeps its own eps slider (and so its own range and default)."""
    return f"eps_{norm.value}"


def default(key: str, value: Any) -> None:
    """Give widget ``key`` its default value unless it already has one."""
    if key not in st.session_state:
        st.session_state[key] = value


def restore_from_url() -> None:
    """On a session's first run, set the widgets from the URL's query parameters (invalid ones are ignored)."""
    if st.session_state.get(_URL_RESTORED):
        return
    st.session_state[_URL_RESTORED] = True
    params = st.query_params.to_dict()
    if not params:
        return
    scenario = Scenario.from_query(params)
    st.session_state[NORM] = scenario.norm
    st.session_state[eps_key(scenario.norm)] = scenario.epsilon
    st.session_state[METHOD] = scenario.method
    st.session_state[SOURCE] = scenario.source
    if "from" in params and scenario.transfer_from in registry.list_models().names:
        st.session_state[TRANSFER_FROM] = scenario.transfer_from
    if "steps" in params:
        st.session_state[STEPS] = scenario.steps
    if "step" in params:
        st.session_state[STEP_FRACTION] = scenario.step_fraction
    if "start" in params:
        st.session_state[RANDOM_START] = scenario.random_start
    if scenario.target is not None:
        st.session_state[TARGETED] = True
        st.session_state[TARGET] = scenario.target
    known = registry.list_models().names
    models = [name for name in params.get("models", "").split(",") if name in known]
    if models:
        st.session_state[MODELS] = models
    mode = params.get("input", "").capitalize()
    if mode in INPUT_MODES:
        st.session_state[INPUT_MODE] = mode
    if params.get("digit", "").isdigit():
        st.session_state[GALLERY_INDEX] = int(params["digit"])


def write_url(scenario: Scenario, models: Sequence[str]) -> None:
    """Put the scenario, the models and the input (with the gallery digit) in the URL."""
    query = scenario.to_query()
    query["models"] = ",".join(models)
    mode = st.session_state.get(INPUT_MODE, GALLERY)
    query["input"] = str(mode).lower()
    if mode == GALLERY and isinstance(st.session_state.get(GALLERY_INDEX), int):
        query["digit"] = str(st.session_state[GALLERY_INDEX])
    if st.query_params.to_dict() != query:
        st.query_params.from_dict(query)
