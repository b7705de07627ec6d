"""The Streamlit app, run headless with streamlit.testing.v1.AppTest against the models in
``advdemo.PRETRAINED_DIR`` (the bundled ones; ``ADVDEMO_PRETRAINED`` points elsewhere during development).

Assertions are on what the page displays: headings, verdicts, sizes, messages.
"""

from __future__ import annotations

import io
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from advdemo import PRETRAINED_DIR
from advdemo.config import EPSILON_DEFAULTS, Norm
from advdemo.data import load_gallery
from advdemo.ui import state
from advdemo.ui.analysis import Method, Scenario, Source, perturbation_norms, same_size_noise
from advdemo.ui.inputs import EMPTY_CANVAS_PROMPT, handle_upload
from advdemo.ui.results import VIEW_BATCH, VIEW_CURVES, VIEW_SWEEP

APP = Path(__file__).resolve().parent.parent / "app.py"
#: Generous: the first run imports TensorFlow, loads the models and compiles the attacks on a busy machine.
TIMEOUT = 600
REQUIRED = ("base.keras", "robust.keras", "base.json", "robust.json", "gallery.npz")

pytestmark = pytest.mark.skipif(
    not all((PRETRAINED_DIR / name).is_file() for name in REQUIRED),
    reason=f"{PRETRAINED_DIR} lacks the bundled models ({', '.join(REQUIRED)}): train them, or point "
           "ADVDEMO_PRETRAINED at a folder that has them")


def start(**session: object) -> AppTest:
    """The app after its first run, with ``session`` put in session state first. The detail view defaults
    to the test-set curves (read from the cards, cheap) unless a test chooses another."""
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    at.session_state[state.VIEW] = VIEW_CURVES
    for key, value in session.items():
        at.session_state[key] = value
    return rerun(at)


def rerun(at: AppTest) -> AppTest:
    at.run()
    assert not at.exception, [exception.value for exception in at.exception]
    return at


def heading(at: AppTest) -> str:
    """The attack section's heading, which names the attack."""
    return next(header.value for header in at.subheader if header.value.startswith("2 ·"))


def verdicts(at: AppTest) -> list[str]:
    """Each shown model's verdict badge, in display order."""
    return [re.sub(r"<[^>]+>", "", m.value) for m in at.markdown if "advdemo-verdict" in m.value]


def sizes(at: AppTest) -> list[dict[str, float]]:
    """Each model's displayed perturbation size in the three norms."""
    found = []
    for m in at.markdown:
        match = re.fullmatch(r"Size: L-inf \*\*([\d.]+)\*\* · L2 \*\*([\d.e+-]+)\*\* · L1 \*\*([\d.e+-]+)\*\*",
                             m.value)
        if match:
            found.append({"linf": float(match[1]), "l2": float(match[2]), "l1": float(match[3])})
    return found


def model_headings(at: AppTest) -> list[str]:
    return [m.value for m in at.markdown if m.value.startswith("### :")]


def all_text(at: AppTest) -> str:
    parts = [e.value for kind in ("markdown", "caption", "info", "error", "warning", "success", "subheader")
             for e in getattr(at, kind)]
    return "\n".join(str(part) for part in parts)


def drawing_of_a_one() -> np.ndarray:
    """An RGBA canvas (280x280, black) with a white vertical stroke, as the canvas component returns it."""
    pixels = np.zeros((280, 280, 4), np.uint8)
    pixels[..., 3] = 255
    pixels[40:240, 128:152, :3] = 255
    return pixels


@pytest.fixture(scope="module")
def default_app() -> AppTest:
    return start()


def test_default_page_shows_both_default_models(default_app):
    at = default_app
    assert heading(at) == "2 · The attack: FGSM L-inf ε = 0.2, white-box"
    assert [h.split("[")[1].rstrip("]") for h in model_headings(at)] == ["base", "robust"]
    assert len(verdicts(at)) == 2
    assert all(any(word in v for word in ("FOOLED", "HELD", "ALREADY WRONG")) for v in verdicts(at))
    assert [s["linf"] for s in sizes(at)] == [0.2, 0.2]
    assert "True label:" in all_text(at)
    assert not at.error


def test_the_start_up_heap_is_frozen_once_the_page_is_built(default_app):
    """After the first page, the objects alive (TensorFlow, Keras, the models) leave the garbage collector's
    generations, so a rerun's allocations no longer set off full collections that walk them all."""
    import gc

    assert gc.get_freeze_count() > 100_000  # TensorFlow alone brings several hundred thousand objects


def test_reruns_keep_tensorflows_compiled_kernels(monkeypatch):
    """Streamlit's after-run ``keras.backend.clear_session()`` would empty TensorFlow's kernel caches, so every
    slider move would rebuild the models' kernels; the app skips that one call and nothing else."""
    import keras
    from tensorflow.python.eager import context

    cleared: list[bool] = []
    clear = context.Context.clear_kernel_cache
    monkeypatch.setattr(context.Context, "clear_kernel_cache", lambda self: (cleared.append(True), clear(self))[1])
    at = start()
    at.slider(key=state.eps_key(Norm.LINF)).set_value(0.25)
    rerun(at)
    assert not at.exception and [s["linf"] for s in sizes(at)] == [0.25, 0.25]
    assert cleared == []  # neither run cleared the caches
    keras.backend.clear_session(free_memory=False)  # any other caller still gets the real clear_session
    assert cleared == [True]


def test_norm_change_changes_the_attack(default_app):
    at = start()
    before = sizes(at)
    at.radio(key=state.NORM).set_value(Norm.L2)
    rerun(at)
    assert heading(at) == "2 · The attack: FGSM L2 ε = 2, white-box"
    after = sizes(at)
    assert len(after) == 2 and after != before
    assert all(0 < s["l2"] <= 2.0 + 1e-2 for s in after)  # at most eps (clipping to [0, 1] may cut it)


def test_epsilon_change_changes_the_size():
    at = start()
    at.slider(key=state.eps_key(Norm.LINF)).set_value(0.05)
    rerun(at)
    assert heading(at) == "2 · The attack: FGSM L-inf ε = 0.05, white-box"
    assert [s["linf"] for s in sizes(at)] == [0.05, 0.05]


def test_pgd_changes_the_attack(default_app):
    at = start()
    at.radio(key=state.METHOD).set_value(Method.PGD)
    rerun(at)
    assert heading(at) == "2 · The attack: PGD-40 L-inf ε = 0.2, white-box"
    assert at.slider(key=state.STEPS).value == 40
    after = sizes(at)
    assert all(s["linf"] <= 0.2 + 1e-3 for s in after)
    assert after != sizes(default_app)


def test_targeted_attack(default_app):
    at = start()
    at.toggle(key=state.TARGETED).set_value(True)
    rerun(at)
    at.selectbox(key=state.TARGET).set_value(5)
    rerun(at)
    assert heading(at) == "2 · The attack: FGSM L-inf ε = 0.2 targeted at 5, white-box"
    assert sizes(at) != sizes(default_app)
    for text in verdicts(at):
        assert "HELD" in text or "ALREADY WRONG" in text or "target" in text


def test_transfer_gives_every_model_the_same_perturbation(default_app):
    white_box = sizes(default_app)
    assert white_box[0] != white_box[1]  # each model gets its own perturbation
    at = start()
    at.radio(key=state.SOURCE).set_value(Source.TRANSFER)
    rerun(at)
    assert heading(at) == "2 · The attack: FGSM L-inf ε = 0.2 crafted on base (transfer)"
    transfer = sizes(at)
    assert transfer[0] == transfer[1] == white_box[0]  # base's own perturbation, shown to robust too


def test_noise_control_shows_same_size_noise():
    at = start(**{state.NOISE: True})
    lines = [m.value for m in at.markdown if m.value.startswith("Random noise of the same L-inf size")]
    assert len(lines) == 2
    assert all("(0.2)" in line for line in lines)  # same L-inf size as the attack's 0.2


def test_injected_drawing_is_classified():
    at = start(**{state.INPUT_MODE: state.DRAW, state.INJECTED_DRAWING: drawing_of_a_one()})
    assert len(verdicts(at)) == 2
    captions = " ".join(c.value for c in at.caption)
    assert "the base model's answer on the clean image" in captions
    at.selectbox(key=state.STATED_LABEL).set_value(1)
    rerun(at)
    assert "Label 1: the digit you stated" in " ".join(c.value for c in at.caption)
    assert len(verdicts(at)) == 2


def test_empty_canvas_gives_a_prompt_not_a_prediction():
    at = start(**{state.INPUT_MODE: state.DRAW})
    assert [i.value for i in at.info] == [EMPTY_CANVAS_PROMPT]
    assert verdicts(at) == []
    blank = drawing_of_a_one()
    blank[..., :3] = 0
    at.session_state[state.INJECTED_DRAWING] = blank
    rerun(at)
    assert [i.value for i in at.info] == [EMPTY_CANVAS_PROMPT]
    assert verdicts(at) == []


def test_garbage_upload_gives_an_error_message():
    at = start(**{state.INPUT_MODE: state.UPLOAD})
    assert verdicts(at) == []
    at.file_uploader(key=state.UPLOAD_FILE).set_value(("junk.png", b"\x00garbage bytes\xff" * 10, "image/png"))
    rerun(at)
    assert len(at.error) == 1
    assert "Cannot use `junk.png`" in at.error[0].value and "not a PNG or JPEG" in at.error[0].value
    assert verdicts(at) == []


def test_valid_upload_is_classified():
    paper = np.full((120, 90), 240, np.uint8)
    paper[15:105, 40:52] = 10
    buffer = io.BytesIO()
    Image.fromarray(paper).save(buffer, format="PNG")
    at = start(**{state.INPUT_MODE: state.UPLOAD})
    at.file_uploader(key=state.UPLOAD_FILE).set_value(("one.png", buffer.getvalue(), "image/png"))
    rerun(at)
    assert not at.error
    assert len(verdicts(at)) == 2
    assert "inverted" in " ".join(c.value for c in at.caption)


@pytest.mark.parametrize("data, phrase", [(b"", "empty"), (b"GIF89a" + bytes(40), "not a PNG or JPEG"),
                                          (b"%PDF-1.4 not an image", "not a PNG or JPEG")])
def test_upload_handler_turns_bad_bytes_into_messages(data, phrase):
    outcome = handle_upload("file.png", data)
    assert outcome.digit is None and outcome.is_error
    assert "Cannot use `file.png`" in outcome.message and phrase in outcome.message


def test_upload_handler_blank_picture_is_a_prompt():
    buffer = io.BytesIO()
    Image.fromarray(np.full((40, 40), 255, np.uint8)).save(buffer, format="PNG")
    outcome = handle_upload("white.png", buffer.getvalue())
    assert outcome.digit is None and not outcome.is_error and "blank" in outcome.message


def test_missing_and_corrupt_models_are_reported_and_the_app_carries_on(tmp_path, monkeypatch):
    for name in ("base.keras", "base.json", "gallery.npz"):
        shutil.copy(PRETRAINED_DIR / name, tmp_path / name)
    (tmp_path / "tutorial.keras").write_bytes(b"not a zip archive")
    monkeypatch.setenv("ADVDEMO_PRETRAINED", str(tmp_path))
    at = start()
    errors = " ".join(e.value for e in at.error)
    assert str(tmp_path / "robust.keras") in errors and "does not exist" in errors
    assert str(tmp_path / "tutorial.keras") in errors and "not a .keras archive" in errors
    assert "python -m advdemo.train --recipe robust" in errors
    assert at.multiselect(key=state.MODELS).options == ["base"]
    assert len(verdicts(at)) == 1 and [s["linf"] for s in sizes(at)] == [0.2]


def test_sweep_view_names_where_each_model_flips():
    at = start(**{state.VIEW: VIEW_SWEEP})
    lines = [m.value for m in at.markdown if m.value.startswith("- **")]
    assert len(lines) == 1
    for name, line in zip(("base", "robust"), lines[0].split("\n")):
        assert line.startswith(f"- **{name}**")
        assert re.search(r"first fooled at ε = [\d.]+|holds at every ε up to 0.4|wrong even without", line)
    assert "Computed now, on this digit only" in " ".join(c.value for c in at.caption)


def test_curves_view_reads_the_cards():
    at = start()
    text = all_text(at)
    assert "From the model cards" in text or "hold no L-inf sweep yet" in text
    assert "Headline figures" in text


def test_batch_view_scores_both_models():
    at = start(**{state.VIEW: VIEW_BATCH})
    scores = [m.value for m in at.markdown if m.value.startswith("#### Batch score under attack:")]
    assert len(scores) == 1
    assert re.fullmatch(r"#### Batch score under attack: base \d+/32 · robust \d+/32", scores[0])


def test_scenario_comes_from_and_goes_to_the_url():
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    at.session_state[state.VIEW] = VIEW_CURVES
    at.query_params.update({"norm": "l1", "eps": "5", "models": "base", "input": "gallery", "digit": "3"})
    rerun(at)
    assert heading(at) == "2 · The attack: FGSM L1 ε = 5, white-box"
    assert len(verdicts(at)) == 1
    assert "gallery digit 3 " in all_text(at)
    at.radio(key=state.METHOD).set_value(Method.PGD)
    rerun(at)
    assert at.query_params["attack"] == "pgd" and at.query_params["norm"] == "l1"


def test_gallery_pickers_choose_a_class_and_hard_digits():
    gallery = load_gallery(PRETRAINED_DIR / "gallery.npz")
    easy = int(np.flatnonzero(~gallery.hard)[0])
    at = start(**{state.GALLERY_INDEX: easy})
    assert f"gallery digit {easy} " in all_text(at) and "a hard one" not in all_text(at)
    other = (int(gallery.labels[easy]) + 1) % 10
    at.pills(key=state.GALLERY_CLASS).set_value(other)
    rerun(at)
    assert f"**True label: {other}**" in all_text(at)
    assert at.pills(key=state.GALLERY_CLASS).value is None  # the class buttons reset, ready for another click
    at.number_input(key=state.GALLERY_INDEX).set_value(easy)
    rerun(at)
    assert "a hard one" not in all_text(at)
    next(button for button in at.button if button.label == "Hard one").click()
    rerun(at)
    assert "· a hard one" in all_text(at)
    assert len(verdicts(at)) == 2


def test_clear_button_empties_the_canvas():
    at = start(**{state.INPUT_MODE: state.DRAW, state.INJECTED_DRAWING: drawing_of_a_one()})
    assert len(verdicts(at)) == 2
    next(button for button in at.button if button.label == "Clear the canvas").click()
    rerun(at)
    assert [i.value for i in at.info] == [EMPTY_CANVAS_PROMPT]
    assert verdicts(at) == []


@pytest.mark.parametrize("scenario", [
    Scenario(),
    Scenario(norm=Norm.L2, epsilon=3.5, method=Method.PGD, steps=12, step_fraction=0.25, random_start=False,
             target=4, source=Source.TRANSFER),
    Scenario(norm=Norm.L1, epsilon=20.0, method=Method.PGD, steps=100),
])
def test_scenario_round_trips_through_the_url(scenario):
    assert Scenario.from_query(scenario.to_query()) == scenario


def test_invalid_url_values_fall_back_to_defaults():
    scenario = Scenario.from_query({"norm": "l7", "eps": "nan", "attack": "cw", "steps": "1000", "step": "0.3",
                                    "start": "maybe", "target": "12", "source": "oracle"})
    assert scenario == Scenario()
    assert Scenario.from_query({"norm": "l2", "eps": "99"}).epsilon == EPSILON_DEFAULTS[Norm.L2][0]


@pytest.mark.parametrize("norm, size", [(Norm.LINF, 0.2), (Norm.L2, 2.0), (Norm.L1, 10.0)])
def test_noise_control_has_the_requested_size_after_clipping(norm, size):
    image = load_gallery(PRETRAINED_DIR / "gallery.npz").images[0, :, :, 0]
    noisy = same_size_noise(image, size, norm, np.random.default_rng(0))
    assert noisy.min() >= 0.0 and noisy.max() <= 1.0
    assert perturbation_norms(noisy - image)[norm] == pytest.approx(size, rel=1e-3)
    assert not np.allclose(noisy, image)
