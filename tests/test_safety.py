"""Safety: models are only loaded with ``safe_mode=True``, archives only with ``allow_pickle=False``,
uploads are limited by the server's config, user-model names cannot leave their folder, and no user text is
rendered as HTML.

The first group reads the source (every call in ``app.py`` and ``advdemo/``), so that a new call site cannot
forget the flag; the second checks the same promises by behaviour.
"""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from advdemo.models import registry

REPO = Path(__file__).resolve().parent.parent
SOURCES = [REPO / "app.py", *sorted((REPO / "advdemo").rglob("*.py"))]


def calls(attribute: str):
    """(file, ast.Call) of every call of ``something.attribute(...)`` or ``attribute(...)`` in the sources."""
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None
            if name == attribute:
                yield path.relative_to(REPO), node


def keyword(call: ast.Call, name: str):
    """The literal value of keyword ``name`` of ``call`` (``...`` if absent or not a literal)."""
    for item in call.keywords:
        if item.arg == name:
            return item.value.value if isinstance(item.value, ast.Constant) else ...
    return ...


def receiver(call: ast.Call) -> str:
    return ast.unparse(call.func.value) if isinstance(call.func, ast.Attribute) else ""


def test_every_numpy_load_refuses_pickles():
    loads = [(path, call) for path, call in calls("load") if receiver(call) in ("np", "numpy")]
    assert loads, "no np.load call found: the scan is broken"
    unsafe = [f"{path}:{call.lineno}" for path, call in loads if keyword(call, "allow_pickle") is not False]
    assert unsafe == []


def test_every_keras_model_load_is_in_safe_mode():
    loads = [(path, call) for path, call in calls("load_model") if receiver(call).startswith("keras")]
    assert loads, "no keras load_model call found: the scan is broken"
    unsafe = [f"{path}:{call.lineno}" for path, call in loads if keyword(call, "safe_mode") is not True]
    assert unsafe == []


def test_html_is_only_rendered_from_constants_or_escaped():
    """``unsafe_allow_html`` only around ``verdict_html`` (which escapes), ``st.html`` only of module constants or
    of the confidence bars (numbers only)."""
    markdown = [(path, call) for name in ("markdown", "write", "caption") for path, call in calls(name)
                if keyword(call, "unsafe_allow_html") is not ...]
    assert markdown, "no unsafe_allow_html call found: the scan is broken"
    for path, call in markdown:
        argument = call.args[0]
        assert isinstance(argument, ast.Call) and ast.unparse(argument.func) == "verdict_html", f"{path}:{call.lineno}"
    for path, call in calls("html"):
        if receiver(call) != "st":
            continue
        argument = call.args[0]
        if isinstance(argument, ast.Call) and ast.unparse(argument.func) in ESCAPING_BUILDERS:
            continue
        names = rendered_names(argument)
        assert names and all(name.isupper() for name in names), f"{path}:{call.lineno}: st.html of non-constants"


#: Functions that build HTML from numbers and fixed words only, escaping what they put in
#: (``test_the_confidence_bars_escape_and_hold_only_numbers``).
#: Builders of HTML that escape what they are given: the confidence bars (numbers only) and the QR panel (the link
#: escaped, the QR code a base64 data URI).
ESCAPING_BUILDERS = {"charts.confidence_bars", "qr_html"}


def test_the_qr_panel_escapes_the_link():
    from advdemo.ui.join import qr_html

    hostile = 'http://x/?a="><script>alert(1)</script>'
    body = qr_html(hostile)
    assert "<script>" not in body and "&lt;script&gt;" in body and body.count("<img") == 1


def rendered_names(node: ast.AST) -> list[str]:
    """The variables whose text ends up in the expression's value (an ``a if flag else b`` choice's ``flag``
    decides, it is not rendered)."""
    if isinstance(node, ast.Name):
        return [node.id]
    if isinstance(node, ast.IfExp):
        return rendered_names(node.body) + rendered_names(node.orelse)
    return [name for child in ast.iter_child_nodes(node) for name in rendered_names(child)]


def test_the_verdict_box_escapes_what_it_shows():
    from advdemo.ui.results import verdict_html

    box = verdict_html("held", 'ALREADY WRONG? says 3, <script>alert("x")</script> guessed 5')
    assert "<script>" not in box and "&lt;script&gt;" in box
    assert box.startswith('<div class="advdemo-verdict advdemo-held">')


def test_the_confidence_bars_escape_and_hold_only_numbers():
    """The bars' HTML has no text but digits, percentages and its fixed words, whatever the probabilities."""
    import re

    import numpy as np

    from advdemo.configs import Norm
    from advdemo.demo import charts
    from advdemo.demo.analysis import Outcome

    probs = np.random.default_rng(0).dirichlet(np.ones(10)).astype(np.float32)
    bars = charts.confidence_bars(Outcome("<b>x</b>", probs, np.zeros((28, 28), np.float32), probs[::-1].copy(),
                                          {norm: 0.0 for norm in Norm}, "<b>x</b>"), label=2, height=100)
    text = re.sub(r"<[^>]*>", " ", bars)
    words = set(re.findall(r"[^\W\d_]+", text))
    assert words <= {"after", "the", "attack", "before"}, words
    assert "<b>" not in bars


def test_a_model_that_needs_unsafe_deserialisation_is_refused(tmp_path):
    """A .keras archive with a Python lambda in it (arbitrary code) does not load: safe mode refuses it."""
    import keras

    from advdemo.models import ModelFileError, load_model

    inputs = keras.Input(shape=(28, 28, 1))
    outputs = keras.layers.Dense(10)(keras.layers.Flatten()(keras.layers.Lambda(lambda x: x * 1.0)(inputs)))
    path = tmp_path / "lambda.keras"
    keras.Model(inputs, outputs).save(path)
    with pytest.raises(ModelFileError, match="could not load model file"):
        load_model(path)


def test_an_archive_with_pickled_objects_is_refused(tmp_path):
    from advdemo.data import load_mnist

    path = tmp_path / "pickled.npz"
    objects = np.empty(2, dtype=object)
    objects[:] = [np.zeros((28, 28), np.uint8), "not an image"]
    np.savez(path, x_train=objects, y_train=np.zeros(2, np.uint8), x_test=objects, y_test=np.zeros(2, np.uint8))
    with pytest.raises(ValueError):
        load_mnist(path)


def test_the_server_limits_uploads_as_the_widget_says():
    from advdemo.ui.inputs import UPLOAD_WIDGET_MB

    config = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text())
    assert config["server"]["maxUploadSize"] == UPLOAD_WIDGET_MB
    assert config["server"]["maxMessageSize"] <= 200
    assert config["server"].get("enableXsrfProtection", True) is True


HOSTILE_NAMES = ["../../etc/passwd", "/etc/passwd", "..", ".hidden", "a/b", "a\\b", "nul\x00byte", "～／etc",
                 "base", "BASE", "C:\\windows", "a" * 500, "", "   "]


@pytest.mark.parametrize("text", HOSTILE_NAMES)
def test_hostile_model_names_are_refused(text):
    with pytest.raises(ValueError):
        registry.sanitise_name(text)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_no_name_leads_outside_the_user_folder(text):
    """Any text: either refused, or a plain name whose files sit directly in the user folder."""
    try:
        name = registry.sanitise_name(text)
    except ValueError:
        return
    assert name and set(name) <= set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")
    folder = registry.user_dir().resolve()
    for suffix in (".keras", ".json"):
        assert registry._user_path(name, suffix).resolve().parent == folder
