"""What the AppTest files share: the app's path, a generous timeout, the bundled files most tests need, a rerun
that fails on any exception shown on the page, the page started with chosen session values and link, and the
verdict badges it shows. Imported as ``from apptest_support import ...`` (pytest puts
``tests/`` on ``sys.path``)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from advdemo import PRETRAINED_DIR
from advdemo.ui import keys

APP = Path(__file__).resolve().parent.parent / "app.py"
#: Generous: the first run imports TensorFlow, loads the models and compiles the attacks on a busy machine.
TIMEOUT = 600
REQUIRED = ("base.keras", "robust.keras", "base.json", "robust.json", "gallery.npz")
needs_models = pytest.mark.skipif(
    not all((PRETRAINED_DIR / name).is_file() for name in REQUIRED),
    reason=f"{PRETRAINED_DIR} lacks the bundled models ({', '.join(REQUIRED)})")


def rerun(at: AppTest) -> AppTest:
    at.run()
    assert not at.exception, [exception.value for exception in at.exception]
    return at


def new_app(query: dict | None = None, **session: object) -> AppTest:
    """The app before its first run, with ``session`` in session state and ``query`` in the URL."""
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    for key, value in session.items():
        at.session_state[key] = value
    if query:
        at.query_params.update(query)
    return at


def start(query: dict | None = None, *, view: str | None = keys.VIEW_CURVES, **session: object) -> AppTest:
    """The app after its first run. The detail view is the cheap test-set curves (read from the cards) unless the
    test chooses one (``view=None``: the page's own default)."""
    if view is not None:
        session.setdefault(keys.VIEW, view)
    return rerun(new_app(query, **session))


def verdicts(at: AppTest) -> list[str]:
    """Each shown model's verdict badge, in display order, as text."""
    return [re.sub(r"<[^>]+>", "", m.value) for m in at.markdown if "advdemo-verdict" in m.value]


def verdict_kinds(at: AppTest) -> list[str]:
    """Each verdict badge's kind (its css class advdemo-KIND: wrong, fooled or held), in display order."""
    return [re.search(r"advdemo-verdict advdemo-(\w+)", m.value)[1] for m in at.markdown
            if "advdemo-verdict" in m.value]


def heading(at: AppTest) -> str | None:
    """The attack section's heading, which names the attack (None if the page shows none)."""
    return next((header.value for header in at.subheader if header.value.startswith("2 ·")), None)


def sizes(at: AppTest) -> list[dict[str, float]]:
    """Each model's displayed perturbation size in the three norms."""
    found = []
    for m in at.markdown:
        match = re.fullmatch(r"Size: L-inf \*\*([\d.]+)\*\* · L2 \*\*([\d.e+-]+)\*\* · L1 \*\*([\d.e+-]+)\*\*",
                             m.value)
        if match:
            found.append({"linf": float(match[1]), "l2": float(match[2]), "l1": float(match[3])})
    return found


def texts(at: AppTest, *kinds: str) -> str:
    """The text of every element of ``kinds`` (default: every kind of text element) on the page."""
    kinds = kinds or ("markdown", "caption", "info", "error", "warning", "success", "subheader")
    return "\n".join(str(element.value) for kind in kinds for element in getattr(at, kind))


def query_of(at: AppTest) -> dict[str, str]:
    """The page's URL parameters (a repeated one: its last value)."""
    return {name: at.query_params[name] if isinstance(at.query_params[name], str) else at.query_params[name][-1]
            for name in at.query_params}
