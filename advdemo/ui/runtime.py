"""The one way the app changes Streamlit's behaviour between reruns beyond its configuration, installed once per
server.

Streamlit calls ``keras.backend.clear_session()`` after every script run (``_clean_problem_modules``, a private
function; no option turns it off). That empties TensorFlow's kernel caches, so the next rerun rebuilds every
model's kernels before its first prediction: about 130 ms for the first model and 80 ms for the next on
the project's machine, on every slider move. The app builds no models while it runs, so it has no Keras
session state to clear: ``keep_kernels_between_reruns`` skips that one call. Since it relies on a private
function, ``cleanup_still_clears_keras`` checks first that Streamlit still has it and that it still calls
``clear_session``; if not, the page runs without the change and the server log says so.

The other cost between reruns, Streamlit's full garbage collection after every run, has a supported switch:
``runner.postScriptGC = false`` in ``.streamlit/config.toml`` (``docs/performance.md`` measures it against
``gc.freeze``).
"""

from __future__ import annotations

import inspect
import logging
import sys
from typing import Any

import keras
import streamlit as st

#: The module and name of the Streamlit function that calls ``keras.backend.clear_session()`` after every run.
STREAMLIT_CLEANUP_MODULE = "streamlit.runtime.scriptrunner.script_runner"
STREAMLIT_CLEANUP = "_clean_problem_modules"

_log = logging.getLogger(__name__)


def cleanup_still_clears_keras() -> bool:
    """Whether Streamlit still has ``_clean_problem_modules`` and it still calls ``clear_session``."""
    module = sys.modules.get(STREAMLIT_CLEANUP_MODULE)
    function = getattr(module, STREAMLIT_CLEANUP, None)
    if function is None:
        return False
    try:
        return "clear_session()" in inspect.getsource(function)
    except (OSError, TypeError):
        return False


@st.cache_resource(show_spinner=False)
def keep_kernels_between_reruns() -> bool:
    """Once per server: stops Streamlit's after-run ``keras.backend.clear_session()``, and only that call; every
    other caller gets the real ``clear_session``. Returns whether the change is installed (False, with a warning
    in the server's log, when this Streamlit no longer makes that call the same way)."""
    if not cleanup_still_clears_keras():
        _log.warning("Streamlit's %s.%s no longer calls keras.backend.clear_session() as expected: reruns keep "
                     "Streamlit's behaviour (each rebuilds the models' kernels)", STREAMLIT_CLEANUP_MODULE,
                     STREAMLIT_CLEANUP)
        return False
    original = keras.backend.clear_session

    def clear_session(*args: Any, **kwargs: Any) -> None:
        if sys._getframe(1).f_code.co_name == STREAMLIT_CLEANUP:
            return None
        return original(*args, **kwargs)

    keras.backend.clear_session = clear_session
    return True
