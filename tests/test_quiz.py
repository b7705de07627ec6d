"""The classroom quiz: ``advdemo.demo.quiz``'s rounds and scoring, and the app's "Quiz" tab
(``streamlit.testing.v1.AppTest``): right and wrong answers move the score as they should, the image marked
adversarial is the attacked one, and the reveal is the model's actual prediction.
"""

from __future__ import annotations

import io
import re

import numpy as np
import pytest
from apptest_support import APP, TIMEOUT, needs_models, rerun
from PIL import Image
from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage
from streamlit.testing.v1 import AppTest

from advdemo import PRETRAINED_DIR
from advdemo.data import load_gallery
from advdemo.demo import analysis, charts, quiz
from advdemo.demo.analysis import Scenario
from advdemo.models import load_model
from advdemo.ui import keys

SEED = 7
GALLERY_SIZE = 500


# --- the rounds --------------------------------------------------------------------------------------------------

def test_a_round_is_the_same_on_every_rerun_and_rounds_differ():
    first = quiz.new_round(quiz.Kind.SPOT, SEED, 3, GALLERY_SIZE)
    assert quiz.new_round("spot", SEED, 3, GALLERY_SIZE) == first
    rounds = [quiz.new_round(quiz.Kind.SPOT, SEED, number, GALLERY_SIZE) for number in range(200)]
    assert all(0 <= r.index < GALLERY_SIZE for r in rounds)
    assert len({r.index for r in rounds}) > 150  # different digits
    positions = [r.adversarial_position for r in rounds]
    assert set(positions) == {0, 1} and 70 < sum(positions) < 130  # shuffled, about half each way
    assert [r.index for r in rounds[:20]] != [quiz.new_round("spot", SEED + 1, n, GALLERY_SIZE).index
                                             for n in range(20)]
    with pytest.raises(ValueError):
        quiz.new_round("spot", SEED, 0, 0)


@pytest.mark.parametrize("position", [0, 1])
def test_the_attacked_image_is_shown_where_the_round_says(position):
    clean, adversarial = np.zeros((28, 28)), np.ones((28, 28))
    spot = quiz.Round(quiz.Kind.SPOT, 0, 12, position)
    shown = spot.shown(clean, adversarial)
    assert shown[position] is adversarial and shown[1 - position] is clean
    assert spot.is_right(position) and not spot.is_right(1 - position)
    predict = quiz.Round(quiz.Kind.PREDICT, 0, 12, position)
    assert len(predict.shown(clean, adversarial)) == 1 and predict.shown(clean, adversarial)[0] is adversarial


def test_a_prediction_is_judged_against_the_model():
    predict = quiz.Round(quiz.Kind.PREDICT, 0, 12, 0)
    assert predict.is_right(5, model_prediction=5) and not predict.is_right(3, model_prediction=5)
    with pytest.raises(ValueError):
        predict.is_right(5)


def test_the_score_counts_right_answers_out_of_all():
    score = quiz.Score()
    assert score.describe() == "no answers yet"
    score = score.after(True).after(False).after(True)
    assert score == quiz.Score(right=2, asked=3)
    assert score.describe() == "2 of 3 right (67%)"


# --- the tab -----------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def base():
    return load_model(PRETRAINED_DIR / "base.keras")


@pytest.fixture(scope="module")
def gallery():
    return load_gallery(PRETRAINED_DIR / "gallery.npz")


@pytest.fixture
def media(monkeypatch) -> dict[str, bytes]:
    """Every file the page hands to Streamlit (images, downloads), by its file id."""
    files: dict[str, bytes] = {}
    original = MemoryMediaFileStorage.load_and_get_id

    def keep(self, path_or_data, mimetype, kind, filename=None):
        file_id = original(self, path_or_data, mimetype, kind, filename)
        if isinstance(path_or_data, bytes):
            files[file_id] = path_or_data
        return file_id

    monkeypatch.setattr(MemoryMediaFileStorage, "load_and_get_id", keep)
    return files


def start(**session: object) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    at.session_state[keys.VIEW] = keys.VIEW_QUIZ
    at.session_state[keys.MODELS] = ["base"]
    at.session_state[keys.QUIZ_SEED] = SEED
    for key, value in session.items():
        at.session_state[key] = value
    return rerun(at)


def reveal(at: AppTest) -> str:
    return next(m.value for m in at.markdown if m.value.startswith(("**✓", "**✗")))


def shown_image(at: AppTest, media: dict[str, bytes], caption: str) -> np.ndarray:
    """The picture the page shows with ``caption``, as grey levels in [0, 1]."""
    node = next(node for node in at._tree if getattr(node, "type", None) == "image"
                and node.proto.imgs[0].caption == caption)
    file_id = re.search(r"/([0-9a-f]+)\.\w+$", node.proto.imgs[0].url)[1]
    with Image.open(io.BytesIO(media[file_id])) as picture:
        return np.asarray(picture.convert("L"), dtype=np.float64) / 255


def attacked(base, gallery, round_: quiz.Round):
    """The round's clean digit, its label and section 2's attack on it (the sidebar's default: FGSM L-inf 0.2)."""
    clean, label = gallery.images[round_.index, :, :, 0], int(gallery.labels[round_.index])
    return clean, label, analysis.analyse({"base": base}, ("base",), clean, label, Scenario())[0]


@needs_models
def test_spot_the_attack_scores_and_marks_the_attacked_image(base, gallery, media):
    at = start()
    first = quiz.new_round(quiz.Kind.SPOT, SEED, 0, len(gallery))
    clean, _, outcome = attacked(base, gallery, first)
    # the picture at the adversarial position is the attacked image, the other the clean digit (as displayed, JPEG)
    for position, caption in enumerate(quiz.POSITIONS):
        picture = shown_image(at, media, caption)
        to_attacked = np.abs(picture - charts.upscale(outcome.adversarial) / 255).mean()
        to_clean = np.abs(picture - charts.upscale(clean) / 255).mean()
        assert (to_attacked < to_clean) == (position == first.adversarial_position), (caption, to_attacked, to_clean)
    wrong = 1 - first.adversarial_position
    at.button(key=f"quiz_pick_{wrong}").click()
    rerun(at)
    assert at.session_state[keys.QUIZ_SCORE] == (0, 1)
    letter = quiz.POSITIONS[first.adversarial_position]
    assert reveal(at).startswith(f"**✗ Not this time: {letter} is the adversarial image.** base says "
                                 f"**{outcome.prediction}**")
    assert all(at.button(key=f"quiz_pick_{p}").disabled for p in (0, 1))  # one answer per round
    rerun(at)
    assert at.session_state[keys.QUIZ_SCORE] == (0, 1)  # a rerun scores nothing again
    assert "Score: 0 of 1 right (0%)" in " ".join(c.value for c in at.caption)
    at.button(key="quiz_next").click()
    rerun(at)
    second = quiz.new_round(quiz.Kind.SPOT, SEED, 1, len(gallery))
    assert any(m.value == "#### Round 2: Which of these is the adversarial image?" for m in at.markdown)
    assert not at.button(key="quiz_pick_0").disabled
    at.button(key=f"quiz_pick_{second.adversarial_position}").click()
    rerun(at)
    assert at.session_state[keys.QUIZ_SCORE] == (1, 2)
    assert reveal(at).startswith(f"**✓ Right: {quiz.POSITIONS[second.adversarial_position]} is the adversarial")
    at.button(key="quiz_restart").click()
    rerun(at)
    assert at.session_state[keys.QUIZ_SCORE] == (0, 0)


@needs_models
def test_predict_the_model_reveals_its_actual_answer(base, gallery):
    at = start(**{keys.QUIZ_KIND: quiz.Kind.PREDICT})
    first = quiz.new_round(quiz.Kind.PREDICT, SEED, 0, len(gallery))
    _, label, outcome = attacked(base, gallery, first)
    confidence = f"{outcome.adversarial_probs[outcome.prediction]:.0%}"
    at.button(key=f"quiz_guess_{outcome.prediction}").click()
    rerun(at)
    assert at.session_state[keys.QUIZ_SCORE] == (1, 1)
    assert reveal(at).startswith(f"**✓ Right: base says {outcome.prediction}** ({confidence}) on the attacked digit")
    assert f"(true digit {label};" in reveal(at)
    at.button(key="quiz_next").click()
    rerun(at)
    second = quiz.new_round(quiz.Kind.PREDICT, SEED, 1, len(gallery))
    _, _, outcome = attacked(base, gallery, second)
    guess = (outcome.prediction + 1) % 10
    at.button(key=f"quiz_guess_{guess}").click()
    rerun(at)
    assert at.session_state[keys.QUIZ_SCORE] == (1, 2)
    assert reveal(at).startswith(f"**✗ You said {guess}: base says {outcome.prediction}**")
