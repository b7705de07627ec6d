"""The guided tour (``advdemo.ui.tour``): each step sets the controls it promises, Back sets the previous
step's, End leaves them alone, a step whose model is missing is skipped with a note, and the step lives in the URL
(``tour=K``), a hostile value being ignored with the link's note.

The page runs through ``streamlit.testing.v1.AppTest`` (see ``tests/test_app.py`` for its style) on copies of the
bundled models: with a masked model (the bundled one when the registry has it, else a stand-in user model of that
name: the tour only asks the roster) or without one.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from apptest_support import heading, rerun, start, verdicts
from streamlit.testing.v1 import AppTest

from advdemo import PRETRAINED_DIR
from advdemo.configs import Norm
from advdemo.demo import link
from advdemo.demo.analysis import Method
from advdemo.models import registry
from advdemo.ui import keys, tour, training, url

BUNDLED = ("base", "tutorial", "robust")
REQUIRED = tuple(f"{name}{suffix}" for name in BUNDLED for suffix in (".keras", ".json")) + ("gallery.npz",)
needs_models = pytest.mark.skipif(
    not all((PRETRAINED_DIR / name).is_file() for name in REQUIRED),
    reason=f"{PRETRAINED_DIR} lacks the bundled models ({', '.join(REQUIRED)})")
EPS = keys.eps_key(Norm.LINF)


def copy_pretrained(folder: Path) -> Path:
    """``folder`` with copies of the bundled base, tutorial and robust models, their cards and the gallery; no
    masked model."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in REQUIRED:
        shutil.copy(PRETRAINED_DIR / name, folder / name)
    return folder


def add_masked(pretrained: Path, home: Path) -> None:
    """A masked model the roster lists: the bundled one (or, while it is not built, the tutorial model under its
    name) where the registry expects it, else a user model called masked."""
    source = "masked" if (PRETRAINED_DIR / "masked.keras").is_file() else "tutorial"
    folder = pretrained if tour.MASKED in registry.BUNDLED_NAMES else home / "models"
    folder.mkdir(parents=True, exist_ok=True)
    for suffix in (".keras", ".json"):
        shutil.copy(PRETRAINED_DIR / f"{source}{suffix}", folder / f"{tour.MASKED}{suffix}")


@pytest.fixture(scope="module", autouse=True)
def with_masked(tmp_path_factory):
    """For the whole module: the bundled models and a masked one (a test may point the variables elsewhere)."""
    root = tmp_path_factory.mktemp("tour")
    pretrained, home = copy_pretrained(root / "pretrained"), root / "home"
    add_masked(pretrained, home)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ADVDEMO_PRETRAINED", str(pretrained))
        patch.setenv("ADVDEMO_HOME", str(home))
        yield


# ----------------------------------------------------------------------------------------------------------------
# The page.

def press(at: AppTest, key: str) -> AppTest:
    at.button(key=key).click()
    return rerun(at)


def shown_step(at: AppTest) -> tuple[int, int, str] | None:
    """(k, n, title) of the bar's "step k of n: title", or None when no tour runs."""
    found = [re.match(r"\*\*Guided tour · step (\d+) of (\d+): (.+?)\*\*", m.value) for m in at.markdown]
    found = [match for match in found if match]
    assert len(found) <= 1
    return (int(found[0][1]), int(found[0][2]), found[0][3]) if found else None


def tour_in_url(at: AppTest) -> str | None:
    if "tour" not in at.query_params:
        return None
    value = at.query_params["tour"]
    return value if isinstance(value, str) else value[-1]


def controls(at: AppTest) -> dict[str, object]:
    """What the widgets show (wherever they are drawn): input, models, norm, eps, attack, noise, preset."""
    return {"input": at.radio(key=keys.INPUT_MODE).value, "models": at.multiselect(key=keys.MODELS).value,
            "norm": at.radio(key=keys.NORM).value, "eps": at.slider(key=EPS).value,
            "attack": at.radio(key=keys.METHOD).value, "noise": at.toggle(key=keys.NOISE).value,
            "preset": at.selectbox(key=training.PRESET).value}


def notes(at: AppTest) -> list[str]:
    return [caption.value for caption in at.caption if "not available" in caption.value]


FGSM = {"norm": Norm.LINF, "eps": pytest.approx(0.2), "attack": Method.FGSM, "noise": False}
#: What each step shows, written out here (not read from ``tour.STEPS``): its title, the widgets it sets, and the
#: attack's heading.
PROMISED = {
    2: ("Attack the base model", {"models": ["base"], **FGSM}, "FGSM L-inf ε = 0.2, white-box"),
    3: ("The robust model holds", {"models": ["base", "robust"], **FGSM}, "FGSM L-inf ε = 0.2, white-box"),
    4: ("The robust model holds, even against PGD", {"models": ["base", "robust"], **FGSM, "attack": Method.PGD},
        "PGD-40 L-inf ε = 0.2, white-box"),
    5: ("The masked model's trap (1 of 3): FGSM", {"models": ["masked"], **FGSM}, "FGSM L-inf ε = 0.2, white-box"),
    6: ("The masked model's trap (2 of 3): PGD", {"models": ["masked"], **FGSM, "attack": Method.PGD},
        "PGD-40 L-inf ε = 0.2, white-box"),
    7: ("The masked model's trap (3 of 3): the strongest attack",
        {"models": ["masked"], **FGSM, "attack": Method.STRONGEST},
        "strongest (APGD + Square) L-inf ε = 0.2, white-box"),
    8: ("Noise versus attack", {"models": ["base", "robust"], **FGSM, "noise": True},
        "FGSM L-inf ε = 0.2, white-box"),
}


def test_the_tour_is_one_row_of_the_link_and_refuses_what_is_not_a_step():
    context = link.LinkContext(models=BUNDLED)
    assert url.read_link({"tour": ["3"]}, context) == ({keys.TOUR: 3}, None)
    for text, why in (("99", f"`tour=99` (out of range 1-{len(tour.STEPS)})"), ("x", "`tour=x` (not a whole number)"),
                      ("0", "`tour=0` (out of range"), ("-2", "`tour=-2` (out of range 1-")):
        values, note = url.read_link({"tour": [text]}, context)
        assert values == {} and why in note, (text, note)


def test_the_steps_are_short_and_set_only_known_controls():
    known = {value for name, value in vars(keys).items() if name.isupper() and isinstance(value, str)}
    known |= {EPS, training.PRESET, training.PANEL}
    assert len(tour.STEPS) == 9
    for step in tour.STEPS:
        assert 1 <= len(re.findall(r"[.!?](?:\s|$)", step.text)) <= 3, step.title
        assert set(step.settings) <= known, set(step.settings) - known


@needs_models
def test_start_and_next_set_exactly_what_each_step_promises():
    """From a scenario far from the tour's (PGD at eps 0.35 on robust, noise on, the tutorial preset): Start, then
    Next through every step, reading the widgets each time. A step changes the controls it promises and no other."""
    at = start({"models": "robust", "attack": "pgd", "eps": "0.35", "noise": "1"},
               **{training.PRESET: "tutorial"})
    assert shown_step(at) is None and tour_in_url(at) is None
    before = controls(at)
    assert before["models"] == ["robust"] and before["attack"] is Method.PGD and before["noise"] is True
    press(at, tour.START)
    assert shown_step(at) == (1, 9, "Draw a digit") and tour_in_url(at) == "1"
    assert controls(at) == {**before, "input": keys.DRAW}  # only the input changed
    assert at.button(key=tour.BACK).disabled
    press(at, tour.OTHER)  # "Use a gallery digit instead"
    assert shown_step(at)[0] == 1 and controls(at) == {**before, "input": keys.GALLERY}
    previous = controls(at)
    for number in range(2, 9):
        press(at, tour.NEXT)
        title, promised, attack = PROMISED[number]
        assert shown_step(at) == (number, 9, title) and tour_in_url(at) == str(number)
        shown = controls(at)
        assert shown == {**previous, **promised}, number
        assert heading(at) == f"2 · The attack: {attack}"
        assert len(verdicts(at)) == len(promised["models"]) and not notes(at)
        previous = shown
    press(at, tour.NEXT)
    assert shown_step(at) == (9, 9, "Train your own")
    assert controls(at) == {**previous, "preset": "quick"}
    assert at.session_state[training.PANEL] is True  # the Train a model panel is opened for the class
    assert at.button(key=tour.NEXT).disabled
    assert any("Train a model" in m.value for m in at.markdown if m.value.startswith("**Guided tour"))


@needs_models
def test_back_sets_the_previous_steps_controls_again():
    at = start({"tour": "3", "models": "base"})  # the link's models win over the step's
    assert shown_step(at)[0] == 3 and controls(at)["models"] == ["base"]
    at.slider(key=EPS).set_value(0.3)
    at.radio(key=keys.NORM).set_value(Norm.L2)
    rerun(at)
    press(at, tour.NEXT)
    assert shown_step(at)[0] == 4 and controls(at)["attack"] is Method.PGD
    press(at, tour.BACK)
    assert shown_step(at)[:1] == (3,) and tour_in_url(at) == "3"
    assert {key: value for key, value in controls(at).items() if key in PROMISED[3][1]} == PROMISED[3][1]
    assert heading(at) == "2 · The attack: FGSM L-inf ε = 0.2, white-box"


@needs_models
def test_end_leaves_the_controls_as_they_are():
    at = start({"tour": "4"})
    at.slider(key=EPS).set_value(0.3)
    rerun(at)
    before = controls(at)
    assert before["attack"] is Method.PGD and before["eps"] == pytest.approx(0.3)
    press(at, tour.END)
    assert shown_step(at) is None and tour_in_url(at) is None
    assert controls(at) == before
    assert heading(at) == "2 · The attack: PGD-40 L-inf ε = 0.3, white-box"
    assert at.button(key=tour.START).label == tour.START_LABEL


@needs_models
def test_without_the_masked_model_its_steps_say_so_and_are_skipped(tmp_path, monkeypatch):
    monkeypatch.setenv("ADVDEMO_PRETRAINED", str(copy_pretrained(tmp_path / "pretrained")))
    monkeypatch.setenv("ADVDEMO_HOME", str(tmp_path / "home"))
    at = start({"tour": "4"})
    assert shown_step(at)[0] == 4 and not notes(at)
    press(at, tour.NEXT)
    assert shown_step(at)[:1] == (8,) and controls(at)["noise"] is True
    [note] = notes(at)
    assert note.startswith("**The masked model is not available**") and "steps 5, 6, 7 skipped" in note
    assert len(verdicts(at)) == 2
    press(at, tour.BACK)
    assert shown_step(at)[:1] == (4,) and controls(at)["models"] == ["base", "robust"]
    assert len(notes(at)) == 1
    press(at, tour.NEXT)
    press(at, tour.NEXT)
    assert shown_step(at)[:1] == (9,) and not notes(at)
    linked = start({"tour": "6"})  # a link to a masked step
    assert shown_step(linked)[:1] == (8,) and "steps 6, 7 skipped" in notes(linked)[0]
    assert tour_in_url(linked) == "8"


@needs_models
def test_a_link_opens_its_step_in_presentation_mode_too():
    at = start({"tour": "3", "present": "1", "eps": "0.3"})
    assert shown_step(at) == (3, 9, "The robust model holds") and tour_in_url(at) == "3"
    assert not [info for info in at.info if "link" in info.value]
    assert at.main.slider(key=EPS).value == pytest.approx(0.3)  # the link's own eps wins
    assert controls(at)["models"] == ["base", "robust"] and controls(at)["attack"] is Method.FGSM
    assert any("Guided tour" in m.value for m in at.main.markdown)
    press(at, tour.END)
    assert at.main.button(key=tour.START)
    assert any(tour.FLOATING_START_CSS.strip() in element.proto.body for element in at.get("html"))


@needs_models
@pytest.mark.parametrize("value, why", [("99", "`tour=99` (out of range 1-9)"), ("x", "`tour=x` (not a whole number)")])
def test_a_hostile_tour_link_is_ignored_with_a_note(value, why):
    at = start({"tour": value, "models": "base"})
    [note] = [info.value for info in at.info if "from the link" in info.value]
    assert why in note
    assert shown_step(at) is None and tour_in_url(at) is None and keys.TOUR not in at.session_state
    assert at.button(key=tour.START) and len(verdicts(at)) == 1
    press(at, tour.START)
    assert shown_step(at)[0] == 1
