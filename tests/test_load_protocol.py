"""The protocol-level load client (``benchmarks/load_protocol.py``) against the real app: two simulated students,
two interactions each (an ε move, then a digit pick), on a server started for the test.

Needs the bundled base and robust models (skipped without them); about 30 s, most of it the server's first page.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
from loops import run_in_own_loop

from advdemo import PRETRAINED_DIR

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT / "tests" / "e2e"))
from browser_helpers import app_server  # noqa: E402


def _load_client():
    spec = importlib.util.spec_from_file_location("load_protocol", REPO_ROOT / "benchmarks" / "load_protocol.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


load_protocol = _load_client()
needs_models = pytest.mark.skipif(
    not all((PRETRAINED_DIR / name).is_file() for name in ("base.keras", "robust.keras", "gallery.npz")),
    reason=f"{PRETRAINED_DIR} lacks the bundled models or the gallery")


def test_client_tables_match_the_app():
    """The client's copies of the app's values (it does not import advdemo, which imports TensorFlow)."""
    from advdemo.configs import EPSILON_DEFAULTS, Norm
    from advdemo.ui import controls, keys, training

    assert load_protocol.NORM_LABELS == {norm.value: norm.label for norm in Norm}
    assert load_protocol.EPS_STEPS == {norm.value: step for norm, step in controls.EPS_STEPS.items()}
    assert load_protocol.EPS_DEFAULTS == {norm.value: pair for norm, pair in EPSILON_DEFAULTS.items()}
    assert (load_protocol.NORM_KEY, load_protocol.DIGIT_KEY, load_protocol.INPUT_KEY) == (
        keys.NORM, keys.GALLERY_INDEX, keys.INPUT_MODE)
    assert load_protocol.EPS_PREFIX + "linf" == keys.eps_key(Norm.LINF)
    assert load_protocol.DRAW_MODE == keys.DRAW
    assert (load_protocol.PRESET_KEY, load_protocol.NAME_KEY, load_protocol.CANCEL_KEY) == (
        training.PRESET, training.NAME, training.CANCEL)


def test_own_shares_are_disjoint():
    """Each student's digits and ε are its own, so that another session's value is recognised."""
    shares = [set(load_protocol.own_share(range(500), i, 30)) for i in range(30)]
    assert all(not (a & b) for i, a in enumerate(shares) for b in shares[i + 1:])
    assert all(len(share) >= 3 for share in shares)


@needs_models
def test_two_students_get_their_own_verdicts(tmp_path):
    env = {"ADVDEMO_HOME": str(tmp_path / "home"), "STREAMLIT_SERVER_FILE_WATCHER_TYPE": "none"}
    with app_server(tmp_path / "server.log", env=env) as url:
        endpoint = load_protocol.Endpoint.parse(url)
        settings = load_protocol.Settings(endpoint, think=(0.1, 0.3), arrival=0.0, kinds=("eps", "digit"))

        async def level():
            await load_protocol.warm_up(endpoint, settings.timeout)  # the cold first page, not measured
            return await load_protocol.run_level(2, settings, {}, load_protocol.Probe([]),
                                                 load_protocol.Progress(total=4))

        result = run_in_own_loop(level())

    figures = result.figures()
    problems = "\n".join(load_protocol.describe_problems(result, limit=20))
    assert (figures["errors"], figures["crosstalk"]) == (0, 0), problems
    assert figures["interactions"] == 4
    for outcome in result.outcomes:
        assert [i.kind for i in outcome.interactions] == ["eps", "digit"]
        for interaction in outcome.interactions:
            assert interaction.latency is not None
            # Every model's verdict arrived before the run's end (base and robust: two).
            assert len(interaction.verdicts) == interaction.expected_verdicts == 2, interaction
            assert all(("FOOLED" in text) or ("HELD" in text) or ("WRONG" in text) for text in interaction.verdicts)
        eps_move, digit_pick = outcome.interactions
        # The ε this session sent is the ε its page shows: in the attack's heading, on the slider, in the URL.
        sent = (eps_move.sent["norm"], eps_move.sent["eps"])
        for where in ("heading", "slider", "url"):
            norm, eps = eps_move.shown["eps"][where]
            assert norm == sent[0] and eps == pytest.approx(sent[1]), (where, eps_move.shown)
        assert digit_pick.shown["digit"]["label"] == digit_pick.sent["digit"]
    sent_eps = [o.interactions[0].sent["eps"] for o in result.outcomes]
    sent_digits = [o.interactions[1].sent["digit"] for o in result.outcomes]
    assert len(set(sent_digits)) == 2, sent_digits  # the two students' values differ: cross-talk would show
    assert sent_eps[0] != sent_eps[1] or sent_digits[0] != sent_digits[1]


def test_cookies_set_by_a_proxy_are_sent_back():
    """An affinity cookie set on the WebSocket upgrade (or the health check) goes back on the next connection."""
    jar: dict[str, str] = {}
    load_protocol.remember_cookies(jar, ["route=backend-2; Path=/; HttpOnly",
                                         "_streamlit_xsrf=2|ab|cd|1; Path=/; SameSite=Lax"])
    assert jar == {"route": "backend-2", "_streamlit_xsrf": "2|ab|cd|1"}
    assert load_protocol.cookie_header(jar) == {"Cookie": "route=backend-2; _streamlit_xsrf=2|ab|cd|1"}
    assert load_protocol.cookie_header({}) == {}
