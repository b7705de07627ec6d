"""Export: the adversarial image as an 8-bit PNG and a lossless .npy, the figures as PNG, and the check of
the model's answer on the 8-bit PNG. The encoders by hand; the page's downloads decode to the image it shows; the
rounding note appears exactly when rounding changes an answer (``streamlit.testing.v1.AppTest``).
"""

from __future__ import annotations

import io
import re

import numpy as np
import pytest
from apptest_support import needs_models, start
from PIL import Image
from streamlit.runtime.media_file_manager import MediaFileManager
from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage
from streamlit.testing.v1 import AppTest

from advdemo import PRETRAINED_DIR
from advdemo.data import load_gallery
from advdemo.demo import analysis, export, figures
from advdemo.demo.analysis import Outcome, Scenario
from advdemo.models import load_model
from advdemo.ui import downloads, resources
from advdemo.ui.inputs import default_gallery_index

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: The farthest a pixel moves when rounded to 8 bits (plus float32 slack).
HALF_LEVEL = 0.5 / 255 + 1e-6


# --- the encoders ------------------------------------------------------------------------------------------------

def random_image(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, 1, size=(28, 28)).astype(np.float32)


def test_the_png_holds_the_image_rounded_to_8_bits():
    image = random_image()
    image[0, :4] = [0.0, 1.0, 0.5 / 255 - 1e-4, 254.6 / 255]
    data = export.png_bytes(image)
    assert data.startswith(PNG_SIGNATURE)
    with Image.open(io.BytesIO(data)) as picture:
        assert picture.mode == "L" and picture.size == (28, 28)
    back = export.read_png(data)
    assert back.dtype == np.float32 and back.shape == (28, 28)
    assert np.abs(back - image).max() <= HALF_LEVEL  # nearest level, never a floor
    np.testing.assert_array_equal(back[0, :4] * 255, [0, 255, 0, 255])
    np.testing.assert_array_equal(export.to_uint8(image), np.round(image.astype(np.float64) * 255))


def test_the_npy_holds_the_image_exactly():
    image = random_image(1)
    back = export.read_npy(export.npy_bytes(image))
    assert back.dtype == np.float32
    np.testing.assert_array_equal(back, image)


def threshold_model(make_linear_model, pixel: tuple[int, int], threshold: float):
    """A linear model that answers 1 where ``pixel`` is above ``threshold``, else 0 (never 2-9)."""
    kernel = np.zeros((784, 10), np.float32)
    kernel[pixel[0] * 28 + pixel[1], 1] = 1000.0
    bias = np.full(10, -100.0, np.float32)
    bias[0], bias[1] = 0.0, -1000.0 * threshold
    return make_linear_model(kernel=kernel, bias=bias)


def test_rounding_that_crosses_a_decision_boundary_is_caught(make_linear_model):
    """A pixel of 0.5005 rounds to 128/255 = 0.50196: a tiny model whose boundary lies at 0.5012 reads 0 on the float
    image and 1 on the PNG; an image that rounds away from the boundary keeps its answer."""
    model = threshold_model(make_linear_model, (3, 4), 0.5012)
    image = np.zeros((28, 28), np.float32)
    image[3, 4] = 0.5005
    check = export.rounding_check(lambda images: analysis.probabilities(model, images), image)
    assert (check.prediction, check.png_prediction, check.changed) == (0, 1, True)
    assert check.confidence > 0.5 and check.png_confidence > 0.5
    assert export.describe(check, "tiny").startswith("**Rounding changes the answer**: saved as an 8-bit PNG, this "
                                                     "image makes tiny say **1**")
    image[3, 4] = 0.4
    kept = export.rounding_check(lambda images: analysis.probabilities(model, images), image)
    assert (kept.prediction, kept.png_prediction, kept.changed) == (0, 0, False)
    assert export.describe(kept, "tiny").startswith("Checked: the 8-bit PNG")


def an_outcome() -> tuple[Outcome, np.ndarray]:
    clean = random_image(2) * 0.5
    adversarial = np.clip(clean + 0.1, 0, 1).astype(np.float32)
    probs = np.full(10, 0.02, np.float32)
    probs[3] = 0.82
    return Outcome("base", np.roll(probs, 4), adversarial, probs, {}, "base"), clean


def test_the_downloads_of_one_model():
    outcome, clean = an_outcome()
    files = downloads.downloads_of(outcome, clean, 7, "FGSM L-inf ε = 0.1, white-box")
    assert [(f.file_name, f.mime) for f in files] == [("adversarial-base.png", "image/png"),
                                                      ("adversarial-base.npy", "application/octet-stream"),
                                                      ("adversarial-base-figure.png", "image/png")]
    np.testing.assert_array_equal(export.read_npy(files[1].data()), outcome.adversarial)  # made on click
    assert np.abs(export.read_png(files[0].data()) - outcome.adversarial).max() <= HALF_LEVEL
    figure = files[2].data()  # drawn when the button is clicked
    assert figure.startswith(PNG_SIGNATURE)
    with Image.open(io.BytesIO(figure)) as picture:
        assert picture.size == (1200, 420)
        pixels = np.asarray(picture.convert("RGB"))
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 20  # a drawn figure, not a blank page


def test_the_figures_bars_are_coloured_as_in_the_app():
    outcome, _ = an_outcome()
    colours = figures.bar_colours(outcome, 7)
    assert colours[7] == figures.HELD_COLOUR and colours[3] == figures.FOOLED_COLOUR
    assert {colours[c] for c in range(10) if c not in (3, 7)} == {figures.OTHER_COLOUR}


# --- the page ----------------------------------------------------------------------------------------------------

@pytest.fixture
def media(monkeypatch) -> dict[str, bytes]:
    """Every file the page hands to Streamlit (images, downloads, the downloads made on click made at once), by its
    file name when it has one."""
    files: dict[str, bytes] = {}
    original = MemoryMediaFileStorage.load_and_get_id

    def keep(self, path_or_data, mimetype, kind, filename=None):
        file_id = original(self, path_or_data, mimetype, kind, filename)
        if isinstance(path_or_data, bytes):
            files[filename or file_id] = path_or_data
        return file_id

    monkeypatch.setattr(MemoryMediaFileStorage, "load_and_get_id", keep)
    deferred = MediaFileManager.add_deferred

    def make_now(self, data_callable, mimetype, coordinates, file_name=None, **options):
        files[file_name] = data_callable()  # what a click on the button would download
        return deferred(self, data_callable, mimetype, coordinates, file_name, **options)

    monkeypatch.setattr(MediaFileManager, "add_deferred", make_now)
    return files


@pytest.fixture
def fresh_rounding_checks():
    """The rounding checks are cached per image: start and end with none, so that a patched check stays here."""
    resources.rounding_check.clear()
    yield
    resources.rounding_check.clear()


def rounding_warnings(at: AppTest) -> list[str]:
    return [warning.value for warning in at.warning if "8-bit PNG" in warning.value]


def notes(at: AppTest) -> dict[str, str]:
    """The rounding note of each model, by model name."""
    found = {}
    for element in [*at.caption, *at.warning]:
        match = re.search(r"makes (\w+) say", element.value)
        if match:
            found[match[1]] = element.value
    return found


@pytest.fixture(scope="module")
def shown():
    """The default digit and section 2's outcomes on it (FGSM L-inf 0.2, base and robust), computed directly."""
    gallery = load_gallery(PRETRAINED_DIR / "gallery.npz")
    index = default_gallery_index(gallery)
    image, label = gallery.images[index, :, :, 0], int(gallery.labels[index])
    models = {name: load_model(PRETRAINED_DIR / f"{name}.keras") for name in ("base", "robust")}
    return image, {o.model: o for o in analysis.analyse(models, ("base", "robust"), image, label, Scenario())}


def check_of(outcome: Outcome) -> export.RoundingCheck:
    """The rounding check of ``outcome``'s image from its own model's probabilities (as the page computes it)."""
    model = load_model(PRETRAINED_DIR / f"{outcome.model}.keras")
    return export.rounding_check(lambda images: analysis.probabilities(model, images), outcome.adversarial)


@needs_models
def test_the_page_exports_decode_to_the_shown_image(media, fresh_rounding_checks, shown):
    at = start()
    image, outcomes = shown
    example = np.load(io.BytesIO(media["adversarial-example.npz"]))  # the page's own .npz of what it shows
    labels = [button.label for button in at.download_button]
    assert labels.count("PNG") == labels.count("NPY") == labels.count("Figure") == 2
    for name, outcome in outcomes.items():
        exact = export.read_npy(media[f"adversarial-{name}.npy"])
        np.testing.assert_array_equal(exact, outcome.adversarial)
        np.testing.assert_array_equal(exact, example[f"{name}_adversarial"])
        assert np.abs(export.read_png(media[f"adversarial-{name}.png"]) - exact).max() <= HALF_LEVEL
    said = notes(at)
    assert set(said) == {"base", "robust"} and not rounding_warnings(at)
    for name, outcome in outcomes.items():  # the model's own answer, with its confidence
        confidence = check_of(outcome).png_confidence
        assert said[name] == (f"Checked: the 8-bit PNG (pixels rounded to 1/255) still makes {name} say "
                              f"**{outcome.prediction}** ({confidence:.0%}); rounding does not change the answer.")


@needs_models
def test_the_page_says_when_rounding_changes_the_answer(monkeypatch, fresh_rounding_checks, shown):
    """Constructed: a PNG reader that gets the clean digit back. The base model, fooled by the attack, answers the
    clean digit's label on it: the note says rounding changes base's answer; robust, which held, keeps its answer."""
    image, outcomes = shown
    assert outcomes["base"].prediction != outcomes["base"].clean_prediction
    assert outcomes["robust"].prediction == outcomes["robust"].clean_prediction
    monkeypatch.setattr(export, "read_png", lambda data: image.copy())
    at = start()
    said = notes(at)
    assert said["base"].startswith(f"**Rounding changes the answer**: saved as an 8-bit PNG, this image makes base say "
                                   f"**{outcomes['base'].clean_prediction}**")
    assert rounding_warnings(at) == [said["base"]]
    robust = outcomes["robust"]
    assert said["robust"].startswith(f"Checked: the 8-bit PNG (pixels rounded to 1/255) still makes robust say "
                                     f"**{robust.prediction}** ({robust.clean_probs[robust.prediction]:.0%})")
