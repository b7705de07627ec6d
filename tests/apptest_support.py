"""What the AppTest files share: the app's path, a generous timeout, the bundled files most tests need, and a
rerun that fails on any exception shown on the page. Imported as ``from apptest_support import ...`` (pytest puts
``tests/`` on ``sys.path``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from advdemo import PRETRAINED_DIR

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
